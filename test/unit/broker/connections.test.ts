import {
  ConnectionOpeningError,
  StopFailedError,
  ConnectionNotActiveError,
  ConnectionNotFoundError,
  InvalidRequestError,
  PolicyDeniedError,
} from '../../../lambdas/broker/errors';
import type { ConnectionRecord } from '../../../lambdas/broker/model';
import { RemoteitConnectionGoneError, RemoteitUpstreamError } from '../../../lambdas/remoteit/types';
import { connectionRecord } from '../../fixtures/memory-store';
import {
  APP_ROLE,
  NOW_MS,
  NOW_S,
  SERVICE,
  adminCaller,
  appCaller,
  createHarness,
  otherCaller,
  rejectionOf,
} from './connection-service-harness';

/** An active record of the app role, created a minute ago, lease ending in 10 minutes, remote expiry in 8 hours. */
const appConnection = (overrides: Partial<ConnectionRecord> = {}): ConnectionRecord =>
  connectionRecord({
    owner: APP_ROLE,
    serviceId: SERVICE,
    createdAt: new Date(NOW_MS - 60_000).toISOString(),
    leaseExpiresAt: new Date(NOW_MS + 600_000).toISOString(),
    dueAt: NOW_S + 600,
    expiresAt: NOW_S + 28_800,
    ...overrides,
  });

