import type { RemoteitApi } from '../../../lambdas/broker/ports';
import { createRemoteitClient, type RemoteitLogger } from '../../../lambdas/remoteit/client';
import type { AccessKeyCredentials, CredentialsSource, PasswordCredentials, RemoteitCredentials } from '../../../lambdas/remoteit/credentials';
import { closedPort, startRemoteitStub, type RemoteitStub, type StubStep } from '../../fixtures/remoteit-stub-server';

const SERVICE_ID = '80:00:00:00:01:02:03:04';
const TOKEN = 'TOKEN-8c1f0e6a4b2d9e7f5a3c1b0d';
/** The developer key of another account, as the credentials probe's answer names it. */
const ACCOUNT_KEY = 'DEVKEY-another-account-6f2a9c';
const accessKeys: AccessKeyCredentials = {
  kind: 'access_key',
  developerKey: 'DEVKEY-hygiene-3e8b1d',
  accessKeyId: 'AKID-HYGIENE',
  secretAccessKey: Buffer.from('hygiene-secret-access-key-bytes').toString('base64'),
};
const passwordCredentials: PasswordCredentials = {
  kind: 'password',
  developerKey: 'DEVKEY-hygiene-3e8b1d',
  username: 'ops@example.com',
  password: 'pw-hygiene-Secret-77',
};

function constant(credentials: RemoteitCredentials): CredentialsSource {
  return { get: async () => credentials, refresh: async () => credentials };
}

/** Echoes everything it received (headers and body) back in `reason`: the worst a remote.it answer could do. */
const echoReason =
  (status: number): StubStep =>
  (request) => ({ status, body: { status: 'false', reason: `rejected ${JSON.stringify(request.headers)} ${request.body}` } });

