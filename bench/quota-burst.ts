/**
 * 2b. Quota burst (issue 19): N opens sent at once by one caller whose policy allows M live connections,
 * through the gateway, each from its own connection. The quota is a per-owner counter taken in the same
 * transaction as the write-ahead record, so exactly M are opened and N - M answered 429, whatever the
 * timing; then the M are stopped and the counter must be back at 0. Then the open rate the same way: N opens
 * at once by a caller whose policy allows R a minute (and more live than N) give exactly R, the rest 429
 * `open_rate_exceeded` with a Retry-After no later than the next minute. Printed beside the open's round
 * trips: what the strict quota and rate cost an open is there (docs/PERFORMANCE.md).
 */
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { roleArnOf } from '../dev/identities';
import { quotaCounterKey } from '../lambdas/store/codec';
import { goal, type GoalCheck } from './support/report';
import { createApiClient, type ApiAnswer } from './support/signed-http';
import { round } from './support/stats';
import { handlerClients, QUOTA_IDENTITY_NAME, QUOTA_MAX_ACTIVE, RATE_IDENTITY_NAME, RATE_OPENS_PER_MINUTE, SERVICE_ID, type BenchStack } from './support/stack';

export interface QuotaBurstOptions {
  /** Opens sent at once (at most 250: each from its own loopback address). */
  opens: number;
}

export interface QuotaBurstResult {
  opens: number;
  maxActive: number;
  /** 201s, 429s with the quota's problem type, and anything else. */
  created: number;
  refused: number;
  other: number;
  /** From the first open sent to the last answer. */
  ms: number;
  /** The caller's counter once the burst was answered, and once every opened connection was stopped. */
  slotsHeld: { afterBurst: number; afterStops: number };
  /** The first few unexpected answers, for the reader. */
  otherSamples: string[];
  /** The same burst against the open rate. */
  rate: RateBurstResult;
  goals: GoalCheck[];
}

export interface RateBurstResult {
  opens: number;
  opensPerMinute: number;
  /** 201s, 429s with the open rate's problem type, and anything else. */
  created: number;
  refused: number;
  other: number;
  ms: number;
  /** The refusals' Retry-After, seconds, and what was left of the minute when the burst was sent. */
  retryAfter: { min: number; max: number };
  minuteLeftSeconds: number;
  otherSamples: string[];
}

/** Sends one open per client at once; answers in the clients' order. */
const burst = (clients: ReturnType<typeof createApiClient>[]) => Promise.all(clients.map((client) => client.send('POST', '/connections', { serviceId: SERVICE_ID })));
const problemOf = (code: string) => (answer: ApiAnswer) => answer.status === 429 && answer.body?.type === `urn:remoteit-broker:problem:${code}`;

/**
 * The open-rate burst: sent with 15 s of the clock minute left at least (it waits for the next minute
 * otherwise), so the burst falls in one window.
 */
async function runRateBurst(bench: BenchStack, opens: number): Promise<RateBurstResult> {
  const { stack } = bench;
  const identity = stack.identities.find((candidate) => candidate.name === RATE_IDENTITY_NAME);
  if (!identity) throw new Error(`the bench stack has no ${RATE_IDENTITY_NAME} identity`);
  const clients = Array.from({ length: opens }, (_, index) =>
    createApiClient({ apiUrl: stack.apiUrl, region: stack.region, credentials: identity, localAddress: `127.0.4.${index + 2}` }),
  );
  try {
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 45_000) await new Promise((resolve) => setTimeout(resolve, 60_000 - intoMinute + 100));
    const sentAt = Date.now();
    const started = performance.now();
    const answers = await burst(clients);
    const ms = round(performance.now() - started, 1);
    const created = answers.filter((answer) => answer.status === 201);
    const refused = answers.filter(problemOf('open_rate_exceeded'));
    const other = answers.filter((answer) => answer.status !== 201 && !problemOf('open_rate_exceeded')(answer));
    const retryAfters = refused.map((answer) => Number(answer.headers['retry-after']));
    await Promise.all(created.map((answer, index) => clients[index]?.send('DELETE', `/connections/${String(answer.body.id)}`)));
    return {
      opens,
      opensPerMinute: RATE_OPENS_PER_MINUTE,
      created: created.length,
      refused: refused.length,
      other: other.length,
      ms,
      retryAfter: { min: retryAfters.length > 0 ? Math.min(...retryAfters) : 0, max: retryAfters.length > 0 ? Math.max(...retryAfters) : 0 },
      minuteLeftSeconds: Math.ceil((60_000 - (sentAt % 60_000)) / 1000),
      otherSamples: other.slice(0, 3).map((answer) => `${answer.status} ${JSON.stringify(answer.body)}`),
    };
  } finally {
    for (const client of clients) client.close();
  }
}

