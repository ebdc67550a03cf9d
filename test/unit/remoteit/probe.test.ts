import { RemoteitFailure } from '../../../lambdas/broker/ports';
import type { RemoteitCredentials } from '../../../lambdas/remoteit/credentials';
import { createCredentialsProbe, probeUrl, type CredentialsProbe } from '../../../lambdas/remoteit/probe';
import {
  closedPort,
  startRemoteitStub,
  verifyCavageSignature,
  verifyRfc9421Signature,
  type RemoteitStub,
  type StubReply,
} from '../../fixtures/remoteit-stub-server';
import { accessKeys, NOW_MS, passwordCredentials, PROBE, probeAnswer, probeUnauthorized, probeValid } from './client-harness';

const TOKEN = 'TOKEN-probe-5e4d3c2b1a';

// The credentials probe on its own (lambdas/remoteit/probe.ts): the request it sends, and every verdict and
// failure an answer can come to. How the session uses it is in client.stop-refusals.test.ts.
describe('credentials probe', () => {
  let stub: RemoteitStub;
  let clock: number;

  beforeEach(async () => {
    stub = await startRemoteitStub();
    clock = NOW_MS;
  });

  afterEach(async () => {
    await stub.close();
  });

  function probeOn(apiUrl = stub.apiUrl, scheme: 'cavage' | 'rfc9421' = 'cavage', timeoutMs = 2_000): CredentialsProbe {
    return createCredentialsProbe({ apiUrl, signatureScheme: scheme, timeoutMs, now: () => clock });
  }

  async function failure(promise: Promise<unknown>): Promise<RemoteitFailure> {
    const outcome = await promise.then(
      () => 'resolved',
      (error: unknown) => error,
    );
    expect(outcome).toBeInstanceOf(RemoteitFailure);
    return outcome as RemoteitFailure;
  }

  it.each([
    ['https://api.remote.it/apv/v27', 'https://api.remote.it/graphql/v1'],
    ['https://api.remote.it/apv/v27/', 'https://api.remote.it/graphql/v1'],
    ['http://127.0.0.1:4100/apv/v27', 'http://127.0.0.1:4100/graphql/v1'],
  ])('calls /graphql/v1 at the origin of %s', (apiUrl, expected) => {
    expect(probeUrl(apiUrl)).toBe(expected);
  });

  it.each([['cavage' as const], ['rfc9421' as const]])('signs the login query with access keys (%s) and sends no developer key', async (scheme) => {
    const verify = scheme === 'cavage' ? verifyCavageSignature : verifyRfc9421Signature;
    stub.on(PROBE, (request) => (verify(request, accessKeys.accessKeyId, accessKeys.secretAccessKey) ? probeValid : probeUnauthorized));

    await expect(probeOn(stub.apiUrl, scheme)(accessKeys)).resolves.toBe('valid');

    const [request] = stub.requestsTo(PROBE);
    expect(request).toMatchObject({ method: 'POST', target: '/graphql/v1', body: '{"query":"{ login { id apiKey { key } } }"}' });
    expect(request?.headers).toMatchObject({ 'content-type': 'application/json', date: new Date(NOW_MS).toUTCString() });
    expect(request?.headers.developerkey).toBeUndefined();
  });

  it('sends the login token of a password session unsigned', async () => {
    stub.on(PROBE, (request) => (request.headers.token === TOKEN ? probeValid : probeUnauthorized));

    await expect(probeOn()(passwordCredentials, { token: TOKEN })).resolves.toBe('valid');

    const [request] = stub.requestsTo(PROBE);
    expect(request?.headers.authorization).toBeUndefined();
    expect(request?.headers.signature).toBeUndefined();
    expect(request?.headers.developerkey).toBeUndefined();
    expect(request?.body).not.toContain(passwordCredentials.password);
  });

  it.each<[string, StubReply, 'valid' | 'invalid']>([
    ["200 naming the configured developer key as the account's", probeValid, 'valid'],
    ['200 naming another developer key', probeAnswer('DEVKEY-another-account'), 'invalid'],
    ['401 Unauthorized', probeUnauthorized, 'invalid'],
    ['401 with JSON', { status: 401, body: { errors: [{ message: 'not authorized' }] } }, 'invalid'],
    ['403', { status: 403, body: { message: 'Forbidden' } }, 'invalid'],
    ['200 with the text Unauthorized', { body: 'Unauthorized\n' }, 'invalid'],
  ])('reads %s as %s', async (_case, reply, verdict) => {
    stub.on(PROBE, reply);

    await expect(probeOn()(accessKeys)).resolves.toBe(verdict);
  });

  it.each<[string, StubReply, Partial<RemoteitFailure>]>([
    ['429', { status: 429, headers: { 'retry-after': '7' }, body: '' }, { kind: 'throttled', retryAfterSeconds: 7 }],
    ['500', { status: 500, body: '' }, { kind: 'unavailable', message: 'remote.it answered HTTP 500' }],
    ['a 200 that is not JSON', { body: 'OK' }, { kind: 'unusable' }],
    ['GraphQL errors beside a login', { body: { data: { login: { id: 'U', apiKey: { key: accessKeys.developerKey } } }, errors: [{ message: 'partial' }] } }, { kind: 'unusable' }],
    ['a null login', { body: { data: { login: null } } }, { kind: 'unusable' }],
    ['no data', { body: {} }, { kind: 'unusable' }],
    ['a login without an id', { body: { data: { login: { id: null, apiKey: { key: accessKeys.developerKey } } } } }, { kind: 'unusable' }],
    ['a login without apiKey', { body: { data: { login: { id: 'U' } } } }, { kind: 'unusable' }],
    ['an empty apiKey.key', { body: { data: { login: { id: 'U', apiKey: { key: '' } } } } }, { kind: 'unusable' }],
    ['400', { status: 400, body: { errors: [{ message: 'bad query' }] } }, { kind: 'unusable' }],
  ])('fails without a verdict on %s', async (_case, reply, expected) => {
    stub.on(PROBE, reply);

    expect(await failure(probeOn()(accessKeys))).toMatchObject(expected);
  });

  it('fails timed_out when nothing answers within the deadline', async () => {
    stub.on(PROBE, { hang: true });

    expect(await failure(probeOn(stub.apiUrl, 'cavage', 100)(accessKeys))).toMatchObject({ kind: 'timed_out' });
  });

  it('fails unreachable when nothing listens', async () => {
    const port = await closedPort();

    expect(await failure(probeOn(`http://127.0.0.1:${port}/apv/v27`)(accessKeys))).toMatchObject({ kind: 'unreachable' });
  });

  it('caches a valid verdict for 60 s, by the credentials it was made with', async () => {
    stub.on(PROBE, probeValid);
    const probe = probeOn();

    await probe(accessKeys);
    clock += 60_000 - 1;
    await probe(accessKeys);
    expect(stub.requestsTo(PROBE)).toHaveLength(1);
    await probe({ ...accessKeys, accessKeyId: 'AKID-OTHER' });
    await probe({ ...accessKeys, developerKey: 'DEVKEY-5f1c2e9a7b-next' });
    await probe(passwordCredentials, { token: TOKEN });
    await probe(passwordCredentials, { token: `${TOKEN}-next` });
    expect(stub.requestsTo(PROBE)).toHaveLength(5);
    clock += 1;
    await probe(accessKeys);

    expect(stub.requestsTo(PROBE)).toHaveLength(6);
  });

  it('caches neither an invalid verdict nor a failure', async () => {
    stub.on(PROBE, probeUnauthorized, { status: 503, body: '' }, probeValid);
    const probe = probeOn();

    await expect(probe(accessKeys)).resolves.toBe('invalid');
    await failure(probe(accessKeys));
    await expect(probe(accessKeys)).resolves.toBe('valid');

    expect(stub.requestsTo(PROBE)).toHaveLength(3);
  });

  it('shares one call between concurrent probes with the same credentials', async () => {
    stub.on(PROBE, { ...probeValid, delayMs: 100 });
    const probe = probeOn();

    const verdicts = await Promise.all([probe(accessKeys), probe(accessKeys), probe(passwordCredentials, { token: TOKEN })]);

    expect(verdicts).toEqual(['valid', 'valid', 'valid']);
    expect(stub.requestsTo(PROBE)).toHaveLength(2);
  });

  it('keeps credentials, the token, the signature and the account key out of an inconclusive failure', async () => {
    const accountKey = 'DEVKEY-account-echoed-7c6b';
    stub.on(PROBE, (request) => ({
      body: { data: { login: { apiKey: { key: accountKey } } }, errors: [{ message: `${accountKey} ${String(request.headers.token)} ${JSON.stringify(request.headers)}` }] },
    }));
    const secrets: RemoteitCredentials[] = [accessKeys, passwordCredentials];

    const errors = [await failure(probeOn()(accessKeys)), await failure(probeOn()(passwordCredentials, { token: TOKEN }))];

    const text = errors.map((error) => `${error.message} ${JSON.stringify(error)}`).join('\n');
    expect(text).toContain('[redacted]');
    const signature = /signature="([^"]+)"/.exec(String(stub.requests[0]?.headers.authorization))?.[1];
    for (const secret of [accountKey, TOKEN, signature ?? 'no signature sent', ...secrets.map((credentials) => credentials.developerKey)]) {
      expect(text).not.toContain(secret);
    }
  });
});
