import type { ConnectionRecord } from '../../../lambdas/broker/model';
import type { LeaseTimer, LeaseTimers, Timer } from '../../../lambdas/broker/ports';
import type { StopContext } from '../../../lambdas/broker/stopping';
import { sweep } from '../../../lambdas/broker/sweeper';
import { fireTimer, isActivation, lockStopFor, timerFor, type TimerDeps } from '../../../lambdas/broker/timers';
import { lock } from '../../fixtures/memory-locks';
import { refused } from '../../../lambdas/remoteit/failures';
import { FakeRemoteit } from '../../fixtures/fake-remoteit';
import { connectionRecord, MemoryConnectionStore } from '../../fixtures/memory-store';
import { recordingSink } from './use-case-harness';

// connectionRecord's default lease ends at 00:15:00.
const LEASE_END = '2030-01-01T00:15:00.000Z';
const LEASE_END_MS = Date.parse(LEASE_END);

class RecordingTimers implements LeaseTimers {
  readonly armed: Timer[] = [];
  failure: Error | undefined;
  async arm(timer: Timer): Promise<void> {
    if (this.failure) throw this.failure;
    this.armed.push(timer);
  }
}

function setup(nowMs = LEASE_END_MS + 250) {
  const clock = { ms: nowMs };
  const now = () => clock.ms;
  const store = new MemoryConnectionStore({ now });
  const remoteit = new FakeRemoteit();
  const timers = new RecordingTimers();
  const { sink, events } = recordingSink();
  const slept: number[] = [];
  const stopContext: StopContext = { store, remoteit, now, random: () => 0.5, maxAttempts: 3, claimSeconds: 60, events: sink };
  const deps: TimerDeps = {
    stopContext,
    timers,
    sleep: async (ms) => {
      slept.push(ms);
      clock.ms += ms;
    },
  };
  return { clock, store, remoteit, timers, deps, events, slept };
}

const timerOf = (record: ConnectionRecord): LeaseTimer => ({ id: record.id, leaseExpiresAt: record.leaseExpiresAt });

