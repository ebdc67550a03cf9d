import { REASONS, startEchoServer, startEmulator } from '../../../dev/emulator';
import type { DemoService, Emulator } from '../../../dev/emulator';
import { adminAuth, eventually, HTTP_SERVICE, openProxy, probe, rawCall, signCavage, signedCall, TCP_SERVICE, testAccount } from './helpers';

const OFFLINE_SERVICE = '80:00:00:00:0E:0E:0E:0E';

describe('remote.it emulator connections', () => {
  let echo: DemoService;
  let emulator: Emulator;

  beforeAll(async () => {
    echo = await startEchoServer();
    emulator = await startEmulator({
      accounts: [testAccount],
      services: [
        { serviceId: TCP_SERVICE, name: 'echo', kind: 'tcp', target: echo.target },
        { serviceId: HTTP_SERVICE, name: 'web', kind: 'http', target: '127.0.0.1:9' },
        { serviceId: OFFLINE_SERVICE, name: 'offline', kind: 'tcp', target: echo.target, refuseReason: 'device is offline' },
      ],
    });
  });
  afterAll(async () => {
    await emulator.stop();
    await echo.close();
  });

  describe('POST /device/connect', () => {
    it('answers remote.it shapes: string expirationsec and a \\/-escaped proxy in the raw body', async () => {
      // Act
      const response = await signedCall(emulator.url, '/device/connect', {
        deviceaddress: TCP_SERVICE.toLowerCase(),
        wait: 'true',
        hostip: '255.255.255.255',
        concurrent: true,
      });

      // Assert
      const connection = response.json.connection as Record<string, unknown>;
      const port = connection.proxyServerPort as number;
      expect(response.status).toBe(200);
      expect(response.text).toContain(`"proxy":"http:\\/\\/127.0.0.1:${port}"`);
      expect(response.json).toEqual({ status: 'true', connectionid: connection.connectionid, connection: expect.any(Object) });
      expect(connection).toEqual(
        expect.objectContaining({
          deviceaddress: TCP_SERVICE,
          connectionid: expect.stringMatching(/^[0-9A-F-]{36}$/),
          proxy: `http://127.0.0.1:${port}`,
          proxyserver: '127.0.0.1',
          proxyport: String(port),
          proxyServerPort: expect.any(Number),
          proxyURL: `127.0.0.1:${port}`,
          reverseProxy: false,
          expirationsec: '28800',
          proxyExpirationSec: 28800,
          status: 'running',
          requested: expect.stringMatching(/^\d{2}\/\d{2}\/\d{4}T\d{1,2}:\d{2} [AP]M$/),
          filteredIP: '255.255.255.255',
          lifeLeft: 28800,
          idleLeft: 900,
        }),
      );
      expect(connection).not.toHaveProperty('connectionOverridden');
    });

    it('answers a reverse proxy for an http service whatever hostip says', async () => {
      const { connection } = await openProxy(emulator.url, HTTP_SERVICE, '203.0.113.9', { concurrent: true });

      expect(connection.reverseProxy).toBe(true);
      expect(emulator.connections().find((proxy) => proxy.connectionId === connection.connectionid)?.mode).toBe('public');
    });

    it('answers 200 with status "false" and reason [0861] when the service is unknown', async () => {
      const response = await signedCall(emulator.url, '/device/connect', { deviceaddress: '80:00:00:00:0F:0F:0F:0F', wait: true, hostip: '0.0.0.0' });

      expect(response.status).toBe(200);
      expect(response.json).toEqual({ status: 'false', reason: expect.stringMatching(/^\[0861\]/) });
    });

    it('answers 200 with status "false" and the configured reason when the service refuses connects', async () => {
      const response = await signedCall(emulator.url, '/device/connect', { deviceaddress: OFFLINE_SERVICE, wait: 'true', hostip: '0.0.0.0' });

      expect(response.status).toBe(200);
      expect(response.json).toEqual({ status: 'false', reason: 'device is offline' });
      expect(emulator.connections().filter((proxy) => proxy.serviceId === OFFLINE_SERVICE)).toEqual([]);
    });

    it('answers 200 with reason bad device address when the address is malformed', async () => {
      const response = await signedCall(emulator.url, '/device/connect', { deviceaddress: '80:00:00', wait: 'true', hostip: '0.0.0.0' });

      expect(response.status).toBe(200);
      expect(response.json).toEqual({ status: 'false', reason: 'bad device address' });
    });

    it('overrides and closes the earlier proxy when connecting again without concurrent', async () => {
      // Arrange
      const first = await openProxy(emulator.url, TCP_SERVICE, '0.0.0.0');

      // Act
      const second = await signedCall(emulator.url, '/device/connect', { deviceaddress: TCP_SERVICE, wait: 'true', hostip: '0.0.0.0' });

      // Assert
      const connection = second.json.connection as Record<string, unknown>;
      expect(connection.connectionOverridden).toBe('true');
      expect(connection.previousConnection).toBe(first.connectionid);
      expect(await probe(first.connection.proxyServerPort, '127.0.0.1')).toBe('refused');
      expect(await probe(connection.proxyServerPort as number, '127.0.0.1')).toBe('echoed');
      expect(emulator.connections().find((proxy) => proxy.connectionId === first.connectionid)?.endReason).toBe('overridden');
    });

    it('keeps the earlier proxy open when connecting again with concurrent true', async () => {
      const first = await openProxy(emulator.url, TCP_SERVICE, '0.0.0.0', { concurrent: true });

      const second = await openProxy(emulator.url, TCP_SERVICE, '0.0.0.0', { concurrent: 'true' });

      expect(second.connection).not.toHaveProperty('connectionOverridden');
      expect(await probe(first.connection.proxyServerPort, '127.0.0.1')).toBe('echoed');
    });

    it('records each call with its device address, connection id and outcome', async () => {
      emulator.resetCalls();

      const { connectionid } = await openProxy(emulator.url, TCP_SERVICE, '0.0.0.0', { concurrent: true });
      await signedCall(emulator.url, '/device/connect', { deviceaddress: 'nope', hostip: '0.0.0.0' });

      expect(emulator.calls()).toEqual({
        total: 2,
        byPath: { '/device/connect': 2 },
        byOutcome: { ok: 1, refused: 1 },
        records: [
          expect.objectContaining({ path: '/device/connect', deviceaddress: TCP_SERVICE, connectionid, httpStatus: 200, outcome: 'ok' }),
          expect.objectContaining({ path: '/device/connect', deviceaddress: 'nope', httpStatus: 200, outcome: 'refused' }),
        ],
      });
    });
  });

  describe('POST /device/connect/stop', () => {
    it('stops the proxy and answers its connection id', async () => {
      const { connectionid, connection } = await openProxy(emulator.url, TCP_SERVICE, '0.0.0.0', { concurrent: true });

      const response = await signedCall(emulator.url, '/device/connect/stop', { deviceaddress: TCP_SERVICE, connectionid });

      expect(response.status).toBe(200);
      expect(response.json).toEqual({ status: 'true', connectionid });
      expect(await probe(connection.proxyServerPort, '127.0.0.1')).toBe('refused');
    });

    // remote.it documents one stop refusal: 401 when connectionid or deviceaddress is "incorrect or missing",
    // reason unpublished. The emulator's default reason is that phrase, which says nothing about "gone".
    it('answers 401 with the default reason when the proxy was already stopped', async () => {
      const { connectionid } = await openProxy(emulator.url, TCP_SERVICE, '0.0.0.0', { concurrent: true });
      await signedCall(emulator.url, '/device/connect/stop', { deviceaddress: TCP_SERVICE, connectionid });

      const again = await signedCall(emulator.url, '/device/connect/stop', { deviceaddress: TCP_SERVICE, connectionid });

      expect(again.status).toBe(401);
      expect(again.json).toEqual({ status: 'false', reason: 'connectionid incorrect or missing' });
    });

    it('answers 401 with the default reason when the connection id is unknown or missing', async () => {
      const unknown = await signedCall(emulator.url, '/device/connect/stop', {
        deviceaddress: TCP_SERVICE,
        connectionid: '00000000-0000-0000-0000-000000000000',
      });
      const missing = await signedCall(emulator.url, '/device/connect/stop', { deviceaddress: TCP_SERVICE });

      expect([unknown.status, unknown.json]).toEqual([401, { status: 'false', reason: 'connectionid incorrect or missing' }]);
      expect([missing.status, missing.json]).toEqual([401, { status: 'false', reason: 'connectionid incorrect or missing' }]);
    });

    it('answers 401 and leaves the proxy open when the device address does not match', async () => {
      const { connectionid, connection } = await openProxy(emulator.url, TCP_SERVICE, '0.0.0.0', { concurrent: true });

      const response = await signedCall(emulator.url, '/device/connect/stop', { deviceaddress: HTTP_SERVICE, connectionid });

      expect([response.status, response.json]).toEqual([401, { status: 'false', reason: 'connectionid incorrect or missing' }]);
      expect(await probe(connection.proxyServerPort, '127.0.0.1')).toBe('echoed');
    });

    it('answers 401 and leaves the proxy open when another account stops it', async () => {
      // Arrange
      const other = { developerKey: 'OTHER-DEVELOPER-KEY', accessKeyId: 'OTHERACCESSKEYID', secretAccessKey: Buffer.from('o'.repeat(32)).toString('base64') };
      emulator.setAccounts([testAccount, other]);
      const { connectionid, connection } = await openProxy(emulator.url, TCP_SERVICE, '0.0.0.0', { concurrent: true });
      const url = `${emulator.url}/device/connect/stop`;
      const body = JSON.stringify({ deviceaddress: TCP_SERVICE, connectionid });

      // Act
      const response = await rawCall(url, body, {
        developerkey: other.developerKey,
        ...signCavage({ method: 'POST', url, body, keyId: other.accessKeyId, secret: other.secretAccessKey }),
      });

      // Assert
      expect([response.status, response.json]).toEqual([401, { status: 'false', reason: 'connectionid incorrect or missing' }]);
      expect(await probe(connection.proxyServerPort, '127.0.0.1')).toBe('echoed');
    });
  });

  describe('stop refusal reason', () => {
    afterEach(() => emulator.setStopRefusalReason());

    it('defaults to a reason that reads neither as "already gone" nor as an auth failure', () => {
      // The broker client's phrasings at issue 14 (lambdas/remoteit/exchange.ts): the default must be
      // taken for neither, so that a green run does not rest on a wording remote.it never published.
      const gone = /connection (?:not found|is not active|not active|(?:has )?expired|already stopped|does not exist)|no such connection/i;
      const auth = /missing api token|\[0102\]|invalid (?:signature|credential|token|api key|developer ?key)|unauthori[sz]ed|not authori[sz]ed|authentication/i;

      expect(emulator.stopRefusalReason()).toBe(REASONS.stopRefused);
      expect([gone.test(REASONS.stopRefused), auth.test(REASONS.stopRefused)]).toEqual([false, false]);
    });

    it('answers 401 with the default reason when the proxy closed at the end of its lifetime', async () => {
      // Arrange
      const shortLived = await startEmulator({
        accounts: [testAccount],
        services: [{ serviceId: TCP_SERVICE, name: 'echo', kind: 'tcp', target: echo.target }],
        lifetimeSeconds: 1,
      });
      try {
        const { connectionid } = await openProxy(shortLived.url, TCP_SERVICE, '0.0.0.0');
        expect(await eventually(() => shortLived.connections()[0]?.state === 'ended', 3_000)).toBe(true);

        // Act
        const response = await signedCall(shortLived.url, '/device/connect/stop', { deviceaddress: TCP_SERVICE, connectionid });

        // Assert
        expect([response.status, response.json]).toEqual([401, { status: 'false', reason: 'connectionid incorrect or missing' }]);
      } finally {
        await shortLived.stop();
      }
    });

    it('answers the reason given at start when stopRefusalReason is set', async () => {
      const configured = await startEmulator({
        accounts: [testAccount],
        services: [{ serviceId: TCP_SERVICE, name: 'echo', kind: 'tcp', target: echo.target }],
        stopRefusalReason: 'connection not found',
      });
      try {
        const response = await signedCall(configured.url, '/device/connect/stop', { deviceaddress: TCP_SERVICE, connectionid: 'nope' });

        expect([response.status, response.json]).toEqual([401, { status: 'false', reason: 'connection not found' }]);
        expect(configured.stopRefusalReason()).toBe('connection not found');
      } finally {
        await configured.stop();
      }
    });

    it('answers the reason set over the admin endpoint, and the default again once it is reset with {}', async () => {
      // Arrange
      const stopUnknown = () => signedCall(emulator.url, '/device/connect/stop', { deviceaddress: TCP_SERVICE, connectionid: 'nope' });

      // Act
      const set = await rawCall(`${emulator.adminUrl}/stop-refusal`, JSON.stringify({ reason: 'no such session' }), { 'content-type': 'application/json', ...adminAuth(emulator) });
      const read = await rawCall(`${emulator.adminUrl}/stop-refusal`, '', adminAuth(emulator), 'GET');
      const refused = await stopUnknown();
      const reset = await rawCall(`${emulator.adminUrl}/stop-refusal`, '{}', { 'content-type': 'application/json', ...adminAuth(emulator) });
      const refusedAgain = await stopUnknown();

      // Assert
      expect([set.status, set.json, read.json]).toEqual([200, { reason: 'no such session' }, { reason: 'no such session' }]);
      expect([refused.status, refused.json]).toEqual([401, { status: 'false', reason: 'no such session' }]);
      expect(reset.json).toEqual({ reason: 'connectionid incorrect or missing' });
      expect(refusedAgain.json.reason).toBe('connectionid incorrect or missing');
    });

    it('answers 400 and keeps the reason when the admin body carries no usable reason', async () => {
      emulator.setStopRefusalReason('kept reason');

      const empty = await rawCall(`${emulator.adminUrl}/stop-refusal`, JSON.stringify({ reason: '' }), { 'content-type': 'application/json', ...adminAuth(emulator) });
      const notText = await rawCall(`${emulator.adminUrl}/stop-refusal`, JSON.stringify({ reason: 42 }), { 'content-type': 'application/json', ...adminAuth(emulator) });

      expect([empty.status, notText.status]).toEqual([400, 400]);
      expect(emulator.stopRefusalReason()).toBe('kept reason');
      expect(() => emulator.setStopRefusalReason('')).toThrow(/invalid emulator config/);
    });
  });
});
