import { startEmulator, verifySignature } from '../../../dev/emulator';
import type { Emulator } from '../../../dev/emulator';
import {
  ACCESS_KEY_ID,
  DEVELOPER_KEY,
  PASSWORD,
  rawCall,
  signCavage,
  signRfc9421,
  sleep,
  TCP_SERVICE,
  testAccount,
  USERNAME,
} from './helpers';

// The test vectors of docs/remoteit-api.md (computed there from the scheme; remote.it publishes none).
const VECTOR_SECRET = 'dGVzdHNlY3JldGtleTEyMzQ1Njc4OTA=';
const VECTOR_DATE = 'Tue, 07 Jun 2022 20:51:35 GMT';
const vectorOptions = (now = Date.parse(VECTOR_DATE)) => ({
  lookupSecret: (keyId: string) => (keyId === 'TESTKEYID' ? Buffer.from(VECTOR_SECRET, 'base64') : undefined),
  now,
  maxSkewSeconds: 900,
});
const vectorA = (signature: string) => ({
  method: 'POST',
  origin: 'https://api.remote.it',
  target: '/graphql/v1',
  headers: {
    host: 'api.remote.it',
    date: VECTOR_DATE,
    'content-type': 'application/json',
    'content-length': '31',
    authorization: `Signature keyId="TESTKEYID",algorithm="hmac-sha256",headers="(request-target) host date content-type content-length",signature="${signature}"`,
  },
});
const vectorB = (signature: string) => ({
  method: 'POST',
  origin: 'https://api.remote.it',
  target: '/graphql/v1',
  headers: {
    host: 'api.remote.it',
    date: VECTOR_DATE,
    'signature-input':
      'remoteit=("@method" "@authority" "@target-uri" "date");keyid="TESTKEYID";alg="hmac-sha256";created=1654634495;expires=1654634795',
    signature: `remoteit=:${signature}:`,
  },
});

