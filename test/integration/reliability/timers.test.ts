/**
 * Lease timers under faults and races, on real parts: the real handlers (write, sweeper, timer-arm,
 * timer-fire), DynamoDB Local and its stream behind the DynamoDB fault proxy, the SQS stub, the remote.it
 * emulator. Each row makes a lease end within a second or two (a renew written straight to the store, below
 * the API's 60 s floor), then delivers its timer as the row says. After the rows, the invariant: every
 * proxy the rows opened is closed, and each was stopped at most once.
 */
import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSRecord } from 'aws-lambda';
import { startDynamoFaults, type DynamoFaults } from '../../../dev/dynamo-faults';
import { StreamBatchDroppedError } from '../../../dev/stream-poller';
import { applyTransition, lifecycle } from '../../../lambdas/broker/lifecycle';
import type { ConnectionRecord } from '../../../lambdas/broker/model';
import { createDynamoConnectionStore } from '../../../lambdas/store/dynamo-store';
import type { ConnectionStore } from '../../../lambdas/broker/ports';
import { SERVICES, startBroker, type Broker } from '../support/broker';
import { dynamoEndpoint } from '../support/dynamo';
import { startTimerRig, type TimerRig } from '../support/timers';

const DUE_SHARDS = 4;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

let faults: DynamoFaults;
let broker: Broker;
let rig: TimerRig;
let store: ConnectionStore;
const opened: string[] = [];

beforeAll(async () => {
  faults = await startDynamoFaults({ upstream: dynamoEndpoint() });
  broker = await startBroker({ streams: true, env: { AWS_ENDPOINT_URL_DYNAMODB: faults.endpoint, DUE_SHARDS: String(DUE_SHARDS), POWERTOOLS_LOG_LEVEL: 'ERROR' } });
  rig = await startTimerRig(broker);
  store = createDynamoConnectionStore({ client: broker.tables.documentClient, tableName: broker.tables.connections, dueShardCount: DUE_SHARDS });
}, 60_000);

afterAll(async () => {
  await rig?.stop();
  await broker?.stop();
  await faults?.stop();
});

afterEach(() => {
  faults.setRules([]);
  rig.sqs.setFaults({});
});

/** Opens through the API (its timer is armed for the 60 s lease) and returns the record. */
async function open(): Promise<ConnectionRecord> {
  const answer = await broker.call({ routeKey: 'POST /connections', body: { serviceId: SERVICES.echo, ttlSeconds: 60 } });
  expect(answer.status).toBe(201);
  opened.push(answer.body.id);
  const record = await store.get(answer.body.id);
  if (!record) throw new Error('opened connection not in the store');
  return record;
}

/** Moves the lease end to `inMs` from now, as a renew writes it: the stream arms a timer for the new end. */
async function endLeaseIn(record: ConnectionRecord, inMs: number): Promise<ConnectionRecord> {
  return applyTransition(store, lifecycle.extendLease(record, Date.now() + inMs));
}

/** Opens `count` connections whose leases end within `inMs`, and waits for their short timers to be armed. */
async function shortLeases(count: number, inMs = 800): Promise<ConnectionRecord[]> {
  const sendsBefore = rig.sends();
  const records: ConnectionRecord[] = [];
  for (let index = 0; index < count; index += 1) records.push(await open());
  const shortened = await Promise.all(records.map((record) => endLeaseIn(record, inMs)));
  // One arm per open, one per shortened lease.
  await rig.sendsReach(sendsBefore + 2 * count);
  return shortened;
}

/** The short timers, once visible (the 60 s ones stay delayed). */
async function dueTimers(count: number): Promise<SQSRecord[]> {
  const received: SQSRecord[] = [];
  const deadline = Date.now() + 10_000;
  while (received.length < count && Date.now() < deadline) received.push(...(await rig.receive({ waitSeconds: 1 })));
  expect(received).toHaveLength(count);
  return received;
}

