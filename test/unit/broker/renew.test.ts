import { ConnectionMayBeIdleError, ConnectionNotActiveError, ConnectionNotFoundError, PolicyDeniedError } from '../../../lambdas/broker/errors';
import type { ConnectionRecord } from '../../../lambdas/broker/model';
import { policyDocumentSchema } from '../../../lambdas/broker/policy';
import {
  APP_ROLE,
  HTTP_SERVICE,
  NOW_MS,
  NOW_S,
  adminCaller,
  appCaller,
  appConnection,
  createHarness,
  otherCaller,
  rejectionOf,
} from './use-case-harness';

describe('renewConnection', () => {
  it('moves the lease end and dueAt to now + ttl when the connection is active', async () => {
    const { service, store } = createHarness();
    const record = appConnection();
    store.seed(record);

    const renewed = await service.renew(appCaller, record.id, 1800);

    expect(renewed).toMatchObject({
      status: 'active',
      leaseExpiresAt: new Date(NOW_MS + 1_800_000).toISOString(),
      dueAt: NOW_S + 1800,
      version: record.version + 1,
    });
    expect(store.peek(record.id)).toEqual(renewed);
    expect(store.updates[0]?.expected).toEqual({ status: ['active'], version: record.version });
  });

  it('refuses to revive a lease when it has ended before the sweeper got to it', async () => {
    const { service, store } = createHarness();
    const record = appConnection({ leaseExpiresAt: new Date(NOW_MS - 30_000).toISOString(), dueAt: NOW_S - 30 });
    store.seed(record);

    const error = await rejectionOf(service.renew(appCaller, record.id, 1800));

    expect(error).toBeInstanceOf(ConnectionNotActiveError);
    expect(store.peek(record.id)).toEqual(record);
  });

  it('caps the lease at the remote expiry when now + ttl is later', async () => {
    const { service, store } = createHarness();
    const record = appConnection({ expiresAt: NOW_S + 900 });
    store.seed(record);

    const renewed = await service.renew(appCaller, record.id, 3600);

    expect(renewed.leaseExpiresAt).toBe(new Date((NOW_S + 900) * 1000).toISOString());
    expect(renewed.dueAt).toBe(NOW_S + 900);
  });

  it('denies and leaves the record as it was when the ttl is above the policy maximum', async () => {
    const { service, store, events } = createHarness();
    const record = appConnection();
    store.seed(record);

    const attempt = service.renew(appCaller, record.id, 3601);

    await expect(attempt).rejects.toThrow(PolicyDeniedError);
    await expect(attempt).rejects.toMatchObject({ reason: 'ttl_above_max' });
    expect(store.peek(record.id)).toEqual(record);
    expect(events.policyDenied).toHaveBeenCalledWith('ttl_above_max');
  });

  it.each<[string, Partial<ConnectionRecord>, string]>([
    ['stopped', { status: 'stopped', dueAt: undefined }, 'stopped'],
    ['stopping', { status: 'stopping' }, 'stopping'],
    ['pending', { status: 'pending', remoteConnectionId: undefined }, 'pending'],
    ['past its remote expiry', { expiresAt: NOW_S }, 'expired'],
  ])('refuses with the current status when the connection is %s', async (_case, overrides, status) => {
    const { service, store } = createHarness();
    const record = appConnection(overrides);
    store.seed(record);

    const attempt = service.renew(appCaller, record.id, 900);

    await expect(attempt).rejects.toThrow(ConnectionNotActiveError);
    await expect(attempt).rejects.toMatchObject({ code: 'connection_not_active', status });
    expect(store.updates).toHaveLength(0);
  });

  it('refuses with the new status when the sweeper claimed the record between read and write', async () => {
    const { service, store } = createHarness();
    const record = appConnection();
    store.seed(record);
    store.beforeUpdate = () => {
      store.seed({ ...record, status: 'stopping', stopReason: 'lease_ended', version: record.version + 1 });
    };

    const attempt = service.renew(appCaller, record.id, 900);

    await expect(attempt).rejects.toMatchObject({ code: 'connection_not_active', status: 'stopping' });
  });

  it('answers not found when another caller renews', async () => {
    const { service, store } = createHarness();
    const record = appConnection();
    store.seed(record);

    await expect(service.renew(otherCaller, record.id, 900)).rejects.toThrow(ConnectionNotFoundError);
    expect(store.updates).toHaveLength(0);
  });

  it("applies the owner's policy when an admin renews", async () => {
    const { service, store } = createHarness();
    const record = appConnection();
    store.seed(record);

    const renewed = await service.renew(adminCaller, record.id, 1200);

    expect(renewed.leaseExpiresAt).toBe(new Date(NOW_MS + 1_200_000).toISOString());
    await expect(service.renew(adminCaller, record.id, 3601)).rejects.toThrow(PolicyDeniedError);
  });

  it('refuses with connection_may_be_idle, changing nothing, when the first idle window has passed', async () => {
    const { service, store } = createHarness();
    const record = appConnection({ idleClosesAt: new Date(NOW_MS - 1_000).toISOString() });
    store.seed(record);

    const error = await rejectionOf(service.renew(appCaller, record.id, 1200));

    expect(error).toBeInstanceOf(ConnectionMayBeIdleError);
    expect(error).toMatchObject({ code: 'connection_may_be_idle', message: expect.stringContaining(record.idleClosesAt ?? '') });
    expect(store.peek(record.id)).toEqual(record);
  });

  describe('with usedAt (the caller used the proxy at that time)', () => {
    const IDLE_SECONDS = 900;
    const pastWindow = () => appConnection({ idleClosesAt: new Date(NOW_MS - 60_000).toISOString(), idleSeconds: IDLE_SECONDS });

    it('renews past the first idle window and moves idleClosesAt to usedAt + the window', async () => {
      const { service, store } = createHarness();
      const record = pastWindow();
      store.seed(record);

      const renewed = await service.renew(appCaller, record.id, 1200, NOW_MS - 10_000);

      expect(renewed).toMatchObject({
        leaseExpiresAt: new Date(NOW_MS + 1_200_000).toISOString(),
        idleClosesAt: new Date(NOW_MS - 10_000 + IDLE_SECONDS * 1000).toISOString(),
      });
      expect(store.peek(record.id)).toEqual(renewed);
    });

    it('still refuses when the use it names is itself more than a window ago', async () => {
      const { service, store } = createHarness();
      const record = pastWindow();
      store.seed(record);

      const error = await rejectionOf(service.renew(appCaller, record.id, 1200, NOW_MS - (IDLE_SECONDS + 1) * 1000));

      expect(error).toBeInstanceOf(ConnectionMayBeIdleError);
      expect(store.peek(record.id)).toEqual(record);
    });

    it('never moves idleClosesAt earlier', async () => {
      const { service, store } = createHarness();
      const later = new Date(NOW_MS + 600_000).toISOString();
      const record = appConnection({ idleClosesAt: later, idleSeconds: IDLE_SECONDS });
      store.seed(record);

      const renewed = await service.renew(appCaller, record.id, 1200, NOW_MS - 500_000);

      expect(renewed.idleClosesAt).toBe(later);
    });

    it('refuses a usedAt ahead of the broker\'s clock by more than the skew, naming the field', async () => {
      const { service, store } = createHarness();
      const record = pastWindow();
      store.seed(record);

      const error = await rejectionOf(service.renew(appCaller, record.id, 1200, NOW_MS + 60_000));

      expect(error).toMatchObject({ code: 'invalid_request', errors: [{ field: 'usedAt', message: expect.stringContaining('future') }] });
      expect(store.peek(record.id)).toEqual(record);
    });

    it('changes nothing for a record that kept no idle window (from before the broker kept it)', async () => {
      const { service, store } = createHarness();
      const record = appConnection({ idleClosesAt: new Date(NOW_MS - 60_000).toISOString() });
      store.seed(record);

      await expect(service.renew(appCaller, record.id, 1200, NOW_MS)).rejects.toThrow(ConnectionMayBeIdleError);
    });
  });

  describe('maxLifetimeSeconds (the policy bounds a connection across renews)', () => {
    const policy = policyDocumentSchema.parse({ rules: [{ principals: [APP_ROLE], services: ['*'], maxTtlSeconds: 3600, maxLifetimeSeconds: 3600 }] });

    it('caps a renew at the end of the lifetime, counted from the open', async () => {
      const { service, store } = createHarness({ policy });
      const record = appConnection({ createdAt: new Date(NOW_MS - 3_000_000).toISOString(), leaseExpiresAt: new Date(NOW_MS + 60_000).toISOString() });
      store.seed(record);

      const renewed = await service.renew(appCaller, record.id, 1800);

      expect(renewed.leaseExpiresAt).toBe(new Date(NOW_MS - 3_000_000 + 3_600_000).toISOString());
    });

    it('refuses with 403 naming maxLifetimeSeconds once the lease already ends at the lifetime, changing nothing', async () => {
      const { service, store, events } = createHarness({ policy });
      const createdMs = NOW_MS - 3_000_000;
      const record = appConnection({ createdAt: new Date(createdMs).toISOString(), leaseExpiresAt: new Date(createdMs + 3_600_000).toISOString() });
      store.seed(record);

      const error = await rejectionOf(service.renew(appCaller, record.id, 1800));

      expect(error).toBeInstanceOf(PolicyDeniedError);
      expect(error).toMatchObject({ reason: 'lifetime_reached', message: expect.stringContaining('maxLifetimeSeconds of 3600') });
      expect(store.peek(record.id)).toEqual(record);
      expect(events.policyDenied).toHaveBeenCalledWith('lifetime_reached');
    });
  });

  it('renews while the first idle window lasts', async () => {
    const { service, store } = createHarness();
    const record = appConnection({ idleClosesAt: new Date(NOW_MS + 1_000).toISOString() });
    store.seed(record);

    const renewed = await service.renew(appCaller, record.id, 1200);

    expect(renewed.leaseExpiresAt).toBe(new Date(NOW_MS + 1_200_000).toISOString());
  });

  it('caps a reverse proxy recorded as public by the rules of the mode that was asked when it opened', async () => {
    const policy = policyDocumentSchema.parse({
      rules: [
        { principals: [APP_ROLE], services: [HTTP_SERVICE], modes: ['latching'], maxTtlSeconds: 3600 },
        { principals: [APP_ROLE], services: [HTTP_SERVICE], modes: ['public'], maxTtlSeconds: 600 },
      ],
    });
    const { service, store } = createHarness({ policy });
    const record = appConnection({ serviceId: HTTP_SERVICE, mode: 'public', hostIp: '0.0.0.0', requestedMode: 'latching', requestedHostIp: '255.255.255.255' });
    store.seed(record);

    const renewed = await service.renew(appCaller, record.id, 1800);

    expect(renewed.leaseExpiresAt).toBe(new Date(NOW_MS + 1_800_000).toISOString());
  });
});
