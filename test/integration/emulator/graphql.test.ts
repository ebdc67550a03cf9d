/**
 * remote.it's GraphQL `login` query at `/graphql/v1`, as the broker's credential probe calls it. Written
 * from docs/remoteit-api.md ("Stop": the credentials probe): signed with access keys exactly as REST (scheme A, target
 * `/graphql/v1`) and no developer key, or a login token in a `token` header; unauthenticated requests get
 * 401 with the bare text `Unauthorized`; GraphQL-level failures come back as `errors`.
 */
import { startEmulator } from '../../../dev/emulator';
import type { Emulator } from '../../../dev/emulator';
import {
  ACCESS_KEY_ID,
  DEVELOPER_KEY,
  graphqlCall,
  PASSWORD,
  rawCall,
  signedCall,
  signRfc9421,
  sleep,
  TCP_SERVICE,
  testAccount,
  USERNAME,
} from './helpers';

const LOGIN_QUERY = '{ login { id email apiKey { key } } }';
const UUID = /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/;
const OTHER_SECRET = Buffer.from('x'.repeat(32)).toString('base64');
const keysOnlyAccount = {
  developerKey: 'KEYS-ONLY-DEVELOPER-KEY',
  accessKeyId: 'KEYSONLYACCESSKEYID',
  secretAccessKey: Buffer.from('k'.repeat(32)).toString('base64'),
  email: 'keys-only@example.com',
};

