/**
 * `rbroker forward` end to end on loopback, against the local stack's real gateway, handlers and proxies:
 * bytes through a stable local port, the latch held by rbroker (another source address is refused by the
 * proxy), the lease renewed under traffic, the connection ended after `--idle` and another opened on the same
 * port, an http service served as local HTTP (a protocol switch too), signals, and the errors a user meets
 * first (a taken port, a lock). The CLI runs as a child process; the renew timing is tested through the library it is built on
 * (client/forward.ts), whose renew point a test can bring forward.
 */
import { connect, createServer, type Server } from 'node:net';
import { request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BrokerClient } from '../../../client/index';
import { Forwarder, type ForwardEvent } from '../../../client/forward';
import { exchange, openSocket, probe } from '../emulator/helpers';
import { ECHO, startTestStack, WEB, type TestStack } from '../e2e/support';
import { startRbroker, type Started } from './run-cli';

let stack: TestStack;
let stateDir: string;
let admin: BrokerClient;
let app: BrokerClient;

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'rbroker-forward-'));
  stack = await startTestStack({ stateDir });
  admin = new BrokerClient({ endpoint: stack.apiUrl, region: stack.region, credentials: stack.identity('admin') });
  app = new BrokerClient({ endpoint: stack.apiUrl, region: stack.region, credentials: stack.identity('app') });
});

afterAll(async () => {
  await stack.close();
  await rm(stateDir, { recursive: true, force: true });
});

const forward = (args: string[], timeoutMs = 30_000): Started => startRbroker(['forward', ...args], { stackFile: join(stateDir, 'stack.json'), timeoutMs });

interface StateLine {
  event: string;
  local: string;
  connectionId: string | null;
  leaseExpiresAt: string | null;
  endedConnectionId?: string;
  stopReason?: string;
}

/** The n-th (from 1) `--json` line of `event`, waited for (at most 20 s, or until rbroker ends). */
async function line(run: Started, event: string, nth = 1): Promise<StateLine> {
  const found = () =>
    run
      .output()
      .stdout.split('\n')
      .filter((text) => text.startsWith(`{"event":"${event}"`))[nth - 1];
  const text = await waitFor(() => found() ?? (run.child.exitCode !== null ? 'ended' : undefined), 20_000);
  if (text === 'ended') throw new Error(`rbroker ended before its ${event} line #${nth}:\n${run.output().stdout}\n${run.output().stderr}`);
  return JSON.parse(text) as StateLine;
}

const portOf = (local: string) => Number(local.slice(local.lastIndexOf(':') + 1));

async function echoThrough(port: number, payload: string): Promise<string> {
  const socket = await openSocket(port, '127.0.0.1');
  try {
    return await exchange(socket, payload, 5_000);
  } finally {
    socket.destroy();
  }
}

