/**
 * Real proxies opened through the gateway: who may use them (by the connecting socket's address, loopback
 * addresses standing in for the internet) and that stopping a connection closes its proxy.
 */
import { request } from 'node:http';
import { closedWithin, exchange, openSocket, probe } from '../emulator/helpers';
import { call, ECHO, startTestStack, WEB, type TestStack } from './support';

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack();
});

afterAll(async () => {
  await stack.close();
});

const open = (body: object, localAddress?: string) =>
  call(stack, { method: 'POST', path: '/connections', body, as: stack.identity('app'), ...(localAddress && { localAddress }) });

function getThrough(url: string, localAddress: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const outgoing = request(`${url}/hello`, { localAddress, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
    });
    outgoing.setTimeout(5_000, () => outgoing.destroy(new Error('no answer within 5 s')));
    outgoing.on('error', reject);
    outgoing.end();
  });
}

describe('local stack proxies', () => {
  describe('latching mode', () => {
    it('lets the first address reach the echo service and refuses another when the connection latches', async () => {
      const opened = await open({ serviceId: ECHO });
      expect(opened.status).toBe(201);

      const owner = await probe(opened.body.proxy.port, '127.0.0.2', 'hello');
      const stranger = await probe(opened.body.proxy.port, '127.0.0.3', 'hello');
      const ownerAgain = await probe(opened.body.proxy.port, '127.0.0.2', 'again');

      expect(opened.body).toMatchObject({ mode: 'latching', hostIp: '255.255.255.255' });
      expect([owner, stranger, ownerAgain]).toEqual(['echoed', 'closed', 'echoed']);
    });
  });

  describe('ip mode', () => {
    it('admits only the caller\'s source address when the connection is opened in ip mode', async () => {
      const opened = await open({ serviceId: ECHO, mode: 'ip' }, '127.0.0.4');
      expect(opened.status).toBe(201);

      const other = await probe(opened.body.proxy.port, '127.0.0.5');
      const caller = await probe(opened.body.proxy.port, '127.0.0.4');

      expect(opened.body.hostIp).toBe('127.0.0.4');
      expect([other, caller]).toEqual(['closed', 'echoed']);
    });
  });

  describe('http services', () => {
    it('serves the http demo through a reverse proxy when its connection is open', async () => {
      const opened = await open({ serviceId: WEB });

      const answer = await getThrough(opened.body.proxy.url, '127.0.0.6');

      expect(opened.body.proxy.kind).toBe('reverse');
      expect(answer).toEqual({ status: 200, body: expect.objectContaining({ service: 'demo-web', path: '/hello' }) });
    });
  });

  describe('stop', () => {
    it('closes the proxy and its open sockets when the connection is stopped', async () => {
      const opened = await open({ serviceId: ECHO });
      const socket = await openSocket(opened.body.proxy.port, '127.0.0.7');
      expect(await exchange(socket, 'before stop')).toBe('echoed');

      const stopped = await call(stack, { method: 'DELETE', path: `/connections/${opened.body.id}`, as: stack.identity('app') });
      const socketClosed = await closedWithin(socket, 3_000);
      const reconnect = await probe(opened.body.proxy.port, '127.0.0.7');

      expect(stopped.status).toBe(200);
      expect(stopped.body).toMatchObject({ status: 'stopped', stopReason: 'requested' });
      expect(socketClosed).toBe('closed');
      expect(reconnect).toBe('refused');
    });
  });
});
