import type { ConnectionRecord } from '../../../lambdas/broker/model';
import type { DueBatch } from '../../../lambdas/broker/ports';
import { claimForStop, stopClaimed, type StopContext } from '../../../lambdas/broker/stopping';
import { ABANDONED_PENDING_REASON, sweep, type SweepBudget, type SweepDeps } from '../../../lambdas/broker/sweeper';
import { refused, upstream } from '../../../lambdas/remoteit/failures';
import { FakeRemoteit } from '../../fixtures/fake-remoteit';
import { connectionRecord, MemoryConnectionStore } from '../../fixtures/memory-store';
import { recordingSink } from './use-case-harness';

// connectionRecord's default lease ends at 00:15, so it is due at this time.
const NOW_MS = Date.parse('2030-01-01T01:00:00.000Z');
const NOW_S = NOW_MS / 1000;
const GRACE_SECONDS = 120;

const plentyOfTime = (): SweepBudget => ({ remainingMs: () => 60_000, safetyMarginMs: 10_000 });

function setup(options: { stop?: Partial<StopContext>; sweep?: Partial<SweepDeps> } = {}) {
  const clock = { ms: NOW_MS };
  const now = () => clock.ms;
  const store = new MemoryConnectionStore({ now });
  const remoteit = new FakeRemoteit();
  const { sink, events } = recordingSink();
  const ctx: StopContext = {
    store,
    remoteit,
    now,
    random: () => 0.5,
    maxAttempts: 8,
    claimSeconds: 60,
    events: sink,
    ...options.stop,
  };
  const deps: SweepDeps = {
    stopContext: ctx,
    concurrency: 4,
    pageSize: 10,
    pendingGraceSeconds: GRACE_SECONDS,
    itemEstimateMs: 1_000,
    ...options.sweep,
  };
  return { store, remoteit, clock, ctx, deps, events };
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

    it('reads through the due work only, page after page, when there is more than a page', async () => {
      // Arrange
      const { store, deps } = setup({ sweep: { pageSize: 3 } });
      seedDue(store, 25);
      const list = jest.spyOn(store, 'list');
      const get = jest.spyOn(store, 'get');
      const due = jest.spyOn(store, 'due');

      // Act
      const summary = await sweep(deps, plentyOfTime());

      // Assert: one walk of the due work as of now, read to its end in pages of three.
      expect(summary).toMatchObject({ due: 25, swept: 25, scanned: 25 });
      expect(list).not.toHaveBeenCalled();
      expect(get).not.toHaveBeenCalled();
      expect(due.mock.calls).toEqual([[NOW_S, { pageSize: 3 }]]);
      expect(store.dueReads).toBe(Math.ceil(25 / 3));
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
      const { store, remoteit, deps } = setup({ sweep: { concurrency: 1, pageSize: 2 } });
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

    it('leaves the pages after the budget unread when the remaining time runs down', async () => {
      // Arrange: 20 due in pages of 5; the budget lets eight stops start (10 s - n s - 2 s margin >= 1 s).
      const { store, remoteit, deps } = setup({ sweep: { concurrency: 1, pageSize: 5, itemEstimateMs: 1_000 } });
      seedDue(store, 20);
      const budget: SweepBudget = { remainingMs: () => 10_000 - 1_000 * remoteit.stopCalls.length, safetyMarginMs: 2_000 };

      // Act
      const summary = await sweep(deps, budget);

      // Assert: the second page was read for stops six to eight; the third and fourth never were.
      expect(summary).toMatchObject({ due: 10, swept: 8, backlog: 2, scanned: 10, budgetExhausted: true });
      expect(store.dueReads).toBe(2);
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

      // Act
      const summary = await sweep(deps, { remainingMs: () => 10_500, safetyMarginMs: 10_000 });

      // Assert: one read, to measure what is left, and no more.
      expect(summary).toMatchObject({ swept: 0, budgetExhausted: true, backlog: 3 });
      expect(summary.lagSeconds).toBeGreaterThan(0);
      expect(store.dueReads).toBe(1);
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
      await store.update(record?.id ?? '', { status: ['active'] }, { status: 'stopped', dueAt: null }, record);

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
      remoteit.defaultStop = upstream(503);
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
      const { store, events, deps } = setup({ sweep: { concurrency: 1 } });
      seedDue(store, 3);
      const failure = new Error('ProvisionedThroughputExceeded');
      store.failNextUpdate(failure);

      // Act
      const summary = await sweep(deps, plentyOfTime());

      // Assert
      expect(summary).toMatchObject({ errors: 1, swept: 2 });
      expect(events.all).toEqual([{ type: 'sweep_item_failed', record: expect.objectContaining({ status: 'active' }), error: failure }]);
    });

    it('counts a failed read of the due work, reports it and still sweeps what was read', async () => {
      // Arrange: the first page reads; every read after the first stop fails.
      const { store, remoteit, events, deps } = setup({ sweep: { concurrency: 1, pageSize: 2 } });
      const records = seedDue(store, 4);
      const failure = new Error('due index unavailable');
      remoteit.onStop = () => store.failDueReads(failure);

      // Act
      const summary = await sweep(deps, plentyOfTime());

      // Assert
      expect(summary).toMatchObject({ due: 2, swept: 2, errors: 1, skipped: 0 });
      expect(events.all).toEqual([{ type: 'due_read_failed', part: 'memory', error: failure }]);
      expect(records.map((record) => store.peek(record.id)?.status)).toEqual(['stopped', 'stopped', 'active', 'active']);
    });

    it('sweeps the items of a batch that reports a part it could not read', async () => {
      // Arrange: a store with parts (shards) serves one part and fails another in the same batch.
      const { store, events, deps } = setup();
      const records = seedDue(store, 2);
      const failure = new Error('shard 0 unavailable');
      jest.spyOn(store, 'due').mockImplementation(async function* (): AsyncGenerator<DueBatch> {
        await Promise.resolve();
        yield { items: records.map((record) => ({ ...record })), scanned: 2, failures: [{ part: 'due#0', error: failure }] };
      });

      // Act
      const summary = await sweep(deps, plentyOfTime());

      // Assert
      expect(summary).toMatchObject({ errors: 1, swept: 2, scanned: 2, due: 2 });
      expect(events.all).toEqual([{ type: 'due_read_failed', part: 'due#0', error: failure }]);
      for (const record of records) expect(store.peek(record.id)?.status).toBe('stopped');
    });

    it('reports a stop that remote.it refuses as a failed remote.it stop, as DELETE does', async () => {
      // Arrange
      const { store, remoteit, events, deps } = setup();
      const [record] = seedDue(store, 1);
      const refusal = refused('too many requests');
      remoteit.queueStop(refusal);

      // Act
      const summary = await sweep(deps, plentyOfTime());

      // Assert
      expect(summary).toMatchObject({ retried: 1, swept: 0, errors: 0 });
      expect(events.remoteitError).toHaveBeenCalledTimes(1);
      expect(events.remoteitError).toHaveBeenCalledWith('refused', 'stop');
      expect(events.all[0]).toEqual({ type: 'remoteit_failed', operation: 'stop', failure: refusal });
      expect(events.stopRetried).toHaveBeenCalledWith(store.peek(record?.id ?? ''), refusal);
    });
  });
});
