/** Fault-matrix rows (faults.test.ts): DynamoDB faults, injected by the fault proxy (dev/dynamo-faults.ts). */
import { scanAll } from '../support/invariant';
import { CONNECT, DUE_SHARDS, STOP, TIMEOUT_MS, endedConnection, eventually, open, openConnection, sleep, stop, type Row } from './faults-support';

export const DYNAMO_ROWS: Row[] = [
  {
    // The write-ahead record and the quota slot it takes are one TransactWriteItems (docs/ARCHITECTURE.md, "The quota").
    name: 'write-ahead TransactWriteItems throttled once: the SDK retries, 201',
    faults: { dynamo: [{ operations: ['TransactWriteItems'], times: 1 }] },
    act: async (suite) => {
      const answer = await open(suite);
      expect(suite.dynamo.calls().TransactWriteItems?.failed).toBe(1);
      return { answer };
    },
    status: 201,
    record: { status: 'active' },
    proxy: 'live',
  },
  {
    name: 'write-ahead TransactWriteItems throttled past the SDK retries: 503 with Retry-After, nothing written, remote.it never called',
    faults: { dynamo: [{ operations: ['TransactWriteItems'], error: 'ThrottlingException' }] },
    act: async (suite) => {
      const answer = await open(suite);
      expect(suite.broker.emulator.calls().byPath[CONNECT]).toBeUndefined();
      return { answer };
    },
    status: 503,
    title: 'Service busy',
    retryAfter: '1',
    record: 'none',
    proxy: 'none',
  },
  {
    name: 'recording an opened connection fails past the SDK retries (InternalServerError): compensation stops it, 503',
    faults: { dynamo: [{ operations: ['UpdateItem'], matching: '"active"', error: 'InternalServerError' }] },
    act: async (suite) => ({ answer: await open(suite) }),
    status: 503,
    record: { status: 'stopped', stopReason: 'compensation' },
    proxy: 'ended',
  },
  {
    name: 'recording fails (InternalServerError) and the compensating stop fails too: handed to the sweeper as stopping',
    faults: { dynamo: [{ operations: ['UpdateItem'], matching: '"active"', error: 'InternalServerError' }], remoteit: { status: 500, onlyPaths: [STOP] } },
    act: async (suite) => ({ answer: await open(suite) }),
    status: 503,
    record: { status: 'stopping', stopReason: 'compensation', stopAttempts: 1 },
    proxy: 'live',
    settled: { status: 'stopped', stopReason: 'compensation' },
  },
  {
    name: 'the sweeper settles the pending record while remote.it is still connecting: the conditional write fails, compensation stops the proxy',
    faults: { remoteit: { latencyMs: TIMEOUT_MS - 100, onlyPaths: [CONNECT] } },
    act: async (suite) => {
      // Start mid-second, then sweep as soon as the record is one (whole) second old: PENDING_GRACE_SECONDS
      // has passed while remote.it is still connecting.
      await sleep((1_450 - (Date.now() % 1_000)) % 1_000);
      const answer = open(suite);
      let createdMs = 0;
      await eventually(async () => {
        const pending = (await scanAll(suite.broker.tables)).find((record) => record.status === 'pending');
        createdMs = pending ? Date.parse(pending.createdAt) : 0;
        return pending !== undefined;
      }, TIMEOUT_MS);
      await sleep((Math.floor(createdMs / 1_000) + 1) * 1_000 + 10 - Date.now());
      const summary = await suite.broker.sweep();
      return { answer: await answer, summary };
    },
    status: 503,
    summary: { settledPending: 1 },
    record: { status: 'failed', stopReason: 'abandoned' },
    proxy: 'ended',
  },
  {
    name: 'GetItem failing past the SDK retries on GET /connections/{id}: 503 with Retry-After, nothing changed',
    arrange: async (suite) => [await openConnection(suite)],
    faults: { dynamo: [{ operations: ['GetItem'], error: 'InternalServerError' }] },
    act: async (suite, [connection]) => ({ answer: await suite.broker.call({ routeKey: 'GET /connections/{id}', pathParameters: { id: connection?.id ?? '' } }) }),
    status: 503,
    title: 'Service busy',
    record: { status: 'active' },
    proxy: 'live',
  },
  {
    name: 'the due-index Query failing: the sweep counts errors and stops nothing, the next sweep stops the ended lease',
    arrange: async (suite) => [await endedConnection(suite)],
    faults: { dynamo: [{ operations: ['Query'], error: 'InternalServerError' }] },
    act: async (suite) => ({ summary: await suite.broker.sweep() }),
    summary: { errors: DUE_SHARDS, swept: 0 },
    record: { status: 'active' },
    proxy: 'live',
    settled: { status: 'stopped', stopReason: 'lease_ended' },
  },
  {
    // The outcome that ends the record also gives its quota slot back: one TransactWriteItems.
    name: 'recording a DELETE\'s stop fails after remote.it stopped it: 503, the claim lapses, the sweeper settles it expired',
    arrange: async (suite) => [await openConnection(suite)],
    faults: { dynamo: [{ operations: ['TransactWriteItems'], matching: '"stopped"', error: 'InternalServerError' }] },
    act: async (suite, [connection]) => ({ answer: await stop(suite, connection?.id ?? '') }),
    status: 503,
    record: { status: 'stopping', stopReason: 'requested' },
    proxy: 'ended',
    settled: { status: 'expired' },
  },
];