export async function runQuotaBurst(bench: BenchStack, options: QuotaBurstOptions): Promise<QuotaBurstResult> {
  const { stack } = bench;
  const identity = stack.identities.find((candidate) => candidate.name === QUOTA_IDENTITY_NAME);
  if (!identity) throw new Error(`the bench stack has no ${QUOTA_IDENTITY_NAME} identity`);
  if (options.opens > 250) throw new RangeError('at most 250 opens: one loopback source address each');
  const clients = Array.from({ length: options.opens }, (_, index) =>
    createApiClient({ apiUrl: stack.apiUrl, region: stack.region, credentials: identity, localAddress: `127.0.3.${index + 2}` }),
  );
  // Read through the handlers' own DynamoDB client (the table is theirs); a document client's destroy is a no-op.
  const documents = DynamoDBDocumentClient.from(handlerClients().dynamodb);
  const slotsHeld = async () => {
    const { Item } = await documents.send(new GetCommand({ TableName: stack.tables.connections, Key: { id: quotaCounterKey(roleArnOf(QUOTA_IDENTITY_NAME)) }, ConsistentRead: true }));
    return Number(Item?.live ?? 0);
  };
  try {
    const started = performance.now();
    const answers = await burst(clients);
    const ms = round(performance.now() - started, 1);
    const isQuota = problemOf('quota_exceeded');
    const created = answers.filter((answer) => answer.status === 201);
    const refused = answers.filter(isQuota);
    const other = answers.filter((answer) => answer.status !== 201 && !isQuota(answer));
    const afterBurst = await slotsHeld();
    await Promise.all(created.map((answer, index) => clients[index]?.send('DELETE', `/connections/${String(answer.body.id)}`)));
    const afterStops = await slotsHeld();
    const exact = created.length === QUOTA_MAX_ACTIVE && refused.length === options.opens - QUOTA_MAX_ACTIVE && other.length === 0;
    const rate = await runRateBurst(bench, options.opens);
    const rateExact = rate.created === RATE_OPENS_PER_MINUTE && rate.refused === options.opens - RATE_OPENS_PER_MINUTE && rate.other === 0;
    return {
      opens: options.opens,
      maxActive: QUOTA_MAX_ACTIVE,
      created: created.length,
      refused: refused.length,
      other: other.length,
      ms,
      slotsHeld: { afterBurst, afterStops },
      otherSamples: other.slice(0, 3).map((answer) => `${answer.status} ${JSON.stringify(answer.body)}`),
      rate,
      goals: [
        goal(
          `${options.opens} opens at once against maxActive ${QUOTA_MAX_ACTIVE}: exactly ${QUOTA_MAX_ACTIVE} x 201, the rest 429`,
          `${created.length} x 201, ${refused.length} x 429, ${other.length} other`,
          exact,
        ),
        goal('every slot given back once the connections are stopped', `${afterStops} held`, afterStops === 0 && afterBurst === created.length),
        goal(
          `${options.opens} opens at once against opensPerMinute ${RATE_OPENS_PER_MINUTE}: exactly ${RATE_OPENS_PER_MINUTE} x 201, the rest 429 with Retry-After by the next minute`,
          `${rate.created} x 201, ${rate.refused} x 429 (Retry-After ${rate.retryAfter.min}..${rate.retryAfter.max} s, ${rate.minuteLeftSeconds} s of the minute left), ${rate.other} other`,
          rateExact && rate.retryAfter.min >= 1 && rate.retryAfter.max <= rate.minuteLeftSeconds,
        ),
      ],
    };
  } finally {
    for (const client of clients) client.close();
  }
}