describe('remote.it emulator GraphQL', () => {
  let emulator: Emulator;

  beforeAll(async () => {
    emulator = await startEmulator({
      accounts: [testAccount, keysOnlyAccount],
      services: [{ serviceId: TCP_SERVICE, name: 'unused', kind: 'tcp', target: '127.0.0.1:9' }],
    });
  });
  afterEach(() => emulator.setFaults({}));
  afterAll(() => emulator.stop());

  const login = async () => {
    const response = await rawCall(`${emulator.url}/user/login`, JSON.stringify({ username: USERNAME, password: PASSWORD }), {
      developerkey: DEVELOPER_KEY,
      'content-type': 'application/json',
    });
    return { token: String(response.json.token), authToken: String(response.json.auth_token) };
  };

  describe('POST /graphql/v1 login', () => {
    it('answers the account id, email and developer key when signed with scheme A and no developer key', async () => {
      // Act
      const response = await graphqlCall(emulator.graphqlUrl, LOGIN_QUERY);

      // Assert
      expect(emulator.graphqlUrl).toBe(emulator.url.replace('/apv/v27', '/graphql/v1'));
      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toBe('application/json');
      expect(response.json).toEqual({
        data: { login: { id: expect.stringMatching(UUID), email: USERNAME, apiKey: { key: DEVELOPER_KEY } } },
      });
    });

    it('answers the same when signed with scheme B', async () => {
      const body = JSON.stringify({ query: LOGIN_QUERY });

      const signedA = await graphqlCall(emulator.graphqlUrl, LOGIN_QUERY);
      const signedB = await rawCall(emulator.graphqlUrl, body, signRfc9421({ method: 'POST', url: emulator.graphqlUrl, body }));

      expect([signedB.status, signedB.json]).toEqual([200, signedA.json]);
    });

    it('answers the same with a live login token and no signature', async () => {
      const { token } = await login();

      const bySignature = await graphqlCall(emulator.graphqlUrl, LOGIN_QUERY);
      const byToken = await graphqlCall(emulator.graphqlUrl, LOGIN_QUERY, { token });

      expect([byToken.status, byToken.json]).toEqual([200, bySignature.json]);
    });

    it('finds the account by the signature key id: another account gets its own id and developer key', async () => {
      const first = await graphqlCall(emulator.graphqlUrl, LOGIN_QUERY);

      const second = await graphqlCall(emulator.graphqlUrl, LOGIN_QUERY, {
        signature: { keyId: keysOnlyAccount.accessKeyId, secret: keysOnlyAccount.secretAccessKey },
      });

      expect(second.json).toEqual({
        data: { login: { id: expect.stringMatching(UUID), email: keysOnlyAccount.email, apiKey: { key: keysOnlyAccount.developerKey } } },
      });
      expect(second.json).not.toEqual(first.json);
    });

    it('keeps an account id stable across calls and emulators', async () => {
      const again = await startEmulator({ accounts: [testAccount] });
      try {
        const ids = await Promise.all(
          [emulator, emulator, again].map(async (server) => {
            const response = await graphqlCall(server.graphqlUrl, LOGIN_QUERY);
            return (response.json as { data: { login: { id: string } } }).data.login.id;
          }),
        );

        expect(new Set(ids).size).toBe(1);
      } finally {
        await again.stop();
      }
    });

    it('answers 200 with errors unsupported query when the query is not login', async () => {
      const response = await graphqlCall(emulator.graphqlUrl, '{ devices { items { id } } }');

      expect([response.status, response.json]).toEqual([200, { errors: [{ message: 'unsupported query' }], data: null }]);
    });
  });

  describe('unauthenticated', () => {
    const expectUnauthorized = (response: Awaited<ReturnType<typeof graphqlCall>>) => {
      expect([response.status, response.headers['content-type'], response.text]).toEqual([401, 'text/plain', 'Unauthorized']);
    };

    it('answers 401 Unauthorized in plain text when the request is unsigned', async () => {
      expectUnauthorized(await graphqlCall(emulator.graphqlUrl, LOGIN_QUERY, {}));
    });

    it('answers 401 Unauthorized when a developer key is the only credential', async () => {
      const body = JSON.stringify({ query: LOGIN_QUERY });

      expectUnauthorized(await rawCall(emulator.graphqlUrl, body, { developerkey: DEVELOPER_KEY, 'content-type': 'application/json' }));
    });

    it.each([
      ['signed with another secret', { secret: OTHER_SECRET }],
      ['signed by a key id of no account', { keyId: `${ACCESS_KEY_ID}X` }],
      ['dated 20 minutes ago', { date: new Date(Date.now() - 20 * 60_000) }],
    ])('answers 401 Unauthorized when the request is %s', async (_case, signature) => {
      expectUnauthorized(await graphqlCall(emulator.graphqlUrl, LOGIN_QUERY, { signature }));
    });

    it('answers 401 Unauthorized when the signature covers another path', async () => {
      const body = JSON.stringify({ query: LOGIN_QUERY });
      const headers = signRfc9421({ method: 'POST', url: `${emulator.url}/device/connect`, body });

      expectUnauthorized(await rawCall(emulator.graphqlUrl, body, headers));
    });

    it('answers 401 Unauthorized to an expired login token and to the login answer\'s auth_token', async () => {
      const { token, authToken } = await login();
      const fresh = await graphqlCall(emulator.graphqlUrl, LOGIN_QUERY, { token });

      emulator.expireTokens();
      const expired = await graphqlCall(emulator.graphqlUrl, LOGIN_QUERY, { token });
      const byAuthToken = await graphqlCall(emulator.graphqlUrl, LOGIN_QUERY, { token: authToken });

      expect(fresh.status).toBe(200);
      expectUnauthorized(expired);
      expectUnauthorized(byAuthToken);
    });
  });

  describe('requests', () => {
    it('answers 400 with errors when the body exceeds 64 KiB', async () => {
      const query = `{ login { id } } #${'x'.repeat(70 * 1024)}`;

      const response = await graphqlCall(emulator.graphqlUrl, query);

      expect([response.status, response.json]).toEqual([400, { errors: [{ message: 'invalid request body' }], data: null }]);
    });

    it('answers 404 to a method other than POST', async () => {
      const response = await rawCall(emulator.graphqlUrl, '', {}, 'GET');

      expect(response.status).toBe(404);
    });
  });

  describe('faults', () => {
    it('answers 429 with Retry-After to GraphQL only when a throttle names /graphql/v1', async () => {
      emulator.setFaults({ throttle: { retryAfterSeconds: 3 }, onlyPaths: ['/graphql/v1'] });

      const probe = await graphqlCall(emulator.graphqlUrl, LOGIN_QUERY);
      const connect = await signedCall(emulator.url, '/device/connect', { deviceaddress: 'nope', wait: 'true', hostip: '0.0.0.0' });

      expect([probe.status, probe.headers['retry-after'], probe.json]).toEqual([429, '3', { errors: [{ message: 'too many requests' }], data: null }]);
      expect([connect.status, connect.json.reason]).toEqual([200, 'bad device address']);
    });

    it('leaves GraphQL alone when onlyPaths names REST paths', async () => {
      emulator.setFaults({ status: 503, onlyPaths: ['/device/connect'] });

      const probe = await graphqlCall(emulator.graphqlUrl, LOGIN_QUERY);

      expect(probe.status).toBe(200);
    });

    it('answers the chosen 5xx with GraphQL errors when a fault has no onlyPaths', async () => {
      emulator.setFaults({ status: 502 });

      const probe = await graphqlCall(emulator.graphqlUrl, LOGIN_QUERY);

      expect([probe.status, probe.json]).toEqual([502, { errors: [{ message: 'internal server error' }], data: null }]);
    });

    it.each([
      ['without onlyPaths', {}],
      ['naming /graphql/v1', { onlyPaths: ['/graphql/v1'] }],
    ])('never answers a GraphQL request while a hang %s is in force, and drops it at stop', async (_case, scope) => {
      // Arrange
      const hanging = await startEmulator({ accounts: [testAccount], faults: { hang: true, ...scope } });
      const pending = graphqlCall(hanging.graphqlUrl, LOGIN_QUERY).then(
        (response) => `answered ${response.status}`,
        () => 'dropped',
      );

      // Act
      const early = await Promise.race([pending, sleep(300).then(() => 'waiting')]);
      const calls = hanging.calls();
      await hanging.stop();

      // Assert
      expect(early).toBe('waiting');
      expect(await pending).toBe('dropped');
      expect(calls.records).toEqual([expect.objectContaining({ path: '/graphql/v1', outcome: 'fault_hang' })]);
    });

    it('drops the named fields from data.login when missingFields is set', async () => {
      emulator.setFaults({ missingFields: ['apiKey'], onlyPaths: ['/graphql/v1'] });

      const probe = await graphqlCall(emulator.graphqlUrl, LOGIN_QUERY);

      expect(probe.json).toEqual({ data: { login: { id: expect.stringMatching(UUID), email: USERNAME } } });
    });

    it('answers 200 with a body that is not JSON when malformed is set', async () => {
      emulator.setFaults({ malformed: true, onlyPaths: ['/graphql/v1'] });

      const probe = await graphqlCall(emulator.graphqlUrl, LOGIN_QUERY);

      expect(probe.status).toBe(200);
      expect(() => JSON.parse(probe.text)).toThrow();
    });
  });

  describe('call log', () => {
    it('counts GraphQL calls under /graphql/v1 with their outcome', async () => {
      emulator.resetCalls();

      await graphqlCall(emulator.graphqlUrl, LOGIN_QUERY);
      await graphqlCall(emulator.graphqlUrl, LOGIN_QUERY, {});
      await signedCall(emulator.url, '/device/connect', { deviceaddress: 'nope', hostip: '0.0.0.0' });

      const calls = emulator.calls();
      expect(calls.byPath).toEqual({ '/graphql/v1': 2, '/device/connect': 1 });
      expect(calls.records.slice(0, 2)).toEqual([
        expect.objectContaining({ method: 'POST', path: '/graphql/v1', httpStatus: 200, outcome: 'ok' }),
        expect.objectContaining({ method: 'POST', path: '/graphql/v1', httpStatus: 401, outcome: 'unauthorized' }),
      ]);
    });
  });
});
