/**
 * Lease timers end to end on the local stack (dev/stack.ts): a connection opened through the gateway is
 * stopped at remote.it (the emulator) within 2 s of its lease end, by the timer alone: the activation shows
 * in the connections table's stream, the stream poller hands it to timer-arm, which sends a delayed message
 * to the SQS stub; the SQS poller hands it to timer-fire at the lease end, which stops the connection. The
 * sweeper's period is 10 minutes, so it plays no part. With `timers: false` nothing ends the lease until a
 * sweep does.
 *
 * The first case waits out a real 60 s lease (the API's shortest). The second moves the lease end back in
 * DynamoDB instead (as the sweeper's e2e test does): with timers on, that write would arm a timer and stop
 * the connection at once, so the case still tells timers on from off.
 */
import '../../timeout-120s';
import { handlersFrom, type StackHandlers } from '../../../dev/stack';
import { createDynamoConnectionStore } from '../../../lambdas/store/dynamo-store';
import { eventually, sleep } from '../emulator/helpers';
import { createTestDocumentClient } from '../support/dynamo';
import { endLease } from '../sweeper/helpers';
import { call, ECHO, startTestStack, type TestStack } from './support';

const TEN_MINUTES_MS = 10 * 60_000;
const OVERRUN_LIMIT_MS = 2_000;

/** The handler modules in a module registry of their own: a second stack in this file needs them loaded afresh with its env. */
function isolatedHandlers(): StackHandlers {
  let loaded: StackHandlers | undefined;
  jest.isolateModules(() => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded after the stack set the env they read
    loaded = handlersFrom((path) => require(path));
  });
  if (!loaded) throw new Error('the handlers did not load');
  return loaded;
}

describe('lease timers on the local stack', () => {
  let stack: TestStack;
  const errors: Array<{ where: string; error: unknown }> = [];
  let sweeps = 0;

  beforeAll(async () => {
    stack = await startTestStack({
      sweepIntervalMs: TEN_MINUTES_MS,
      onSweep: () => {
        sweeps += 1;
      },
      onError: (error, where) => errors.push({ where, error }),
    });
  });

  afterAll(async () => {
    await stack?.close();
  });

  it('stops a connection at remote.it within 2 s of its lease end, and records it stopped with lease_ended', async () => {
    expect(stack.timersEnabled).toBe(true);
    const app = stack.identity('app');
    const emulator = stack.emulator;
    if (!emulator) throw new Error('the stack started without its emulator');

    const opened = await call(stack, { method: 'POST', path: '/connections', body: { serviceId: ECHO, ttlSeconds: 60 }, as: app });
    expect(opened.status).toBe(201);
    const leaseEndMs = Date.parse(opened.body.leaseExpiresAt);
    const remoteId: string = opened.body.remoteConnectionId;
    const proxy = () => emulator.connections().find((connection) => connection.connectionId === remoteId);

    // Still open a moment before its end (never stopped early) ...
    await sleep(Math.max(0, leaseEndMs - 1_000 - Date.now()));
    expect(proxy()?.state).toBe('active');
    // ... and closed soon after it.
    const ended = await eventually(() => proxy()?.state === 'ended', leaseEndMs + 5_000 - Date.now());
    const view = (await call(stack, { method: 'GET', path: `/connections/${opened.body.id}`, as: app })).body;

    expect(ended).toBe(true);
    expect(proxy()?.endReason).toBe('stopped');
    const overrunMs = Date.parse(proxy()?.endedAt ?? '') - leaseEndMs;
    expect(overrunMs).toBeGreaterThanOrEqual(0);
    expect(overrunMs).toBeLessThanOrEqual(OVERRUN_LIMIT_MS);
    expect(view).toMatchObject({ status: 'stopped', stopReason: 'lease_ended' });
    // The timer did it: one timer armed for the one lease end, and no sweep ran.
    expect(stack.sqs.calls().SendMessage).toBe(1);
    expect(sweeps).toBe(0);
    expect(errors).toEqual([]);
  });
});

describe('the local stack with timers: false', () => {
  let stack: TestStack;
  const documents = createTestDocumentClient();
  const errors: Array<{ where: string; error: unknown }> = [];

  beforeAll(async () => {
    stack = await startTestStack({
      timers: false,
      sweepIntervalMs: TEN_MINUTES_MS,
      // DUE_SHARDS pinned so the test's store writes the due index exactly as the handlers do.
      env: { DUE_SHARDS: '4' },
      loadHandlers: isolatedHandlers,
      onError: (error, where) => errors.push({ where, error }),
    });
  });

  afterAll(async () => {
    await stack?.close();
    documents.destroy();
  });

  it('leaves a lease active past its end until a sweep ends it', async () => {
    expect(stack.timersEnabled).toBe(false);
    const app = stack.identity('app');
    const emulator = stack.emulator;
    if (!emulator) throw new Error('the stack started without its emulator');
    const opened = await call(stack, { method: 'POST', path: '/connections', body: { serviceId: ECHO, ttlSeconds: 60 }, as: app });
    expect(opened.status).toBe(201);
    const proxy = () => emulator.connections().find((connection) => connection.connectionId === opened.body.remoteConnectionId);
    const store = createDynamoConnectionStore({ client: documents, tableName: stack.tables.connections, dueShardCount: 4 });

    const ended = await endLease(store, opened.body.id, 0);
    await sleep(Math.max(0, Date.parse(ended.leaseExpiresAt) + 3_000 - Date.now()));
    const stillOpen = proxy()?.state;
    const before = (await call(stack, { method: 'GET', path: `/connections/${opened.body.id}`, as: app })).body;
    const summary = await stack.sweep();
    const after = (await call(stack, { method: 'GET', path: `/connections/${opened.body.id}`, as: app })).body;

    expect(stillOpen).toBe('active');
    expect(before.status).toBe('active');
    // The timer queue exists, but nothing armed or read a timer.
    expect(stack.sqs.calls()).toEqual({ CreateQueue: 2 });
    expect(summary.swept).toBe(1);
    expect(after).toMatchObject({ status: 'stopped', stopReason: 'lease_ended' });
    expect(proxy()).toMatchObject({ state: 'ended', endReason: 'stopped' });
    expect(errors).toEqual([]);
  });
});
