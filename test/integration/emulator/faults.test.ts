import { REASONS, startEchoServer, startEmulator } from '../../../dev/emulator';
import type { DemoService, Emulator, EmulatorOptions } from '../../../dev/emulator';
import {
  ACCESS_KEY_ID,
  adminAuth,
  DEVELOPER_KEY,
  eventually,
  openProxy,
  PASSWORD,
  rawCall,
  signCavage,
  signedCall,
  sleep,
  TCP_SERVICE,
  testAccount,
  USERNAME,
} from './helpers';

const connectPayload = { deviceaddress: TCP_SERVICE, wait: 'true', hostip: '0.0.0.0', concurrent: true };

describe('remote.it emulator faults', () => {
  let echo: DemoService;
  const running: Emulator[] = [];

  beforeAll(async () => {
    echo = await startEchoServer();
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((emulator) => emulator.stop()));
  });
  afterAll(() => echo.close());

  async function start(options: Partial<EmulatorOptions> = {}): Promise<Emulator> {
    const emulator = await startEmulator({
      accounts: [testAccount],
      services: [{ serviceId: TCP_SERVICE, name: 'echo', kind: 'tcp', target: echo.target }],
      ...options,
    });
    running.push(emulator);
    return emulator;
  }

  const connect = (emulator: Emulator) => signedCall(emulator.url, '/device/connect', connectPayload);

  describe('latencyMs', () => {
    it('delays the answer by at least latencyMs when set at start', async () => {
      const emulator = await start({ faults: { latencyMs: 300 } });
      const startedAt = Date.now();

      const response = await connect(emulator);

      expect(response.json.status).toBe('true');
      expect(Date.now() - startedAt).toBeGreaterThanOrEqual(290);
    });

    it('leaves other paths undelayed when onlyPaths names one path', async () => {
      const emulator = await start({ faults: { latencyMs: 2_000, onlyPaths: ['/device/connect/stop'] } });
      const startedAt = Date.now();

      await connect(emulator);

      expect(Date.now() - startedAt).toBeLessThan(1_000);
    });
  });

  describe('errorRate', () => {
    it('answers HTTP 500 to every request when errorRate is 1', async () => {
      const emulator = await start();
      emulator.setFaults({ errorRate: 1 });

      const response = await connect(emulator);

      expect(response.status).toBe(500);
      expect(emulator.connections()).toEqual([]);
      expect(emulator.calls().byOutcome).toEqual({ fault_error: 1 });
    });

    it('fails exactly the draws below errorRate when the random is injected', async () => {
      const draws = [0.2, 0.8, 0.49, 0.5];
      const emulator = await start({ faults: { errorRate: 0.5 }, random: () => draws.shift() ?? 1 });

      const statuses = [];
      for (let call = 0; call < 4; call += 1) statuses.push((await connect(emulator)).status);

      expect(statuses).toEqual([500, 200, 500, 200]);
    });

    it('repeats the same failure pattern when two emulators share a seed', async () => {
      const first = await start({ faults: { errorRate: 0.5 }, seed: 42 });
      const second = await start({ faults: { errorRate: 0.5 }, seed: 42 });

      const patterns: number[][] = [[], []];
      for (let call = 0; call < 12; call += 1) {
        patterns[0]?.push((await connect(first)).status);
        patterns[1]?.push((await connect(second)).status);
      }

      expect(patterns[0]).toEqual(patterns[1]);
      expect(new Set(patterns[0])).toEqual(new Set([200, 500]));
    });

    it('opens the proxy and then answers 500 when afterEffect is set', async () => {
      const emulator = await start({ faults: { errorRate: 1, afterEffect: true, onlyPaths: ['/device/connect'] } });

      const response = await connect(emulator);

      expect(response.status).toBe(500);
      expect(emulator.connections()).toEqual([expect.objectContaining({ state: 'active', serviceId: TCP_SERVICE })]);
      expect(emulator.calls().records).toEqual([
        expect.objectContaining({ outcome: 'fault_error', tookEffect: true, connectionid: emulator.connections()[0]?.connectionId }),
      ]);
    });

    it('fails only the listed path when onlyPaths is set', async () => {
      const emulator = await start({ faults: { errorRate: 1, onlyPaths: ['/device/connect/stop'] } });
      const { connectionid } = await openProxy(emulator.url, TCP_SERVICE, '0.0.0.0');

      const stop = await signedCall(emulator.url, '/device/connect/stop', { deviceaddress: TCP_SERVICE, connectionid });

      expect(stop.status).toBe(500);
      expect(emulator.connections()[0]?.state).toBe('active');
    });
  });

  describe('throttle', () => {
    it('answers 429 with Retry-After 1 when throttle is true', async () => {
      const emulator = await start({ faults: { throttle: true } });

      const response = await connect(emulator);

      expect(response.status).toBe(429);
      expect(response.headers['retry-after']).toBe('1');
      expect(emulator.connections()).toEqual([]);
    });

    it('answers the configured Retry-After and recovers when the fault is lifted', async () => {
      const emulator = await start({ faults: { throttle: { retryAfterSeconds: 7 } } });

      const throttled = await connect(emulator);
      emulator.setFaults({});
      const recovered = await connect(emulator);

      expect([throttled.status, throttled.headers['retry-after'], recovered.status]).toEqual([429, '7', 200]);
    });
  });

  describe('hang', () => {
    it('never answers a hanging request and drops it when the emulator stops', async () => {
      // Arrange
      const emulator = await start({ faults: { hang: true } });
      const pending = connect(emulator).then(
        () => 'answered',
        () => 'dropped',
      );

      // Act
      const early = await Promise.race([pending, sleep(500).then(() => 'waiting')]);
      await emulator.stop();

      // Assert
      expect(early).toBe('waiting');
      expect(await pending).toBe('dropped');
      expect(emulator.calls().byOutcome).toEqual({ fault_hang: 1 });
    });

    it('opens the proxy before hanging when afterEffect is set', async () => {
      const emulator = await start({ faults: { hang: true, afterEffect: true } });
      const pending = connect(emulator).catch(() => undefined);

      const opened = await Promise.race([pending.then(() => false), sleep(300).then(() => emulator.connections().length === 1)]);
      await emulator.stop();
      await pending;

      expect(opened).toBe(true);
    });
  });

  describe('status', () => {
    it('answers every affected request with the chosen 5xx and opens nothing', async () => {
      const emulator = await start({ faults: { status: 502 } });

      const response = await connect(emulator);

      expect(response.status).toBe(502);
      expect(response.json).toEqual({ status: 'false', reason: REASONS.internal });
      expect(emulator.connections()).toEqual([]);
    });

    it('opens the proxy, leaves it unannounced and answers 503 when afterEffect is set', async () => {
      const emulator = await start({ faults: { status: 503, afterEffect: true } });

      const response = await connect(emulator);

      expect(response.status).toBe(503);
      expect(emulator.connections()).toEqual([expect.objectContaining({ state: 'active', announced: false })]);
    });
  });

  describe('reset', () => {
    it('cuts the connection without an answer and opens nothing', async () => {
      const emulator = await start({ faults: { reset: true } });

      const outcome = await connect(emulator).then(
        (response) => `answered ${response.status}`,
        (error: NodeJS.ErrnoException) => error.code,
      );

      expect(outcome).toBe('ECONNRESET');
      expect(emulator.connections()).toEqual([]);
      expect(emulator.calls().byOutcome).toEqual({ fault_reset: 1 });
    });

    it('cuts the connection after opening the proxy when afterEffect is set', async () => {
      const emulator = await start({ faults: { reset: true, afterEffect: true } });

      await expect(connect(emulator)).rejects.toThrow();

      expect(emulator.connections()).toEqual([expect.objectContaining({ state: 'active', announced: false })]);
    });
  });

  describe('malformed', () => {
    it('answers 200 with a body that is not JSON', async () => {
      const emulator = await start({ faults: { malformed: true } });

      const response = await connect(emulator);

      expect(response.status).toBe(200);
      expect(() => JSON.parse(response.text)).toThrow();
      expect(emulator.connections()).toEqual([]);
      expect(emulator.calls().byOutcome).toEqual({ fault_malformed: 1 });
    });
  });

  describe('refuse', () => {
    it('answers status "false" with the chosen reason and HTTP status, before anything takes effect', async () => {
      const emulator = await start();
      emulator.setFaults({ refuse: { reason: '[0806] device not found' } });
      const onStop = await start({ faults: { refuse: { reason: 'connection not found', httpStatus: 401 }, onlyPaths: ['/device/connect/stop'] } });
      const { connectionid } = await openProxy(onStop.url, TCP_SERVICE, '0.0.0.0');

      const refused = await connect(emulator);
      const stop = await signedCall(onStop.url, '/device/connect/stop', { deviceaddress: TCP_SERVICE, connectionid });

      expect([refused.status, refused.json]).toEqual([200, { status: 'false', reason: '[0806] device not found' }]);
      expect([stop.status, stop.json]).toEqual([401, { status: 'false', reason: 'connection not found' }]);
      expect(emulator.connections()).toEqual([]);
      expect(onStop.connections()).toEqual([expect.objectContaining({ state: 'active' })]);
    });
  });

  describe('missingFields', () => {
    it('drops the named fields from a successful answer, top level and connection, and opens the proxy', async () => {
      const emulator = await start({ faults: { missingFields: ['proxy', 'proxyURL', 'proxyserver', 'proxyport', 'proxyServerPort'] } });

      const response = await connect(emulator);

      expect(response.json.status).toBe('true');
      const connection = response.json.connection as Record<string, unknown>;
      expect(Object.keys(connection)).not.toEqual(expect.arrayContaining(['proxy']));
      expect(connection).not.toHaveProperty('proxyURL');
      expect(connection).not.toHaveProperty('proxyServerPort');
      expect(connection.connectionid).toBe(response.json.connectionid);
      expect(emulator.connections()).toEqual([expect.objectContaining({ state: 'active', announced: true })]);
    });

    it('leaves the proxy unannounced when the connection id is dropped', async () => {
      const emulator = await start({ faults: { missingFields: ['connectionid'] } });

      const response = await connect(emulator);

      expect(response.json).not.toHaveProperty('connectionid');
      expect(emulator.connections()).toEqual([expect.objectContaining({ state: 'active', announced: false })]);
    });
  });

  describe('announced', () => {
    it('marks a proxy announced when its connect answer reached the client, and not when the client gave up first', async () => {
      const emulator = await start();
      await openProxy(emulator.url, TCP_SERVICE, '0.0.0.0');
      emulator.setFaults({ latencyMs: 400 });
      const url = `${emulator.url}/device/connect`;
      const body = JSON.stringify(connectPayload);
      const abandoned = fetch(url, {
        method: 'POST',
        body,
        headers: { developerkey: DEVELOPER_KEY, ...signCavage({ method: 'POST', url, body }) },
        signal: AbortSignal.timeout(100),
      }).catch((error: Error) => error.name);

      expect(await abandoned).toBe('TimeoutError');
      expect(await eventually(() => emulator.connections().length === 2, 3_000)).toBe(true);
      expect(emulator.connections().map((proxy) => proxy.announced)).toEqual([true, false]);
    });
  });

  describe('accounts and tokens', () => {
    it('refuses a connect (200, status "false") missing api token with a token expired over the admin endpoint', async () => {
      const emulator = await start();
      const login = await rawCall(`${emulator.url}/user/login`, JSON.stringify({ username: USERNAME, password: PASSWORD }), {
        developerkey: DEVELOPER_KEY,
        'content-type': 'application/json',
      });
      const token = String(login.json.token);
      const withToken = () =>
        rawCall(`${emulator.url}/device/connect`, JSON.stringify(connectPayload), { developerkey: DEVELOPER_KEY, token, 'content-type': 'application/json' });
      expect(emulator.tokens()).toEqual([token]);
      expect((await withToken()).status).toBe(200);

      const expiry = await rawCall(`${emulator.adminUrl}/tokens`, '', adminAuth(emulator), 'DELETE');
      const expired = await withToken();

      expect(expiry.status).toBe(204);
      expect([expired.status, expired.json]).toEqual([200, { status: 'false', reason: REASONS.missingToken }]);
    });

    it('rejects the old access key and accepts the new one once the accounts are replaced', async () => {
      const emulator = await start();
      const rotated = { ...testAccount, accessKeyId: 'ROTATEDKEYID', secretAccessKey: Buffer.from('fedcba9876543210fedcba9876543210').toString('base64') };

      emulator.setAccounts([rotated]);
      const old = await connect(emulator);
      const url = `${emulator.url}/device/connect`;
      const body = JSON.stringify(connectPayload);
      const fresh = await rawCall(url, body, {
        developerkey: DEVELOPER_KEY,
        ...signCavage({ method: 'POST', url, body, keyId: rotated.accessKeyId, secret: rotated.secretAccessKey }),
      });

      expect([old.status, old.json]).toEqual([200, { status: 'false', reason: REASONS.invalidSignature }]);
      expect(fresh.json.status).toBe('true');
      expect(() => emulator.setAccounts([])).toThrow(/invalid emulator config/);
    });
  });

  describe('admin endpoints', () => {
    it('sets faults over HTTP and lists connections', async () => {
      // Arrange
      const emulator = await start();
      const { connectionid } = await openProxy(emulator.url, TCP_SERVICE, '0.0.0.0');

      // Act
      const set = await rawCall(`${emulator.adminUrl}/faults`, JSON.stringify({ throttle: true }), { 'content-type': 'application/json', ...adminAuth(emulator) });
      const throttled = await connect(emulator);
      const listed = await rawCall(`${emulator.adminUrl}/connections`, '', adminAuth(emulator), 'GET');

      // Assert
      expect(set.status).toBe(200);
      expect(throttled.status).toBe(429);
      expect(listed.json.connections).toEqual([expect.objectContaining({ connectionId: connectionid, state: 'active' })]);
    });

    it.each([
      ['GET', '/faults', ''],
      ['POST', '/faults', JSON.stringify({ throttle: true })],
      ['GET', '/connections', ''],
      ['GET', '/calls', ''],
      ['DELETE', '/calls', ''],
      ['DELETE', '/tokens', ''],
      ['GET', '/stop-refusal', ''],
      ['POST', '/stop-refusal', JSON.stringify({ reason: 'x' })],
      ['GET', '/no-such-route', ''],
    ])('answers %s %s 401 without the admin token, or with another, and changes nothing', async (method, path, body) => {
      // Arrange
      const emulator = await start();
      const { connectionid } = await openProxy(emulator.url, TCP_SERVICE, '0.0.0.0');
      const login = await rawCall(`${emulator.url}/user/login`, JSON.stringify({ username: USERNAME, password: PASSWORD }), {
        developerkey: DEVELOPER_KEY,
        'content-type': 'application/json',
      });
      const callsBefore = emulator.calls().total;
      const attempts: Array<Record<string, string>> = [{}, { authorization: `Bearer ${'x'.repeat(43)}` }, { authorization: emulator.adminToken }, { authorization: `Basic ${emulator.adminToken}` }];

      // Act
      const answers = [];
      for (const headers of attempts) answers.push(await rawCall(`${emulator.adminUrl}${path}`, body, { 'content-type': 'application/json', ...headers }, method));

      // Assert
      for (const answer of answers) {
        expect(answer.status).toBe(401);
        expect(answer.headers['www-authenticate']).toMatch(/^Bearer /);
        expect(answer.headers.connection).toBe('close');
        expect(answer.text).not.toContain(emulator.adminToken);
        expect(answer.text).not.toContain(connectionid);
      }
      expect(emulator.faults()).toEqual({});
      expect(emulator.stopRefusalReason()).toBe(REASONS.stopRefused);
      expect(emulator.tokens()).toEqual([login.json.token]);
      expect(emulator.calls().total).toBe(callsBefore);
    });

    it('keeps a token of its own per start, and takes the one it is given', async () => {
      const [first, second] = [await start(), await start()];
      const given = await start({ adminToken: 'a'.repeat(40) });

      const crossed = await rawCall(`${first.adminUrl}/faults`, '', adminAuth(second), 'GET');

      expect(first.adminToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(first.adminToken).not.toBe(second.adminToken);
      expect(crossed.status).toBe(401);
      expect(given.adminToken).toBe('a'.repeat(40));
      expect((await rawCall(`${given.adminUrl}/faults`, '', { authorization: `Bearer ${'a'.repeat(40)}` }, 'GET')).status).toBe(200);
      await expect(start({ adminToken: 'short' })).rejects.toThrow(/adminToken: must be 32 to 512 visible ASCII characters/);
    });

    it('shows a label for the account of a proxy, never its key id, username or developer key', async () => {
      const labelled = await start({ accounts: [{ ...testAccount, label: 'team-a' }] });
      const unlabelled = await start();
      await openProxy(labelled.url, TCP_SERVICE, '0.0.0.0');
      await openProxy(unlabelled.url, TCP_SERVICE, '0.0.0.0');

      const listed = await Promise.all([labelled, unlabelled].map((emulator) => rawCall(`${emulator.adminUrl}/connections`, '', adminAuth(emulator), 'GET')));

      expect(listed.map((answer) => (answer.json.connections as Array<{ account: string }>).map((proxy) => proxy.account))).toEqual([['team-a'], ['account-1']]);
      for (const answer of listed) {
        for (const secret of [ACCESS_KEY_ID, USERNAME, DEVELOPER_KEY, testAccount.secretAccessKey]) expect(answer.text).not.toContain(secret);
      }
    });

    it('answers 400 and keeps the faults in force when the faults are malformed', async () => {
      const emulator = await start({ faults: { latencyMs: 10 } });

      const response = await rawCall(`${emulator.adminUrl}/faults`, JSON.stringify({ errorRate: 2 }), { 'content-type': 'application/json', ...adminAuth(emulator) });

      expect(response.status).toBe(400);
      expect(emulator.faults()).toEqual({ latencyMs: 10 });
    });
  });
});