const droppedRecords = () =>
  rig.droppedArms.reduce((sum: number, error) => sum + (error instanceof StreamBatchDroppedError ? error.sequenceNumbers.length : 0), 0);

const stopCalls = (record: ConnectionRecord) =>
  broker.emulator.calls().records.filter((call) => call.path === '/device/connect/stop' && call.connectionid === record.remoteConnectionId).length;

const proxyOf = (record: ConnectionRecord) => broker.emulator.connections().find((proxy) => proxy.connectionId === record.remoteConnectionId);

describe('lease timers: faults and races', () => {
  it('a timer stops its connection once, after (never before) the lease end, through the stop path', async () => {
    const [record] = await shortLeases(1);
    if (!record) throw new Error('no record');

    const answer = await rig.fire(await dueTimers(1));

    expect(answer.batchItemFailures).toEqual([]);
    expect(await store.get(record.id)).toMatchObject({ status: 'stopped', stopReason: 'lease_ended' });
    const proxy = proxyOf(record);
    expect(proxy?.state).toBe('ended');
    expect(Date.parse(proxy?.endedAt ?? '')).toBeGreaterThanOrEqual(Date.parse(record.leaseExpiresAt));
    expect(stopCalls(record)).toBe(1);
  }, 30_000);

  it('duplicate delivery (twice in a batch, and again later) stops the connection once', async () => {
    const [record] = await shortLeases(1);
    if (!record) throw new Error('no record');
    const [timer] = await dueTimers(1);
    if (!timer) throw new Error('no timer');

    const first = await rig.fire([timer, { ...timer, messageId: `${timer.messageId}-copy` }]);
    const again = await rig.fire([timer]);

    expect(first.batchItemFailures).toEqual([]);
    expect(again.batchItemFailures).toEqual([]);
    expect(stopCalls(record)).toBe(1);
    expect((await store.get(record.id))?.status).toBe('stopped');
  }, 30_000);

  it('a timer that fires after a renew stops nothing; the renew armed its own timer', async () => {
    const [record] = await shortLeases(1);
    if (!record) throw new Error('no record');
    const sendsBefore = rig.sends();
    const renewed = await broker.call({ routeKey: 'POST /connections/{id}/renew', pathParameters: { id: record.id }, body: { ttlSeconds: 120 } });
    expect(renewed.status).toBe(200);
    await rig.sendsReach(sendsBefore + 1);

    const answer = await rig.fire(await dueTimers(1));

    expect(answer.batchItemFailures).toEqual([]);
    expect(stopCalls(record)).toBe(0);
    expect(await store.get(record.id)).toMatchObject({ status: 'active', leaseExpiresAt: renewed.body.leaseExpiresAt });
    expect(proxyOf(record)?.state).toBe('active');
    // Ended here by the API, so the invariant below holds.
    expect((await broker.call({ routeKey: 'DELETE /connections/{id}', pathParameters: { id: record.id } })).status).toBe(200);
  }, 30_000);

  it('a timer for a connection already stopped by DELETE, or for a record deleted from the table, does nothing', async () => {
    const [stopped, deleted] = await shortLeases(2);
    if (!stopped || !deleted) throw new Error('no records');
    expect((await broker.call({ routeKey: 'DELETE /connections/{id}', pathParameters: { id: stopped.id } })).status).toBe(200);
    // The record vanishes (as TTL deletes it); its proxy is stopped here so that the invariant holds.
    await broker.tables.documentClient.send(new DeleteCommand({ TableName: broker.tables.connections, Key: { id: deleted.id } }));
    const stopsBefore = broker.emulator.calls().byPath['/device/connect/stop'] ?? 0;

    const answer = await rig.fire(await dueTimers(2));

    expect(answer.batchItemFailures).toEqual([]);
    expect((broker.emulator.calls().byPath['/device/connect/stop'] ?? 0) - stopsBefore).toBe(0);
    expect(stopCalls(stopped)).toBe(1);
    expect(await store.get(deleted.id)).toBeUndefined();
    // Nothing left to stop it: the broker no longer knows the connection. remote.it's own expiry ends it.
    expect(proxyOf(deleted)?.state).toBe('active');
    opened.splice(opened.indexOf(deleted.id), 1);
  }, 30_000);

  it('the consumer failing mid-batch returns only the failed timer, which stops its connection when delivered again', async () => {
    const records = await shortLeases(3);
    const [ok1, failing, ok2] = records;
    if (!ok1 || !failing || !ok2) throw new Error('no records');
    const timers = await dueTimers(3);
    faults.setRules([{ operations: ['GetItem'], matching: failing.id, error: 'InternalServerError' }]);

    const answer = await rig.fire(timers);

    const failedTimer = timers.find((timer) => timer.body.includes(failing.id));
    expect(answer.batchItemFailures).toEqual([{ itemIdentifier: failedTimer?.messageId }]);
    expect((await store.get(ok1.id))?.status).toBe('stopped');
    expect((await store.get(ok2.id))?.status).toBe('stopped');
    expect((await store.get(failing.id))?.status).toBe('active');

    faults.setRules([]);
    if (!failedTimer) throw new Error('no failed timer');
    expect((await rig.fire([failedTimer])).batchItemFailures).toEqual([]);
    expect((await store.get(failing.id))?.status).toBe('stopped');
    for (const record of records) expect(stopCalls(record)).toBe(1);
  }, 30_000);

  it('a timer, a DELETE and a sweep racing at the lease end make one stop at remote.it', async () => {
    const [record] = await shortLeases(1);
    if (!record) throw new Error('no record');
    const timers = await dueTimers(1);

    const [fired, deleted] = await Promise.all([
      rig.fire(timers),
      broker.call({ routeKey: 'DELETE /connections/{id}', pathParameters: { id: record.id } }),
      broker.sweep(),
    ]);

    expect(fired.batchItemFailures).toEqual([]);
    expect([200, 202]).toContain(deleted.status);
    expect(stopCalls(record)).toBe(1);
    expect(['stopped', 'expired']).toContain((await store.get(record.id))?.status);
  }, 30_000);

  it('SQS unavailable when arming: the open still answers 201, and the sweeper ends the lease', async () => {
    const queuedBefore = await rig.queued();
    rig.sqs.setFaults({ unavailable: true, actions: ['SendMessage'] });
    const droppedBefore = droppedRecords();
    const record = await open();
    const shortened = await endLeaseIn(record, 500);
    // The stream mapping retries the arm, then gives up on both changes (the open's and the renew's).
    const deadline = Date.now() + 15_000;
    while (droppedRecords() < droppedBefore + 2 && Date.now() < deadline) await sleep(100);
    expect(droppedRecords()).toBe(droppedBefore + 2);
    expect(await rig.queued()).toBe(queuedBefore);
    rig.sqs.setFaults({});
    await sleep(Math.max(0, Date.parse(shortened.leaseExpiresAt) - Date.now()) + 1_100);

    const summary = await broker.sweep();

    expect(summary.swept).toBeGreaterThanOrEqual(1);
    expect(await store.get(record.id)).toMatchObject({ status: 'stopped', stopReason: 'lease_ended' });
    expect(stopCalls(record)).toBe(1);
  }, 30_000);

  it('invariant: every proxy the rows opened is closed, each stopped at most once', async () => {
    // Whatever timers are still queued (the 60 s ones) find their connections settled.
    for (const id of opened) {
      const record = await store.get(id);
      expect(record && ['stopped', 'expired'].includes(record.status)).toBe(true);
      if (!record) continue;
      expect(proxyOf(record)?.state).toBe('ended');
      expect(stopCalls(record)).toBeLessThanOrEqual(1);
    }
  });
});
