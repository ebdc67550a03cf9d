import { refusalCode } from '../../../lambdas/remoteit/failures';
import { verifyCavageSignature, type RecordedRequest, type StubReply } from '../../fixtures/remoteit-stub-server';
import {
  accessKeys,
  connectOk,
  credentialsSequence,
  NOW_MS,
  NOW_S,
  passwordCredentials,
  PROBE,
  probeUnauthorized,
  rejection,
  rotatedKeys,
  SERVICE_ID,
  stopOk,
  unauthorized,
  useClientHarness,
} from './client-harness';

// Auth and its recovery from a credentials refusal (docs/remoteit-api.md): log in again once, then refetch
// the secret once, then fail credentials_refused.
describe('client auth', () => {
  const harness = useClientHarness();

  describe('access keys', () => {
    it('refetches the secret once and succeeds when the keys were rotated', async () => {
      harness.stub.on('/device/connect', (request) =>
        verifyCavageSignature(request, rotatedKeys.accessKeyId, rotatedKeys.secretAccessKey) ? connectOk : unauthorized(),
      );
      const { source, calls } = credentialsSequence(accessKeys, rotatedKeys);

      const connection = await harness.clientFor(source).connect(SERVICE_ID, '0.0.0.0');

      expect(connection.remoteConnectionId).toBe('CONN-1');
      expect(calls.refresh).toBe(1);
      expect(harness.stub.requestsTo('/device/connect')).toHaveLength(2);
    });

    it('fails credentials_refused after exactly one refresh when the keys stay rejected', async () => {
      harness.stub.on('/device/connect', unauthorized('invalid signature'));
      const { source, calls } = credentialsSequence(accessKeys);

      const error = await rejection(harness.clientFor(source).connect(SERVICE_ID, '0.0.0.0'));

      expect(error).toMatchObject({
        kind: 'credentials_refused',
        reason: 'invalid signature',
        message: "remote.it rejected the broker's credentials: invalid signature",
      });
      expect(calls.refresh).toBe(1);
      expect(harness.stub.requestsTo('/device/connect')).toHaveLength(2);
    });

    it('treats a 200 "missing api token" as an auth failure when remote.it answers it', async () => {
      harness.stub.on('/device/connect', { body: { status: 'false', reason: 'missing api token' } });
      const { source, calls } = credentialsSequence(accessKeys);

      const error = await rejection(harness.clientFor(source).connect(SERVICE_ID, '0.0.0.0'));

      expect(error).toMatchObject({ kind: 'credentials_refused', reason: 'missing api token' });
      expect(calls.refresh).toBe(1);
    });

    it('treats a 401 to a stop with an unknown reason as a credentials failure (refetch) when the probe refuses the credentials', async () => {
      harness.stub.on('/device/connect/stop', unauthorized('Signature expired'));
      harness.stub.on(PROBE, probeUnauthorized);
      const credentials = credentialsSequence(accessKeys);

      const error = await rejection(harness.clientFor(credentials.source).stop(SERVICE_ID, 'CONN-1'));

      expect(error).toMatchObject({ kind: 'credentials_refused', reason: 'Signature expired' });
      expect(credentials.calls.refresh).toBe(1);
    });

    it('fails credentials_refused when a stop is answered 401 for its credentials', async () => {
      harness.stub.on('/device/connect/stop', unauthorized('invalid signature'));

      const error = await rejection(harness.clientFor(credentialsSequence(accessKeys).source).stop(SERVICE_ID, 'CONN-1'));

      expect(error).toMatchObject({ kind: 'credentials_refused', reason: 'invalid signature' });
    });
  });

  describe('password login', () => {
    let logins: number;

    beforeEach(() => {
      logins = 0;
    });

    /** Issues TOKEN-1, TOKEN-2, ... expiring an hour after NOW. */
    function scriptLogin(extra: Record<string, unknown> = {}) {
      harness.stub.on('/user/login', () => {
        logins++;
        return { body: { status: 'true', token: `TOKEN-${logins}-e4d909c290d0fb1ca068ffaddf22cbd0`, auth_expiration: NOW_S + 3_600, ...extra } };
      });
    }
    const acceptsToken = (accepted: (token: string) => boolean, ok: StubReply) => (request: RecordedRequest) =>
      accepted(String(request.headers.token)) ? ok : unauthorized('missing api token');

    it('logs in once and sends the token with the developer key when called twice', async () => {
      scriptLogin();
      harness.stub.on('/device/connect', acceptsToken((token) => token.startsWith('TOKEN-1-'), connectOk));
      const client = harness.clientFor(credentialsSequence(passwordCredentials).source);

      await client.connect(SERVICE_ID, '0.0.0.0');
      await client.connect(SERVICE_ID, '0.0.0.0');

      const [login] = harness.stub.requestsTo('/user/login');
      expect(login?.json).toEqual({ username: passwordCredentials.username, password: passwordCredentials.password });
      expect(login?.headers.developerkey).toBe(passwordCredentials.developerKey);
      expect(logins).toBe(1);
      expect(harness.stub.requestsTo('/device/connect').map((request) => request.headers.developerkey)).toEqual([
        passwordCredentials.developerKey,
        passwordCredentials.developerKey,
      ]);
    });

    it('shares one login when calls start concurrently without a token', async () => {
      scriptLogin();
      harness.stub.on('/device/connect/stop', stopOk);
      const client = harness.clientFor(credentialsSequence(passwordCredentials).source);

      await Promise.all([client.stop(SERVICE_ID, 'CONN-1'), client.stop(SERVICE_ID, 'CONN-2'), client.stop(SERVICE_ID, 'CONN-3')]);

      expect(logins).toBe(1);
      expect(harness.stub.requestsTo('/device/connect/stop')).toHaveLength(3);
    });

    it('uses auth_token when the login answer names the token that way', async () => {
      harness.stub.on('/user/login', { body: { status: 'true', auth_token: 'AUTH-TOKEN-abcdef', auth_expiration: String(NOW_S + 3_600) } });
      harness.stub.on('/device/connect/stop', acceptsToken((token) => token === 'AUTH-TOKEN-abcdef', stopOk));

      await harness.clientFor(credentialsSequence(passwordCredentials).source).stop(SERVICE_ID, 'CONN-1');

      expect(harness.stub.requestsTo('/device/connect/stop')).toHaveLength(1);
    });

    it('logs in again when auth_expiration has passed', async () => {
      scriptLogin();
      harness.stub.on('/device/connect/stop', stopOk);
      let clock = NOW_MS;
      const client = harness.clientFor(credentialsSequence(passwordCredentials).source, { now: () => clock });

      await client.stop(SERVICE_ID, 'CONN-1');
      clock = NOW_MS + 1_000_000;
      await client.stop(SERVICE_ID, 'CONN-1');
      clock = NOW_MS + 3_601_000;
      await client.stop(SERVICE_ID, 'CONN-1');

      expect(logins).toBe(2);
      expect(harness.stub.requestsTo('/device/connect/stop').map((request) => String(request.headers.token).slice(0, 8))).toEqual([
        'TOKEN-1-',
        'TOKEN-1-',
        'TOKEN-2-',
      ]);
    });

    it('logs in again once and succeeds when remote.it rejects a cached token', async () => {
      scriptLogin();
      let revoked = false;
      harness.stub.on('/device/connect/stop', acceptsToken((token) => !(revoked && token.startsWith('TOKEN-1-')), stopOk));
      const { source, calls } = credentialsSequence(passwordCredentials);
      const client = harness.clientFor(source);
      await client.stop(SERVICE_ID, 'CONN-1');
      revoked = true;

      await client.stop(SERVICE_ID, 'CONN-1');

      expect(logins).toBe(2);
      expect(calls.refresh).toBe(0);
      expect(harness.stub.requestsTo('/device/connect/stop')).toHaveLength(3);
    });

    it('fails credentials_refused after one re-login and one refresh when every token is rejected', async () => {
      scriptLogin();
      harness.stub.on('/device/connect/stop', stopOk, unauthorized('missing api token'));
      const { source, calls } = credentialsSequence(passwordCredentials);
      const client = harness.clientFor(source);
      await client.stop(SERVICE_ID, 'CONN-1');

      const error = await rejection(client.stop(SERVICE_ID, 'CONN-1'));

      expect(error).toMatchObject({ kind: 'credentials_refused', reason: 'missing api token' });
      expect(logins).toBe(3);
      expect(calls.refresh).toBe(1);
      expect(harness.stub.requestsTo('/device/connect/stop')).toHaveLength(4);
    });

    it('refetches the secret once and then throws when the login itself is rejected', async () => {
      harness.stub.on('/user/login', { body: { status: 'false', reason: '[0102] The username or password is invalid' } });
      const { source, calls } = credentialsSequence(passwordCredentials);

      const error = await rejection(harness.clientFor(source).connect(SERVICE_ID, '0.0.0.0'));

      expect(error).toMatchObject({ kind: 'credentials_refused', reason: '[0102] The username or password is invalid' });
      expect(calls.refresh).toBe(1);
      expect(harness.stub.requestsTo('/user/login')).toHaveLength(2);
      expect(harness.stub.requestsTo('/device/connect')).toHaveLength(0);
    });

    it.each([
      ['SMS_MFA', { status: 'true', code: 'SMS_MFA' }],
      ['SOFTWARE_TOKEN_MFA', { status: 'true', code: 'SOFTWARE_TOKEN_MFA' }],
      ['MFA_SETUP', { status: 'true', code: 'MFA_SETUP' }],
      ['SMS_MFA', { status: 'false', reason: 'a second factor is needed', code: 'SMS_MFA' }],
    ])('fails credentials_refused asking for access keys when login answers %s (%j)', async (code, body) => {
      harness.stub.on('/user/login', { body });

      const error = await rejection(harness.clientFor(credentialsSequence(passwordCredentials).source).connect(SERVICE_ID, '0.0.0.0'));

      expect(error.kind).toBe('credentials_refused');
      expect(refusalCode(error)).toBe(code);
      expect(error.message).toMatch(/access keys/);
      expect(error.message).toContain(`multi-factor authentication (${code})`);
      expect(harness.stub.requestsTo('/device/connect')).toHaveLength(0);
    });
  });
});
