import type { ConnectionRecord } from '../../../lambdas/broker/model';
import { claimForStop, stopClaimed, type StopContext } from '../../../lambdas/broker/stopping';
import { ABANDONED_PENDING_REASON, sweep, type SweepBudget, type SweepDeps } from '../../../lambdas/broker/sweeper';
import { RemoteitUpstreamError } from '../../../lambdas/remoteit/types';
import { FakeRemoteit } from '../../fixtures/fake-remoteit';
import { connectionRecord, MemoryConnectionStore } from '../../fixtures/memory-store';

// connectionRecord's default lease ends at 00:15, so it is due at this time.
const NOW_MS = Date.parse('2030-01-01T01:00:00.000Z');
const NOW_S = NOW_MS / 1000;
const GRACE_SECONDS = 120;

const plentyOfTime = (): SweepBudget => ({ remainingMs: () => 60_000, safetyMarginMs: 10_000 });

function setup(options: { shards?: number; stop?: Partial<StopContext>; sweep?: Partial<SweepDeps> } = {}) {
  const store = new MemoryConnectionStore({ dueShardCount: options.shards ?? 4 });
  const remoteit = new FakeRemoteit();
  const clock = { ms: NOW_MS };
  const ctx: StopContext = {
    store,
    remoteit,
    now: () => clock.ms,
    random: () => 0.5,
    maxAttempts: 8,
    claimSeconds: 60,
    ...options.stop,
  };
  const deps: SweepDeps = {
    store,
    stop: ctx,
    concurrency: 4,
    pageSize: 10,
    pendingGraceSeconds: GRACE_SECONDS,
    itemEstimateMs: 1_000,
    ...options.sweep,
  };
  return { store, remoteit, clock, ctx, deps };
}

/** A record (defaults: active, due) whose id hashes to `shard`. */
function onShard(store: MemoryConnectionStore, shard: number, overrides: Partial<ConnectionRecord> = {}): ConnectionRecord {
  for (let tries = 0; tries < 1_000; tries += 1) {
    const record = connectionRecord(overrides);
    if (store.shardOf(record.id) === shard) return record;
  }
  throw new Error(`no id found for shard ${shard}`);
}

/** `count` due active records with distinct dueAt (oldest first), seeded. */
function seedDue(store: MemoryConnectionStore, count: number, firstDueAt = NOW_S - 3_000): ConnectionRecord[] {
  const records = Array.from({ length: count }, (_, index) => connectionRecord({ dueAt: firstDueAt + index }));
  store.seed(...records);
  return records;
}

