import type { RemoteitLogger } from '../../../lambdas/remoteit/client';
import { verifyCavageSignature, type RecordedRequest, type StubReply } from '../../fixtures/remoteit-stub-server';
import {
  accessKeys,
  credentialsSequence,
  NOW_MS,
  NOW_S,
  passwordCredentials,
  PROBE,
  probeAnswer,
  probeUnauthorized,
  probeValid,
  rejection,
  rotatedKeys,
  SERVICE_ID,
  stopOk,
  unauthorized,
  UNFAMILIAR,
  useClientHarness,
} from './client-harness';

const STOP = '/device/connect/stop';

// A refused stop is decided by evidence, not phrasing (issue 14): a refusal in words the adapter does not know
// is read only after the credentials probe (lambdas/remoteit/probe.ts) has judged the credentials that made it.
// Valid: gone, the stop never repeated. Invalid: the credentials recovery of client.auth.test.ts. The probe
// failed: that failure, left to the broker's later retry, with the stop sent exactly once.
describe('client stop refusals', () => {
  const harness = useClientHarness();

  describe('valid credentials: gone', () => {
    it.each<[string, StubReply, string]>([
      ['401 with an unfamiliar reason', unauthorized(UNFAMILIAR), UNFAMILIAR],
      ['401 with no reason', { status: 401, body: { status: 'false' } }, 'HTTP 401, no reason given'],
      ['401 with a body that is not JSON', { status: 401, body: 'Unauthorized' }, 'HTTP 401, no reason given'],
    ])('fails gone after exactly one stop and one probe when remote.it answers %s', async (_case, reply, reason) => {
      harness.stub.on(STOP, reply);
      harness.stub.on(PROBE, probeValid);
      const { source, calls } = credentialsSequence(accessKeys);

      const error = await rejection(harness.clientFor(source).stop(SERVICE_ID, 'CONN-1'));

      expect(error).toMatchObject({ kind: 'gone', reason, message: `remote.it no longer has this connection: ${reason}` });
      expect(harness.stub.requestsTo(STOP)).toHaveLength(1);
      expect(harness.stub.requestsTo(PROBE)).toHaveLength(1);
      expect(calls.refresh).toBe(0);
      expect(harness.sleeps).toEqual([]);
    });

    it.each<[string, StubReply]>([
      ['200 status "false" with an unfamiliar reason', { body: { status: 'false', reason: 'session closed' } }],
      ['403 status "false" with an unfamiliar reason', { status: 403, body: { status: 'false', reason: 'session closed' } }],
    ])('stays refused, never gone and without a probe, when remote.it answers %s (only a 401 refusal is documented)', async (_case, reply) => {
      harness.stub.on(STOP, reply);
      harness.stub.on(PROBE, probeValid);

      const error = await rejection(harness.clientFor(credentialsSequence(accessKeys).source).stop(SERVICE_ID, 'CONN-1'));

      expect(error).toMatchObject({ kind: 'refused', reason: 'session closed', message: 'remote.it refused the request: session closed' });
      expect(harness.stub.requestsTo(PROBE)).toHaveLength(0);
    });

    it('probes with the keys that made the stop, signed over /graphql/v1 and without the developer key', async () => {
      harness.stub.on(STOP, unauthorized(UNFAMILIAR));
      harness.stub.on(PROBE, (request) => (verifyCavageSignature(request, accessKeys.accessKeyId, accessKeys.secretAccessKey) ? probeValid : probeUnauthorized));

      await rejection(harness.clientFor(credentialsSequence(accessKeys).source).stop(SERVICE_ID, 'CONN-1'));

      const [probe] = harness.stub.requestsTo(PROBE);
      expect(probe).toMatchObject({ method: 'POST', target: '/graphql/v1', body: '{"query":"{ login { id apiKey { key } } }"}' });
      expect(probe?.headers['content-type']).toBe('application/json');
      expect(probe?.headers.date).toBe(new Date(NOW_MS).toUTCString());
      expect(probe?.headers.developerkey).toBeUndefined();
      expect(probe?.headers.token).toBeUndefined();
    });

    it('reuses the valid verdict for a second refused stop within 60 s and probes again after', async () => {
      harness.stub.on(STOP, unauthorized(UNFAMILIAR));
      harness.stub.on(PROBE, probeValid);
      let clock = NOW_MS;
      const client = harness.clientFor(credentialsSequence(accessKeys).source, { now: () => clock });

      await rejection(client.stop(SERVICE_ID, 'CONN-1'));
      clock = NOW_MS + 59_000;
      const second = await rejection(client.stop(SERVICE_ID, 'CONN-2'));
      expect(harness.stub.requestsTo(PROBE)).toHaveLength(1);
      clock = NOW_MS + 61_000;
      await rejection(client.stop(SERVICE_ID, 'CONN-3'));

      expect(second.kind).toBe('gone');
      expect(harness.stub.requestsTo(PROBE)).toHaveLength(2);
      expect(harness.stub.requestsTo(STOP)).toHaveLength(3);
    });

    it('fails gone after a retried stop meets a refusal, the first attempt having been lost in transit', async () => {
      harness.stub.on(STOP, { status: 503, body: '' }, unauthorized(UNFAMILIAR));
      harness.stub.on(PROBE, probeValid);

      const error = await rejection(harness.clientFor(credentialsSequence(accessKeys).source).stop(SERVICE_ID, 'CONN-1'));

      expect(error.kind).toBe('gone');
      expect(harness.stub.requestsTo(STOP)).toHaveLength(2);
      expect(harness.stub.requestsTo(PROBE)).toHaveLength(1);
    });

    it("logs the check and the verdict with the path, never remote.it's developer key", async () => {
      harness.stub.on(STOP, unauthorized(UNFAMILIAR));
      harness.stub.on(PROBE, probeValid);
      const lines: Array<{ message: string; attributes: unknown[] }> = [];
      const logger: RemoteitLogger = { debug: () => undefined, warn: (message, ...attributes) => lines.push({ message, attributes }) };

      await rejection(harness.clientFor(credentialsSequence(accessKeys).source, { logger }).stop(SERVICE_ID, 'CONN-1'));

      expect(lines).toEqual([
        { message: "remote.it refused a stop; checking the broker's credentials", attributes: [{ path: STOP, reason: UNFAMILIAR }] },
        { message: "remote.it's verdict on the broker's credentials", attributes: [{ path: STOP, verdict: 'valid' }] },
      ]);
      expect(JSON.stringify(lines)).not.toContain(accessKeys.developerKey);
    });
  });

  describe('invalid credentials: the credentials recovery', () => {
    it('refetches the secret once, repeats the stop once, then fails credentials_refused when the probe still refuses', async () => {
      harness.stub.on(STOP, unauthorized(UNFAMILIAR));
      harness.stub.on(PROBE, probeUnauthorized);
      const { source, calls } = credentialsSequence(accessKeys);

      const error = await rejection(harness.clientFor(source).stop(SERVICE_ID, 'CONN-1'));

      expect(error).toMatchObject({ kind: 'credentials_refused', reason: UNFAMILIAR, message: `remote.it rejected the broker's credentials: ${UNFAMILIAR}` });
      expect(calls.refresh).toBe(1);
      expect(harness.stub.requestsTo(STOP)).toHaveLength(2);
      // An invalid verdict is not cached: the repeated stop's refusal is probed again.
      expect(harness.stub.requestsTo(PROBE)).toHaveLength(2);
    });

    it('stops with the rotated keys when the probe refuses the old ones', async () => {
      const signedBy = (request: RecordedRequest, keys: typeof accessKeys) => verifyCavageSignature(request, keys.accessKeyId, keys.secretAccessKey);
      harness.stub.on(STOP, (request) => (signedBy(request, rotatedKeys) ? stopOk : unauthorized(UNFAMILIAR)));
      harness.stub.on(PROBE, (request) => (signedBy(request, rotatedKeys) ? probeValid : probeUnauthorized));
      const { source, calls } = credentialsSequence(accessKeys, rotatedKeys);

      await harness.clientFor(source).stop(SERVICE_ID, 'CONN-1');

      expect(calls.refresh).toBe(1);
      expect(harness.stub.requestsTo(STOP)).toHaveLength(2);
      expect(harness.stub.requestsTo(PROBE)).toHaveLength(1);
    });

    it("reads a developer key that is not the account's as invalid credentials", async () => {
      harness.stub.on(STOP, unauthorized(UNFAMILIAR));
      harness.stub.on(PROBE, probeAnswer('DEVKEY-of-another-account'));
      const { source, calls } = credentialsSequence(accessKeys);

      const error = await rejection(harness.clientFor(source).stop(SERVICE_ID, 'CONN-1'));

      expect(error).toMatchObject({ kind: 'credentials_refused', reason: UNFAMILIAR });
      expect(error.message).not.toContain('DEVKEY-of-another-account');
      expect(calls.refresh).toBe(1);
      expect(harness.stub.requestsTo(STOP)).toHaveLength(2);
    });

    it('logs in again and repeats the stop when the probe refuses the token of a password session', async () => {
      let logins = 0;
      harness.stub.on('/user/login', () => ({ body: { status: 'true', token: `TOKEN-${++logins}-8a7b6c5d4e3f`, auth_expiration: NOW_S + 3_600 } }));
      harness.stub.on(STOP, stopOk, unauthorized(UNFAMILIAR), stopOk);
      harness.stub.on(PROBE, (request) => (String(request.headers.token).startsWith('TOKEN-1-') ? probeUnauthorized : probeValid));
      const { source, calls } = credentialsSequence(passwordCredentials);
      const client = harness.clientFor(source);
      await client.stop(SERVICE_ID, 'CONN-0');

      await client.stop(SERVICE_ID, 'CONN-1');

      expect(logins).toBe(2);
      expect(calls.refresh).toBe(0);
      expect(harness.stub.requestsTo(STOP)).toHaveLength(3);
      const probes = harness.stub.requestsTo(PROBE);
      expect(probes).toHaveLength(1);
      expect(probes[0]?.headers).toMatchObject({ token: expect.stringMatching(/^TOKEN-1-/) as unknown });
      expect(probes[0]?.headers.authorization).toBeUndefined();
      expect(probes[0]?.headers.developerkey).toBeUndefined();
    });
  });

  describe('the probe fails: that failure, the stop sent once', () => {
    it.each<[string, StubReply, string, Record<string, unknown>]>([
      ['throttled', { status: 429, headers: { 'retry-after': '1' }, body: '' }, 'throttled', { retryAfterSeconds: 1 }],
      ['answering 503', { status: 503, body: '' }, 'unavailable', {}],
      ['answering 200 that is not JSON', { body: '<html>maintenance</html>' }, 'unusable', {}],
      ['answering GraphQL errors', { body: { errors: [{ message: 'Cannot query field "apiKey"' }] } }, 'unusable', {}],
      ['answering a null login', { body: { data: { login: null } } }, 'unusable', {}],
      ['answering a login without an id', { body: { data: { login: { apiKey: { key: 'DEVKEY-5f1c2e9a7b' } } } } }, 'unusable', {}],
      ['answering a login without apiKey.key', { body: { data: { login: { id: 'USER-1', apiKey: null } } } }, 'unusable', {}],
      ['answering 404', { status: 404, body: 'Not Found' }, 'unusable', {}],
    ])('fails %s without repeating the stop', async (_case, reply, kind, extra) => {
      harness.stub.on(STOP, unauthorized(UNFAMILIAR));
      harness.stub.on(PROBE, reply);
      const { source, calls } = credentialsSequence(accessKeys);

      const error = await rejection(harness.clientFor(source).stop(SERVICE_ID, 'CONN-1'));

      expect(error).toMatchObject({ kind, reason: UNFAMILIAR, ...extra });
      expect(error.message).toMatch(new RegExp(`^remote\\.it refused the stop \\(${UNFAMILIAR}\\) and the broker's credentials could not be checked: `));
      expect(harness.stub.requestsTo(STOP)).toHaveLength(1);
      expect(harness.stub.requestsTo(PROBE)).toHaveLength(1);
      expect(calls.refresh).toBe(0);
      expect(harness.sleeps).toEqual([]);
    });

    it('fails timed_out without repeating the stop when the probe does not answer within the deadline', async () => {
      harness.stub.on(STOP, unauthorized(UNFAMILIAR));
      harness.stub.on(PROBE, { hang: true });

      const error = await rejection(harness.clientFor(credentialsSequence(accessKeys).source, { timeoutMs: 150 }).stop(SERVICE_ID, 'CONN-1'));

      expect(error).toMatchObject({ kind: 'timed_out', reason: UNFAMILIAR });
      expect(error.message).toContain('remote.it did not answer within 150 ms');
      expect(harness.stub.requestsTo(STOP)).toHaveLength(1);
      expect(harness.sleeps).toEqual([]);
    });

    it('shares one probe between concurrent refused stops, and caches no failure', async () => {
      harness.stub.on(STOP, unauthorized(UNFAMILIAR));
      harness.stub.on(PROBE, { status: 503, body: '', delayMs: 150 });
      const client = harness.clientFor(credentialsSequence(accessKeys).source);

      const errors = await Promise.all(['CONN-1', 'CONN-2', 'CONN-3'].map((id) => rejection(client.stop(SERVICE_ID, id))));
      expect(harness.stub.requestsTo(PROBE)).toHaveLength(1);
      await rejection(client.stop(SERVICE_ID, 'CONN-4'));

      expect(errors.map((error) => error.kind)).toEqual(['unavailable', 'unavailable', 'unavailable']);
      expect(harness.stub.requestsTo(STOP)).toHaveLength(4);
      expect(harness.stub.requestsTo(PROBE)).toHaveLength(2);
    });
  });

  describe('what the words still decide', () => {
    it('fails gone without a probe on a known gone phrase', async () => {
      harness.stub.on(STOP, unauthorized('connection already stopped'));
      harness.stub.on(PROBE, probeUnauthorized);

      const error = await rejection(harness.clientFor(credentialsSequence(accessKeys).source).stop(SERVICE_ID, 'CONN-1'));

      expect(error).toMatchObject({ kind: 'gone', reason: 'connection already stopped' });
      expect(harness.stub.requestsTo(PROBE)).toHaveLength(0);
    });

    it.each([[401], [200]])('goes straight to the credentials recovery on a known auth phrase (HTTP %i), without a probe', async (status) => {
      harness.stub.on(STOP, { status, body: { status: 'false', reason: 'invalid developer key' } });
      harness.stub.on(PROBE, probeValid);
      const { source, calls } = credentialsSequence(accessKeys);

      const error = await rejection(harness.clientFor(source).stop(SERVICE_ID, 'CONN-1'));

      expect(error).toMatchObject({ kind: 'credentials_refused', reason: 'invalid developer key' });
      expect(calls.refresh).toBe(1);
      expect(harness.stub.requestsTo(STOP)).toHaveLength(2);
      expect(harness.stub.requestsTo(PROBE)).toHaveLength(0);
    });

    it('reads an auth phrase before a gone phrase, so bad credentials are never taken for a gone connection', async () => {
      harness.stub.on(STOP, unauthorized('unauthorized: connection not found'));
      harness.stub.on(PROBE, probeValid);

      const error = await rejection(harness.clientFor(credentialsSequence(accessKeys).source).stop(SERVICE_ID, 'CONN-1'));

      expect(error.kind).toBe('credentials_refused');
      expect(harness.stub.requestsTo(PROBE)).toHaveLength(0);
    });

    it.each<[string, StubReply, string]>([
      ['401 with an unfamiliar reason', unauthorized(UNFAMILIAR), 'credentials_refused'],
      ['200 status "false" with an unfamiliar reason', { body: { status: 'false', reason: 'service is offline' } }, 'refused'],
    ])('never probes on a connect: %s stays %s', async (_case, reply, kind) => {
      harness.stub.on('/device/connect', reply);
      harness.stub.on(PROBE, probeValid);

      const error = await rejection(harness.clientFor(credentialsSequence(accessKeys).source).connect(SERVICE_ID, '0.0.0.0'));

      expect(error.kind).toBe(kind);
      expect(harness.stub.requestsTo(PROBE)).toHaveLength(0);
    });
  });
});
