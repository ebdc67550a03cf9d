import { ConnectionEndedError, OpenRateExceededError, PolicyDeniedError, QuotaExceededError } from '../../../lambdas/broker/errors';
import { policyDocumentSchema } from '../../../lambdas/broker/policy';
import { replayOpen } from '../../../lambdas/broker/open';
import type { ConnectionRecord } from '../../../lambdas/broker/model';
import { RemoteitFailure } from '../../../lambdas/broker/ports';
import { connectionRecord } from '../../fixtures/memory-store';
import {
  APP_ROLE,
  HTTP_SERVICE,
  NOW_MS,
  NOW_S,
  SERVICE,
  appCaller,
  createHarness,
  livePort,
  otherCaller,
  publicPolicy,
  rejectionOf,
} from './use-case-harness';


describe('openConnection', () => {
  describe('write-ahead and activation', () => {
    it('writes the pending record before calling remote.it when opening a connection', async () => {
      const { service, store, remoteit } = createHarness();
      const seenAtConnect: (ConnectionRecord | undefined)[] = [];
      remoteit.onConnect = () => {
        seenAtConnect.push(...store.records());
      };

      await service.open(appCaller, { serviceId: SERVICE });

      expect(seenAtConnect).toHaveLength(1);
      expect(seenAtConnect[0]).toMatchObject({
        status: 'pending',
        serviceId: SERVICE,
        owner: APP_ROLE,
        callerArn: appCaller.arn,
        createdAt: new Date(NOW_MS).toISOString(),
        dueAt: NOW_S + 120,
        expiresAt: NOW_S + 86_400,
        stopAttempts: 0,
        version: 0,
      });
      expect(seenAtConnect[0]?.remoteConnectionId).toBeUndefined();
    });

    it('records the connection as active with the lease and remote expiry when remote.it opens it', async () => {
      const { service, store, remoteit, events } = createHarness();
      const remote = livePort();
      remoteit.queueConnect(remote);

      const { connection, reused } = await service.open(appCaller, { serviceId: SERVICE, ttlSeconds: 1200 });

      expect(reused).toBe(false);
      expect(remoteit.connectCalls).toEqual([{ serviceId: SERVICE, hostIp: '255.255.255.255' }]);
      expect(connection).toMatchObject({
        status: 'active',
        mode: 'latching',
        hostIp: '255.255.255.255',
        remoteConnectionId: remote.remoteConnectionId,
        proxy: remote.proxy,
        expiresAt: remote.expiresAt,
        leaseExpiresAt: new Date(NOW_MS + 1_200_000).toISOString(),
        dueAt: NOW_S + 1200,
      });
      expect(store.peek(connection.id)).toEqual(connection);
      expect(store.updates.map((update) => update.expected.status)).toEqual([['pending']]);
      expect(events.opened).toHaveBeenCalledWith(connection, false);
    });

    // The edge upper-cases the service id (test/unit/handlers/schemas.test.ts); the domain keeps it as given.
    it('stores and sends the service id upper-case when given it upper-case by the edge', async () => {
      const { service, remoteit } = createHarness();

      const { connection } = await service.open(appCaller, { serviceId: '80:00:00:00:01:0A:0B:0C' });

      expect(connection.serviceId).toBe('80:00:00:00:01:0A:0B:0C');
      expect(remoteit.connectCalls[0]?.serviceId).toBe('80:00:00:00:01:0A:0B:0C');
    });

    it('sends hostip 0.0.0.0 when the mode is public and the policy allows it', async () => {
      const { service, remoteit } = createHarness({ policy: publicPolicy });

      const { connection } = await service.open(appCaller, { serviceId: HTTP_SERVICE, mode: 'public' });

      expect(remoteit.connectCalls).toEqual([{ serviceId: HTTP_SERVICE, hostIp: '0.0.0.0' }]);
      expect(connection.hostIp).toBe('0.0.0.0');
    });
  });

  describe('lease', () => {
    it('uses the default ttl when none is given', async () => {
      const { service } = createHarness();

      const { connection } = await service.open(appCaller, { serviceId: SERVICE });

      expect(connection.leaseExpiresAt).toBe(new Date(NOW_MS + 900_000).toISOString());
    });

    it('caps the lease at the remote expiry when remote.it grants less than the ttl', async () => {
      const { service, remoteit } = createHarness();
      remoteit.queueConnect(livePort({ expiresAt: NOW_S + 300 }));

      const { connection } = await service.open(appCaller, { serviceId: SERVICE, ttlSeconds: 900 });

      expect(connection.leaseExpiresAt).toBe(new Date((NOW_S + 300) * 1000).toISOString());
      expect(connection.dueAt).toBe(NOW_S + 300);
    });

    it('caps the default lease at the policy maximum when the caller names no ttl', async () => {
      const { service } = createHarness({ defaultTtlSeconds: 7200 });

      const { connection } = await service.open(appCaller, { serviceId: SERVICE });

      expect(connection.leaseExpiresAt).toBe(new Date(NOW_MS + 3_600_000).toISOString());
    });

    it('uses the default lease when it is within the policy maximum', async () => {
      const { service } = createHarness();

      const { connection } = await service.open(appCaller, { serviceId: SERVICE });

      expect(connection.leaseExpiresAt).toBe(new Date(NOW_MS + 900_000).toISOString());
    });

    it('allows a ttl when it equals the policy maximum', async () => {
      const { service } = createHarness();

      const { connection } = await service.open(appCaller, { serviceId: SERVICE, ttlSeconds: 3600 });

      expect(connection.leaseExpiresAt).toBe(new Date(NOW_MS + 3_600_000).toISOString());
    });
  });

  describe('policy', () => {
    it('denies naming the maximum when the ttl is above the policy maximum', async () => {
      const { service, events, remoteit } = createHarness();

      const error = await rejectionOf(service.open(appCaller, { serviceId: SERVICE, ttlSeconds: 3601 }));

      expect(error).toBeInstanceOf(PolicyDeniedError);
      expect(error).toMatchObject({ reason: 'ttl_above_max', message: expect.stringContaining('maximum of 3600') });
      expect(events.policyDenied).toHaveBeenCalledWith('ttl_above_max');
      expect(remoteit.connectCalls).toHaveLength(0);
    });

    it('denies and writes nothing when no rule covers the service', async () => {
      const { service, store, remoteit, events } = createHarness();

      const error = await rejectionOf(service.open(appCaller, { serviceId: '80:00:00:00:02:00:00:01' }));

      expect(error).toMatchObject({ code: 'policy_denied', reason: 'no_matching_rule' });
      expect(events.policyDenied).toHaveBeenCalledWith('no_matching_rule');
      expect(store.records()).toHaveLength(0);
      expect(remoteit.connectCalls).toHaveLength(0);
    });

    it('denies when the policy does not allow the mode', async () => {
      const { service, remoteit } = createHarness();

      const error = await rejectionOf(service.open(appCaller, { serviceId: SERVICE, mode: 'public' }));

      expect(error).toMatchObject({ code: 'policy_denied', reason: 'mode_not_allowed' });
      expect(remoteit.connectCalls).toHaveLength(0);
    });
  });

  describe('open rate (opensPerMinute)', () => {
    /** app may hold ten, and open three a minute. */
    const ratePolicy = policyDocumentSchema.parse({
      rules: [{ principals: [APP_ROLE], services: ['80:00:00:00:01:*'], modes: ['latching'], maxActive: 10, opensPerMinute: 3 }],
    });

    it('refuses the open past opensPerMinute in one clock minute, before remote.it is asked or anything is written, until the next minute', async () => {
      const { service, store, remoteit, clock, events } = createHarness({ policy: ratePolicy });
      clock.ms = NOW_MS + 20_000;
      for (let index = 0; index < 3; index += 1) await service.open(appCaller, { serviceId: SERVICE });

      clock.ms = NOW_MS + 59_000;
      const error = await rejectionOf(service.open(appCaller, { serviceId: SERVICE }));

      expect(error).toBeInstanceOf(OpenRateExceededError);
      expect(error).toMatchObject({ code: 'open_rate_exceeded', retryAfterSeconds: 1 });
      expect(events.all.filter((event) => event.type === 'limit_reached')).toEqual([{ type: 'limit_reached', limit: 'open_rate_exceeded' }]);
      expect(remoteit.connectCalls).toHaveLength(3);
      expect(store.records()).toHaveLength(3);
      expect(store.slotsHeld(APP_ROLE)).toBe(3);
      clock.ms = NOW_MS + 60_000;
      await expect(service.open(appCaller, { serviceId: SERVICE })).resolves.toMatchObject({ reused: false });
    });

    it('counts only new connections: opens refused for the quota, and opens answered by reuse, leave the minute\'s count alone', async () => {
      const policy = policyDocumentSchema.parse({
        rules: [{ principals: [APP_ROLE], services: ['80:00:00:00:01:*'], modes: ['latching'], maxActive: 1, opensPerMinute: 2 }],
      });
      const { service } = createHarness({ policy });
      const { connection } = await service.open(appCaller, { serviceId: SERVICE, ttlSeconds: 600 });
      await expect(rejectionOf(service.open(appCaller, { serviceId: '80:00:00:00:01:00:00:09' }))).resolves.toBeInstanceOf(QuotaExceededError);
      await expect(service.open(appCaller, { serviceId: SERVICE, ttlSeconds: 600, reuse: true })).resolves.toMatchObject({ reused: true });

      await service.stop(appCaller, connection.id);

      // The second of the two this minute.
      await expect(service.open(appCaller, { serviceId: SERVICE })).resolves.toMatchObject({ reused: false });
    });
  });

  describe('quota', () => {
    it('refuses when the caller\'s records already hold maxActive slots, before remote.it is asked or anything is written', async () => {
      const { service, store, remoteit, events } = createHarness();
      await service.open(appCaller, { serviceId: SERVICE });
      await service.open(appCaller, { serviceId: SERVICE });

      const error = await rejectionOf(service.open(appCaller, { serviceId: SERVICE }));

      expect(error).toBeInstanceOf(QuotaExceededError);
      expect(error).toMatchObject({ maxActive: 2 });
      expect(events.all.filter((event) => event.type === 'limit_reached')).toEqual([{ type: 'limit_reached', limit: 'quota_exceeded' }]);
      expect(remoteit.connectCalls).toHaveLength(2);
      expect(store.records()).toHaveLength(2);
      expect(store.slotsHeld(APP_ROLE)).toBe(2);
    });

    it('takes the slot in the write-ahead record itself: of opens racing for the last slots, exactly maxActive win', async () => {
      const { service, store } = createHarness();

      const results = await Promise.allSettled(Array.from({ length: 5 }, () => service.open(appCaller, { serviceId: SERVICE })));

      expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(2);
      expect(results.filter((result) => result.status === 'rejected').map((result) => (result as PromiseRejectedResult).reason)).toEqual([
        expect.any(QuotaExceededError),
        expect.any(QuotaExceededError),
        expect.any(QuotaExceededError),
      ]);
      expect(store.records().map((record) => record.quotaSlot)).toEqual([true, true]);
    });

    it('gives the slot back when a connection is stopped, so the next open succeeds', async () => {
      const { service, store } = createHarness();
      const { connection } = await service.open(appCaller, { serviceId: SERVICE });
      await service.open(appCaller, { serviceId: SERVICE });

      await service.stop(appCaller, connection.id);

      expect(store.peek(connection.id)).toMatchObject({ status: 'stopped' });
      expect(store.peek(connection.id)?.quotaSlot).toBeUndefined();
      expect(store.slotsHeld(APP_ROLE)).toBe(1);
      await expect(service.open(appCaller, { serviceId: SERVICE })).resolves.toMatchObject({ reused: false });
    });

    it('gives the slot back when remote.it refuses the connect', async () => {
      const { service, store, remoteit } = createHarness();
      remoteit.queueConnect(new RemoteitFailure('refused', 'remote.it refused the request: device is offline', { reason: 'device is offline' }));

      await rejectionOf(service.open(appCaller, { serviceId: SERVICE }));

      expect(store.records()).toMatchObject([{ status: 'failed' }]);
      expect(store.slotsHeld(APP_ROLE)).toBe(0);
    });

    it('does not count records that hold no slot (created before the counter), nor another owner\'s slots', async () => {
      const { service, store } = createHarness();
      store.seed(connectionRecord({ owner: APP_ROLE, status: 'active' }), connectionRecord({ owner: APP_ROLE, status: 'stopping' }));
      await service.open(otherCaller, { serviceId: SERVICE });
      await service.open(otherCaller, { serviceId: SERVICE });

      const { connection } = await service.open(appCaller, { serviceId: SERVICE });

      expect(connection.status).toBe('active');
      expect([store.slotsHeld(APP_ROLE), store.slotsHeld(otherCaller.principal)]).toEqual([1, 2]);
    });

    it('gives nothing back when a record that holds no slot ends', async () => {
      const { service, store } = createHarness();
      const old = connectionRecord({ owner: APP_ROLE, status: 'active', serviceId: SERVICE, expiresAt: NOW_S + 28_800 });
      store.seed(old);
      await service.open(appCaller, { serviceId: SERVICE });

      await service.stop(appCaller, old.id);

      expect(store.peek(old.id)?.status).toBe('stopped');
      expect(store.slotsHeld(APP_ROLE)).toBe(1);
    });
  });

  describe('a replayed open (replayOpen)', () => {
    it('answers the connection as it is now while it is active: a renewed lease shows, reuse is kept', async () => {
      const { service, store, clock } = createHarness();
      const first = await service.open(appCaller, { serviceId: SERVICE, ttlSeconds: 600 });
      clock.ms += 60_000;
      await service.renew(appCaller, first.connection.id, 1_200);

      const replayed = await replayOpen({ store, now: () => clock.ms }, first);

      expect(replayed).toEqual({ connection: store.peek(first.connection.id), reused: false });
      expect(replayed.connection.leaseExpiresAt).toBe(new Date(clock.ms + 1_200_000).toISOString());
    });

    it.each<[string, Partial<ConnectionRecord> | 'gone', string]>([
      ['stopped', { status: 'stopped', dueAt: undefined }, 'stopped'],
      ['being stopped', { status: 'stopping' }, 'stopping'],
      ['failed', { status: 'failed' }, 'failed'],
      ['past remote.it\'s expiry', { expiresAt: NOW_S }, 'expired'],
      ['gone from the table', 'gone', 'expired'],
    ])('refuses with connection_ended, naming its state and no proxy, when the connection is %s', async (_case, change, status) => {
      const { service, store } = createHarness();
      const first = await service.open(appCaller, { serviceId: SERVICE });
      const now = store.peek(first.connection.id);
      if (!now) throw new Error('no record');
      if (change === 'gone') store.remove(now.id);
      else store.seed({ ...now, ...change });

      const error = await rejectionOf(replayOpen({ store, now: () => NOW_MS }, first));

      expect(error).toBeInstanceOf(ConnectionEndedError);
      expect(error).toMatchObject({ code: 'connection_ended', id: now.id, status });
      expect((error as Error).message).not.toContain(String(first.connection.proxy?.port));
    });

  });

  describe('reuse', () => {
    const reusable = (overrides: Partial<ConnectionRecord> = {}) =>
      connectionRecord({
        owner: APP_ROLE,
        serviceId: SERVICE,
        mode: 'latching',
        hostIp: '255.255.255.255',
        createdAt: new Date(NOW_MS - 60_000).toISOString(),
        leaseExpiresAt: new Date(NOW_MS + 1_000_000).toISOString(),
        idleClosesAt: new Date(NOW_MS + 840_000).toISOString(),
        expiresAt: NOW_S + 20_000,
        ...overrides,
      });

    it('returns the live connection without calling remote.it when its lease covers the ttl', async () => {
      const { service, store, remoteit, events } = createHarness();
      const existing = reusable();
      store.seed(existing);

      const result = await service.open(appCaller, { serviceId: SERVICE, ttlSeconds: 900, reuse: true });

      expect(result).toEqual({ connection: existing, reused: true });
      expect(remoteit.connectCalls).toHaveLength(0);
      expect(store.records()).toHaveLength(1);
      expect(events.opened).toHaveBeenCalledWith(existing, true);
    });

    it('returns the newest when several connections qualify', async () => {
      const { service, store } = createHarness();
      const older = reusable({ createdAt: new Date(NOW_MS - 120_000).toISOString() });
      const newer = reusable({ createdAt: new Date(NOW_MS - 10_000).toISOString() });
      store.seed(older, newer);

      const { connection } = await service.open(appCaller, { serviceId: SERVICE, reuse: true });

      expect(connection.id).toBe(newer.id);
    });

    it('reuses even when the caller is at the quota', async () => {
      const { service, store } = createHarness();
      await service.open(appCaller, { serviceId: '80:00:00:00:01:00:00:09' });
      await service.open(appCaller, { serviceId: '80:00:00:00:01:00:00:09' });
      const existing = reusable();
      store.seed(existing);

      const { connection } = await service.open(appCaller, { serviceId: SERVICE, reuse: true });

      expect(store.slotsHeld(APP_ROLE)).toBe(2);
      expect(connection.id).toBe(existing.id);
    });

    it.each<[string, Partial<ConnectionRecord>, 'latching' | 'ip']>([
      ['its lease is shorter than the ttl', { leaseExpiresAt: new Date(NOW_MS + 899_000).toISOString() }, 'latching'],
      ['its mode differs', { mode: 'ip', hostIp: appCaller.sourceIp }, 'latching'],
      ['its hostIp differs', { mode: 'ip', hostIp: '8.8.8.8' }, 'ip'],
      ['its remote expiry has passed', { expiresAt: NOW_S }, 'latching'],
      ['it is not active', { status: 'stopping' }, 'latching'],
      ['another principal owns it', { owner: otherCaller.principal }, 'latching'],
      ['it is for another service', { serviceId: '80:00:00:00:01:02:03:05' }, 'latching'],
      ['remote.it may have closed it for idleness (its first idle window has passed)', { idleClosesAt: new Date(NOW_MS - 1_000).toISOString() }, 'latching'],
      ['less than a minute of its first idle window is left', { idleClosesAt: new Date(NOW_MS + 59_000).toISOString() }, 'latching'],
      ['it has no idle window (recorded before the broker kept one)', { idleClosesAt: undefined }, 'latching'],
    ])('opens a new connection when %s', async (_case, overrides, mode) => {
      const { service, store, remoteit } = createHarness();
      store.seed(reusable(overrides));

      const result = await service.open(appCaller, { serviceId: SERVICE, mode, ttlSeconds: 900, reuse: true });

      expect(result.reused).toBe(false);
      expect(remoteit.connectCalls).toHaveLength(1);
    });

    it('returns the matching ip-mode connection when the source IP is the same', async () => {
      const { service, store, remoteit } = createHarness();
      const existing = reusable({ mode: 'ip', hostIp: appCaller.sourceIp });
      store.seed(existing);

      const result = await service.open(appCaller, { serviceId: SERVICE, mode: 'ip', reuse: true });

      expect(result).toEqual({ connection: existing, reused: true });
      expect(remoteit.connectCalls).toHaveLength(0);
    });

    it('opens a new connection when reuse is not asked for', async () => {
      const { service, store, remoteit } = createHarness();
      store.seed(reusable());

      const result = await service.open(appCaller, { serviceId: SERVICE });

      expect(result.reused).toBe(false);
      expect(remoteit.connectCalls).toHaveLength(1);
    });
  });
});
