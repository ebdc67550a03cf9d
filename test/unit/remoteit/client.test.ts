import { createRemoteitClient, RemoteitConnectionLostError, type RemoteitClientOptions } from '../../../lambdas/remoteit/client';
import type { AccessKeyCredentials, CredentialsSource, PasswordCredentials, RemoteitCredentials } from '../../../lambdas/remoteit/credentials';
import {
  RemoteitError,
  RemoteitMalformedError,
  RemoteitNotFoundError,
  RemoteitConnectionGoneError,
  RemoteitRefusedError,
  RemoteitThrottledError,
  RemoteitTimeoutError,
  RemoteitUnauthorizedError,
  RemoteitUnreachableError,
  RemoteitUpstreamError,
} from '../../../lambdas/remoteit/types';
import {
  closedPort,
  startRemoteitStub,
  verifyCavageSignature,
  verifyRfc9421Signature,
  type RecordedRequest,
  type RemoteitStub,
  type StubReply,
} from '../../fixtures/remoteit-stub-server';

const SERVICE_ID = '80:00:00:00:01:02:03:04';
const NOW_MS = Date.parse('2026-03-01T12:00:00.000Z');
const NOW_S = NOW_MS / 1000;

const accessKeys: AccessKeyCredentials = {
  kind: 'access_key',
  developerKey: 'DEVKEY-5f1c2e9a7b',
  accessKeyId: 'AKID-CLIENT-TEST',
  secretAccessKey: Buffer.from('client-test-secret-key-0123456789').toString('base64'),
};
const rotatedKeys: AccessKeyCredentials = {
  ...accessKeys,
  accessKeyId: 'AKID-ROTATED',
  secretAccessKey: Buffer.from('rotated-secret-key-9876543210').toString('base64'),
};
const passwordCredentials: PasswordCredentials = {
  kind: 'password',
  developerKey: 'DEVKEY-5f1c2e9a7b',
  username: 'ops@example.com',
  password: 'pw-Very-Secret-42',
};

// remote.it's wire text: the proxy URL arrives with JSON-escaped slashes.
const CONNECT_OK_WIRE =
  '{"status":"true","connectionid":"CONN-1","connection":{"deviceaddress":"80:00:00:00:01:02:03:04","connectionid":"CONN-1",' +
  '"proxy":"http:\\/\\/proxy18.rt3.io:38575","proxyport":"38575","expirationsec":"28797","idleLeft":900,"status":"running"}}';
const connectOk: StubReply = { body: CONNECT_OK_WIRE };
const stopOk: StubReply = { body: { status: 'true', connectionid: 'CONN-1' } };
const unauthorized = (reason = 'invalid signature'): StubReply => ({ status: 401, body: { status: 'false', reason } });

/** Credentials whose refresh() moves to the next value (a rotated secret). */
function credentialsSequence(...values: RemoteitCredentials[]) {
  let index = 0;
  const calls = { get: 0, refresh: 0 };
  const source: CredentialsSource = {
    get: async () => {
      calls.get++;
      return values[index]!;
    },
    refresh: async () => {
      calls.refresh++;
      index = Math.min(index + 1, values.length - 1);
      return values[index]!;
    },
  };
  return { source, calls };
}

