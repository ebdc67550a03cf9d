/**
 * Locks in the use cases: an open or renew a lock covers is refused (and costs the open one read of the
 * locks, made alongside the quota count), and enforcement stops every live connection a lock covers through
 * the stop path, once, naming the admin who placed the lock.
 */
import { LockedError } from '../../../lambdas/broker/locks';
import { enforceLocks, lockCovering } from '../../../lambdas/broker/lock-enforcement';
import { lock } from '../../fixtures/memory-locks';
import { APP_ROLE, SERVICE, appCaller, appConnection, createHarness, otherCaller, rejectionOf } from './use-case-harness';

const OTHER_SERVICE = '80:00:00:00:01:09:09:09';

describe('locks', () => {
  describe('lockCovering', () => {
    const record = { owner: APP_ROLE, serviceId: SERVICE };

    it.each([
      ['its principal', { principal: APP_ROLE }],
      ['a principal glob', { principal: 'arn:aws:iam::123456789012:role/a*' }],
      ['its service', { serviceId: SERVICE }],
      ['a lower-case service glob', { serviceId: '80:00:00:00:01:*'.toLowerCase() }],
      ['both', { principal: APP_ROLE, serviceId: SERVICE }],
    ])('covers a connection when the lock names %s', (_name, parts) => {
      expect(lockCovering([lock(parts)], record)).toBeDefined();
    });

    it.each([
      ['another principal', { principal: 'arn:aws:iam::123456789012:role/other' }],
      ['another service', { serviceId: OTHER_SERVICE }],
      ['its principal but another service', { principal: APP_ROLE, serviceId: OTHER_SERVICE }],
      ['nothing at all', {}],
    ])('does not cover it when the lock names %s', (_name, parts) => {
      expect(lockCovering([lock(parts)], record)).toBeUndefined();
    });
  });

  describe('open', () => {
    it('refuses an open a lock covers with the lock\'s reason, before remote.it is called or a record written', async () => {
      const { service, locks, remoteit, store, events } = createHarness();
      const placed = await locks.place(lock({ serviceId: SERVICE, reason: 'device compromised' }));

      const error = await rejectionOf(service.open(appCaller, { serviceId: SERVICE }));

      expect(error).toBeInstanceOf(LockedError);
      expect((error as LockedError).message).toContain('device compromised');
      expect(remoteit.connectCalls).toHaveLength(0);
      expect(store.records()).toHaveLength(0);
      expect(events.all).toContainEqual({ type: 'lock_refused', lockId: placed.id });
    });

    it('refuses a reuse a lock covers too', async () => {
      const { service, locks } = createHarness();
      await service.open(appCaller, { serviceId: SERVICE, ttlSeconds: 900 });
      await locks.place(lock({ principal: APP_ROLE }));

      await expect(service.open(appCaller, { serviceId: SERVICE, ttlSeconds: 600, reuse: true })).rejects.toBeInstanceOf(LockedError);
    });

    it('opens what no lock covers, reading the locks once', async () => {
      const { service, locks } = createHarness();
      await locks.place(lock({ principal: otherCaller.principal }));
      await locks.place(lock({ serviceId: OTHER_SERVICE }));

      const { connection } = await service.open(appCaller, { serviceId: SERVICE });

      expect(connection.status).toBe('active');
      expect(locks.liveReads).toBe(1);
    });

    it('opens again once the lock is lifted or has lapsed', async () => {
      const { service, locks, clock } = createHarness();
      const lifted = await locks.place(lock({ serviceId: SERVICE }));
      await locks.lift(lifted.id, 'arn:aws:sts::123456789012:assumed-role/broker-admin/bob', new Date(clock.ms).toISOString(), clock.ms / 1000);
      await locks.place(lock({ principal: APP_ROLE, expiresAt: clock.ms / 1000 - 1 }));

      await expect(service.open(appCaller, { serviceId: SERVICE })).resolves.toMatchObject({ reused: false });
    });

    it('refuses every open when the locks cannot be read: a lock is never skipped', async () => {
      const { service, locks, remoteit } = createHarness();
      locks.failLive = new Error('DynamoDB unavailable');

      await expect(service.open(appCaller, { serviceId: SERVICE })).rejects.toThrow('DynamoDB unavailable');
      expect(remoteit.connectCalls).toHaveLength(0);
    });
  });

  describe('renew', () => {
    it('refuses a renew a lock covers and leaves the lease as it was', async () => {
      const { service, locks, store } = createHarness();
      const record = appConnection();
      store.seed(record);
      await locks.place(lock({ principal: APP_ROLE }));

      await expect(service.renew(appCaller, record.id, 1800)).rejects.toBeInstanceOf(LockedError);
      expect(store.peek(record.id)?.leaseExpiresAt).toBe(record.leaseExpiresAt);
    });
  });

  describe('enforceLocks', () => {
    it('stops every active connection a lock covers, once, as `locked` by the admin who placed it, and no other', async () => {
      const { store, remoteit, stopContext } = createHarness();
      const covered = [appConnection({ remoteConnectionId: 'r-1' }), appConnection({ remoteConnectionId: 'r-2' })];
      const spared = appConnection({ serviceId: OTHER_SERVICE, remoteConnectionId: 'r-3' });
      store.seed(...covered, spared);
      const placed = lock({ serviceId: SERVICE });

      const result = await enforceLocks(stopContext, [placed]);

      expect(result).toEqual({ stopped: 2, remaining: 0, unreadParts: 0 });
      for (const record of covered) {
        expect(store.peek(record.id)).toMatchObject({ status: 'stopped', stopReason: 'locked', changedBy: placed.createdBy, lockId: placed.id });
      }
      expect(store.peek(spared.id)?.status).toBe('active');
      expect([...remoteit.stopCountsById().entries()]).toEqual([['r-1', 1], ['r-2', 1]]);
    });

    it('leaves a connection still opening for later (there is no proxy yet) and counts it as remaining', async () => {
      const { store, remoteit, stopContext } = createHarness();
      const pending = appConnection({ status: 'pending', remoteConnectionId: undefined, proxy: undefined });
      store.seed(pending);

      const result = await enforceLocks(stopContext, [lock({ principal: APP_ROLE })]);

      expect(result).toEqual({ stopped: 0, remaining: 1, unreadParts: 0 });
      expect(store.peek(pending.id)?.status).toBe('pending');
      expect(remoteit.stopCalls).toHaveLength(0);
    });

    it('stops nothing twice when two enforcements race', async () => {
      const { store, remoteit, stopContext } = createHarness();
      store.seed(appConnection({ remoteConnectionId: 'r-1' }));
      remoteit.latencyMs = 5;
      const placed = lock({ principal: APP_ROLE });

      const results = await Promise.all([enforceLocks(stopContext, [placed]), enforceLocks(stopContext, [placed])]);

      expect(results.map((result) => result.stopped).sort()).toEqual([0, 1]);
      expect(remoteit.stopCalls).toHaveLength(1);
    });

    it('starts no stop after its deadline', async () => {
      const { store, remoteit, stopContext, clock } = createHarness();
      store.seed(appConnection({ remoteConnectionId: 'r-1' }));

      const result = await enforceLocks(stopContext, [lock({ principal: APP_ROLE })], { deadlineMs: clock.ms });

      expect(result).toEqual({ stopped: 0, remaining: 1, unreadParts: 0 });
      expect(remoteit.stopCalls).toHaveLength(0);
    });

    it('reads nothing when no lock is live', async () => {
      const { store, stopContext } = createHarness();
      const due = jest.spyOn(store, 'due');

      await expect(enforceLocks(stopContext, [])).resolves.toEqual({ stopped: 0, remaining: 0, unreadParts: 0 });
      expect(due).not.toHaveBeenCalled();
    });
  });
});