describe('rbroker forward', () => {
  it('carries bytes through a stable port, holds the latch, ends after --idle and opens another on the same port', async () => {
    const run = forward([ECHO, '--json', '--idle', '2s']);
    const listening = await line(run, 'listening');
    const port = portOf(listening.local);
    expect(listening).toEqual({ event: 'listening', local: `127.0.0.1:${port}`, connectionId: null, leaseExpiresAt: null });

    // The first local connection opens the connection; rbroker connects to the proxy, and so latches it.
    const first = await echoThrough(port, 'hello');
    const opened = await line(run, 'opened');
    const proxy = (await admin.get(opened.connectionId ?? '')).proxy;
    const stranger = await probe(proxy?.port ?? 0, '127.0.0.3', 'steal');

    expect(first).toBe('echoed');
    expect(opened).toMatchObject({ local: `127.0.0.1:${port}`, connectionId: expect.stringMatching(/^[0-9A-Z]{26}$/) });
    expect(stranger).toBe('closed');

    // Quiet for --idle: stopped; the port stays and the next connection opens another.
    const ended = await line(run, 'ended');
    const second = await echoThrough(port, 'again');
    const reopened = await line(run, 'opened', 2);

    expect(ended).toMatchObject({ connectionId: null, endedConnectionId: opened.connectionId, stopReason: 'idle' });
    expect(await admin.get(opened.connectionId ?? '')).toMatchObject({ status: 'stopped', stopReason: 'requested' });
    expect(second).toBe('echoed');
    expect(reopened.local).toBe(`127.0.0.1:${port}`);
    expect(reopened.connectionId).not.toBe(opened.connectionId);

    // SIGTERM: the live connection is stopped before rbroker exits 143.
    run.child.kill('SIGTERM');
    const result = await run.result;
    expect(result.code).toBe(143);
    expect(await admin.get(reopened.connectionId ?? '')).toMatchObject({ status: 'stopped' });
    // --json keeps stdout machine-readable: every line parses.
    expect(result.stdout.trim().split('\n').map((text) => JSON.parse(text) as unknown)).toHaveLength(result.stdout.trim().split('\n').length);
  }, 40_000);

  it('fails fast with exit 1 naming the port when the local port is taken, opening nothing', async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const address = taken.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const before = await app.listPage({ status: 'active', limit: 100 });
    try {
      const run = await forward([ECHO, '--local-port', String(port), '--eager']).result;

      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`127.0.0.1:${port} is in use`);
      expect((await app.listPage({ status: 'active', limit: 100 })).items.length).toBe(before.items.length);
    } finally {
      taken.close();
    }
  });

  it('answers bad arguments with exit 2 naming the argument', async () => {
    const runs = await Promise.all([
      forward([ECHO, '--local-port', '70000']).result,
      forward([ECHO, '--listen', 'my-laptop']).result,
      forward([ECHO, '--idle', 'soon']).result,
      forward(['--eager']).result,
    ]);

    expect(runs.map((run) => run.code)).toEqual([2, 2, 2, 2]);
    expect(runs.map((run) => /--local-port|--listen|--idle|forward needs <serviceId>/.exec(run.stderr)?.[0])).toEqual(['--local-port', '--listen', '--idle', 'forward needs <serviceId>']);
  });

  it('runs --exec against the stable local address and exits with its code, the connection stopped', async () => {
    const talk = `node -e 'const s=require("net").connect(+process.argv[1],process.argv[2],()=>s.write("ping"));s.on("data",(d)=>{process.stdout.write("got "+d+"\\n");s.end();process.exitCode=7})' {port} {host}`;

    const run = await forward([ECHO, '--eager', '--exec', talk]).result;

    expect(run.code).toBe(7);
    expect(run.stdout).toContain('got ping');
    const id = /opened connection (\S+)/.exec(run.stderr)?.[1] ?? '';
    expect(await admin.get(id)).toMatchObject({ status: 'stopped', stopReason: 'requested' });
  });

  it("serves an http service's reverse proxy as local HTTP, sending each request on to remote.it's reverse proxy", async () => {
    const run = forward([WEB, '--json']);
    const port = portOf((await line(run, 'listening')).local);

    const answer = await new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
      const outgoing = request({ host: '127.0.0.1', port, path: '/hello?x=1', method: 'POST', headers: { 'content-type': 'text/plain' } }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> }));
      });
      outgoing.setTimeout(10_000, () => outgoing.destroy(new Error('no answer within 10 s')));
      outgoing.on('error', reject);
      outgoing.end('a body');
    });
    run.child.kill('SIGINT');
    const result = await run.result;

    expect(answer).toEqual({ status: 200, body: expect.objectContaining({ service: expect.any(String), method: 'POST', path: '/hello?x=1', body: 'a body' }) });
    expect(result.code).toBe(130);
  });

  it("latches at once with --eager, says why the connection ended when a lock stops it, and exits 3 when the next open is refused", async () => {
    const run = forward([ECHO, '--json', '--eager']);
    const opened = await line(run, 'opened');
    // --eager latched the proxy before saying it was open: nobody else gets in even before a local connection.
    const proxy = (await admin.get(opened.connectionId ?? '')).proxy;
    expect(await probe(proxy?.port ?? 0, '127.0.0.3', 'first?')).toBe('closed');
    const lock = await admin.placeLock({ serviceId: ECHO, reason: 'maintenance window' });
    try {
      // The lock stopped the proxy: the next local connection finds it closed, and the open it makes is refused.
      const socket = await openSocket(portOf(opened.local), '127.0.0.1');
      socket.on('error', () => undefined);
      const result = await run.result;

      expect(result.code).toBe(3);
      expect(result.stderr).toMatch(new RegExp(`"code":"ended:locked".*connection ${opened.connectionId} ended: an operator's lock`));
      expect(result.stderr).toContain('maintenance window');
      socket.destroy();
    } finally {
      await admin.liftLock(lock.id);
    }
  });
});

