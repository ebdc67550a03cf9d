import {
  PolicyDeniedError,
  ServiceNotFoundError,
  UpstreamRefusedError,
  UpstreamTimeoutError,
  UpstreamUnavailableError,
} from '../../../lambdas/broker/errors';
import { PUBLIC_NOT_ALLOWED_DETAIL } from '../../../lambdas/broker/open-recovery';
import { RemoteitFailure, StaleRecordError } from '../../../lambdas/broker/ports';
import { connectionRecord } from '../../fixtures/memory-store';
import {
  HTTP_SERVICE,
  NOW_MS,
  NOW_S,
  SERVICE,
  appCaller,
  createHarness,
  livePort,
  liveReverse,
  otherCaller,
  publicPolicy,
  rejectionOf,
} from './use-case-harness';


/** remote.it failures as the adapter words them (lambdas/remoteit/failures.ts); `unreachable` takes the test's own message. */
const refused = (reason: string) => new RemoteitFailure('refused', `remote.it refused the request: ${reason}`, { reason });
const notFound = (reason: string) => new RemoteitFailure('not_found', `remote.it does not know this service: ${reason}`, { reason });
const timedOut = (timeoutMs: number) => new RemoteitFailure('timed_out', `remote.it did not answer within ${timeoutMs} ms`);
const httpStatus = (status: number) => new RemoteitFailure('unavailable', `remote.it answered HTTP ${status}`);
const unreachable = (message: string) => new RemoteitFailure('unreachable', message);
const throttled = (retryAfterSeconds: number) => new RemoteitFailure('throttled', 'remote.it is throttling the broker', { retryAfterSeconds });