async function rejection(promise: Promise<unknown>): Promise<RemoteitError> {
  const outcome: unknown = await promise.then(
    () => 'resolved',
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(RemoteitError);
  return outcome as RemoteitError;
}

describe('client', () => {
  let stub: RemoteitStub;
  let sleeps: number[];

  beforeEach(async () => {
    stub = await startRemoteitStub();
    sleeps = [];
  });

  afterEach(async () => {
    await stub.close();
  });

  function clientFor(credentials: CredentialsSource, overrides: Partial<RemoteitClientOptions> = {}) {
    return createRemoteitClient({
      apiUrl: stub.apiUrl,
      credentials,
      signatureScheme: 'cavage',
      timeoutMs: 2_000,
      now: () => NOW_MS,
      random: () => 0.5,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      retry: { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 5_000 },
      ...overrides,
    });
  }

  describe('connect', () => {
    it('posts the documented body, signed and with the developer key, and returns the normalised connection when remote.it opens a port proxy', async () => {
      stub.on('/device/connect', connectOk);
      const client = clientFor(credentialsSequence(accessKeys).source);

      const connection = await client.connect(SERVICE_ID, '255.255.255.255');

      expect(connection).toEqual({
        remoteConnectionId: 'CONN-1',
        proxy: { kind: 'port', url: 'tcp://proxy18.rt3.io:38575', host: 'proxy18.rt3.io', port: 38575 },
        expiresAt: NOW_S + 28_797,
        overridden: false,
      });
      const [request] = stub.requestsTo('/device/connect');
      expect(request?.json).toEqual({ deviceaddress: SERVICE_ID, wait: 'true', hostip: '255.255.255.255', concurrent: true });
      expect(request?.headers.developerkey).toBe(accessKeys.developerKey);
      expect(request?.headers.host).toBe(`127.0.0.1:${stub.port}`);
      expect(verifyCavageSignature(request!, accessKeys.accessKeyId, accessKeys.secretAccessKey)).toBe(true);
    });

    it('signs with RFC 9421 headers that verify when the rfc9421 scheme is chosen', async () => {
      stub.on('/device/connect', connectOk);
      const client = clientFor(credentialsSequence(accessKeys).source, { signatureScheme: 'rfc9421' });

      await client.connect(SERVICE_ID, '0.0.0.0');

      const [request] = stub.requestsTo('/device/connect');
      expect(request?.headers.authorization).toBeUndefined();
      expect(request?.headers.developerkey).toBe(accessKeys.developerKey);
      expect(verifyRfc9421Signature(request!, accessKeys.accessKeyId, accessKeys.secretAccessKey)).toBe(true);
    });

    it('returns a public reverse proxy marked overridden when remote.it replaced an earlier connection', async () => {
      stub.on('/device/connect', {
        body: {
          status: 'true',
          connection: {
            connectionid: 'CONN-2',
            proxy: 'https://xprbjalo.p18.rt3.io',
            reverseProxy: true,
            proxyExpirationSec: 28_800,
            connectionOverridden: 'true',
            previousConnection: 'CONN-1',
          },
        },
      });
      const client = clientFor(credentialsSequence(accessKeys).source);

      const connection = await client.connect(SERVICE_ID, '203.0.113.7');

      expect(connection).toEqual({
        remoteConnectionId: 'CONN-2',
        proxy: { kind: 'reverse', url: 'https://xprbjalo.p18.rt3.io', host: 'xprbjalo.p18.rt3.io', port: 443 },
        expiresAt: NOW_S + 28_800,
        overridden: true,
        previousConnectionId: 'CONN-1',
      });
    });

    it.each([
      [200, '[0806] device not found'],
      [200, '[0861] service not found for UID'],
      [200, 'bad device address'],
      [401, '[0861] service not found for UID'],
    ])('throws RemoteitNotFoundError without retrying when remote.it answers %i with "%s"', async (status, reason) => {
      stub.on('/device/connect', { status, body: { status: 'false', reason } });
      const { source, calls } = credentialsSequence(accessKeys);

      const error = await rejection(clientFor(source).connect(SERVICE_ID, '0.0.0.0'));

      expect(error).toBeInstanceOf(RemoteitNotFoundError);
      expect((error as RemoteitNotFoundError).reason).toBe(reason);
      expect(stub.requestsTo('/device/connect')).toHaveLength(1);
      expect(calls.refresh).toBe(0);
    });

    it('throws RemoteitRefusedError keeping reason and code when remote.it answers 200 with another reason', async () => {
      stub.on('/device/connect', { body: { status: 'false', reason: 'service is offline', code: 'OFFLINE' } });

      const error = await rejection(clientFor(credentialsSequence(accessKeys).source).connect(SERVICE_ID, '0.0.0.0'));

      expect(error).toBeInstanceOf(RemoteitRefusedError);
      expect(error).toMatchObject({ reason: 'service is offline', code: 'OFFLINE', httpStatus: 200 });
      expect(stub.requestsTo('/device/connect')).toHaveLength(1);
    });

    it('throws RemoteitThrottledError with Retry-After and does not retry when remote.it answers 429', async () => {
      stub.on('/device/connect', { status: 429, headers: { 'retry-after': '2' }, body: { status: 'false', reason: 'slow down' } });

      const error = await rejection(clientFor(credentialsSequence(accessKeys).source).connect(SERVICE_ID, '0.0.0.0'));

      expect(error).toBeInstanceOf(RemoteitThrottledError);
      expect((error as RemoteitThrottledError).retryAfterSeconds).toBe(2);
      expect(stub.requestsTo('/device/connect')).toHaveLength(1);
    });

    it('throws RemoteitUpstreamError and does not retry when remote.it answers 5xx, since the proxy may exist', async () => {
      stub.on('/device/connect', { status: 502, body: 'Bad Gateway' }, connectOk);

      const error = await rejection(clientFor(credentialsSequence(accessKeys).source).connect(SERVICE_ID, '0.0.0.0'));

      expect(error).toBeInstanceOf(RemoteitUpstreamError);
      expect((error as RemoteitUpstreamError).httpStatus).toBe(502);
      expect(stub.requestsTo('/device/connect')).toHaveLength(1);
      expect(sleeps).toEqual([]);
    });

    it('throws RemoteitTimeoutError and does not retry when remote.it does not answer within the deadline', async () => {
      stub.on('/device/connect', { hang: true });

      const error = await rejection(clientFor(credentialsSequence(accessKeys).source, { timeoutMs: 150 }).connect(SERVICE_ID, '0.0.0.0'));

      expect(error).toBeInstanceOf(RemoteitTimeoutError);
      expect(error.notSent).toBe(false);
      expect(stub.requestsTo('/device/connect')).toHaveLength(1);
    });

    it('throws an upstream error and does not retry when the connection drops after the request was sent', async () => {
      stub.on('/device/connect', { destroy: true }, connectOk);

      const error = await rejection(clientFor(credentialsSequence(accessKeys).source).connect(SERVICE_ID, '0.0.0.0'));

      expect(error).toBeInstanceOf(RemoteitConnectionLostError);
      expect(error.kind).toBe('upstream');
      expect(error.notSent).toBe(false);
      expect(stub.requestsTo('/device/connect')).toHaveLength(1);
    });

    it.each([
      ['the body is not JSON', { body: '<html>oops</html>' }],
      ['the body has no status', { body: { connectionid: 'CONN-1' } }],
      ['a success lacks the connection id', { body: { status: 'true', connection: { proxy: 'http://proxy1.rt3.io:30000' } } }],
    ])('throws RemoteitMalformedError when %s', async (_case, reply) => {
      stub.on('/device/connect', reply);

      const error = await rejection(clientFor(credentialsSequence(accessKeys).source).connect(SERVICE_ID, '0.0.0.0'));

      expect(error).toBeInstanceOf(RemoteitMalformedError);
    });

    it('retries with backoff and then throws RemoteitUnreachableError when nothing listens', async () => {
      const port = await closedPort();
      const client = clientFor(credentialsSequence(accessKeys).source, { apiUrl: `http://127.0.0.1:${port}/apv/v27` });

      const error = await rejection(client.connect(SERVICE_ID, '0.0.0.0'));

      expect(error).toBeInstanceOf(RemoteitUnreachableError);
      expect(error.notSent).toBe(true);
      expect(error.message).toContain('ECONNREFUSED');
      // Full jitter with random() = 0.5: half of 100 ms, then half of 200 ms.
      expect(sleeps).toEqual([50, 100]);
    });

    it('succeeds on a retry when remote.it becomes reachable after a refused connection', async () => {
      const port = await closedPort();
      let late: RemoteitStub | undefined;
      const client = clientFor(credentialsSequence(accessKeys).source, {
        apiUrl: `http://127.0.0.1:${port}/apv/v27`,
        sleep: async (ms) => {
          sleeps.push(ms);
          late ??= await startRemoteitStub({ port });
          late.on('/device/connect', connectOk);
        },
      });

      try {
        const connection = await client.connect(SERVICE_ID, '0.0.0.0');

        expect(connection.remoteConnectionId).toBe('CONN-1');
        expect(sleeps).toHaveLength(1);
        expect(late?.requestsTo('/device/connect')).toHaveLength(1);
      } finally {
        await late?.close();
      }
    });

    it('refetches the secret once and succeeds when the keys were rotated', async () => {
      stub.on('/device/connect', (request) =>
        verifyCavageSignature(request, rotatedKeys.accessKeyId, rotatedKeys.secretAccessKey) ? connectOk : unauthorized(),
      );
      const { source, calls } = credentialsSequence(accessKeys, rotatedKeys);

      const connection = await clientFor(source).connect(SERVICE_ID, '0.0.0.0');

      expect(connection.remoteConnectionId).toBe('CONN-1');
      expect(calls.refresh).toBe(1);
      expect(stub.requestsTo('/device/connect')).toHaveLength(2);
    });

    it('throws RemoteitUnauthorizedError after exactly one refresh when the keys stay rejected', async () => {
      stub.on('/device/connect', unauthorized('invalid signature'));
      const { source, calls } = credentialsSequence(accessKeys);

      const error = await rejection(clientFor(source).connect(SERVICE_ID, '0.0.0.0'));

      expect(error).toBeInstanceOf(RemoteitUnauthorizedError);
      expect(calls.refresh).toBe(1);
      expect(stub.requestsTo('/device/connect')).toHaveLength(2);
    });

    it('treats a 200 "missing api token" as an auth failure when remote.it answers it', async () => {
      stub.on('/device/connect', { body: { status: 'false', reason: 'missing api token' } });
      const { source, calls } = credentialsSequence(accessKeys);

      const error = await rejection(clientFor(source).connect(SERVICE_ID, '0.0.0.0'));

      expect(error).toBeInstanceOf(RemoteitUnauthorizedError);
      expect(calls.refresh).toBe(1);
    });
  });

  describe('stop', () => {
    it('posts deviceaddress and connectionid and resolves when remote.it confirms', async () => {
      stub.on('/device/connect/stop', stopOk);

      await clientFor(credentialsSequence(accessKeys).source).stop(SERVICE_ID, 'CONN-1');

      const [request] = stub.requestsTo('/device/connect/stop');
      expect(request?.json).toEqual({ deviceaddress: SERVICE_ID, connectionid: 'CONN-1' });
      expect(request?.headers.developerkey).toBe(accessKeys.developerKey);
      expect(verifyCavageSignature(request!, accessKeys.accessKeyId, accessKeys.secretAccessKey)).toBe(true);
    });

    it('retries with jittered backoff and succeeds when remote.it answers 5xx twice', async () => {
      stub.on('/device/connect/stop', { status: 503, body: '' }, { status: 500, body: '{}' }, stopOk);

      await clientFor(credentialsSequence(accessKeys).source).stop(SERVICE_ID, 'CONN-1');

      expect(stub.requestsTo('/device/connect/stop')).toHaveLength(3);
      expect(sleeps).toEqual([50, 100]);
    });

    it('throws RemoteitUpstreamError after maxAttempts when 5xx persists', async () => {
      stub.on('/device/connect/stop', { status: 500, body: 'oops' });

      const error = await rejection(clientFor(credentialsSequence(accessKeys).source).stop(SERVICE_ID, 'CONN-1'));

      expect(error).toBeInstanceOf(RemoteitUpstreamError);
      expect(stub.requestsTo('/device/connect/stop')).toHaveLength(3);
    });

    it('waits at least Retry-After seconds before retrying when remote.it answers 429', async () => {
      stub.on('/device/connect/stop', { status: 429, headers: { 'retry-after': '3' } }, stopOk);

      await clientFor(credentialsSequence(accessKeys).source).stop(SERVICE_ID, 'CONN-1');

      expect(sleeps).toEqual([3_000]);
    });

    it('honours a Retry-After HTTP date when remote.it sends one', async () => {
      const retryAt = new Date(NOW_MS + 2_000).toUTCString();
      stub.on('/device/connect/stop', { status: 429, headers: { 'retry-after': retryAt } }, stopOk);

      await clientFor(credentialsSequence(accessKeys).source).stop(SERVICE_ID, 'CONN-1');

      expect(sleeps).toEqual([2_000]);
    });

    it('gives up at once with the Retry-After kept when it exceeds the delay bound', async () => {
      stub.on('/device/connect/stop', { status: 429, headers: { 'retry-after': '120' } }, stopOk);

      const error = await rejection(clientFor(credentialsSequence(accessKeys).source).stop(SERVICE_ID, 'CONN-1'));

      expect(error).toBeInstanceOf(RemoteitThrottledError);
      expect((error as RemoteitThrottledError).retryAfterSeconds).toBe(120);
      expect(sleeps).toEqual([]);
    });

    it('retries after a timeout and succeeds when the second attempt is answered', async () => {
      stub.on('/device/connect/stop', { hang: true }, stopOk);

      await clientFor(credentialsSequence(accessKeys).source, { timeoutMs: 150 }).stop(SERVICE_ID, 'CONN-1');

      expect(stub.requestsTo('/device/connect/stop')).toHaveLength(2);
    });

    it('throws RemoteitConnectionGoneError without retrying when remote.it answers 200 that the connection is gone', async () => {
      stub.on('/device/connect/stop', { body: { status: 'false', reason: 'connection already stopped' } });

      const error = await rejection(clientFor(credentialsSequence(accessKeys).source).stop(SERVICE_ID, 'CONN-1'));

      expect(error).toBeInstanceOf(RemoteitConnectionGoneError);
      expect(stub.requestsTo('/device/connect/stop')).toHaveLength(1);
    });

    it('throws RemoteitRefusedError without retrying when remote.it refuses a stop for another reason', async () => {
      stub.on('/device/connect/stop', { body: { status: 'false', reason: 'too many requests' } });

      const error = await rejection(clientFor(credentialsSequence(accessKeys).source).stop(SERVICE_ID, 'CONN-1'));

      expect(error).toBeInstanceOf(RemoteitRefusedError);
      expect(stub.requestsTo('/device/connect/stop')).toHaveLength(1);
    });

    it.each([['connection not found'], ['connection is not active']])(
      'throws RemoteitConnectionGoneError without a secret refetch when remote.it answers 401 %p to a stop',
      async (reason) => {
        stub.on('/device/connect/stop', unauthorized(reason));
        const credentials = credentialsSequence(accessKeys);

        const error = await rejection(clientFor(credentials.source).stop(SERVICE_ID, 'CONN-GONE'));

        expect(error).toBeInstanceOf(RemoteitConnectionGoneError);
        expect(stub.requestsTo('/device/connect/stop')).toHaveLength(1);
        expect(credentials.calls.refresh).toBe(0);
      },
    );

    it('treats a 401 to a stop with an unknown reason as a credentials failure (refetch), not as gone', async () => {
      stub.on('/device/connect/stop', unauthorized('Signature expired'));
      const credentials = credentialsSequence(accessKeys);

      const error = await rejection(clientFor(credentials.source).stop(SERVICE_ID, 'CONN-1'));

      expect(error).toBeInstanceOf(RemoteitUnauthorizedError);
      expect(credentials.calls.refresh).toBe(1);
    });

    it('throws RemoteitUnauthorizedError when a stop is answered 401 for its credentials', async () => {
      stub.on('/device/connect/stop', unauthorized('invalid signature'));

      const error = await rejection(clientFor(credentialsSequence(accessKeys).source).stop(SERVICE_ID, 'CONN-1'));

      expect(error).toBeInstanceOf(RemoteitUnauthorizedError);
    });
  });

  describe('password login', () => {
    let logins: number;

    beforeEach(() => {
      logins = 0;
    });

    /** Issues TOKEN-1, TOKEN-2, ... expiring an hour after NOW. */
    function scriptLogin(extra: Record<string, unknown> = {}) {
      stub.on('/user/login', () => {
        logins++;
        return { body: { status: 'true', token: `TOKEN-${logins}-e4d909c290d0fb1ca068ffaddf22cbd0`, auth_expiration: NOW_S + 3_600, ...extra } };
      });
    }
    const acceptsToken = (accepted: (token: string) => boolean, ok: StubReply) => (request: RecordedRequest) =>
      accepted(String(request.headers.token)) ? ok : unauthorized('missing api token');

    it('logs in once and sends the token with the developer key when called twice', async () => {
      scriptLogin();
      stub.on('/device/connect', acceptsToken((token) => token.startsWith('TOKEN-1-'), connectOk));
      const client = clientFor(credentialsSequence(passwordCredentials).source);

      await client.connect(SERVICE_ID, '0.0.0.0');
      await client.connect(SERVICE_ID, '0.0.0.0');

      const [login] = stub.requestsTo('/user/login');
      expect(login?.json).toEqual({ username: passwordCredentials.username, password: passwordCredentials.password });
      expect(login?.headers.developerkey).toBe(passwordCredentials.developerKey);
      expect(logins).toBe(1);
      expect(stub.requestsTo('/device/connect').map((request) => request.headers.developerkey)).toEqual([
        passwordCredentials.developerKey,
        passwordCredentials.developerKey,
      ]);
    });

    it('shares one login when calls start concurrently without a token', async () => {
      scriptLogin();
      stub.on('/device/connect/stop', stopOk);
      const client = clientFor(credentialsSequence(passwordCredentials).source);

      await Promise.all([client.stop(SERVICE_ID, 'CONN-1'), client.stop(SERVICE_ID, 'CONN-2'), client.stop(SERVICE_ID, 'CONN-3')]);

      expect(logins).toBe(1);
      expect(stub.requestsTo('/device/connect/stop')).toHaveLength(3);
    });

    it('uses auth_token when the login answer names the token that way', async () => {
      stub.on('/user/login', { body: { status: 'true', auth_token: 'AUTH-TOKEN-abcdef', auth_expiration: String(NOW_S + 3_600) } });
      stub.on('/device/connect/stop', acceptsToken((token) => token === 'AUTH-TOKEN-abcdef', stopOk));

      await clientFor(credentialsSequence(passwordCredentials).source).stop(SERVICE_ID, 'CONN-1');

      expect(stub.requestsTo('/device/connect/stop')).toHaveLength(1);
    });

    it('logs in again when auth_expiration has passed', async () => {
      scriptLogin();
      stub.on('/device/connect/stop', stopOk);
      let clock = NOW_MS;
      const client = clientFor(credentialsSequence(passwordCredentials).source, { now: () => clock });

      await client.stop(SERVICE_ID, 'CONN-1');
      clock = NOW_MS + 1_000_000;
      await client.stop(SERVICE_ID, 'CONN-1');
      clock = NOW_MS + 3_601_000;
      await client.stop(SERVICE_ID, 'CONN-1');

      expect(logins).toBe(2);
      expect(stub.requestsTo('/device/connect/stop').map((request) => String(request.headers.token).slice(0, 8))).toEqual([
        'TOKEN-1-',
        'TOKEN-1-',
        'TOKEN-2-',
      ]);
    });

    it('logs in again once and succeeds when remote.it rejects a cached token', async () => {
      scriptLogin();
      let revoked = false;
      stub.on('/device/connect/stop', acceptsToken((token) => !(revoked && token.startsWith('TOKEN-1-')), stopOk));
      const { source, calls } = credentialsSequence(passwordCredentials);
      const client = clientFor(source);
      await client.stop(SERVICE_ID, 'CONN-1');
      revoked = true;

      await client.stop(SERVICE_ID, 'CONN-1');

      expect(logins).toBe(2);
      expect(calls.refresh).toBe(0);
      expect(stub.requestsTo('/device/connect/stop')).toHaveLength(3);
    });

    it('throws RemoteitUnauthorizedError after one re-login and one refresh when every token is rejected', async () => {
      scriptLogin();
      stub.on('/device/connect/stop', stopOk, unauthorized('missing api token'));
      const { source, calls } = credentialsSequence(passwordCredentials);
      const client = clientFor(source);
      await client.stop(SERVICE_ID, 'CONN-1');

      const error = await rejection(client.stop(SERVICE_ID, 'CONN-1'));

      expect(error).toBeInstanceOf(RemoteitUnauthorizedError);
      expect(logins).toBe(3);
      expect(calls.refresh).toBe(1);
      expect(stub.requestsTo('/device/connect/stop')).toHaveLength(4);
    });

    it('refetches the secret once and then throws when the login itself is rejected', async () => {
      stub.on('/user/login', { body: { status: 'false', reason: '[0102] The username or password is invalid' } });
      const { source, calls } = credentialsSequence(passwordCredentials);

      const error = await rejection(clientFor(source).connect(SERVICE_ID, '0.0.0.0'));

      expect(error).toBeInstanceOf(RemoteitUnauthorizedError);
      expect(calls.refresh).toBe(1);
      expect(stub.requestsTo('/user/login')).toHaveLength(2);
      expect(stub.requestsTo('/device/connect')).toHaveLength(0);
    });

    it.each(['SMS_MFA', 'SOFTWARE_TOKEN_MFA', 'MFA_SETUP'])(
      'throws RemoteitUnauthorizedError asking for access keys when login answers %s',
      async (code) => {
        stub.on('/user/login', { body: { status: 'true', code } });

        const error = await rejection(clientFor(credentialsSequence(passwordCredentials).source).connect(SERVICE_ID, '0.0.0.0'));

        expect(error).toBeInstanceOf(RemoteitUnauthorizedError);
        expect((error as RemoteitUnauthorizedError).code).toBe(code);
        expect(error.message).toMatch(/access keys/);
        expect(stub.requestsTo('/device/connect')).toHaveLength(0);
      },
    );

    it('retries a failed login for connect because the connect itself was never sent', async () => {
      let attempts = 0;
      stub.on('/user/login', () =>
        ++attempts === 1 ? { status: 503, body: '' } : { body: { status: 'true', token: 'TOKEN-after-retry', auth_expiration: NOW_S + 3_600 } },
      );
      stub.on('/device/connect', connectOk);

      const connection = await clientFor(credentialsSequence(passwordCredentials).source).connect(SERVICE_ID, '0.0.0.0');

      expect(connection.remoteConnectionId).toBe('CONN-1');
      expect(stub.requestsTo('/user/login')).toHaveLength(2);
      expect(stub.requestsTo('/device/connect')).toHaveLength(1);
      expect(sleeps).toEqual([50]);
    });
  });
});
