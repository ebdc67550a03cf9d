/**
 * 2. Round trips per warm API call, counted, not estimated: DynamoDB and Secrets Manager calls by SDK
 * middleware on the clients the handlers built, remote.it calls by the emulator's own call log. "Warm" =
 * after the function's first call (which fetched the secret and opened the SDK's connections).
 */
import { goal, type GoalCheck } from './support/report';
import { countSdkCalls } from './support/sdk-calls';
import { createApiClient, type ApiAnswer } from './support/signed-http';
import { round } from './support/stats';
import { handlerClients, SERVICE_ID, type BenchStack } from './support/stack';

export interface RoundTripOptions {
  /** Opens (and as many stops) counted one by one. */
  samples: number;
}

export interface RoundTrips {
  /** Per call: min and max over the samples (equal when every call made the same trips). */
  dynamodb: { min: number; max: number; byCommand: Record<string, number> };
  secretsManager: { min: number; max: number };
  remoteit: { min: number; max: number };
}

export interface RoundTripResult {
  samples: number;
  /** POST /connections without Idempotency-Key. */
  open: RoundTrips;
  /** POST /connections with a fresh Idempotency-Key. */
  openWithKey: RoundTrips;
  /** DELETE /connections/{id} of an active connection. */
  stop: RoundTrips;
  /** Items the open's one Query read: the lock check's live locks (none here). The quota reads nothing: it is a conditional write. */
  lockItemsReadPerOpen: { first: number; last: number };
  goals: GoalCheck[];
}

/**
 * Lock check, write-ahead record with the quota slot it takes (one TransactWriteItems), record remote.it's
 * answer: why an open needs three DynamoDB calls in three round trips (docs/PERFORMANCE.md).
 */
export const OPEN_DYNAMODB_CALLS = 3;

export async function runRoundTrips(bench: BenchStack, options: RoundTripOptions): Promise<RoundTripResult> {
  const { stack, identity, emulator } = bench;
  const clients = handlerClients();
  const dynamo = countSdkCalls(clients.dynamodb);
  const secrets = countSdkCalls(clients.secretsManager);
  const api = createApiClient({ apiUrl: stack.apiUrl, region: stack.region, credentials: identity, localAddress: '127.0.0.3' });
  const remoteCalls = () => emulator.calls().total;

  /** Counts what one API call cost; `expect` is the status it must answer. */
  const counted = async (expect: number, call: () => Promise<ApiAnswer>) => {
    dynamo.reset();
    secrets.reset();
    const remoteBefore = remoteCalls();
    const answer = await call();
    if (answer.status !== expect) throw new Error(`expected ${expect}, got ${answer.status}: ${JSON.stringify(answer.body)}`);
    return {
      answer,
      dynamodb: dynamo.total(),
      byCommand: dynamo.byCommand(),
      itemsRead: dynamo.itemsRead(),
      secretsManager: secrets.total(),
      remoteit: remoteCalls() - remoteBefore,
    };
  };
  type Counted = Awaited<ReturnType<typeof counted>>;
  const summarise = (samples: Counted[]): RoundTrips => {
    const range = (values: number[]) => ({ min: Math.min(...values), max: Math.max(...values) });
    const byCommand: Record<string, number> = {};
    for (const sample of samples) {
      for (const [command, count] of Object.entries(sample.byCommand)) byCommand[command] = (byCommand[command] ?? 0) + count;
    }
    for (const command of Object.keys(byCommand)) byCommand[command] = round((byCommand[command] ?? 0) / samples.length, 2);
    return {
      dynamodb: { ...range(samples.map((sample) => sample.dynamodb)), byCommand },
      secretsManager: range(samples.map((sample) => sample.secretsManager)),
      remoteit: range(samples.map((sample) => sample.remoteit)),
    };
  };

  const opens: Counted[] = [];
  const keyedOpens: Counted[] = [];
  const stops: Counted[] = [];
  try {
    // Warm: the first open fetches the secret (one Secrets Manager call) and opens the SDK's connections.
    const first = await api.send('POST', '/connections', { serviceId: SERVICE_ID });
    await api.send('DELETE', `/connections/${String(first.body.id)}`);
    for (let sample = 0; sample < options.samples; sample += 1) {
      const open = await counted(201, () => api.send('POST', '/connections', { serviceId: SERVICE_ID }));
      opens.push(open);
      stops.push(await counted(200, () => api.send('DELETE', `/connections/${String(open.answer.body.id)}`)));
      const keyed = await counted(201, () =>
        api.send('POST', '/connections', { serviceId: SERVICE_ID }, { 'idempotency-key': `bench-${sample}-${Date.now()}` }),
      );
      keyedOpens.push(keyed);
      await api.send('DELETE', `/connections/${String(keyed.answer.body.id)}`);
    }
  } finally {
    dynamo.detach();
    secrets.detach();
    api.close();
  }

  const open = summarise(opens);
  return {
    samples: opens.length,
    open,
    openWithKey: summarise(keyedOpens),
    stop: summarise(stops),
    lockItemsReadPerOpen: { first: opens[0]?.itemsRead ?? 0, last: opens[opens.length - 1]?.itemsRead ?? 0 },
    goals: [
      goal('1 remote.it call per warm open', `${open.remoteit.min}..${open.remoteit.max}`, open.remoteit.max === 1 && open.remoteit.min === 1),
      goal('0 Secrets Manager calls once warm', `${open.secretsManager.max}`, open.secretsManager.max === 0),
      goal(
        `the fewest DynamoDB calls the lifecycle allows (${OPEN_DYNAMODB_CALLS}: lock check, write-ahead record taking its quota slot, activation)`,
        `${open.dynamodb.min}..${open.dynamodb.max}`,
        open.dynamodb.max === OPEN_DYNAMODB_CALLS,
      ),
    ],
  };
}
