import { request } from 'node:http';
import { connect as connectTcp } from 'node:net';
import { startEchoServer, startEmulator, startHttpDemo } from '../../../dev/emulator';
import type { DemoService, Emulator } from '../../../dev/emulator';
import {
  closedWithin,
  eventually,
  exchange,
  HTTP_SERVICE,
  openProxy,
  openSocket,
  probe,
  signedCall,
  sleep,
  TCP_SERVICE,
  testAccount,
} from './helpers';

/** GET through the reverse proxy from a chosen loopback source address. */
function getFrom(url: string, localAddress: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const outgoing = request(url, { localAddress, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> }),
      );
    });
    outgoing.setTimeout(5_000, () => outgoing.destroy(new Error('no answer within 5 s')));
    outgoing.on('error', reject);
    outgoing.end();
  });
}

describe('remote.it emulator proxies', () => {
  let echo: DemoService;
  let web: DemoService;

  beforeAll(async () => {
    echo = await startEchoServer();
    web = await startHttpDemo({ name: 'web' });
  });
  afterAll(async () => {
    await echo.close();
    await web.close();
  });

  const services = () => [
    { serviceId: TCP_SERVICE, name: 'echo', kind: 'tcp' as const, target: echo.target },
    { serviceId: HTTP_SERVICE, name: 'web', kind: 'http' as const, target: web.target },
  ];

  describe('access by hostip', () => {
    let emulator: Emulator;

    beforeAll(async () => {
      emulator = await startEmulator({ accounts: [testAccount], services: services() });
    });
    afterAll(() => emulator.stop());

    it('lets the first address latch the proxy and refuses every other when hostip is 255.255.255.255', async () => {
      // Arrange
      const { connection } = await openProxy(emulator.url, TCP_SERVICE, '255.255.255.255', { concurrent: true });

      // Act
      const owner = await probe(connection.proxyServerPort, '127.0.0.2');
      const stranger = await probe(connection.proxyServerPort, '127.0.0.3');
      const ownerAgain = await probe(connection.proxyServerPort, '127.0.0.2');

      // Assert
      expect([owner, stranger, ownerAgain]).toEqual(['echoed', 'closed', 'echoed']);
      expect(emulator.connections().find((proxy) => proxy.connectionId === connection.connectionid)).toMatchObject({
        latchedIp: '127.0.0.2',
        refusedSockets: 1,
      });
    });

    it('admits only the given address when hostip is one IP', async () => {
      const { connection } = await openProxy(emulator.url, TCP_SERVICE, '127.0.0.4', { concurrent: true });

      const other = await probe(connection.proxyServerPort, '127.0.0.5');
      const allowed = await probe(connection.proxyServerPort, '127.0.0.4');

      expect([other, allowed]).toEqual(['closed', 'echoed']);
    });

    it('admits every address when hostip is 0.0.0.0', async () => {
      const { connection } = await openProxy(emulator.url, TCP_SERVICE, '0.0.0.0', { concurrent: true });

      const outcomes = [await probe(connection.proxyServerPort, '127.0.0.6'), await probe(connection.proxyServerPort, '127.0.0.7')];

      expect(outcomes).toEqual(['echoed', 'echoed']);
    });

    it('passes the answer back when the client half-closes after sending its request', async () => {
      const { connection } = await openProxy(emulator.url, TCP_SERVICE, '0.0.0.0', { concurrent: true });

      const answer = await new Promise<string>((resolve, reject) => {
        const chunks: Buffer[] = [];
        const socket = connectTcp({ host: '127.0.0.1', port: connection.proxyServerPort, localAddress: '127.0.0.8' }, () => socket.end('hello'));
        socket.setTimeout(3_000, () => socket.destroy(new Error('no answer within 3 s')));
        socket.on('data', (chunk: Buffer) => chunks.push(chunk));
        socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        socket.on('error', reject);
      });

      expect(answer).toBe('hello');
    });

    it('serves an http service through a reverse proxy to any address even when hostip names one IP', async () => {
      const { connection } = await openProxy(emulator.url, HTTP_SERVICE, '127.0.0.8', { concurrent: true });

      const first = await getFrom(`${connection.proxy}/status?x=1`, '127.0.0.9');
      const second = await getFrom(`${connection.proxy}/other`, '127.0.0.10');

      expect(first).toEqual({ status: 200, body: expect.objectContaining({ service: 'web', path: '/status?x=1', forwardedFor: '127.0.0.9' }) });
      expect(second.body.forwardedFor).toBe('127.0.0.10');
    });
  });

  describe('stop', () => {
    let emulator: Emulator;

    beforeAll(async () => {
      emulator = await startEmulator({ accounts: [testAccount], services: services() });
    });
    afterAll(() => emulator.stop());

    it('closes the listener and the sockets already open when the connection is stopped', async () => {
      // Arrange
      const { connectionid, connection } = await openProxy(emulator.url, TCP_SERVICE, '0.0.0.0', { concurrent: true });
      const open = await openSocket(connection.proxyServerPort, '127.0.0.2');
      expect(await exchange(open, 'before')).toBe('echoed');

      // Act
      await signedCall(emulator.url, '/device/connect/stop', { deviceaddress: TCP_SERVICE, connectionid });

      // Assert
      expect(await closedWithin(open, 2_000)).toBe('closed');
      expect(await probe(connection.proxyServerPort, '127.0.0.2')).toBe('refused');
    });

    it('closes a reverse proxy when its connection is stopped', async () => {
      const { connectionid, connection } = await openProxy(emulator.url, HTTP_SERVICE, '0.0.0.0', { concurrent: true });

      await signedCall(emulator.url, '/device/connect/stop', { deviceaddress: HTTP_SERVICE, connectionid });

      await expect(getFrom(connection.proxy, '127.0.0.2')).rejects.toThrow(/ECONNREFUSED/);
    });

    it('closes every proxy and socket when the emulator stops', async () => {
      // Arrange
      const own = await startEmulator({ accounts: [testAccount], services: services() });
      const { connection } = await openProxy(own.url, TCP_SERVICE, '0.0.0.0');
      const open = await openSocket(connection.proxyServerPort, '127.0.0.2');

      // Act
      await own.stop();

      // Assert
      expect(await closedWithin(open, 2_000)).toBe('closed');
      expect(await probe(connection.proxyServerPort, '127.0.0.2')).toBe('refused');
      expect(own.connections().map((proxy) => proxy.endReason)).toEqual(['shutdown']);
    });
  });

  describe('expiry', () => {
    it('closes the proxy and its open sockets when its lifetime ends', async () => {
      // Arrange
      const emulator = await startEmulator({ accounts: [testAccount], services: services(), lifetimeSeconds: 1, idleSeconds: 60 });
      try {
        const { connectionid, connection } = await openProxy(emulator.url, TCP_SERVICE, '0.0.0.0');
        const open = await openSocket(connection.proxyServerPort, '127.0.0.2');
        expect(await exchange(open, 'alive')).toBe('echoed');

        // Act
        const closed = await closedWithin(open, 3_000);

        // Assert
        expect(closed).toBe('closed');
        expect(emulator.connections().find((proxy) => proxy.connectionId === connectionid)?.endReason).toBe('expired_lifetime');
        expect(await probe(connection.proxyServerPort, '127.0.0.2')).toBe('refused');
      } finally {
        await emulator.stop();
      }
    });

    it('closes the proxy an idle time after its last connection ended, never while one is open', async () => {
      // Arrange
      const emulator = await startEmulator({ accounts: [testAccount], services: services(), lifetimeSeconds: 60, idleSeconds: 1 });
      try {
        const { connectionid, connection } = await openProxy(emulator.url, TCP_SERVICE, '0.0.0.0');
        const state = () => emulator.connections().find((proxy) => proxy.connectionId === connectionid);
        const open = await openSocket(connection.proxyServerPort, '127.0.0.2');

        // Act: held open past the idle time, then released.
        await sleep(1_500);
        const whileOpen = await exchange(open, 'still here');
        open.destroy();
        await sleep(500);
        const halfIdle = state()?.state;
        const expired = await eventually(() => state()?.state === 'ended', 3_000);

        // Assert
        expect(whileOpen).toBe('echoed');
        expect(halfIdle).toBe('active');
        expect(expired).toBe(true);
        expect(state()?.endReason).toBe('expired_idle');
        expect(await probe(connection.proxyServerPort, '127.0.0.2')).toBe('refused');
      } finally {
        await emulator.stop();
      }
    });

    it('closes a proxy nobody ever connected to an idle time after its creation', async () => {
      const emulator = await startEmulator({ accounts: [testAccount], services: services(), lifetimeSeconds: 60, idleSeconds: 1 });
      try {
        const { connectionid } = await openProxy(emulator.url, TCP_SERVICE, '0.0.0.0');
        const ended = () => emulator.connections().some((proxy) => proxy.connectionId === connectionid && proxy.state === 'ended');

        await sleep(500);
        const endedEarly = ended();
        const expired = await eventually(ended, 3_000);

        expect(endedEarly).toBe(false);
        expect(expired).toBe(true);
        expect(emulator.connections()[0]?.endReason).toBe('expired_idle');
      } finally {
        await emulator.stop();
      }
    });
  });
});
