/**
 * The per-owner quota (`maxActive`) as a limit under concurrency (issue 19): the real handlers on DynamoDB
 * Local and the remote.it emulator. The quota is a counter item taken in the same transaction as the
 * write-ahead record and given back by the write that ends the record, so a burst of opens gets exactly
 * `maxActive` connections, and every way a connection ends (a stop, a refused connect, a lock, the sweeper
 * settling an open that died) gives its slot back once. The open rate (`opensPerMinute`) is counted in that
 * same transaction, so it holds exactly too.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { INITIAL_STATUS, SHORT_HORIZON_SECONDS } from '../../../lambdas/broker/lifecycle';
import { quotaCounterKey } from '../../../lambdas/store/codec';
import { createDynamoConnectionStore } from '../../../lambdas/store/dynamo-store';
import { monotonicUlid } from '../../../lambdas/ulid';
import { ADMIN_SESSION_ARN } from '../../fixtures/api-events';
import { ROLES, SERVICES, startBroker, TEST_POLICY, type ApiAnswer, type Broker } from '../support/broker';
import { brokerTarget, expectInvariant } from '../support/invariant';

/** A role that may hold ten live connections. */
const BURST_ROLE = 'arn:aws:iam::123456789012:role/burst';
const BURST_SESSION = 'arn:aws:sts::123456789012:assumed-role/burst/session-1';
/** A role that may hold fifty, and open five a minute. */
const RATE_ROLE = 'arn:aws:iam::123456789012:role/rate';
const RATE_SESSION = 'arn:aws:sts::123456789012:assumed-role/rate/session-1';
const OPENS_PER_MINUTE = 5;
/** The test policy's role that may hold one. */
const LIMITED_SESSION = 'arn:aws:sts::123456789012:assumed-role/limited/session-1';
const MAX_ACTIVE = 10;
const OPENS = 100;
/** A short grace, so the sweeper may settle an abandoned open within the test. */
const PENDING_GRACE_SECONDS = 5;

let broker: Broker;

beforeAll(async () => {
  broker = await startBroker({
    policy: {
      ...TEST_POLICY,
      rules: [
        ...TEST_POLICY.rules,
        { principals: [BURST_ROLE], services: ['*'], modes: ['latching'], maxTtlSeconds: 600, maxActive: MAX_ACTIVE, opensPerMinute: 100_000 },
        { principals: [RATE_ROLE], services: ['*'], modes: ['latching'], maxTtlSeconds: 600, maxActive: 50, opensPerMinute: OPENS_PER_MINUTE },
      ],
    },
    env: { PENDING_GRACE_SECONDS: String(PENDING_GRACE_SECONDS) },
  });
});

afterAll(async () => {
  await broker.stop();
});

// Nothing live unrecorded, nothing recorded left running (support/invariant.ts).
afterEach(async () => {
  broker.emulator.setFaults({});
  await expectInvariant(brokerTarget(broker));
});

const open = (callerArn: string, serviceId: string = SERVICES.echo) => broker.call({ routeKey: 'POST /connections', body: { serviceId }, callerArn });
const stop = (id: string, callerArn: string) => broker.call({ routeKey: 'DELETE /connections/{id}', pathParameters: { id }, callerArn });

/** The slots `owner`'s counter item says its records hold (0 when it has none). */
async function slotsHeld(owner: string): Promise<number> {
  const { Item } = await broker.tables.documentClient.send(
    new GetCommand({ TableName: broker.tables.connections, Key: { id: quotaCounterKey(owner) }, ConsistentRead: true }),
  );
  return Number(Item?.live ?? 0);
}

const statusesOf = (answers: ApiAnswer[]) => answers.map((answer) => answer.status).sort((a, b) => a - b);