describe('ConnectionService', () => {
  describe('get', () => {
    it('returns the record when the caller owns it', async () => {
      const { service, store } = createHarness();
      const record = appConnection();
      store.seed(record);

      await expect(service.get(appCaller, record.id)).resolves.toEqual(record);
    });

    it('answers not found when another caller asks, exactly as for an unknown id', async () => {
      const { service, store } = createHarness();
      const record = appConnection();
      store.seed(record);

      const foreign = await rejectionOf(service.get(otherCaller, record.id));
      const unknown = await rejectionOf(service.get(otherCaller, '01JUNKNOWN0000000000000000'));

      expect(foreign).toBeInstanceOf(ConnectionNotFoundError);
      expect(unknown).toBeInstanceOf(ConnectionNotFoundError);
      expect((foreign as Error).message).toBe(`connection ${record.id} not found`);
    });

    it("returns another owner's record when the caller is an admin", async () => {
      const { service, store } = createHarness();
      const record = appConnection();
      store.seed(record);

      await expect(service.get(adminCaller, record.id)).resolves.toEqual(record);
    });

    it.each(['active', 'stopping', 'pending'] as const)(
      'reads a %s record as expired without writing when its expiry has passed',
      async (status) => {
        const { service, store } = createHarness();
        const record = appConnection({ status, expiresAt: NOW_S });
        store.seed(record);

        const seen = await service.get(appCaller, record.id);

        expect(seen).toEqual({ ...record, status: 'expired' });
        expect(store.peek(record.id)?.status).toBe(status);
        expect(store.updates).toHaveLength(0);
      },
    );

    it('keeps a terminal status when the expiry has passed', async () => {
      const { service, store } = createHarness();
      const record = appConnection({ status: 'stopped', expiresAt: NOW_S - 10, dueAt: undefined });
      store.seed(record);

      await expect(service.get(appCaller, record.id)).resolves.toMatchObject({ status: 'stopped' });
    });
  });

  describe('list', () => {
    function seedMixed(store: ReturnType<typeof createHarness>['store']) {
      const own = [
        appConnection({ createdAt: new Date(NOW_MS - 30_000).toISOString() }),
        appConnection({ createdAt: new Date(NOW_MS - 20_000).toISOString(), serviceId: '80:00:00:00:01:00:00:0A' }),
      ];
      const foreign = appConnection({ owner: otherCaller.principal, createdAt: new Date(NOW_MS - 10_000).toISOString() });
      store.seed(...own, foreign);
      return { own, foreign };
    }

    it("returns only the caller's connections, newest first", async () => {
      const { service, store } = createHarness();
      const { own } = seedMixed(store);

      const page = await service.list(appCaller);

      expect(page.items.map((record) => record.id)).toEqual([own[1]?.id, own[0]?.id]);
      expect(page.cursor).toBeUndefined();
    });

    it("returns every owner's connections when the caller is an admin", async () => {
      const { service, store } = createHarness();
      const { own, foreign } = seedMixed(store);

      const page = await service.list(adminCaller);

      expect(page.items.map((record) => record.id)).toEqual([foreign.id, own[1]?.id, own[0]?.id]);
    });

    it('filters by service id case-insensitively', async () => {
      const { service, store } = createHarness();
      const { own } = seedMixed(store);

      const page = await service.list(appCaller, { serviceId: '80:00:00:00:01:00:00:0a' });

      expect(page.items.map((record) => record.id)).toEqual([own[1]?.id]);
    });

    it('drops records that read as expired when filtering on a live status', async () => {
      const { service, store } = createHarness();
      const live = appConnection();
      const lapsed = appConnection({ expiresAt: NOW_S - 1 });
      store.seed(live, lapsed);

      const page = await service.list(appCaller, { status: 'active' });

      expect(page.items.map((record) => record.id)).toEqual([live.id]);
    });

    it('shows lapsed records as expired when not filtering', async () => {
      const { service, store } = createHarness();
      const lapsed = appConnection({ expiresAt: NOW_S - 1 });
      store.seed(lapsed);

      const page = await service.list(appCaller);

      expect(page.items).toEqual([{ ...lapsed, status: 'expired' }]);
    });

    it('pages with the cursor when there are more than limit', async () => {
      const { service, store } = createHarness();
      const { own } = seedMixed(store);

      const first = await service.list(appCaller, { limit: 1 });
      const second = await service.list(appCaller, { limit: 1, cursor: first.cursor });

      expect(first.items.map((record) => record.id)).toEqual([own[1]?.id]);
      expect(first.cursor).toEqual(expect.any(String));
      expect(second.items.map((record) => record.id)).toEqual([own[0]?.id]);
      expect(second.cursor).toBeUndefined();
    });

    it.each([
      ['limit', { limit: 0 }],
      ['limit', { limit: 101 }],
      ['limit', { limit: 2.5 }],
      ['serviceId', { serviceId: 'nope' }],
      ['status', { status: 'alive' as never }],
    ])('rejects naming %s when it is invalid', async (field, request) => {
      const { service } = createHarness();

      const attempt = service.list(appCaller, request);

      await expect(attempt).rejects.toThrow(InvalidRequestError);
      await expect(attempt).rejects.toMatchObject({ errors: [{ field }] });
    });
  });

  describe('renew', () => {
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

    it('refuses to revive a lease that has ended before the sweeper got to it', async () => {
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

    it('denies a ttl above the policy maximum and leaves the record as it was', async () => {
      const { service, store, events } = createHarness();
      const record = appConnection();
      store.seed(record);

      const attempt = service.renew(appCaller, record.id, 3601);

      await expect(attempt).rejects.toThrow(PolicyDeniedError);
      await expect(attempt).rejects.toMatchObject({ reason: 'ttl_above_max' });
      expect(store.peek(record.id)).toEqual(record);
      expect(events.policyDenied).toHaveBeenCalledWith('ttl_above_max');
    });

    it.each([30, 60.5])('rejects ttlSeconds %s naming the field', async (ttlSeconds) => {
      const { service, store } = createHarness();
      const record = appConnection();
      store.seed(record);

      await expect(service.renew(appCaller, record.id, ttlSeconds)).rejects.toMatchObject({
        code: 'invalid_request',
        errors: [{ field: 'ttlSeconds' }],
      });
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
  });

  describe('stop', () => {
    it('stops an active connection at remote.it and records it stopped, claiming it without a read', async () => {
      const { service, store, remoteit, events } = createHarness();
      const record = appConnection();
      store.seed(record);
      const reads = jest.spyOn(store, 'get');

      const result = await service.stop(appCaller, record.id);

      expect(result.pending).toBe(false);
      expect(result.connection).toMatchObject({ status: 'stopped', stopReason: 'requested', stoppedAt: new Date(NOW_MS).toISOString() });
      expect(result.connection.dueAt).toBeUndefined();
      expect(remoteit.stopCalls).toEqual([{ serviceId: SERVICE, remoteConnectionId: record.remoteConnectionId }]);
      expect(store.updates.map((update) => update.expected)).toEqual([
        { status: ['active'], owner: APP_ROLE, unexpiredAt: NOW_S },
        { status: ['stopping'], version: record.version + 1 },
      ]);
      expect(reads).not.toHaveBeenCalled();
      expect(events.stopped).toHaveBeenCalledWith(result.connection);
    });

    it('calls remote.it once and answers the same record when stopped twice', async () => {
      const { service, store, remoteit } = createHarness();
      const record = appConnection();
      store.seed(record);

      const first = await service.stop(appCaller, record.id);
      const second = await service.stop(appCaller, record.id);

      expect(second).toEqual({ connection: first.connection, pending: false });
      expect(remoteit.stopCalls).toHaveLength(1);
    });

    it('tries once more when a DELETE asks to stop a stop_failed connection, and says so when it fails again', async () => {
      const { service, store, remoteit } = createHarness();
      const record = appConnection({ status: 'stop_failed', dueAt: undefined, stopAttempts: 8, failureReason: 'remote.it answered HTTP 503' });
      store.seed(record);
      remoteit.queueStop(new RemoteitUpstreamError(503));

      const error = await rejectionOf(service.stop(appCaller, record.id));

      expect(error).toBeInstanceOf(StopFailedError);
      expect(remoteit.stopCalls).toHaveLength(1);
      expect(store.peek(record.id)).toMatchObject({ status: 'stop_failed', stopAttempts: 9 });
    });

    it('stops a stop_failed connection when the DELETE\'s extra attempt succeeds', async () => {
      const { service, store } = createHarness();
      const record = appConnection({ status: 'stop_failed', dueAt: undefined, stopAttempts: 8 });
      store.seed(record);

      const result = await service.stop(appCaller, record.id);

      expect(result.connection).toMatchObject({ status: 'stopped', stopReason: 'requested' });
    });

    it.each(['stopped', 'failed', 'expired'] as const)(
      'answers a %s connection as is without calling remote.it',
      async (status) => {
        const { service, store, remoteit } = createHarness();
        const record = appConnection({ status, dueAt: undefined });
        store.seed(record);

        const result = await service.stop(appCaller, record.id);

        expect(result).toEqual({ connection: record, pending: false });
        expect(remoteit.stopCalls).toHaveLength(0);
        expect(store.updates.filter((update) => update.result !== undefined)).toEqual([]);
        expect(store.peek(record.id)).toEqual(record);
      },
    );

    it('answers pending when remote.it cannot be reached, leaving a retry for the sweeper', async () => {
      const { service, store, remoteit, events } = createHarness();
      const record = appConnection();
      store.seed(record);
      remoteit.queueStop(new RemoteitUpstreamError(503));

      const result = await service.stop(appCaller, record.id);

      expect(result.pending).toBe(true);
      expect(result.connection).toMatchObject({ status: 'stopping', stopReason: 'requested', stopAttempts: 1 });
      expect(result.connection.dueAt).toBeGreaterThan(NOW_S);
      expect(events.remoteitError).toHaveBeenCalledWith('upstream', 'stop');
      expect(events.stopped).not.toHaveBeenCalled();
    });

    it('records expired when remote.it says the connection is already gone', async () => {
      const { service, store, remoteit } = createHarness();
      const record = appConnection();
      store.seed(record);
      remoteit.queueStop(new RemoteitConnectionGoneError('connection not found'));

      const result = await service.stop(appCaller, record.id);

      expect(result).toMatchObject({ pending: false, connection: { status: 'expired' } });
    });

    it('answers pending without calling remote.it when another writer holds a live stop claim', async () => {
      const { service, store, remoteit } = createHarness();
      const record = appConnection({ status: 'stopping', stopReason: 'lease_ended', dueAt: NOW_S + 30 });
      store.seed(record);

      const result = await service.stop(appCaller, record.id);

      expect(result).toEqual({ connection: record, pending: true });
      expect(remoteit.stopCalls).toHaveLength(0);
    });

    it('retries now and keeps the first stop reason when a stopping record is due', async () => {
      const { service, store, remoteit } = createHarness();
      const record = appConnection({ status: 'stopping', stopReason: 'lease_ended', stopAttempts: 2, dueAt: NOW_S - 5 });
      store.seed(record);

      const result = await service.stop(appCaller, record.id);

      expect(result.connection).toMatchObject({ status: 'stopped', stopReason: 'lease_ended' });
      expect(remoteit.stopCalls).toHaveLength(1);
    });

    it('refuses with ConnectionOpeningError (retry shortly) when remote.it has not answered the open yet', async () => {
      const { service, store, remoteit } = createHarness();
      const record = appConnection({ status: 'pending', remoteConnectionId: undefined, proxy: undefined });
      store.seed(record);

      const error = await rejectionOf(service.stop(appCaller, record.id));

      expect(error).toBeInstanceOf(ConnectionOpeningError);
      expect(error).toMatchObject({ code: 'connection_opening', retryAfterSeconds: 2 });
      expect(store.peek(record.id)).toEqual(record);
      expect(remoteit.stopCalls).toHaveLength(0);
    });

    it('stops a pending connection that already holds a remote connection id', async () => {
      const { service, store, remoteit } = createHarness();
      const record = appConnection({ status: 'pending', remoteConnectionId: 'rc-half-open', proxy: undefined });
      store.seed(record);

      const result = await service.stop(appCaller, record.id);

      expect(result.connection.status).toBe('stopped');
      expect(remoteit.stopCalls).toEqual([{ serviceId: SERVICE, remoteConnectionId: 'rc-half-open' }]);
    });

    it('answers a connection past its remote expiry as expired without calling remote.it', async () => {
      const { service, store, remoteit } = createHarness();
      const record = appConnection({ expiresAt: NOW_S - 1 });
      store.seed(record);

      const result = await service.stop(appCaller, record.id);

      expect(result).toEqual({ connection: { ...record, status: 'expired' }, pending: false });
      expect(remoteit.stopCalls).toHaveLength(0);
    });

    it('answers from what the other writer recorded when it loses the claim', async () => {
      const { service, store, remoteit } = createHarness();
      const record = appConnection();
      const stoppedByOther: ConnectionRecord = {
        ...record,
        status: 'stopped',
        stopReason: 'lease_ended',
        stoppedAt: new Date(NOW_MS).toISOString(),
        dueAt: undefined,
        version: record.version + 2,
      };
      store.seed(record);
      store.beforeUpdate = () => {
        store.beforeUpdate = undefined;
        store.seed(stoppedByOther);
      };

      const result = await service.stop(appCaller, record.id);

      expect(result).toEqual({ connection: stoppedByOther, pending: false });
      expect(remoteit.stopCalls).toHaveLength(0);
    });

    it('answers not found and stops nothing when another caller asks', async () => {
      const { service, store, remoteit } = createHarness();
      const record = appConnection();
      store.seed(record);

      await expect(service.stop(otherCaller, record.id)).rejects.toThrow(ConnectionNotFoundError);
      expect(remoteit.stopCalls).toHaveLength(0);
      expect(store.peek(record.id)).toEqual(record);
    });

    it('answers not found when no connection has the id', async () => {
      const { service, remoteit } = createHarness();

      await expect(service.stop(appCaller, '01JTESTNOSUCHCONNECTION000')).rejects.toThrow(ConnectionNotFoundError);
      expect(remoteit.stopCalls).toHaveLength(0);
    });

    it("stops another owner's connection when the caller is an admin", async () => {
      const { service, store } = createHarness();
      const record = appConnection({ owner: otherCaller.principal });
      store.seed(record);

      const result = await service.stop(adminCaller, record.id);

      expect(result.connection.status).toBe('stopped');
    });
  });
});
