import { PUBLIC_NOT_ALLOWED_DETAIL } from '../../../lambdas/broker/connections';
import {
  InvalidRequestError,
  PolicyDeniedError,
  QuotaExceededError,
  ServiceNotFoundError,
  UpstreamRefusedError,
  UpstreamTimeoutError,
  UpstreamUnavailableError,
} from '../../../lambdas/broker/errors';
import { StaleRecordError, type ConnectionRecord } from '../../../lambdas/broker/model';
import { policyDocumentSchema } from '../../../lambdas/broker/policy';
import {
  RemoteitMalformedError,
  RemoteitNotFoundError,
  RemoteitRefusedError,
  RemoteitThrottledError,
  RemoteitTimeoutError,
  RemoteitUnreachableError,
  RemoteitUpstreamError,
} from '../../../lambdas/remoteit/types';
import { connectionRecord } from '../../fixtures/memory-store';
import {
  APP_ROLE,
  HTTP_SERVICE,
  NOW_MS,
  NOW_S,
  SERVICE,
  appCaller,
  createHarness,
  defaultPolicy,
  liveReverse,
  livePort,
  otherCaller,
  rejectionOf,
} from './connection-service-harness';

const publicPolicy = policyDocumentSchema.parse({
  rules: [...defaultPolicy.rules, { principals: [APP_ROLE], services: [HTTP_SERVICE], modes: ['public'] }],
  admins: defaultPolicy.admins,
});

