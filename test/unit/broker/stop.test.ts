import { ConnectionNotFoundError, ConnectionOpeningError, StopFailedError } from '../../../lambdas/broker/errors';
import type { ConnectionRecord } from '../../../lambdas/broker/model';
import { RemoteitFailure } from '../../../lambdas/broker/ports';
import {
  APP_ROLE,
  NOW_MS,
  NOW_S,
  SERVICE,
  adminCaller,
  appCaller,
  appConnection,
  createHarness,
  otherCaller,
  rejectionOf,
} from './use-case-harness';


/** remote.it failures as the adapter words them (lambdas/remoteit/failures.ts). */
const http503 = () => new RemoteitFailure('unavailable', 'remote.it answered HTTP 503');
const gone = (reason: string) => new RemoteitFailure('gone', `remote.it no longer has this connection: ${reason}`, { reason });

describe('stopConnection', () => {
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
    remoteit.queueStop(http503());

    const error = await rejectionOf(service.stop(appCaller, record.id));

    expect(error).toBeInstanceOf(StopFailedError);
    expect(remoteit.stopCalls).toHaveLength(1);
    expect(store.peek(record.id)).toMatchObject({ status: 'stop_failed', stopAttempts: 9 });
  });

  it("stops a stop_failed connection when the DELETE's extra attempt succeeds", async () => {
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
    remoteit.queueStop(http503());

    const result = await service.stop(appCaller, record.id);

    expect(result.pending).toBe(true);
    expect(result.connection).toMatchObject({ status: 'stopping', stopReason: 'requested', stopAttempts: 1 });
    expect(result.connection.dueAt).toBeGreaterThan(NOW_S);
    expect(events.remoteitError).toHaveBeenCalledWith('unavailable', 'stop');
    expect(events.stopped).not.toHaveBeenCalled();
  });

  it('records expired, and reports the connection ended by the API, when remote.it says it is already gone', async () => {
    const { service, store, remoteit, events } = createHarness();
    const record = appConnection();
    store.seed(record);
    remoteit.queueStop(gone('connection not found'));

    const result = await service.stop(appCaller, record.id);

    expect(result).toMatchObject({ pending: false, connection: { status: 'expired' } });
    expect(events.stopped).toHaveBeenCalledTimes(1);
    expect(events.stopped).toHaveBeenCalledWith(result.connection);
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

  it('stops a pending connection when it already holds a remote connection id', async () => {
    const { service, store, remoteit } = createHarness();
    const record = appConnection({ status: 'pending', remoteConnectionId: 'rc-half-open', proxy: undefined });
    store.seed(record);

    const result = await service.stop(appCaller, record.id);

    expect(result.connection.status).toBe('stopped');
    expect(remoteit.stopCalls).toEqual([{ serviceId: SERVICE, remoteConnectionId: 'rc-half-open' }]);
  });

  it('answers a connection as expired without calling remote.it when it is past its remote expiry', async () => {
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