describe('client secret hygiene', () => {
  let stub: RemoteitStub;
  const lines: string[] = [];
  const logger: RemoteitLogger = {
    debug: (message, ...attributes) => lines.push(message + JSON.stringify(attributes)),
    warn: (message, ...attributes) => lines.push(message + JSON.stringify(attributes)),
  };

  beforeEach(async () => {
    stub = await startRemoteitStub();
    lines.length = 0;
  });

  afterEach(async () => {
    await stub.close();
  });

  function client(credentials: RemoteitCredentials, apiUrl = stub.apiUrl, scheme: 'cavage' | 'rfc9421' = 'cavage'): RemoteitApi {
    return createRemoteitClient({
      apiUrl,
      credentials: constant(credentials),
      signatureScheme: scheme,
      timeoutMs: 100,
      sleep: async () => undefined,
      retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 10 },
      logger,
    });
  }

  function describeError(error: unknown): string {
    const record = error as { message?: unknown; stack?: unknown; cause?: unknown };
    return [String(error), String(record.message), String(record.stack), JSON.stringify(error), String(record.cause)].join('\n');
  }

  it('keeps every secret, token and signature out of log lines and errors when every failure path is taken', async () => {
    // Arrange: each scenario scripts the stub, then makes one call that must fail.
    const scenarios: Array<{ name: string; credentials: RemoteitCredentials; run: (api: RemoteitApi) => Promise<unknown>; script: () => void; apiUrl?: string; scheme?: 'rfc9421' }> = [
      { name: 'connect 401 echoing headers', credentials: accessKeys, script: () => stub.on('/device/connect', echoReason(401)), run: (api) => api.connect(SERVICE_ID, '0.0.0.0') },
      { name: 'connect 401 echoing headers (rfc9421)', credentials: accessKeys, scheme: 'rfc9421', script: () => stub.on('/device/connect', echoReason(401)), run: (api) => api.connect(SERVICE_ID, '0.0.0.0') },
      { name: 'connect 200 refused echoing headers', credentials: accessKeys, script: () => stub.on('/device/connect', echoReason(200)), run: (api) => api.connect(SERVICE_ID, '0.0.0.0') },
      { name: 'stop 500', credentials: accessKeys, script: () => stub.on('/device/connect/stop', { status: 500, body: 'oops' }), run: (api) => api.stop(SERVICE_ID, 'C') },
      { name: 'stop 429', credentials: accessKeys, script: () => stub.on('/device/connect/stop', { status: 429, headers: { 'retry-after': '0' } }), run: (api) => api.stop(SERVICE_ID, 'C') },
      { name: 'stop timeout', credentials: accessKeys, script: () => stub.on('/device/connect/stop', { hang: true }), run: (api) => api.stop(SERVICE_ID, 'C') },
      { name: 'connect malformed', credentials: accessKeys, script: () => stub.on('/device/connect', { body: 'not json' }), run: (api) => api.connect(SERVICE_ID, '0.0.0.0') },
      { name: 'connect dropped', credentials: accessKeys, script: () => stub.on('/device/connect', { destroy: true }), run: (api) => api.connect(SERVICE_ID, '0.0.0.0') },
      { name: 'login rejected echoing the password', credentials: passwordCredentials, script: () => stub.on('/user/login', echoReason(401)), run: (api) => api.connect(SERVICE_ID, '0.0.0.0') },
      { name: 'login MFA', credentials: passwordCredentials, script: () => stub.on('/user/login', { body: { status: 'true', code: 'SMS_MFA' } }), run: (api) => api.stop(SERVICE_ID, 'C') },
      {
        name: 'token rejected echoing the token',
        credentials: passwordCredentials,
        script: () => {
          stub.on('/user/login', { body: { status: 'true', token: TOKEN, auth_expiration: 4_000_000_000 } });
          stub.on('/device/connect/stop', echoReason(401));
        },
        run: (api) => api.stop(SERVICE_ID, 'C'),
      },
      {
        name: 'stop refused, the probe echoing the token in GraphQL errors',
        credentials: passwordCredentials,
        script: () => {
          stub.on('/user/login', { body: { status: 'true', token: TOKEN, auth_expiration: 4_000_000_000 } });
          stub.on('/device/connect/stop', echoReason(401));
          stub.on('/graphql/v1', (request) => ({ body: { errors: [{ message: `${String(request.headers.token)} ${JSON.stringify(request.headers)}` }] } }));
        },
        run: (api) => api.stop(SERVICE_ID, 'C'),
      },
      {
        name: 'stop refused, the probe echoing the signature in GraphQL errors',
        credentials: accessKeys,
        script: () => {
          stub.on('/device/connect/stop', echoReason(200));
          stub.on('/graphql/v1', (request) => ({ body: { errors: [{ message: `${String(request.headers.authorization)}` }] } }));
        },
        run: (api) => api.stop(SERVICE_ID, 'C'),
      },
      {
        name: "stop refused, the probe naming another account's developer key",
        credentials: accessKeys,
        scheme: 'rfc9421',
        script: () => {
          stub.on('/device/connect/stop', echoReason(401));
          stub.on('/graphql/v1', { body: { data: { login: { id: 'U', apiKey: { key: ACCOUNT_KEY } } } } });
        },
        run: (api) => api.stop(SERVICE_ID, 'C'),
      },
      {
        name: 'stop refused echoing headers, the probe finding the credentials valid',
        credentials: accessKeys,
        script: () => {
          stub.on('/device/connect/stop', echoReason(401));
          stub.on('/graphql/v1', { body: { data: { login: { id: 'U', apiKey: { key: accessKeys.developerKey } } } } });
        },
        run: (api) => api.stop(SERVICE_ID, 'C'),
      },
    ];
    const unreachable = `http://127.0.0.1:${await closedPort()}/apv/v27`;
    scenarios.push({ name: 'unreachable', credentials: accessKeys, script: () => undefined, apiUrl: unreachable, run: (api) => api.stop(SERVICE_ID, 'C') });

    // Act
    const errors: string[] = [];
    let failures = 0;
    for (const scenario of scenarios) {
      scenario.script();
      const outcome = await scenario.run(client(scenario.credentials, scenario.apiUrl, scenario.scheme)).then(
        () => `${scenario.name}: unexpectedly succeeded`,
        (error: unknown) => {
          failures++;
          return describeError(error);
        },
      );
      errors.push(outcome);
    }

    // Assert: the signatures actually sent count as secrets too.
    const signatures = stub.requests.flatMap((request) =>
      [request.headers.authorization, request.headers.signature]
        .filter((value): value is string => typeof value === 'string')
        .flatMap((value) => [...value.matchAll(/signature="([^"]+)"|=:([^:]+):/g)].map((match) => match[1] ?? match[2] ?? '')),
    );
    expect(failures).toBe(scenarios.length);
    expect(signatures.length).toBeGreaterThan(0);
    expect(lines.length).toBeGreaterThan(0);
    expect(errors.join('\n')).toContain('[redacted]');
    const everything = [...lines, ...errors].join('\n');
    expect(stub.requestsTo('/graphql/v1').length).toBeGreaterThanOrEqual(4);
    for (const secret of [accessKeys.secretAccessKey, accessKeys.developerKey, passwordCredentials.password, TOKEN, ACCOUNT_KEY, ...signatures]) {
      expect(everything).not.toContain(secret);
    }
  });
});