describe('remote.it emulator auth', () => {
  describe('verifySignature', () => {
    it('accepts the published scheme A vector when signed as documented', async () => {
      // Act
      const check = await verifySignature(vectorA('mTxtxpV+bEqcTFoJLcdrp18a2GUnL5tyN/TOWEjWct8='), vectorOptions());

      // Assert
      expect(check).toEqual({ ok: true, scheme: 'cavage', keyId: 'TESTKEYID' });
    });

    it('accepts the published scheme B vector when signed as documented', async () => {
      const check = await verifySignature(vectorB('ucg6N22rsazYzZZzUMMs+jEz6Mre6Ekks1UQnEt1VA8='), vectorOptions());

      expect(check).toEqual({ ok: true, scheme: 'rfc9421', keyId: 'TESTKEYID' });
    });

    it('rejects the scheme A vector when one signature byte differs', async () => {
      const check = await verifySignature(vectorA('nTxtxpV+bEqcTFoJLcdrp18a2GUnL5tyN/TOWEjWct8='), vectorOptions());

      expect(check).toEqual({ ok: false, reason: 'mismatch' });
    });

    it('rejects the scheme B vector when the target differs from the signed one', async () => {
      const request = { ...vectorB('ucg6N22rsazYzZZzUMMs+jEz6Mre6Ekks1UQnEt1VA8='), target: '/graphql/v2' };

      const check = await verifySignature(request, vectorOptions());

      expect(check).toEqual({ ok: false, reason: 'mismatch' });
    });

    it('rejects a valid signature as stale when the clock is 16 minutes past its date', async () => {
      const now = Date.parse(VECTOR_DATE) + 16 * 60_000;

      const checkA = await verifySignature(vectorA('mTxtxpV+bEqcTFoJLcdrp18a2GUnL5tyN/TOWEjWct8='), vectorOptions(now));
      const checkB = await verifySignature(vectorB('ucg6N22rsazYzZZzUMMs+jEz6Mre6Ekks1UQnEt1VA8='), vectorOptions(now));

      expect([checkA, checkB]).toEqual([
        { ok: false, reason: 'stale' },
        { ok: false, reason: 'stale' },
      ]);
    });

    it('rejects scheme A as malformed when it covers fewer headers than remote.it requires', async () => {
      const request = vectorA('mTxtxpV+bEqcTFoJLcdrp18a2GUnL5tyN/TOWEjWct8=');
      request.headers.authorization = request.headers.authorization.replace(' content-length"', '"');

      const check = await verifySignature(request, vectorOptions());

      expect(check).toEqual({ ok: false, reason: 'malformed' });
    });

    it('reports an unknown key when the key id is not registered', async () => {
      const request = vectorA('mTxtxpV+bEqcTFoJLcdrp18a2GUnL5tyN/TOWEjWct8=');
      request.headers.authorization = request.headers.authorization.replace('TESTKEYID', 'OTHERKEY');

      const check = await verifySignature(request, vectorOptions());

      expect(check).toEqual({ ok: false, reason: 'unknown_key' });
    });
  });

  describe('HTTP', () => {
    let emulator: Emulator;
    const connectBody = JSON.stringify({ deviceaddress: TCP_SERVICE, wait: 'true', hostip: '0.0.0.0' });

    beforeAll(async () => {
      emulator = await startEmulator({
        accounts: [testAccount],
        services: [{ serviceId: TCP_SERVICE, name: 'unused', kind: 'tcp', target: '127.0.0.1:9' }],
        tokenLifetimeSeconds: 1,
      });
    });
    afterAll(() => emulator.stop());

    const connectUrl = () => `${emulator.url}/device/connect`;

    describe('POST /user/login', () => {
      it('returns a token and an auth_token that differs from it when the password is right', async () => {
        const response = await rawCall(`${emulator.url}/user/login`, JSON.stringify({ username: USERNAME, password: PASSWORD }), {
          developerkey: DEVELOPER_KEY,
          'content-type': 'application/json',
        });

        expect(response.status).toBe(200);
        expect(response.json).toEqual({
          status: 'true',
          token: expect.stringMatching(/^[0-9a-f]{48}$/),
          auth_token: expect.stringMatching(/^[0-9a-f]{48}$/),
          email: USERNAME,
        });
        expect(response.json.auth_token).not.toBe(response.json.token);
      });

      it('answers 401 with reason [0102] when the password is wrong', async () => {
        const response = await rawCall(`${emulator.url}/user/login`, JSON.stringify({ username: USERNAME, password: 'nope' }), {
          developerkey: DEVELOPER_KEY,
          'content-type': 'application/json',
        });

        expect(response.status).toBe(401);
        expect(response.json).toEqual({ status: 'false', reason: '[0102] The username or password is invalid' });
      });

      it('answers 401 when the developer key is unknown', async () => {
        const response = await rawCall(`${emulator.url}/user/login`, JSON.stringify({ username: USERNAME, password: PASSWORD }), {
          developerkey: 'someone-else',
          'content-type': 'application/json',
        });

        expect(response.status).toBe(401);
        expect(response.json.status).toBe('false');
      });
    });

    describe('token and auth_token', () => {
      it('admits a connect with the login token and refuses one with its auth_token', async () => {
        // Arrange
        const login = await rawCall(`${emulator.url}/user/login`, JSON.stringify({ username: USERNAME, password: PASSWORD }), {
          developerkey: DEVELOPER_KEY,
          'content-type': 'application/json',
        });
        const withToken = (token: unknown) =>
          rawCall(connectUrl(), connectBody, { developerkey: DEVELOPER_KEY, token: String(token), 'content-type': 'application/json' });

        // Act
        const byToken = await withToken(login.json.token);
        const byAuthToken = await withToken(login.json.auth_token);

        // Assert
        expect([byToken.status, byToken.json.status]).toEqual([200, 'true']);
        expect([byAuthToken.status, byAuthToken.json]).toEqual([200, { status: 'false', reason: 'missing api token' }]);
      });
    });

    describe('token', () => {
      it('admits a connect with the login token and refuses it (200, status "false") once the token has expired', async () => {
        // Arrange
        const login = await rawCall(`${emulator.url}/user/login`, JSON.stringify({ username: USERNAME, password: PASSWORD }), {
          developerkey: DEVELOPER_KEY,
          'content-type': 'application/json',
        });
        const headers = { developerkey: DEVELOPER_KEY, token: String(login.json.token), 'content-type': 'application/json' };

        // Act
        const fresh = await rawCall(connectUrl(), connectBody, headers);
        await sleep(1_100);
        const expired = await rawCall(connectUrl(), connectBody, headers);

        // Assert
        expect(fresh.json.status).toBe('true');
        expect(expired.status).toBe(200);
        expect(expired.json).toEqual({ status: 'false', reason: 'missing api token' });
      });

      it('answers 200 missing api token on a connect when neither token nor signature is sent', async () => {
        const response = await rawCall(connectUrl(), connectBody, { developerkey: DEVELOPER_KEY, 'content-type': 'application/json' });

        expect(response.status).toBe(200);
        expect(response.json).toEqual({ status: 'false', reason: 'missing api token' });
      });

      it('answers 200 on a connect with no developer key and 200 with an unknown one, status "false" both', async () => {
        const headers = signCavage({ method: 'POST', url: connectUrl(), body: connectBody });

        const missing = await rawCall(connectUrl(), connectBody, headers);
        const unknown = await rawCall(connectUrl(), connectBody, { developerkey: 'someone-else', ...headers });

        expect([missing.status, missing.json]).toEqual([200, { status: 'false', reason: 'missing api token' }]);
        expect([unknown.status, unknown.json]).toEqual([200, { status: 'false', reason: 'invalid developer key' }]);
      });

      it('answers 401 on a stop when neither token nor signature is sent', async () => {
        const response = await rawCall(
          `${emulator.url}/device/connect/stop`,
          JSON.stringify({ deviceaddress: TCP_SERVICE, connectionid: '00000000-0000-0000-0000-000000000000' }),
          { developerkey: DEVELOPER_KEY, 'content-type': 'application/json' },
        );

        expect(response.status).toBe(401);
        expect(response.json).toEqual({ status: 'false', reason: 'missing api token' });
      });
    });

    // remote.it: connect failures, "not authorized requests" included, "still return as a status 200 but with
    // the response text as status false" (docs/remoteit-api.md, [connect]).
    describe('access-key signatures', () => {
      it('accepts a connect signed with scheme A', async () => {
        const response = await rawCall(connectUrl(), connectBody, {
          developerkey: DEVELOPER_KEY,
          ...signCavage({ method: 'POST', url: connectUrl(), body: connectBody }),
        });

        expect(response.status).toBe(200);
        expect(response.json.status).toBe('true');
      });

      it('accepts a connect signed with scheme B', async () => {
        const response = await rawCall(connectUrl(), connectBody, {
          developerkey: DEVELOPER_KEY,
          ...signRfc9421({ method: 'POST', url: connectUrl(), body: connectBody }),
        });

        expect(response.status).toBe(200);
        expect(response.json.status).toBe('true');
      });

      it.each([
        ['A', signCavage],
        ['B', signRfc9421],
      ])('answers 200 with status "false" invalid signature when scheme %s is signed with another secret', async (_scheme, sign) => {
        const headers = sign({ method: 'POST', url: connectUrl(), body: connectBody, secret: Buffer.from('x'.repeat(32)).toString('base64') });

        const response = await rawCall(connectUrl(), connectBody, { developerkey: DEVELOPER_KEY, ...headers });

        expect(response.status).toBe(200);
        expect(response.json).toEqual({ status: 'false', reason: 'invalid signature' });
      });

      it('answers 200 invalid signature when the body differs in length from the signed one', async () => {
        const headers = signCavage({ method: 'POST', url: connectUrl(), body: connectBody });
        const tampered = connectBody.replace('0.0.0.0', '255.255.255.255');

        const response = await rawCall(connectUrl(), tampered, {
          developerkey: DEVELOPER_KEY,
          ...headers,
          'content-length': String(Buffer.byteLength(tampered)),
        });

        expect(response.status).toBe(200);
        expect(response.json.reason).toBe('invalid signature');
      });

      it.each([
        ['A', signCavage],
        ['B', signRfc9421],
      ])('answers 200 invalid signature when scheme %s is dated 20 minutes ago', async (_scheme, sign) => {
        const headers = sign({ method: 'POST', url: connectUrl(), body: connectBody, date: new Date(Date.now() - 20 * 60_000) });

        const response = await rawCall(connectUrl(), connectBody, { developerkey: DEVELOPER_KEY, ...headers });

        expect(response.status).toBe(200);
        expect(response.json.reason).toBe('invalid signature');
      });

      it('answers 401 invalid signature on a stop signed with another secret', async () => {
        const url = `${emulator.url}/device/connect/stop`;
        const body = JSON.stringify({ deviceaddress: TCP_SERVICE, connectionid: '00000000-0000-0000-0000-000000000000' });
        const headers = signCavage({ method: 'POST', url, body, secret: Buffer.from('x'.repeat(32)).toString('base64') });

        const response = await rawCall(url, body, { developerkey: DEVELOPER_KEY, ...headers });

        expect(response.status).toBe(401);
        expect(response.json).toEqual({ status: 'false', reason: 'invalid signature' });
      });

      it('answers 200 invalid signature when the key id belongs to no account', async () => {
        const headers = signCavage({ method: 'POST', url: connectUrl(), body: connectBody, keyId: `${ACCESS_KEY_ID}X` });

        const response = await rawCall(connectUrl(), connectBody, { developerkey: DEVELOPER_KEY, ...headers });

        expect(response.status).toBe(200);
        expect(response.json.reason).toBe('invalid signature');
      });
    });
  });
});
