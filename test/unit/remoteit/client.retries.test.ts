import { closedPort, startRemoteitStub, type RemoteitStub } from '../../fixtures/remoteit-stub-server';
import {
  accessKeys,
  connectOk,
  credentialsSequence,
  NOW_MS,
  NOW_S,
  passwordCredentials,
  rejection,
  SERVICE_ID,
  stopOk,
  useClientHarness,
} from './client-harness';

// What is tried again within one call, and how long the client waits: full jitter (random() = 0.5 draws half
// the ceiling), Retry-After as a floor. A connect is tried again only when its request provably never left.
describe('client retries', () => {
  const harness = useClientHarness();

  describe('connect', () => {
    it('retries with backoff and then fails unreachable when nothing listens', async () => {
      const port = await closedPort();
      const client = harness.clientFor(credentialsSequence(accessKeys).source, { apiUrl: `http://127.0.0.1:${port}/apv/v27` });

      const error = await rejection(client.connect(SERVICE_ID, '0.0.0.0'));

      // unreachable: the request never left, so even a connect was sent again.
      expect(error).toMatchObject({ kind: 'unreachable', message: 'remote.it could not be reached (ECONNREFUSED)' });
      // Full jitter with random() = 0.5: half of 100 ms, then half of 200 ms.
      expect(harness.sleeps).toEqual([50, 100]);
    });

    it('succeeds on a retry when remote.it becomes reachable after a refused connection', async () => {
      const port = await closedPort();
      let late: RemoteitStub | undefined;
      const client = harness.clientFor(credentialsSequence(accessKeys).source, {
        apiUrl: `http://127.0.0.1:${port}/apv/v27`,
        sleep: async (ms) => {
          harness.sleeps.push(ms);
          late ??= await startRemoteitStub({ port });
          late.on('/device/connect', connectOk);
        },
      });

      try {
        const connection = await client.connect(SERVICE_ID, '0.0.0.0');

        expect(connection.remoteConnectionId).toBe('CONN-1');
        expect(harness.sleeps).toHaveLength(1);
        expect(late?.requestsTo('/device/connect')).toHaveLength(1);
      } finally {
        await late?.close();
      }
    });

    it('retries a failed login for connect because the connect itself was never sent', async () => {
      let attempts = 0;
      harness.stub.on('/user/login', () =>
        ++attempts === 1 ? { status: 503, body: '' } : { body: { status: 'true', token: 'TOKEN-after-retry', auth_expiration: NOW_S + 3_600 } },
      );
      harness.stub.on('/device/connect', connectOk);

      const connection = await harness.clientFor(credentialsSequence(passwordCredentials).source).connect(SERVICE_ID, '0.0.0.0');

      expect(connection.remoteConnectionId).toBe('CONN-1');
      expect(harness.stub.requestsTo('/user/login')).toHaveLength(2);
      expect(harness.stub.requestsTo('/device/connect')).toHaveLength(1);
      expect(harness.sleeps).toEqual([50]);
    });
  });

  describe('stop', () => {
    it('retries with jittered backoff and succeeds when remote.it answers 5xx twice', async () => {
      harness.stub.on('/device/connect/stop', { status: 503, body: '' }, { status: 500, body: '{}' }, stopOk);

      await harness.clientFor(credentialsSequence(accessKeys).source).stop(SERVICE_ID, 'CONN-1');

      expect(harness.stub.requestsTo('/device/connect/stop')).toHaveLength(3);
      expect(harness.sleeps).toEqual([50, 100]);
    });

    it('draws each delay from [0, ceiling] and never past maxDelayMs, in whole milliseconds', async () => {
      harness.stub.on('/device/connect/stop', { status: 503, body: '' });
      const draws = [0.999, 0.333];
      const client = harness.clientFor(credentialsSequence(accessKeys).source, {
        random: () => draws.shift() ?? 0,
        retry: { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 150 },
      });

      await rejection(client.stop(SERVICE_ID, 'CONN-1'));

      // 0.999 of min(150, 100) floored, then 0.333 of min(150, 200) floored.
      expect(harness.sleeps).toEqual([99, 49]);
    });

    it('fails unavailable after maxAttempts when 5xx persists', async () => {
      harness.stub.on('/device/connect/stop', { status: 500, body: 'oops' });

      const error = await rejection(harness.clientFor(credentialsSequence(accessKeys).source).stop(SERVICE_ID, 'CONN-1'));

      expect(error).toMatchObject({ kind: 'unavailable', message: 'remote.it answered HTTP 500' });
      expect(harness.stub.requestsTo('/device/connect/stop')).toHaveLength(3);
    });

    it('waits at least Retry-After seconds before retrying when remote.it answers 429', async () => {
      harness.stub.on('/device/connect/stop', { status: 429, headers: { 'retry-after': '3' } }, stopOk);

      await harness.clientFor(credentialsSequence(accessKeys).source).stop(SERVICE_ID, 'CONN-1');

      expect(harness.sleeps).toEqual([3_000]);
    });

    it('honours a Retry-After HTTP date when remote.it sends one', async () => {
      const retryAt = new Date(NOW_MS + 2_000).toUTCString();
      harness.stub.on('/device/connect/stop', { status: 429, headers: { 'retry-after': retryAt } }, stopOk);

      await harness.clientFor(credentialsSequence(accessKeys).source).stop(SERVICE_ID, 'CONN-1');

      expect(harness.sleeps).toEqual([2_000]);
    });

    it('gives up at once with the Retry-After kept when it exceeds the delay bound', async () => {
      harness.stub.on('/device/connect/stop', { status: 429, headers: { 'retry-after': '120' } }, stopOk);

      const error = await rejection(harness.clientFor(credentialsSequence(accessKeys).source).stop(SERVICE_ID, 'CONN-1'));

      expect(error).toMatchObject({ kind: 'throttled', retryAfterSeconds: 120 });
      expect(harness.sleeps).toEqual([]);
    });

    it('retries after a timeout and succeeds when the second attempt is answered', async () => {
      harness.stub.on('/device/connect/stop', { hang: true }, stopOk);

      await harness.clientFor(credentialsSequence(accessKeys).source, { timeoutMs: 150 }).stop(SERVICE_ID, 'CONN-1');

      expect(harness.stub.requestsTo('/device/connect/stop')).toHaveLength(2);
    });
  });
});