describe('openConnection', () => {
  describe('when remote.it fails', () => {
    it.each([
      ['refuses', refused('[0912] device is offline'), UpstreamRefusedError, '[0912] device is offline', 'refused'],
      ['does not know the service', notFound('[0861] service not found'), ServiceNotFoundError, '[0861] service not found', 'not_found'],
      ['times out', timedOut(12_000), UpstreamTimeoutError, 'remote.it did not answer in time', 'timed_out'],
      ['answers 503', httpStatus(503), UpstreamUnavailableError, 'remote.it answered HTTP 503', 'unavailable'],
      ['is unreachable', unreachable('connect ECONNREFUSED'), UpstreamUnavailableError, 'connect ECONNREFUSED', 'unreachable'],
    ])('marks the record failed and throws the domain error when remote.it %s', async (_case, remoteError, DomainError, failureReason, kind) => {
      const { service, store, remoteit, events } = createHarness();
      remoteit.queueConnect(remoteError);

      const error = await rejectionOf(service.open(appCaller, { serviceId: SERVICE }));

      expect(error).toBeInstanceOf(DomainError);
      expect((error as Error).cause).toBe(remoteError);
      const [record] = store.records();
      expect(record).toMatchObject({ status: 'failed', failureReason, expiresAt: NOW_S + 86_400 });
      expect(record?.dueAt).toBeUndefined();
      expect(events.remoteitError).toHaveBeenCalledWith(kind, 'connect');
      expect(events.opened).not.toHaveBeenCalled();
    });

    it("names the service and keeps remote.it's reason in the error when remote.it does not know the service", async () => {
      const { service, remoteit } = createHarness();
      remoteit.queueConnect(notFound('[0806] device not found'));

      const error = await rejectionOf(service.open(appCaller, { serviceId: SERVICE }));

      expect(error).toBeInstanceOf(ServiceNotFoundError);
      expect((error as Error).message).toBe(`remote.it does not know service ${SERVICE}: [0806] device not found`);
    });

    it("keeps remote.it's reason in the error when it refuses", async () => {
      const { service, remoteit } = createHarness();
      remoteit.queueConnect(refused('[0912] device is offline'));

      const error = await rejectionOf(service.open(appCaller, { serviceId: SERVICE }));

      expect(error).toMatchObject({ code: 'upstream_refused', reason: '[0912] device is offline' });
    });

    it('passes Retry-After on with a generic message when remote.it throttles', async () => {
      const { service, remoteit } = createHarness();
      remoteit.queueConnect(throttled(7));

      const error = await rejectionOf(service.open(appCaller, { serviceId: SERVICE }));

      expect(error).toBeInstanceOf(UpstreamUnavailableError);
      expect(error).toMatchObject({ retryAfterSeconds: 7, message: 'remote.it is unavailable; try again later' });
    });

    it('still throws the domain error and leaves the record pending for the sweeper when recording the failure fails', async () => {
      const { service, store, remoteit, logger } = createHarness();
      remoteit.queueConnect(refused('[0912] device is offline'));
      store.failNextUpdate(new Error('DynamoDB unavailable'));

      const error = await rejectionOf(service.open(appCaller, { serviceId: SERVICE }));

      expect(error).toBeInstanceOf(UpstreamRefusedError);
      expect(store.records()[0]).toMatchObject({ status: 'pending', dueAt: NOW_S + 120 });
      expect(logger.warn).toHaveBeenCalledTimes(1);
    });

    it('rethrows an unexpected error as is after marking the record failed', async () => {
      const { service, store, remoteit } = createHarness();
      const bug = new TypeError('cannot read properties of undefined');
      remoteit.queueConnect(bug);

      const error = await rejectionOf(service.open(appCaller, { serviceId: SERVICE }));

      expect(error).toBe(bug);
      expect(store.records()[0]?.status).toBe('failed');
    });
  });

  describe('compensation', () => {
    it.each([
      ['the store fails', new Error('DynamoDB unavailable')],
      ['another writer changed the record', new StaleRecordError('any')],
    ])('stops the remote connection at once and throws a generic error when %s after connect', async (_case, storeError) => {
      const { service, store, remoteit, logger, events } = createHarness();
      const remote = livePort();
      remoteit.queueConnect(remote);
      store.failNextUpdate(storeError);

      const error = await rejectionOf(service.open(appCaller, { serviceId: SERVICE }));

      expect(error).toBeInstanceOf(UpstreamUnavailableError);
      expect((error as Error).cause).toBe(storeError);
      expect(remoteit.stopCalls).toEqual([{ serviceId: SERVICE, remoteConnectionId: remote.remoteConnectionId }]);
      expect(logger.error).toHaveBeenCalledTimes(1);
      expect(events.opened).not.toHaveBeenCalled();
    });

    it('logs and still throws the generic error when the compensating stop fails too', async () => {
      const { service, store, remoteit, logger, events } = createHarness();
      remoteit.queueConnect(livePort());
      remoteit.queueStop(unreachable('connect ECONNREFUSED'));
      store.failNextUpdate(new Error('DynamoDB unavailable'));

      const error = await rejectionOf(service.open(appCaller, { serviceId: SERVICE }));

      expect(error).toBeInstanceOf(UpstreamUnavailableError);
      expect(remoteit.stopCalls).toHaveLength(1);
      expect(logger.error).toHaveBeenCalledTimes(2);
      expect(events.remoteitError).toHaveBeenCalledWith('unreachable', 'stop');
    });

    it('hands the stop to the sweeper (stopping, remote id, due now) when the compensating stop fails', async () => {
      const { service, store, remoteit } = createHarness();
      const remote = livePort();
      remoteit.queueConnect(remote);
      remoteit.queueStop(unreachable('connect ECONNREFUSED'));
      store.failNextUpdate(new Error('DynamoDB blip'));

      await rejectionOf(service.open(appCaller, { serviceId: SERVICE }));

      const [record] = store.records();
      expect(record).toMatchObject({
        status: 'stopping',
        stopReason: 'compensation',
        remoteConnectionId: remote.remoteConnectionId,
        stopAttempts: 1,
        dueAt: NOW_S,
      });
    });

    it('records the compensated connection stopped when the stop succeeds and the record is writable', async () => {
      const { service, store, remoteit } = createHarness();
      const remote = livePort();
      remoteit.queueConnect(remote);
      store.failNextUpdate(new Error('DynamoDB blip'));

      await rejectionOf(service.open(appCaller, { serviceId: SERVICE }));

      expect(store.records()[0]).toMatchObject({ status: 'stopped', stopReason: 'compensation', remoteConnectionId: remote.remoteConnectionId });
      expect(store.records()[0]?.dueAt).toBeUndefined();
    });

    it('stops a connection remote.it opened but described unusably, instead of recording it failed', async () => {
      const { service, store, remoteit } = createHarness();
      remoteit.queueConnect(
        new RemoteitFailure('unusable', 'remote.it connect answer has no proxy address', { remoteConnectionId: 'rc-unusable' }),
      );

      const error = await rejectionOf(service.open(appCaller, { serviceId: SERVICE }));

      expect(error).toBeInstanceOf(UpstreamUnavailableError);
      expect(remoteit.stopCalls).toEqual([{ serviceId: SERVICE, remoteConnectionId: 'rc-unusable' }]);
      expect(store.records()[0]).toMatchObject({ status: 'stopped', stopReason: 'compensation' });
    });
  });

  describe('reverse proxy', () => {
    it('stops it, records it stopped and denies when the policy does not allow public', async () => {
      const { service, store, remoteit, events } = createHarness();
      const remote = liveReverse();
      remoteit.queueConnect(remote);

      const error = await rejectionOf(service.open(appCaller, { serviceId: SERVICE }));

      expect(error).toBeInstanceOf(PolicyDeniedError);
      expect(error).toMatchObject({ reason: 'public_not_allowed', message: PUBLIC_NOT_ALLOWED_DETAIL });
      expect(remoteit.stopCalls).toEqual([{ serviceId: SERVICE, remoteConnectionId: remote.remoteConnectionId }]);
      const [record] = store.records();
      expect(record).toMatchObject({
        status: 'stopped',
        stopReason: 'public_not_allowed',
        remoteConnectionId: remote.remoteConnectionId,
      });
      expect(record?.proxy).toBeUndefined();
      expect(record?.dueAt).toBeUndefined();
      expect(events.policyDenied).toHaveBeenCalledWith('public_not_allowed');
      expect(events.opened).not.toHaveBeenCalled();
    });

    it('leaves the record stopping and due for the sweeper when the stop fails', async () => {
      const { service, store, remoteit } = createHarness();
      remoteit.queueConnect(liveReverse());
      remoteit.queueStop(httpStatus(502));

      const error = await rejectionOf(service.open(appCaller, { serviceId: SERVICE }));

      expect(error).toMatchObject({ reason: 'public_not_allowed' });
      const [record] = store.records();
      expect(record).toMatchObject({ status: 'stopping', stopReason: 'public_not_allowed', stopAttempts: 1 });
      expect(record?.dueAt).toBeGreaterThan(NOW_S);
    });

    it('compensates when the stop claim cannot be recorded', async () => {
      const { service, store, remoteit } = createHarness();
      const remote = liveReverse();
      remoteit.queueConnect(remote);
      store.failNextUpdate(new Error('DynamoDB unavailable'));

      const error = await rejectionOf(service.open(appCaller, { serviceId: SERVICE }));

      expect(error).toBeInstanceOf(UpstreamUnavailableError);
      expect(remoteit.stopCalls).toEqual([{ serviceId: SERVICE, remoteConnectionId: remote.remoteConnectionId }]);
    });

    it('records it active when the policy allows public for the service', async () => {
      const { service, remoteit } = createHarness({ policy: publicPolicy });
      const remote = liveReverse();
      remoteit.queueConnect(remote);

      const { connection } = await service.open(appCaller, { serviceId: HTTP_SERVICE });

      expect(connection).toMatchObject({ status: 'active', proxy: remote.proxy });
      expect(remoteit.stopCalls).toHaveLength(0);
    });

    it('records the proxy as public, and what was asked beside it, when remote.it opened a reverse proxy for a latching request', async () => {
      const { service, store, remoteit } = createHarness({ policy: publicPolicy });
      remoteit.queueConnect(liveReverse());

      const { connection } = await service.open(appCaller, { serviceId: HTTP_SERVICE, mode: 'latching' });

      expect(remoteit.connectCalls).toEqual([{ serviceId: HTTP_SERVICE, hostIp: '255.255.255.255' }]);
      expect(connection).toMatchObject({ mode: 'public', hostIp: '0.0.0.0', requestedMode: 'latching', requestedHostIp: '255.255.255.255' });
      expect(store.peek(connection.id)).toEqual(connection);
    });

    it('reuses a reverse proxy recorded as public for the same request that opened it', async () => {
      const { service, remoteit } = createHarness({ policy: publicPolicy });
      remoteit.queueConnect(liveReverse());
      const { connection: first } = await service.open(appCaller, { serviceId: HTTP_SERVICE, mode: 'latching' });

      const again = await service.open(appCaller, { serviceId: HTTP_SERVICE, mode: 'latching', ttlSeconds: 60, reuse: true });

      expect(again).toEqual({ connection: first, reused: true });
      expect(remoteit.connectCalls).toHaveLength(1);
    });

    it('keeps a port proxy as asked, with nothing requested beside it', async () => {
      const { service } = createHarness();

      const { connection } = await service.open(appCaller, { serviceId: SERVICE, mode: 'latching' });

      expect(connection).toMatchObject({ mode: 'latching', hostIp: '255.255.255.255' });
      expect(connection).not.toHaveProperty('requestedMode');
      expect(connection).not.toHaveProperty('requestedHostIp');
    });
  });

  describe('override', () => {
    it('marks the overridden record stopped when remote.it replaced an earlier connection', async () => {
      const { service, store, remoteit, events } = createHarness();
      const previous = connectionRecord({ owner: otherCaller.principal, serviceId: SERVICE, remoteConnectionId: 'rc-previous' });
      const unrelated = connectionRecord({ serviceId: SERVICE, remoteConnectionId: 'rc-unrelated' });
      store.seed(previous, unrelated);
      remoteit.queueConnect(livePort({ overridden: true, previousConnectionId: 'rc-previous' }));

      const { connection } = await service.open(appCaller, { serviceId: SERVICE });

      expect(connection.status).toBe('active');
      const marked = store.peek(previous.id);
      expect(marked).toMatchObject({ status: 'stopped', stopReason: 'overridden', stoppedAt: new Date(NOW_MS).toISOString() });
      expect(marked?.dueAt).toBeUndefined();
      expect(store.peek(unrelated.id)?.status).toBe('active');
      expect(events.stopped).toHaveBeenCalledWith(marked);
      expect(remoteit.stopCalls).toHaveLength(0);
    });

    it('changes nothing else when no record holds the previous connection', async () => {
      const { service, store, remoteit } = createHarness();
      const unrelated = connectionRecord({ serviceId: SERVICE, remoteConnectionId: 'rc-unrelated' });
      store.seed(unrelated);
      remoteit.queueConnect(livePort({ overridden: true, previousConnectionId: 'rc-gone' }));

      await service.open(appCaller, { serviceId: SERVICE });

      expect(store.peek(unrelated.id)).toEqual(unrelated);
    });

    it('still opens when marking the overridden record fails', async () => {
      const { service, store, remoteit, logger } = createHarness();
      const previous = connectionRecord({ serviceId: SERVICE, remoteConnectionId: 'rc-previous' });
      store.seed(previous);
      remoteit.queueConnect(livePort({ overridden: true, previousConnectionId: 'rc-previous' }));
      store.beforeUpdate = (id) => {
        if (id === previous.id) throw new Error('DynamoDB unavailable');
      };

      const { connection } = await service.open(appCaller, { serviceId: SERVICE });

      expect(connection.status).toBe('active');
      expect(store.peek(previous.id)?.status).toBe('active');
      expect(logger.warn).toHaveBeenCalledTimes(1);
    });
  });
});