describe('sweeper', () => {
  describe('sweep', () => {
    it('stops every active record whose lease ended and touches no other when some are not due', async () => {
      // Arrange
      const { store, remoteit, deps } = setup();
      const due = seedDue(store, 6);
      const later = connectionRecord({ dueAt: NOW_S + 300 });
      const done = connectionRecord({ status: 'stopped', dueAt: undefined });
      store.seed(later, done);

      // Act
      const summary = await sweep(deps, plentyOfTime());

      // Assert
      expect(summary).toMatchObject({ due: 6, swept: 6, scanned: 6, skipped: 0, backlog: 0, budgetExhausted: false });
      expect(new Set(remoteit.stopCalls.map((call) => call.remoteConnectionId))).toEqual(
        new Set(due.map((record) => record.remoteConnectionId)),
      );
      for (const record of due) expect(store.peek(record.id)).toMatchObject({ status: 'stopped', stopReason: 'lease_ended' });
      expect(store.peek(later.id)).toEqual(later);
      expect(store.peek(done.id)).toEqual(done);
    });

    it('reads through queryDue only, paging every shard, when there is more than a page', async () => {
      // Arrange
      const { store, deps } = setup({ sweep: { pageSize: 3 } });
      seedDue(store, 25);
      const list = jest.spyOn(store, 'list');
      const get = jest.spyOn(store, 'get');
      const queryDue = jest.spyOn(store, 'queryDue');

      // Act
      const summary = await sweep(deps, plentyOfTime());

      // Assert
      expect(summary).toMatchObject({ due: 25, swept: 25, scanned: 25 });
      expect(list).not.toHaveBeenCalled();
      expect(get).not.toHaveBeenCalled();
      expect(queryDue.mock.calls.every(([, now]) => now === NOW_S)).toBe(true);
      expect(new Set(queryDue.mock.calls.map(([shard]) => shard))).toEqual(new Set([0, 1, 2, 3]));
    });

    it('reports nothing to do and no lag when nothing is due', async () => {
      // Arrange
      const { store, remoteit, deps } = setup();
      store.seed(connectionRecord({ dueAt: NOW_S + 1 }));

      // Act
      const summary = await sweep(deps, plentyOfTime());

      // Assert
      expect(summary).toEqual({
        scanned: 0,
        due: 0,
        swept: 0,
        expired: 0,
        retried: 0,
        stopFailed: 0,
        settledPending: 0,
        skipped: 0,
        errors: 0,
        backlog: 0,
        lagSeconds: 0,
        budgetExhausted: false,
      });
      expect(remoteit.stopCalls).toHaveLength(0);
    });

    it('stops the oldest due first and reports the lag of the oldest when one worker sweeps', async () => {
      // Arrange
      const { store, remoteit, deps } = setup({ shards: 1, sweep: { concurrency: 1, pageSize: 2 } });
      const records = [NOW_S - 10, NOW_S - 500, NOW_S - 40, NOW_S - 2_000, NOW_S].map((dueAt) =>
        connectionRecord({ dueAt }),
      );
      store.seed(...records);

      // Act
      const summary = await sweep(deps, plentyOfTime());

      // Assert
      const byRemoteId = new Map(records.map((record) => [record.remoteConnectionId, record.dueAt]));
      expect(remoteit.stopCalls.map((call) => byRemoteId.get(call.remoteConnectionId))).toEqual([
        NOW_S - 2_000,
        NOW_S - 500,
        NOW_S - 40,
        NOW_S - 10,
        NOW_S,
      ]);
      expect(summary.lagSeconds).toBe(2_000);
    });

    it('serves every shard in the first round when one shard holds most of the due work', async () => {
      // Arrange
      const { store, remoteit, deps } = setup({ shards: 4, sweep: { concurrency: 1, pageSize: 5 } });
      const hot = Array.from({ length: 30 }, (_, index) => onShard(store, 0, { dueAt: NOW_S - 5_000 + index }));
      const cold = [1, 2, 3].map((shard) => onShard(store, shard, { dueAt: NOW_S - 10 }));
      store.seed(...hot, ...cold);

      // Act
      await sweep(deps, plentyOfTime());

      // Assert: round-robin puts each cold shard's item among the first four stops, not after 30 hot ones.
      const order = remoteit.stopCalls.map((call) => call.remoteConnectionId);
      expect(order).toHaveLength(33);
      for (const record of cold) expect(order.indexOf(record.remoteConnectionId ?? '')).toBeLessThan(4);
    });

    it('never has more stops in flight than the concurrency bound when many are due', async () => {
      // Arrange
      const { store, remoteit, deps } = setup({ sweep: { concurrency: 5, pageSize: 7 } });
      seedDue(store, 40);
      remoteit.latencyMs = 2;

      // Act
      const summary = await sweep(deps, plentyOfTime());

      // Assert
      expect(summary.swept).toBe(40);
      expect(remoteit.maxInFlight).toBe(5);
    });

    it('stops claiming and reports the backlog when the remaining time runs down', async () => {
      // Arrange
      const { store, remoteit, deps } = setup({ sweep: { concurrency: 1, pageSize: 50, itemEstimateMs: 1_000 } });
      const records = seedDue(store, 20);
      // Each stop "takes" a second of the Lambda's time: claims continue while 10 s - n - 2 s margin >= 1 s.
      const budget: SweepBudget = { remainingMs: () => 10_000 - 1_000 * remoteit.stopCalls.length, safetyMarginMs: 2_000 };

      // Act
      const summary = await sweep(deps, budget);

      // Assert
      expect(summary).toMatchObject({ due: 20, swept: 8, backlog: 12, budgetExhausted: true });
      expect(store.records().filter((record) => record.status === 'active')).toHaveLength(12);
      expect(store.records().filter((record) => record.status === 'stopping')).toHaveLength(0);

      // And the next tick picks up the rest.
      const next = await sweep(deps, plentyOfTime());
      expect(next).toMatchObject({ swept: 12, backlog: 0, budgetExhausted: false });
      expect(remoteit.stopCountsById().size).toBe(records.length);
    });

    it('lets in-flight stops finish and claims nothing when the budget ends during them', async () => {
      // Arrange
      const { store, remoteit, deps } = setup({ sweep: { concurrency: 3, pageSize: 50 } });
      seedDue(store, 10);
      let remaining = 60_000;
      remoteit.onStop = async () => {
        remaining = 0;
        await new Promise((resolve) => setTimeout(resolve, 5));
      };

      // Act
      const summary = await sweep(deps, { remainingMs: () => remaining, safetyMarginMs: 10_000 });

      // Assert
      expect(summary).toMatchObject({ swept: 3, backlog: 7, budgetExhausted: true });
      expect(store.records().filter((record) => record.status === 'stopped')).toHaveLength(3);
      expect(store.records().filter((record) => record.status === 'stopping')).toHaveLength(0);
    });

    it('claims nothing but still reports backlog and lag when the budget is already below the margin', async () => {
      // Arrange
      const { store, remoteit, deps } = setup();
      seedDue(store, 3);
      const queryDue = jest.spyOn(store, 'queryDue');

      // Act
      const summary = await sweep(deps, { remainingMs: () => 10_500, safetyMarginMs: 10_000 });

      // Assert
      expect(summary).toMatchObject({ swept: 0, budgetExhausted: true, backlog: 3 });
      expect(summary.lagSeconds).toBeGreaterThan(0);
      expect(queryDue).toHaveBeenCalledTimes(store.dueShardCount);
      expect(remoteit.stopCalls).toHaveLength(0);
      expect(store.records().every((record) => record.status === 'active')).toBe(true);
    });

    it('stops each connection exactly once when two sweeps run at once on one store', async () => {
      // Arrange
      const { store, remoteit, deps } = setup({ sweep: { concurrency: 4, pageSize: 8 } });
      const records = seedDue(store, 60);
      remoteit.latencyMs = 1;

      // Act
      const [first, second] = await Promise.all([sweep(deps, plentyOfTime()), sweep(deps, plentyOfTime())]);

      // Assert
      const counts = remoteit.stopCountsById();
      expect(counts.size).toBe(60);
      expect([...counts.values()].every((count) => count === 1)).toBe(true);
      expect(first.swept + second.swept).toBe(60);
      expect(first.swept).toBeGreaterThan(0);
      expect(second.swept).toBeGreaterThan(0);
      expect(first.skipped + second.skipped).toBe(first.due + second.due - 60);
      for (const record of records) expect(store.peek(record.id)?.status).toBe('stopped');
    });

    it('skips the item and makes no stop call when a DELETE claims it just before the sweeper', async () => {
      // Arrange
      const { store, remoteit, ctx, deps } = setup();
      const [record] = seedDue(store, 1);
      let raced = false;
      store.beforeUpdate = async (id, _expected, changes) => {
        if (raced || changes.status !== 'stopping') return;
        raced = true;
        // The owner's DELETE lands between the sweeper's read and its claim.
        const current = await store.get(id);
        const claimed = current && (await claimForStop(ctx, current, 'requested'));
        if (claimed) await stopClaimed(ctx, claimed);
      };

      // Act
      const summary = await sweep(deps, plentyOfTime());

      // Assert
      expect(summary).toMatchObject({ due: 1, swept: 0, skipped: 1, errors: 0 });
      expect(remoteit.stopCalls).toHaveLength(1);
      expect(store.peek(record?.id ?? '')).toMatchObject({ status: 'stopped', stopReason: 'requested' });
    });

    it('keeps a DELETE from claiming the record while the sweeper is stopping it', async () => {
      // Arrange
      const { store, remoteit, ctx, deps } = setup();
      const [record] = seedDue(store, 1);
      const deleteClaims: (ConnectionRecord | undefined)[] = [];
      remoteit.onStop = async () => {
        const current = await store.get(record?.id ?? '');
        if (current) deleteClaims.push(await claimForStop(ctx, current, 'requested'));
        if (record) deleteClaims.push(await claimForStop(ctx, record, 'requested'));
      };

      // Act
      const summary = await sweep(deps, plentyOfTime());

      // Assert
      expect(deleteClaims).toEqual([undefined, undefined]);
      expect(summary.swept).toBe(1);
      expect(remoteit.stopCalls).toHaveLength(1);
      expect(store.peek(record?.id ?? '')).toMatchObject({ status: 'stopped', stopReason: 'lease_ended' });
    });

    it('marks a stale pending record failed without calling remote.it when it has no connection id', async () => {
      // Arrange
      const { store, remoteit, deps } = setup();
      const createdAt = new Date((NOW_S - GRACE_SECONDS - 5) * 1000).toISOString();
      const pending = connectionRecord({
        status: 'pending',
        createdAt,
        remoteConnectionId: undefined,
        proxy: undefined,
        dueAt: NOW_S - 5,
      });
      store.seed(pending);

      // Act
      const summary = await sweep(deps, plentyOfTime());

      // Assert
      expect(summary).toMatchObject({ settledPending: 1, swept: 0, skipped: 0 });
      expect(remoteit.stopCalls).toHaveLength(0);
      const stored = store.peek(pending.id);
      expect(stored).toMatchObject({ status: 'failed', failureReason: ABANDONED_PENDING_REASON, version: 1 });
      expect(stored?.dueAt).toBeUndefined();
      expect(store.updates[0]?.expected).toEqual({ status: ['pending'], version: 0 });
    });

    it('stops a stale pending record at remote.it when its connection id is known', async () => {
      // Arrange
      const { store, remoteit, deps } = setup();
      const createdAt = new Date((NOW_S - GRACE_SECONDS - 5) * 1000).toISOString();
      const pending = connectionRecord({ status: 'pending', createdAt, remoteConnectionId: 'rc-orphan', dueAt: NOW_S - 5 });
      store.seed(pending);

      // Act
      const summary = await sweep(deps, plentyOfTime());

      // Assert
      expect(summary).toMatchObject({ settledPending: 1, swept: 1 });
      expect(remoteit.stopCalls).toEqual([{ serviceId: pending.serviceId, remoteConnectionId: 'rc-orphan' }]);
      expect(store.peek(pending.id)).toMatchObject({ status: 'stopped', stopReason: 'abandoned' });
    });

    it('leaves a pending record alone when it is younger than the grace period', async () => {
      // Arrange
      const { store, remoteit, deps } = setup();
      const createdAt = new Date((NOW_S - 30) * 1000).toISOString();
      const pending = connectionRecord({ status: 'pending', createdAt, remoteConnectionId: undefined, dueAt: NOW_S - 1 });
      store.seed(pending);

      // Act
      const summary = await sweep(deps, plentyOfTime());

      // Assert
      expect(summary).toMatchObject({ due: 1, skipped: 1, settledPending: 0 });
      expect(store.peek(pending.id)).toEqual(pending);
      expect(remoteit.stopCalls).toHaveLength(0);
    });

    it('skips what the lagging index still shows when the record was already settled', async () => {
      // Arrange
      const { store, remoteit, deps } = setup();
      const [record] = seedDue(store, 1);
      const stray = connectionRecord({ status: 'stopped', dueAt: NOW_S - 100 });
      store.seed(stray);
      store.pauseIndex();
      await store.update(record?.id ?? '', { status: ['active'] }, { status: 'stopped', dueAt: null });

      // Act
      const summary = await sweep(deps, plentyOfTime());

      // Assert
      expect(summary).toMatchObject({ due: 2, skipped: 2, swept: 0, errors: 0 });
      expect(remoteit.stopCalls).toHaveLength(0);
      expect(store.peek(stray.id)).toEqual(stray);
    });

    it('records expired without calling remote.it when the remote.it expiry has passed', async () => {
      // Arrange
      const { store, remoteit, deps } = setup();
      const record = connectionRecord({ expiresAt: NOW_S - 1 });
      store.seed(record);

      // Act
      const summary = await sweep(deps, plentyOfTime());

      // Assert
      expect(summary).toMatchObject({ expired: 1, swept: 0 });
      expect(remoteit.stopCalls).toHaveLength(0);
      expect(store.peek(record.id)?.status).toBe('expired');
    });

    it('retries a failing stop on later sweeps only once due, then records stop_failed', async () => {
      // Arrange
      const { store, remoteit, clock, deps } = setup({ stop: { maxAttempts: 3 } });
      const [record] = seedDue(store, 1);
      remoteit.defaultStop = new RemoteitUpstreamError(503);
      const summaries = [];

      // Act
      summaries.push(await sweep(deps, plentyOfTime()));
      summaries.push(await sweep(deps, plentyOfTime())); // same instant: the retry is not due yet
      for (let tick = 0; tick < 3; tick += 1) {
        clock.ms += 3_600_000;
        summaries.push(await sweep(deps, plentyOfTime()));
      }

      // Assert
      expect(summaries.map((summary) => [summary.retried, summary.stopFailed])).toEqual([
        [1, 0],
        [0, 0],
        [1, 0],
        [0, 1],
        [0, 0],
      ]);
      expect(remoteit.stopCalls).toHaveLength(3);
      expect(store.peek(record?.id ?? '')).toMatchObject({ status: 'stop_failed', failureReason: 'remote.it answered HTTP 503' });
    });

    it('stops a record on a later sweep when a crash left it claimed without an outcome', async () => {
      // Arrange
      const { store, remoteit, clock, ctx, deps } = setup();
      const [record] = seedDue(store, 1);
      const claimed = await claimForStop(ctx, record as ConnectionRecord, 'requested');
      expect(claimed?.status).toBe('stopping');
      // ...and the invocation that claimed it died here.

      // Act
      const whileClaimed = await sweep(deps, plentyOfTime());
      clock.ms += 60_000;
      const afterLapse = await sweep(deps, plentyOfTime());

      // Assert
      expect(whileClaimed).toMatchObject({ due: 0, swept: 0 });
      expect(afterLapse).toMatchObject({ due: 1, swept: 1 });
      expect(remoteit.stopCalls).toHaveLength(1);
      expect(store.peek(record?.id ?? '')).toMatchObject({ status: 'stopped', stopReason: 'requested' });
    });

    it('counts an item that fails in the store and goes on with the rest', async () => {
      // Arrange
      const { store, deps } = setup({ sweep: { concurrency: 1 } });
      seedDue(store, 3);
      store.failNextUpdate(new Error('ProvisionedThroughputExceeded'));
      const itemFailed = jest.fn();

      // Act
      const summary = await sweep({ ...deps, events: { itemFailed } }, plentyOfTime());

      // Assert
      expect(summary).toMatchObject({ errors: 1, swept: 2 });
      expect(itemFailed).toHaveBeenCalledWith(expect.objectContaining({ status: 'active' }), expect.any(Error));
    });

    it('sweeps the other shards when one shard query fails', async () => {
      // Arrange
      const { store, deps } = setup({ shards: 2 });
      store.seed(onShard(store, 0), onShard(store, 1));
      const queryDue = store.queryDue.bind(store);
      jest.spyOn(store, 'queryDue').mockImplementation(async (shard, now, options) => {
        if (shard === 0) throw new Error('shard 0 unavailable');
        return queryDue(shard, now, options);
      });
      const queryFailed = jest.fn();

      // Act
      const summary = await sweep({ ...deps, events: { queryFailed } }, plentyOfTime());

      // Assert
      expect(summary).toMatchObject({ errors: 1, swept: 1 });
      expect(queryFailed).toHaveBeenCalledWith(0, expect.any(Error));
    });
  });
});