describe('ConnectionService', () => {
  describe('open', () => {
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

    it('stores and sends the service id upper-case when given lower-case', async () => {
      const { service, remoteit } = createHarness();

      const { connection } = await service.open(appCaller, { serviceId: '80:00:00:00:01:0a:0b:0c' });

      expect(connection.serviceId).toBe('80:00:00:00:01:0A:0B:0C');
      expect(remoteit.connectCalls[0]?.serviceId).toBe('80:00:00:00:01:0A:0B:0C');
    });

    it('sends hostip 0.0.0.0 when the mode is public and the policy allows it', async () => {
      const { service, remoteit } = createHarness({ policy: publicPolicy });

      const { connection } = await service.open(appCaller, { serviceId: HTTP_SERVICE, mode: 'public' });

      expect(remoteit.connectCalls).toEqual([{ serviceId: HTTP_SERVICE, hostIp: '0.0.0.0' }]);
      expect(connection.hostIp).toBe('0.0.0.0');
    });

    describe('mode ip', () => {
      it("sends the caller's source IP when no clientIp is given", async () => {
        const { service, remoteit } = createHarness();

        const { connection } = await service.open(appCaller, { serviceId: SERVICE, mode: 'ip' });

        expect(remoteit.connectCalls).toEqual([{ serviceId: SERVICE, hostIp: appCaller.sourceIp }]);
        expect(connection.hostIp).toBe(appCaller.sourceIp);
      });

      it('sends clientIp when it is given', async () => {
        const { service, remoteit } = createHarness();

        await service.open(appCaller, { serviceId: SERVICE, mode: 'ip', clientIp: '8.8.4.4' });

        expect(remoteit.connectCalls).toEqual([{ serviceId: SERVICE, hostIp: '8.8.4.4' }]);
      });

      it.each([
        ['private 10/8', '10.1.2.3'],
        ['private 172.16/12', '172.31.255.254'],
        ['private 192.168/16', '192.168.1.1'],
        ['loopback', '127.0.0.1'],
        ['link-local', '169.254.169.254'],
        ['CGNAT', '100.64.0.1'],
        ['documentation', '203.0.113.9'],
        ['multicast', '224.0.0.1'],
        ['reserved', '240.0.0.1'],
        ['broadcast', '255.255.255.255'],
        ['unspecified', '0.0.0.0'],
        ['this-network', '0.1.2.3'],
        ['IPv6', '2001:db8::1'],
        ['not an address', 'example.com'],
        ['three octets', '81.2.69'],
        ['leading zeros', '081.2.69.160'],
      ])('rejects clientIp naming the field when it is %s (%s)', async (_kind, clientIp) => {
        const { service, store, remoteit } = createHarness();

        const error = await rejectionOf(service.open(appCaller, { serviceId: SERVICE, mode: 'ip', clientIp }));

        expect(error).toBeInstanceOf(InvalidRequestError);
        expect((error as InvalidRequestError).errors).toEqual([{ field: 'clientIp', message: expect.any(String) }]);
        expect(remoteit.connectCalls).toHaveLength(0);
        expect(store.records()).toHaveLength(0);
      });

      it.each(['81.2.69.160', '1.1.1.1', '100.63.255.255', '100.128.0.0', '172.32.0.1', '223.255.255.254'])(
        'accepts clientIp when it is the public unicast address %s',
        async (clientIp) => {
          const { service } = createHarness();

          const { connection } = await service.open(appCaller, { serviceId: SERVICE, mode: 'ip', clientIp });

          expect(connection.hostIp).toBe(clientIp);
        },
      );

      it('rejects asking for clientIp when the source IP is private and none is given', async () => {
        const { service } = createHarness();
        const caller = { ...appCaller, sourceIp: '10.0.0.5' };

        const error = await rejectionOf(service.open(caller, { serviceId: SERVICE, mode: 'ip' }));

        expect(error).toBeInstanceOf(InvalidRequestError);
        expect((error as InvalidRequestError).errors[0]).toEqual({
          field: 'clientIp',
          message: expect.stringMatching(/source address 10\.0\.0\.5.*give clientIp/),
        });
      });

      it.each(['127.0.0.2', '10.0.0.1', '192.168.0.10'])(
        'accepts the private address %s when the deployment allows private client IPs',
        async (clientIp) => {
          const { service } = createHarness({ allowPrivateClientIps: true });

          const { connection } = await service.open(appCaller, { serviceId: SERVICE, mode: 'ip', clientIp });

          expect(connection.hostIp).toBe(clientIp);
        },
      );

      it.each(['0.0.0.0', '255.255.255.255', '224.0.0.1'])(
        'still rejects %s when the deployment allows private client IPs',
        async (clientIp) => {
          const { service } = createHarness({ allowPrivateClientIps: true });

          await expect(service.open(appCaller, { serviceId: SERVICE, mode: 'ip', clientIp })).rejects.toThrow(InvalidRequestError);
        },
      );
    });

    it.each(['latching', 'public'] as const)('rejects clientIp naming the field when the mode is %s', async (mode) => {
      const { service, remoteit } = createHarness({ policy: publicPolicy });

      const error = await rejectionOf(service.open(appCaller, { serviceId: SERVICE, mode, clientIp: '81.2.69.160' }));

      expect((error as InvalidRequestError).errors).toEqual([{ field: 'clientIp', message: "is only allowed with mode 'ip'" }]);
      expect(remoteit.connectCalls).toHaveLength(0);
    });

    it('names every bad field when several are wrong', async () => {
      const { service } = createHarness();

      const error = await rejectionOf(
        service.open(appCaller, { serviceId: '80:00:00', mode: 'tunnel' as never, ttlSeconds: 59.5, clientIp: '1.1.1.1' }),
      );

      expect((error as InvalidRequestError).errors.map((fieldError) => fieldError.field)).toEqual([
        'serviceId',
        'mode',
        'ttlSeconds',
        'clientIp',
      ]);
    });

    it.each([0, 59, 90.5])('rejects ttlSeconds %s as invalid when it is not a whole number of at least 60', async (ttlSeconds) => {
      const { service } = createHarness();

      const error = await rejectionOf(service.open(appCaller, { serviceId: SERVICE, ttlSeconds }));

      expect((error as InvalidRequestError).errors).toEqual([{ field: 'ttlSeconds', message: expect.any(String) }]);
    });

    it('denies a ttl above the policy maximum, naming the maximum', async () => {
      const { service, events, remoteit } = createHarness();

      const error = await rejectionOf(service.open(appCaller, { serviceId: SERVICE, ttlSeconds: 3601 }));

      expect(error).toBeInstanceOf(PolicyDeniedError);
      expect(error).toMatchObject({ reason: 'ttl_above_max', message: expect.stringContaining('maximum of 3600') });
      expect(events.policyDenied).toHaveBeenCalledWith('ttl_above_max');
      expect(remoteit.connectCalls).toHaveLength(0);
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

    it('allows a ttl equal to the policy maximum', async () => {
      const { service } = createHarness();

      const { connection } = await service.open(appCaller, { serviceId: SERVICE, ttlSeconds: 3600 });

      expect(connection.leaseExpiresAt).toBe(new Date(NOW_MS + 3_600_000).toISOString());
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

    describe('quota', () => {
      it('refuses when the caller already holds maxActive live connections', async () => {
        const { service, store, remoteit } = createHarness();
        store.seed(
          connectionRecord({ owner: APP_ROLE, status: 'active' }),
          connectionRecord({ owner: APP_ROLE, status: 'stopping' }),
        );

        const error = await rejectionOf(service.open(appCaller, { serviceId: SERVICE }));

        expect(error).toBeInstanceOf(QuotaExceededError);
        expect(error).toMatchObject({ maxActive: 2 });
        expect(remoteit.connectCalls).toHaveLength(0);
        expect(store.records()).toHaveLength(2);
      });

      it("opens when the caller's other connections are terminal or another owner's", async () => {
        const { service, store } = createHarness();
        store.seed(
          connectionRecord({ owner: APP_ROLE, status: 'active' }),
          connectionRecord({ owner: APP_ROLE, status: 'stopped' }),
          connectionRecord({ owner: APP_ROLE, status: 'failed' }),
          connectionRecord({ owner: otherCaller.principal, status: 'active' }),
        );

        const { connection } = await service.open(appCaller, { serviceId: SERVICE });

        expect(connection.status).toBe('active');
      });

      it('opens when a live record is past its expiresAt although the sweeper has not marked it yet', async () => {
        const { service, store } = createHarness();
        store.seed(
          connectionRecord({ owner: APP_ROLE, status: 'active' }),
          connectionRecord({ owner: APP_ROLE, status: 'active', expiresAt: NOW_S }),
        );

        const { connection } = await service.open(appCaller, { serviceId: SERVICE });

        expect(connection.status).toBe('active');
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
        const existing = reusable();
        store.seed(existing, connectionRecord({ owner: APP_ROLE, status: 'active', serviceId: '80:00:00:00:01:00:00:09' }));

        const { connection } = await service.open(appCaller, { serviceId: SERVICE, reuse: true });

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

    describe('when remote.it fails', () => {
      it.each([
        ['refuses', new RemoteitRefusedError('[0912] device is offline'), UpstreamRefusedError, '[0912] device is offline', 'refused'],
        ['does not know the service', new RemoteitNotFoundError('[0861] service not found'), ServiceNotFoundError, '[0861] service not found', 'not_found'],
        ['times out', new RemoteitTimeoutError(12_000), UpstreamTimeoutError, 'remote.it did not answer in time', 'timeout'],
        ['answers 503', new RemoteitUpstreamError(503), UpstreamUnavailableError, 'remote.it answered HTTP 503', 'upstream'],
        ['is unreachable', new RemoteitUnreachableError('connect ECONNREFUSED'), UpstreamUnavailableError, 'connect ECONNREFUSED', 'unreachable'],
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

      it("keeps remote.it's reason in the error when it refuses", async () => {
        const { service, remoteit } = createHarness();
        remoteit.queueConnect(new RemoteitRefusedError('[0912] device is offline'));

        const error = await rejectionOf(service.open(appCaller, { serviceId: SERVICE }));

        expect(error).toMatchObject({ code: 'upstream_refused', reason: '[0912] device is offline' });
      });

      it('passes Retry-After on with a generic message when remote.it throttles', async () => {
        const { service, remoteit } = createHarness();
        remoteit.queueConnect(new RemoteitThrottledError(7));

        const error = await rejectionOf(service.open(appCaller, { serviceId: SERVICE }));

        expect(error).toBeInstanceOf(UpstreamUnavailableError);
        expect(error).toMatchObject({ retryAfterSeconds: 7, message: 'remote.it is unavailable; try again later' });
      });

      it('still throws the domain error and leaves the record pending for the sweeper when recording the failure fails', async () => {
        const { service, store, remoteit, logger } = createHarness();
        remoteit.queueConnect(new RemoteitRefusedError('[0912] device is offline'));
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
        remoteit.queueStop(new RemoteitUnreachableError('connect ECONNREFUSED'));
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
        remoteit.queueStop(new RemoteitUnreachableError('connect ECONNREFUSED'));
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
        remoteit.queueConnect(new RemoteitMalformedError('remote.it connect answer has no proxy address', { remoteConnectionId: 'rc-unusable' }));

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
        remoteit.queueStop(new RemoteitUpstreamError(502));

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
});