describe('the quota (maxActive)', () => {
  it(`gives ${OPENS} opens sent at once against maxActive ${MAX_ACTIVE} exactly ${MAX_ACTIVE} x 201 and ${OPENS - MAX_ACTIVE} x 429, and holds no slot once they are stopped`, async () => {
    const started = Date.now();

    const answers = await Promise.all(Array.from({ length: OPENS }, () => open(BURST_SESSION)));

    const created = answers.filter((answer) => answer.status === 201);
    const refused = answers.filter((answer) => answer.status === 429);
    expect(statusesOf(answers)).toEqual([...Array<number>(MAX_ACTIVE).fill(201), ...Array<number>(OPENS - MAX_ACTIVE).fill(429)]);
    // Today's quota answer, unchanged: problem type and detail, no Retry-After (it clears only when one is stopped).
    for (const answer of refused) {
      expect(answer.body).toMatchObject({
        type: 'urn:remoteit-broker:problem:quota_exceeded',
        status: 429,
        detail: `you already hold ${MAX_ACTIVE} live connection(s), the most your policy allows; stop one first`,
      });
      expect(answer.headers['retry-after']).toBeUndefined();
    }
    expect(new Set(created.map((answer) => answer.body.id)).size).toBe(MAX_ACTIVE);
    expect(broker.emulator.connections().filter((proxy) => proxy.state === 'active')).toHaveLength(MAX_ACTIVE);
    expect(await slotsHeld(BURST_ROLE)).toBe(MAX_ACTIVE);
    // Bounded: the burst is decided by conditional writes, not by waiting.
    expect(Date.now() - started).toBeLessThan(20_000);

    const stops = await Promise.all(created.map((answer) => stop(answer.body.id, BURST_SESSION)));

    expect(stops.map((answer) => answer.body.status)).toEqual(Array(MAX_ACTIVE).fill('stopped'));
    expect(await slotsHeld(BURST_ROLE)).toBe(0);
    expect((await open(BURST_SESSION)).status).toBe(201);
    const last = await open(BURST_SESSION);
    await Promise.all(
      (await broker.call({ routeKey: 'GET /connections', query: { status: 'active' }, callerArn: BURST_SESSION })).body.items.map((item: { id: string }) =>
        stop(item.id, BURST_SESSION),
      ),
    );
    expect(last.status).toBe(201);
    expect(await slotsHeld(BURST_ROLE)).toBe(0);
  }, 60_000);

  it('gives the slot back when remote.it refuses the connect (the record fails)', async () => {
    const refused = await open(LIMITED_SESSION, SERVICES.offline);

    expect(refused.status).toBe(502);
    expect(await slotsHeld(ROLES.limited)).toBe(0);
    const next = await open(LIMITED_SESSION);
    expect(next.status).toBe(201);
    await stop(next.body.id, LIMITED_SESSION);
    expect(await slotsHeld(ROLES.limited)).toBe(0);
  });

  it('gives the slots back of the connections an operator\'s lock stops', async () => {
    const opened = [await open(BURST_SESSION), await open(BURST_SESSION)];
    expect(await slotsHeld(BURST_ROLE)).toBe(2);

    const placed = await broker.call({ routeKey: 'POST /locks', body: { principal: BURST_ROLE, reason: 'quota test' }, callerArn: ADMIN_SESSION_ARN });

    expect(placed.status).toBe(201);
    expect(placed.body.enforcement).toMatchObject({ stopped: 2, remaining: 0 });
    expect(await slotsHeld(BURST_ROLE)).toBe(0);
    await broker.call({ routeKey: 'DELETE /locks/{id}', pathParameters: { id: placed.body.id }, callerArn: ADMIN_SESSION_ARN });
    expect(opened.map((answer) => answer.status)).toEqual([201, 201]);
  });

  it('has the sweeper give back, once the pending grace has passed, the slot of an open that died after its write-ahead record', async () => {
    // What an open leaves when its invocation dies between the write-ahead record and remote.it's answer: a
    // pending record holding a slot, written as the open writes it (the real store, under the same quota).
    const store = createDynamoConnectionStore({ client: broker.tables.documentClient, tableName: broker.tables.connections, dueShardCount: 4 });
    const nowMs = Date.now();
    const nowSeconds = Math.floor(nowMs / 1000);
    const crashed = await store.create(
      {
        id: monotonicUlid()(),
        owner: ROLES.limited,
        callerArn: LIMITED_SESSION,
        serviceId: SERVICES.echo,
        mode: 'latching',
        hostIp: '255.255.255.255',
        status: INITIAL_STATUS,
        createdAt: new Date(nowMs).toISOString(),
        leaseExpiresAt: new Date(nowMs + 600_000).toISOString(),
        expiresAt: nowSeconds + SHORT_HORIZON_SECONDS,
        dueAt: nowSeconds + PENDING_GRACE_SECONDS,
        stopAttempts: 0,
      },
      { maxActive: 1, opensPerMinute: 1_000 },
    );
    expect(await slotsHeld(ROLES.limited)).toBe(1);

    // Within the grace the open may still be connecting: its slot stays taken.
    const early = await broker.sweep();
    expect(early.settledPending).toBe(0);
    expect((await open(LIMITED_SESSION)).status).toBe(429);

    await new Promise((resolve) => setTimeout(resolve, (nowSeconds + PENDING_GRACE_SECONDS + 1) * 1000 - Date.now()));
    const settled = await broker.sweep();

    expect(settled.settledPending).toBe(1);
    expect(await store.get(crashed.id)).toMatchObject({ status: 'failed', stopReason: 'abandoned' });
    expect((await store.get(crashed.id))?.quotaSlot).toBeUndefined();
    expect(await slotsHeld(ROLES.limited)).toBe(0);
    const next = await open(LIMITED_SESSION);
    expect(next.status).toBe(201);
    await stop(next.body.id, LIMITED_SESSION);
  });
});

describe('the open rate (opensPerMinute)', () => {
  it(`gives 20 opens sent at once against opensPerMinute ${OPENS_PER_MINUTE} exactly ${OPENS_PER_MINUTE} x 201 and 15 x 429 open_rate_exceeded, with Retry-After until the next minute`, async () => {
    // The window is the clock minute: start the burst with 15 s of it left at least, so it is one window.
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 45_000) await new Promise((resolve) => setTimeout(resolve, 60_000 - intoMinute + 100));
    const sent = Date.now();

    const answers = await Promise.all(Array.from({ length: 20 }, () => open(RATE_SESSION)));

    expect(statusesOf(answers)).toEqual([...Array<number>(OPENS_PER_MINUTE).fill(201), ...Array<number>(20 - OPENS_PER_MINUTE).fill(429)]);
    const untilNextMinute = Math.ceil((60_000 - (sent % 60_000)) / 1000);
    for (const refused of answers.filter((answer) => answer.status === 429)) {
      expect(refused.body).toMatchObject({
        type: 'urn:remoteit-broker:problem:open_rate_exceeded',
        title: 'Too many opens',
        detail: expect.stringMatching(new RegExp(`^you already opened ${OPENS_PER_MINUTE} connection\\(s\\) this minute, the most your policy allows; retry in \\d+ s$`)),
      });
      const retryAfter = Number(refused.headers['retry-after']);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(untilNextMinute);
    }
    // Only the five were opened at remote.it and hold slots.
    const created = answers.filter((answer) => answer.status === 201);
    expect(await slotsHeld(RATE_ROLE)).toBe(OPENS_PER_MINUTE);
    await Promise.all(created.map((answer) => stop(answer.body.id, RATE_SESSION)));
    expect(await slotsHeld(RATE_ROLE)).toBe(0);
  }, 60_000);
});
