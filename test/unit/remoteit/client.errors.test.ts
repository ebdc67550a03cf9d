import { refusalCode } from '../../../lambdas/remoteit/failures';
import { accessKeys, connectOk, credentialsSequence, PROBE, probeValid, rejection, SERVICE_ID, unauthorized, useClientHarness } from './client-harness';

// How remote.it's answers become the port's RemoteitFailure kinds, with the messages records keep as their
// failureReason. A connect is never repeated once it may have reached remote.it. Credential refusals are in
// client.auth.test.ts, the retries of what is retried in client.retries.test.ts.
describe('client errors', () => {
  const harness = useClientHarness();

  describe('connect', () => {
    it.each([
      [200, '[0806] device not found'],
      [200, '[0861] service not found for UID'],
      [200, 'bad device address'],
      [401, '[0861] service not found for UID'],
    ])('fails not_found without retrying when remote.it answers %i with "%s"', async (status, reason) => {
      harness.stub.on('/device/connect', { status, body: { status: 'false', reason } });
      const { source, calls } = credentialsSequence(accessKeys);

      const error = await rejection(harness.clientFor(source).connect(SERVICE_ID, '0.0.0.0'));

      expect(error).toMatchObject({ kind: 'not_found', reason, message: `remote.it does not know this service: ${reason}` });
      expect(harness.stub.requestsTo('/device/connect')).toHaveLength(1);
      expect(calls.refresh).toBe(0);
    });

    it('fails refused keeping reason and code when remote.it answers 200 with another reason', async () => {
      harness.stub.on('/device/connect', { body: { status: 'false', reason: 'service is offline', code: 'OFFLINE' } });

      const error = await rejection(harness.clientFor(credentialsSequence(accessKeys).source).connect(SERVICE_ID, '0.0.0.0'));

      expect(error).toMatchObject({ kind: 'refused', reason: 'service is offline', message: 'remote.it refused the request: service is offline' });
      expect(refusalCode(error)).toBe('OFFLINE');
      expect(harness.stub.requestsTo('/device/connect')).toHaveLength(1);
    });

    it('fails throttled with Retry-After and does not retry when remote.it answers 429', async () => {
      harness.stub.on('/device/connect', { status: 429, headers: { 'retry-after': '2' }, body: { status: 'false', reason: 'slow down' } });

      const error = await rejection(harness.clientFor(credentialsSequence(accessKeys).source).connect(SERVICE_ID, '0.0.0.0'));

      expect(error).toMatchObject({ kind: 'throttled', retryAfterSeconds: 2, message: 'remote.it is throttling the broker' });
      expect(harness.stub.requestsTo('/device/connect')).toHaveLength(1);
    });

    it('fails unavailable naming the status and does not retry when remote.it answers 5xx, since the proxy may exist', async () => {
      harness.stub.on('/device/connect', { status: 502, body: 'Bad Gateway' }, connectOk);

      const error = await rejection(harness.clientFor(credentialsSequence(accessKeys).source).connect(SERVICE_ID, '0.0.0.0'));

      expect(error).toMatchObject({ kind: 'unavailable', message: 'remote.it answered HTTP 502' });
      expect(harness.stub.requestsTo('/device/connect')).toHaveLength(1);
      expect(harness.sleeps).toEqual([]);
    });

    it('fails timed_out and does not retry when remote.it does not answer within the deadline', async () => {
      harness.stub.on('/device/connect', { hang: true });

      const error = await rejection(
        harness.clientFor(credentialsSequence(accessKeys).source, { timeoutMs: 150 }).connect(SERVICE_ID, '0.0.0.0'),
      );

      // timed_out, not unreachable: the request may have reached remote.it, so it is not sent again.
      expect(error).toMatchObject({ kind: 'timed_out', message: 'remote.it did not answer within 150 ms' });
      expect(harness.stub.requestsTo('/device/connect')).toHaveLength(1);
      expect(harness.sleeps).toEqual([]);
    });

    it('fails unavailable and does not retry when the connection drops after the request was sent', async () => {
      harness.stub.on('/device/connect', { destroy: true }, connectOk);

      const error = await rejection(harness.clientFor(credentialsSequence(accessKeys).source).connect(SERVICE_ID, '0.0.0.0'));

      // unavailable, not unreachable: the request may have reached remote.it, so it is not sent again.
      expect(error).toMatchObject({ kind: 'unavailable', message: 'the connection to remote.it failed before it answered' });
      expect(error.cause).toBeDefined();
      expect(harness.stub.requestsTo('/device/connect')).toHaveLength(1);
      expect(harness.sleeps).toEqual([]);
    });

    it.each([
      ['the body is not JSON', { body: '<html>oops</html>' }, 'remote.it answered 200 without a status it documents'],
      ['the body has no status', { body: { connectionid: 'CONN-1' } }, 'remote.it answered 200 without a status it documents'],
      [
        'a success lacks the connection id',
        { body: { status: 'true', connection: { proxy: 'http://proxy1.rt3.io:30000' } } },
        'remote.it connect answer has no connectionid',
      ],
    ])('fails unusable when %s', async (_case, reply, message) => {
      harness.stub.on('/device/connect', reply);

      const error = await rejection(harness.clientFor(credentialsSequence(accessKeys).source).connect(SERVICE_ID, '0.0.0.0'));

      expect(error).toMatchObject({ kind: 'unusable', message, remoteConnectionId: undefined });
    });

    it('fails unusable keeping the connection id when remote.it opened a connection without a usable proxy', async () => {
      harness.stub.on('/device/connect', { body: { status: 'true', connectionid: 'CONN-7', connection: { expirationsec: '10' } } });

      const error = await rejection(harness.clientFor(credentialsSequence(accessKeys).source).connect(SERVICE_ID, '0.0.0.0'));

      expect(error).toMatchObject({ kind: 'unusable', remoteConnectionId: 'CONN-7' });
      expect(harness.stub.requestsTo('/device/connect')).toHaveLength(1);
    });
  });

  describe('stop', () => {
    it('fails gone without retrying when remote.it answers 200 that the connection is gone', async () => {
      harness.stub.on('/device/connect/stop', { body: { status: 'false', reason: 'connection already stopped' } });

      const error = await rejection(harness.clientFor(credentialsSequence(accessKeys).source).stop(SERVICE_ID, 'CONN-1'));

      expect(error).toMatchObject({
        kind: 'gone',
        reason: 'connection already stopped',
        message: 'remote.it no longer has this connection: connection already stopped',
      });
      expect(harness.stub.requestsTo('/device/connect/stop')).toHaveLength(1);
    });

    it('fails refused without retrying or probing when remote.it answers 200 refusing a stop for another reason', async () => {
      harness.stub.on('/device/connect/stop', { body: { status: 'false', reason: 'too many requests' } });
      harness.stub.on(PROBE, probeValid);

      const error = await rejection(harness.clientFor(credentialsSequence(accessKeys).source).stop(SERVICE_ID, 'CONN-1'));

      expect(error).toMatchObject({ kind: 'refused', reason: 'too many requests', message: 'remote.it refused the request: too many requests' });
      expect(harness.stub.requestsTo('/device/connect/stop')).toHaveLength(1);
      expect(harness.stub.requestsTo(PROBE)).toHaveLength(0);
    });

    it.each([['connection not found'], ['connection is not active']])(
      'fails gone without a secret refetch or a probe when remote.it answers 401 %p to a stop',
      async (reason) => {
        harness.stub.on('/device/connect/stop', unauthorized(reason));
        const credentials = credentialsSequence(accessKeys);

        const error = await rejection(harness.clientFor(credentials.source).stop(SERVICE_ID, 'CONN-GONE'));

        expect(error).toMatchObject({ kind: 'gone', reason });
        expect(harness.stub.requestsTo('/device/connect/stop')).toHaveLength(1);
        expect(credentials.calls.refresh).toBe(0);
        expect(harness.stub.requestsTo(PROBE)).toHaveLength(0);
      },
    );
  });
});