describe('lease timers', () => {
  describe('timerFor (which changes arm a timer)', () => {
    const pending = connectionRecord({ status: 'pending', leaseExpiresAt: LEASE_END });
    const active = connectionRecord({ id: pending.id, status: 'active', leaseExpiresAt: LEASE_END });

    it('arms one timer for the lease end when a record becomes active', () => {
      expect(timerFor(pending, active)).toEqual({ id: active.id, leaseExpiresAt: LEASE_END });
    });

    it('arms one for the new lease end when a renew moves it', () => {
      const renewed = { ...active, leaseExpiresAt: '2030-01-01T00:20:00.000Z', version: 2 };
      expect(timerFor(active, renewed)).toEqual({ id: active.id, leaseExpiresAt: '2030-01-01T00:20:00.000Z' });
    });

    it('arms one for a record first seen active (no old image)', () => {
      expect(timerFor(undefined, active)).toEqual({ id: active.id, leaseExpiresAt: LEASE_END });
    });

    it.each([
      ['an active record written again with the same lease end', () => [active, { ...active, version: 3 }]],
      ['a claim for stop', () => [active, { ...active, status: 'stopping' }]],
      ['a stop', () => [{ ...active, status: 'stopping' }, { ...active, status: 'stopped' }]],
      ['a failed connect', () => [pending, { ...pending, status: 'failed' }]],
    ] as Array<[string, () => [ConnectionRecord, ConnectionRecord]]>)('arms none for %s', (_name, change) => {
      const [before, after] = change();
      expect(timerFor(before, after)).toBeUndefined();
    });
  });

  describe('lock stops (a connection made active while a lock covering it is live)', () => {
    const pending = connectionRecord({ status: 'pending', leaseExpiresAt: LEASE_END });
    const active = connectionRecord({ id: pending.id, status: 'active', leaseExpiresAt: LEASE_END });
    const ADMIN = 'arn:aws:sts::123456789012:assumed-role/broker-admin/alice';

    it('tells an activation from a renew', () => {
      expect(isActivation(pending, active)).toBe(true);
      expect(isActivation(undefined, active)).toBe(true);
      expect(isActivation(active, { ...active, leaseExpiresAt: '2030-01-01T00:20:00.000Z' })).toBe(false);
    });

    it('owes a stop to the lock that covers the connection, and none when no lock does', () => {
      const covering = lock({ serviceId: active.serviceId, createdBy: ADMIN });

      expect(lockStopFor(active, [lock({ serviceId: '80:00:00:00:09:*' }), covering])).toEqual({ id: active.id, lockId: covering.id, lockedBy: ADMIN });
      expect(lockStopFor(active, [lock({ principal: 'arn:aws:iam::123456789012:role/nobody' })])).toBeUndefined();
    });

    it('fires at once and stops the connection as `locked` by the admin, whatever its lease end', async () => {
      const { store, remoteit, deps } = setup(LEASE_END_MS - 600_000);
      const record = connectionRecord({ leaseExpiresAt: LEASE_END });
      store.seed(record);

      const result = await fireTimer(deps, { id: record.id, lockId: 'L-1', lockedBy: ADMIN });

      expect(result).toEqual({ outcome: 'stopped' });
      expect(remoteit.stopCalls).toHaveLength(1);
      expect(store.peek(record.id)).toMatchObject({ status: 'stopped', stopReason: 'locked', changedBy: ADMIN, lockId: 'L-1' });
    });

    it('stops nothing when the connection already ended, is being stopped, or is gone', async () => {
      const { store, remoteit, deps } = setup();
      const stopping = connectionRecord({ status: 'stopping', stopReason: 'requested' });
      store.seed(stopping);

      expect(await fireTimer(deps, { id: stopping.id, lockId: 'L-1', lockedBy: ADMIN })).toEqual({ outcome: 'settled' });
      expect(await fireTimer(deps, { id: 'no-such-id', lockId: 'L-1', lockedBy: ADMIN })).toEqual({ outcome: 'gone' });
      expect(remoteit.stopCalls).toHaveLength(0);
    });
  });

  describe('fireTimer', () => {
    it('stops an active connection whose lease has ended through the stop path, once, and reports the overrun', async () => {
      // Arrange
      const { store, remoteit, deps, events } = setup(LEASE_END_MS + 250);
      const record = connectionRecord({ leaseExpiresAt: LEASE_END });
      store.seed(record);

      // Act
      const result = await fireTimer(deps, timerOf(record));

      // Assert
      expect(result).toEqual({ outcome: 'stopped', overrunMs: 250 });
      expect(remoteit.stopCalls).toEqual([{ serviceId: record.serviceId, remoteConnectionId: record.remoteConnectionId }]);
      expect(store.peek(record.id)).toMatchObject({ status: 'stopped', stopReason: 'lease_ended' });
      expect(events.all).toContainEqual({ type: 'timer_fired', connectionId: record.id, outcome: 'stopped', overrunMs: 250 });
    });

    it('a duplicate delivery finds the record settled and stops nothing', async () => {
      const { store, remoteit, deps } = setup();
      const record = connectionRecord({ leaseExpiresAt: LEASE_END });
      store.seed(record);

      const results = [await fireTimer(deps, timerOf(record)), await fireTimer(deps, timerOf(record))];

      expect(results.map((result) => result.outcome)).toEqual(['stopped', 'settled']);
      expect(remoteit.stopCalls).toHaveLength(1);
    });

    it('two deliveries at once: one wins the claim, the other stops nothing', async () => {
      const { store, remoteit, deps } = setup();
      remoteit.latencyMs = 20;
      const record = connectionRecord({ leaseExpiresAt: LEASE_END });
      store.seed(record);

      const outcomes = (await Promise.all([fireTimer(deps, timerOf(record)), fireTimer(deps, timerOf(record))])).map((result) => result.outcome);

      expect(outcomes.sort()).toEqual(['skipped', 'stopped']);
      expect(remoteit.stopCountsById().get(record.remoteConnectionId as string)).toBe(1);
    });

    it('a timer, a sweep and another timer racing stop the connection once at remote.it', async () => {
      const { store, remoteit, deps } = setup();
      remoteit.latencyMs = 20;
      const record = connectionRecord({ leaseExpiresAt: LEASE_END, dueAt: Math.ceil(LEASE_END_MS / 1000) });
      store.seed(record);

      await Promise.all([
        fireTimer(deps, timerOf(record)),
        sweep({ stopContext: deps.stopContext, pendingGraceSeconds: 120, itemEstimateMs: 1 }, { remainingMs: () => 60_000, safetyMarginMs: 0 }),
        fireTimer(deps, timerOf(record)),
      ]);

      expect(remoteit.stopCalls).toHaveLength(1);
      expect(store.peek(record.id)?.status).toBe('stopped');
    });

    it('a timer armed before a renew does nothing: the renew armed its own', async () => {
      const { store, remoteit, timers, deps } = setup();
      const record = connectionRecord({ leaseExpiresAt: '2030-01-01T00:25:00.000Z' });
      store.seed(record);

      const result = await fireTimer(deps, { id: record.id, leaseExpiresAt: LEASE_END });

      expect(result.outcome).toBe('superseded');
      expect(remoteit.stopCalls).toHaveLength(0);
      expect(timers.armed).toHaveLength(0);
      expect(store.peek(record.id)?.status).toBe('active');
    });

    it.each([
      ['stopped', { status: 'stopped' as const }],
      ['claimed by DELETE (stopping)', { status: 'stopping' as const }],
      ['stop_failed', { status: 'stop_failed' as const }],
    ])('a timer for a record already %s does nothing', async (_name, overrides) => {
      const { store, remoteit, deps } = setup();
      const record = connectionRecord({ leaseExpiresAt: LEASE_END, ...overrides });
      store.seed(record);

      expect((await fireTimer(deps, timerOf(record))).outcome).toBe('settled');
      expect(remoteit.stopCalls).toHaveLength(0);
      expect(store.peek(record.id)).toEqual(record);
    });

    it('a timer for a deleted record does nothing', async () => {
      const { remoteit, deps } = setup();
      expect((await fireTimer(deps, { id: '01JNOSUCHRECORD0000000000', leaseExpiresAt: LEASE_END })).outcome).toBe('gone');
      expect(remoteit.stopCalls).toHaveLength(0);
    });

    it('a lease longer than the timer service waits is armed again for the rest, and not stopped', async () => {
      const { store, remoteit, timers, deps } = setup(LEASE_END_MS - 900_000);
      const record = connectionRecord({ leaseExpiresAt: LEASE_END });
      store.seed(record);

      expect((await fireTimer(deps, timerOf(record))).outcome).toBe('rearmed');
      expect(timers.armed).toEqual([timerOf(record)]);
      expect(remoteit.stopCalls).toHaveLength(0);
    });

    it('a timer that arrives just before the lease end waits it out, never stopping early', async () => {
      const { store, remoteit, deps, slept, clock } = setup(LEASE_END_MS - 400);
      const record = connectionRecord({ leaseExpiresAt: LEASE_END });
      store.seed(record);
      remoteit.onStop = () => {
        expect(clock.ms).toBeGreaterThanOrEqual(LEASE_END_MS);
      };

      const result = await fireTimer(deps, timerOf(record));

      expect(slept).toEqual([400]);
      expect(result.outcome).toBe('stopped');
      expect(remoteit.stopCalls).toHaveLength(1);
    });

    it('a renew during that wait wins: the claim is version-checked', async () => {
      const { store, remoteit, deps } = setup(LEASE_END_MS - 400);
      const record = connectionRecord({ leaseExpiresAt: LEASE_END });
      store.seed(record);
      deps.sleep = async () => {
        store.seed({ ...record, leaseExpiresAt: '2030-01-01T00:30:00.000Z', version: record.version + 1 });
      };

      expect((await fireTimer(deps, timerOf(record))).outcome).toBe('skipped');
      expect(remoteit.stopCalls).toHaveLength(0);
    });

    it('a failed stop at remote.it is recorded for the sweeper to retry, not thrown (the timer is done)', async () => {
      const { store, remoteit, deps } = setup();
      remoteit.queueStop(refused('stop', 'busy'));
      const record = connectionRecord({ leaseExpiresAt: LEASE_END });
      store.seed(record);

      const result = await fireTimer(deps, timerOf(record));

      expect(result.outcome).toBe('retry');
      expect(store.peek(record.id)).toMatchObject({ status: 'stopping', stopAttempts: 1 });
      expect(store.peek(record.id)?.dueAt).toBeGreaterThan(Math.floor(LEASE_END_MS / 1000));
    });

    it('a store failure propagates, so the timer is delivered again', async () => {
      const { store, deps } = setup();
      const record = connectionRecord({ leaseExpiresAt: LEASE_END });
      store.seed(record);
      store.failNextUpdate(new Error('ProvisionedThroughputExceededException'));

      await expect(fireTimer(deps, timerOf(record))).rejects.toThrow('ProvisionedThroughputExceededException');
      expect(store.peek(record.id)?.status).toBe('active');
    });

    it('a re-arm that fails propagates (the message comes back and tries again)', async () => {
      const { store, timers, deps } = setup(LEASE_END_MS - 900_000);
      timers.failure = new Error('sqs down');
      const record = connectionRecord({ leaseExpiresAt: LEASE_END });
      store.seed(record);

      await expect(fireTimer(deps, timerOf(record))).rejects.toThrow('sqs down');
    });
  });
});
