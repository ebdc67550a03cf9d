/**
 * The sweeper's cost grows with due work, never with the table: with 20,000 records that need nothing and
 * 200 due, one run of the sweeper handler reads about 200 items (the sum of ScannedCount of its queries).
 *
 * The 200 due records are active connections whose remote.it expiry has already passed, so the sweeper
 * settles them as `expired` without a remote.it call: the test is about reads, and this keeps it fast.
 */
import type { ConnectionRecord } from '../../../lambdas/broker/model';
import type { ConnectionStore } from '../../../lambdas/broker/ports';
import { connectionRecord } from '../support/records';
import { ROLES, SERVICES, startBroker, type Broker } from '../support/broker';
import { connectionStore, dueIds, loadRecords, nowSeconds } from './helpers';

const DUE_SHARDS = 4; // startBroker's DUE_SHARDS
const NOT_DUE = 20_000;
const DUE = 200;

let broker: Broker;
let store: ConnectionStore;
let due: ConnectionRecord[];

beforeAll(async () => {
  broker = await startBroker();
  store = connectionStore(broker.tables, DUE_SHARDS).store;
  const now = nowSeconds();
  const base = { owner: ROLES.app, serviceId: SERVICES.echo };
  const waiting = Array.from({ length: NOT_DUE }, (_, index) =>
    index % 2 === 0
      ? connectionRecord({ ...base, dueAt: now + 60 + (index % 3_600) }) // leases still running: indexed, not yet due
      : connectionRecord({ ...base, status: 'stopped', stopReason: 'requested', stopAttempts: 1 }), // finished: not indexed
  );
  due = Array.from({ length: DUE }, (_, index) =>
    // Opened 8 h ago: the lease ended and remote.it's own expiry passed a moment ago.
    connectionRecord({ ...base, createdAt: new Date((now - 28_800 - 60) * 1000).toISOString(), expiresAt: now - 60, dueAt: now - 120 - index }),
  );
  await loadRecords(broker.tables, [...waiting, ...due], DUE_SHARDS);
}, 60_000);

afterAll(async () => {
  await broker?.stop();
});

describe('sweeper handler', () => {
  describe('cost', () => {
    it('reads about as many items as are due, not the table, when 20,000 records are not due and 200 are', async () => {
      // Act
      // Time enough that the budget plays no part: this test is about what a sweep reads.
      const summary = await broker.sweep({ getRemainingTimeInMillis: () => 300_000 });

      // Assert: every shard read up to its first item not yet due, and no further.
      expect(summary.due).toBe(DUE);
      expect(summary.scanned).toBeGreaterThanOrEqual(DUE);
      expect(summary.scanned).toBeLessThanOrEqual(DUE + DUE_SHARDS);
      expect(summary).toMatchObject({ swept: 0, errors: 0, backlog: 0, budgetExhausted: false });
      // DynamoDB Local's TTL deletion may remove a record (its expiresAt passed) at any time, also between
      // the query and the claim: the sweeper skips what is gone and settles every other due record as expired.
      expect(summary.expired + summary.skipped).toBe(DUE);
      const remaining = (await Promise.all(due.map((record) => store.get(record.id)))).filter((record) => record !== undefined);
      expect(summary.skipped).toBeLessThanOrEqual(DUE - remaining.length);
      for (const record of remaining) expect(record).toMatchObject({ status: 'expired', stopReason: 'expired', stopAttempts: 0 });
      expect(broker.emulator.calls().total).toBe(0);
      // The index now holds only the 10,000 running leases.
      expect(await dueIds(store, nowSeconds())).toEqual([]);
    });
  });
});