describe('Forwarder (the library under rbroker forward)', () => {
  it("carries a protocol switch (a WebSocket's Upgrade) to an http service through remote.it's reverse proxy, and passes a refused one back", async () => {
    const forwarder = await Forwarder.listen({ client: app, serviceId: WEB });
    try {
      const socket = connect({ host: '127.0.0.1', port: forwarder.port });
      const received: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => received.push(chunk));
      const text = () => Buffer.concat(received).toString('utf8');
      socket.write('GET /socket HTTP/1.1\r\nhost: localhost\r\nconnection: Upgrade\r\nupgrade: echo\r\n\r\nfirst bytes');

      // The service's 101 and its headers, then the bytes sent with the request, echoed through both proxies.
      await waitFor(() => (text().endsWith('first bytes') ? true : undefined));
      expect(text()).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
      expect(text()).toMatch(/\r\nx-demo-service: demo-web\r\n\r\nfirst bytes$/i);
      received.length = 0;
      socket.write('and more');
      await waitFor(() => (text() === 'and more' ? true : undefined));
      socket.destroy();

      const refused = await new Promise<string>((resolve, reject) => {
        const other = connect({ host: '127.0.0.1', port: forwarder.port });
        const chunks: Buffer[] = [];
        other.on('data', (chunk: Buffer) => chunks.push(chunk));
        other.once('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
        other.once('error', reject);
        other.setTimeout(10_000, () => other.destroy(new Error('no answer within 10 s')));
        other.write('GET /socket HTTP/1.1\r\nhost: localhost\r\nconnection: Upgrade\r\nupgrade: teleport\r\n\r\n');
      });
      expect(refused).toMatch(/^HTTP\/1\.1 426 Upgrade Required\r\n/);
      expect(refused.toLowerCase()).toContain('\r\nconnection: close\r\n');
    } finally {
      await forwarder.close();
    }
  });

  it('renews the lease while sockets carry bytes, naming the use, and not once they stop', async () => {
    const events: ForwardEvent[] = [];
    const forwarder = await Forwarder.listen({ client: app, serviceId: ECHO, ttlSeconds: 60, renewAfter: 0.03, onEvent: (event) => events.push(event) });
    try {
      const socket = await openSocket(forwarder.port, '127.0.0.1');
      const opened = await waitFor(() => events.find((event): event is Extract<ForwardEvent, { type: 'opened' }> => event.type === 'opened')?.connection);
      // Bytes for a few seconds: the renew point (2 s into a 60 s lease) passes while they flow.
      for (let round = 0; round < 8; round += 1) {
        expect(await exchange(socket, `tick ${round}`, 3_000)).toBe('echoed');
        await sleep(400);
      }
      const renewed = events.filter((event) => event.type === 'renewed');
      const latest = await app.get(opened.id);

      expect(renewed.length).toBeGreaterThanOrEqual(1);
      expect(Date.parse(latest.leaseExpiresAt)).toBeGreaterThan(Date.parse(opened.leaseExpiresAt));

      // Quiet: the renew point after the last bytes may still see them (it is at most one period away, 1.8 s
      // here, and its call may take a while on a busy machine); from the next one on, none renews.
      socket.destroy();
      await sleep(4_500);
      const count = events.filter((event) => event.type === 'renewed').length;
      await sleep(4_000);
      expect(events.filter((event) => event.type === 'renewed').length).toBe(count);
    } finally {
      await forwarder.close();
    }
  }, 30_000);
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor<T>(read: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error('timed out');
    await sleep(50);
  }
}

