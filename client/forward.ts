/**
 * A stable local address for a remote.it service: `Forwarder` binds a local port first, opens a broker
 * connection on the first local connection (or at once), and carries every local socket to remote.it's proxy,
 * for as long as the work goes on (client/lease.ts renews while sockets carry bytes). When a connection ends
 * (its lease, remote.it's expiry, `idleMs` without traffic, a lock), the port stays, and the next local
 * connection opens another. rbroker itself is what connects to the proxy, so it latches a latching proxy and
 * the proxy's address never has to reach a shell.
 *
 * A tcp service's port proxy is piped byte for byte; an http service gets remote.it's reverse proxy (an https
 * URL that routes by host name), so the local port serves plain HTTP and sends each request on to that URL
 * with its host name; a request to switch protocols (`Upgrade`, e.g. a WebSocket) is sent on the same way
 * and, once the proxy agrees (101), both sockets are joined. This is the engine of `rbroker forward`, and
 * usable from code.
 */
import { Agent as HttpAgent, createServer as createHttpServer, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders, type Server as HttpServer, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { connect, createServer, isIP, type Server, type Socket } from 'node:net';
import type { BrokerClient } from './client';
import { BrokerApiError } from './errors';
import { isLive, LeaseKeeper, leaseSecondsOf, type LeaseEvent, type Usage } from './lease';
import type { Connection, ConnectionMode, OpenConnectionInput } from './types';

export interface ForwardOptions {
  client: Pick<BrokerClient, 'open' | 'renew' | 'get' | 'stop'>;
  serviceId: string;
  /** The local address to listen on. Default 127.0.0.1; anything else lets other hosts use the connection. */
  listen?: string;
  /** Default 0: a free port, chosen once and kept for as long as the forwarder lives. */
  localPort?: number;
  mode?: ConnectionMode;
  /** Each lease (opens and renews); default: what the broker gives an open naming none. */
  ttlSeconds?: number;
  /** Stop the connection after this long without a byte either way (the port stays). */
  idleMs?: number;
  /** Besides traffic, whether work that needs the connection goes on (a command running): renews while true. */
  busy?: () => boolean;
  /** See LeaseKeeperOptions.renewAfter. */
  renewAfter?: number;
  onEvent?: (event: ForwardEvent) => void;
}

export type ForwardEvent =
  | { type: 'opened'; connection: Connection }
  | LeaseEvent
  /** Stopped by the forwarder for `idleMs` without traffic. */
  | { type: 'idle_stopped'; connection: Connection }
  /** An open failed. `fatal`: asking again cannot help (bad input, denied, locked, unknown service). */
  | { type: 'open_failed'; error: Error; fatal: boolean }
  /** A local socket could not be carried to the proxy. */
  | { type: 'dial_failed'; connection: Connection; message: string };

/** The local port is taken (or cannot be bound): nothing was opened. */
export class LocalPortError extends Error {
  readonly code = 'local_port';
  constructor(
    message: string,
    readonly address: string,
    readonly port: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'LocalPortError';
  }
}

/** An answer that will not change if the open is asked again: the forwarder cannot serve this service. */
export function isFatalOpenError(error: unknown): boolean {
  return error instanceof BrokerApiError && error.status >= 400 && error.status < 500 && error.status !== 409 && error.status !== 429;
}

const LATCH_TIMEOUT_MS = 5_000;
/** A local request's answer (502) when the connection it would go through has ended. */
const ENDED_TEXT = 'rbroker: the connection has ended; connect again\n';

/** Request headers that belong to one hop (RFC 9110 section 7.6.1) and are not sent on to the reverse proxy. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'te', 'trailer', 'upgrade', 'host']);

function withoutHopByHop(headers: IncomingMessage['headers']): OutgoingHttpHeaders {
  const named = new Set((String(headers.connection ?? '')).split(',').map((name) => name.trim().toLowerCase()));
  const kept: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name) && !named.has(name)) kept[name] = value;
  }
  return kept;
}

interface Live {
  keeper: LeaseKeeper;
  /** A reverse proxy's agent, so that requests reuse their sockets to it; closed with the connection. */
  agent?: HttpAgent | HttpsAgent;
}

export class Forwarder {
  private live: Live | undefined;
  private opening: Promise<Live> | undefined;
  private readonly sockets = new Set<Socket>();
  /** Connections to remote.it's proxy now open (sockets piped, requests in flight). */
  private proxyUses = 0;
  private lastProxyUseMs: number | undefined;
  private lastTrafficMs = Date.now();
  private idleTimer: NodeJS.Timeout | undefined;
  private closing = false;
  private readonly reverse: HttpServer;

  private constructor(
    private readonly options: ForwardOptions,
    private readonly server: Server,
    readonly host: string,
    readonly port: number,
  ) {
    this.reverse = createHttpServer((request, response) => this.relay(request, response));
    this.reverse.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => this.relayUpgrade(request, socket, head));
    server.on('connection', (socket) => this.accept(socket));
  }

  /** Binds the local port; a LocalPortError if it is taken. Opens nothing yet (see `open`). */
  static async listen(options: ForwardOptions): Promise<Forwarder> {
    const host = options.listen ?? '127.0.0.1';
    const port = options.localPort ?? 0;
    const server = createServer({ pauseOnConnect: true, noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => {
        const where = `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
        const why =
          error.code === 'EADDRINUSE'
            ? `${where} is in use by another program: pick another --local-port, or leave it out for a free one`
            : error.code === 'EACCES'
              ? `${where} needs privileges to bind: pick a port above 1023`
              : error.code === 'EADDRNOTAVAIL'
                ? `${host} is not an address of this machine (--listen)`
                : `cannot listen on ${where}: ${error.message}`;
        reject(new LocalPortError(why, host, port, { cause: error }));
      });
      server.listen({ host, port, exclusive: true }, resolve);
    });
    const bound = server.address();
    if (bound === null || typeof bound === 'string') throw new LocalPortError(`cannot tell the port bound on ${host}`, host, port);
    return new Forwarder(options, server, host, bound.port);
  }

  /** `host:port` as a client connects to it. */
  get local(): string {
    return `${isIP(this.host) === 6 ? `[${this.host}]` : this.host}:${this.port}`;
  }

  /** The live connection, if there is one. */
  get connection(): Connection | undefined {
    return this.live?.keeper.connection;
  }

  /** The live connection, opened now if there is none (what the first local connection does). */
  async open(): Promise<Connection> {
    return (await this.ensureLive()).keeper.connection;
  }

  /** Stops the live connection (if any), refuses new sockets and ends the open ones. The stopped connection, if one was. */
  async close(): Promise<Connection | undefined> {
    this.closing = true;
    clearTimeout(this.idleTimer);
    // The server closes once its sockets have: end them (an HTTP client's keep-alive socket would hold it).
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
    let live: Live | undefined;
    try {
      live = this.opening ? await this.opening : this.live;
    } catch {
      live = undefined;
    }
    return live ? this.stopLive(live) : undefined;
  }

  private emit(event: ForwardEvent): void {
    this.options.onEvent?.(event);
  }

  private ensureLive(): Promise<Live> {
    if (this.live) return Promise.resolve(this.live);
    if (this.closing) return Promise.reject(new Error('the forwarder is closing'));
    this.opening ??= this.openLive().finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  private async openLive(): Promise<Live> {
    const { client, serviceId, mode, ttlSeconds } = this.options;
    const input: OpenConnectionInput = { serviceId, ...(mode && { mode }), ...(ttlSeconds !== undefined && { ttlSeconds }) };
    let connection: Connection;
    try {
      ({ connection } = await client.open(input));
    } catch (error) {
      this.emit({ type: 'open_failed', error: error instanceof Error ? error : new Error(String(error)), fatal: isFatalOpenError(error) });
      throw error;
    }
    const keeper = new LeaseKeeper({
      client,
      connection,
      ttlSeconds: ttlSeconds ?? leaseSecondsOf(connection),
      usage: (sinceMs) => this.usage(sinceMs),
      onEvent: (event) => this.onLeaseEvent(event),
      ...(this.options.renewAfter !== undefined && { renewAfter: this.options.renewAfter }),
    });
    const live: Live = { keeper };
    if (connection.proxy?.kind === 'reverse') {
      const secure = connection.proxy.url.startsWith('https:');
      live.agent = secure ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
    }
    // Latch a latching proxy before anyone hears of it: the first address to connect owns it, and that must
    // be this one (a local socket waiting on this open is carried right after).
    if (connection.proxy?.kind === 'port' && connection.mode === 'latching') await this.latch(connection.proxy);
    this.live = live;
    this.lastTrafficMs = Date.now();
    keeper.start();
    this.emit({ type: 'opened', connection });
    if (!this.closing) this.armIdle();
    return live;
  }

  /** Connects to the proxy once and leaves; settles when connected, refused, or after LATCH_TIMEOUT_MS. */
  private latch(proxy: NonNullable<Connection['proxy']>): Promise<void> {
    return new Promise((resolve) => {
      const socket = connect({ host: proxy.host, port: proxy.port });
      const done = () => {
        socket.destroy();
        resolve();
      };
      socket.setTimeout(LATCH_TIMEOUT_MS, done);
      socket.once('connect', () => {
        this.lastProxyUseMs = Date.now();
        socket.end();
        resolve();
      });
      socket.once('error', done);
      socket.resume();
    });
  }

  /** What the lease keeper renews by: a command running, a socket open now, or bytes since `sinceMs`. */
  private usage(sinceMs: number): Usage {
    const usedAtMs = this.proxyUses > 0 ? Date.now() : this.lastProxyUseMs;
    return {
      busy: (this.options.busy?.() ?? false) || this.proxyUses > 0 || this.lastTrafficMs > sinceMs,
      usedAt: usedAtMs === undefined ? undefined : new Date(usedAtMs),
    };
  }

  private onLeaseEvent(event: LeaseEvent): void {
    if (event.type === 'ended' && this.live?.keeper.connection.id === event.connection.id) this.forget(this.live);
    this.emit(event);
  }

  /** The connection is over: nothing more is carried to it; the next local socket opens another. */
  private forget(live: Live): void {
    live.keeper.stop();
    live.agent?.destroy();
    if (this.live === live) this.live = undefined;
    clearTimeout(this.idleTimer);
  }

  /** Stops the connection at the broker, after forgetting it here (nothing more is carried to it). */
  private async stopLive(live: Live): Promise<Connection> {
    this.forget(live);
    return (await this.options.client.stop(live.keeper.connection.id)).connection;
  }

  private touch(): void {
    this.lastTrafficMs = Date.now();
  }

  private armIdle(): void {
    const idleMs = this.options.idleMs;
    clearTimeout(this.idleTimer);
    if (idleMs === undefined || !this.live) return;
    const dueMs = this.lastTrafficMs + idleMs - Date.now();
    this.idleTimer = setTimeout(() => void this.idleCheck(idleMs), Math.max(dueMs, 50));
    this.idleTimer.unref();
  }

  private async idleCheck(idleMs: number): Promise<void> {
    const live = this.live;
    if (!live || this.closing) return;
    if (Date.now() - this.lastTrafficMs < idleMs) {
      this.armIdle();
      return;
    }
    try {
      const stopped = await this.stopLive(live);
      this.emit({ type: 'idle_stopped', connection: stopped });
    } catch (error) {
      // Not stopped: the lease ends it; the forwarder no longer renews it.
      this.emit({ type: 'renew_failed', connection: live.keeper.connection, error: error instanceof Error ? error : new Error(String(error)), retryInMs: 0 });
    }
  }

  private accept(socket: Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    this.touch();
    void this.carry(socket, true);
  }

  /** Hands a local socket to the live connection's proxy; `retry`: once more with a new connection if it ended. */
  private async carry(socket: Socket, retry: boolean): Promise<void> {
    let live: Live;
    try {
      live = await this.ensureLive();
    } catch {
      socket.destroy();
      return;
    }
    if (socket.destroyed) return;
    const connection = live.keeper.connection;
    const proxy = connection.proxy;
    if (!proxy) {
      this.emit({ type: 'dial_failed', connection, message: `connection ${connection.id} has no proxy (status ${connection.status})` });
      socket.destroy();
      return;
    }
    if (proxy.kind === 'reverse') {
      this.reverse.emit('connection', socket);
      socket.resume();
      return;
    }
    const remote = connect({ host: proxy.host, port: proxy.port, noDelay: true });
    let connected = false;
    remote.once('connect', () => {
      connected = true;
      this.proxyUses += 1;
      this.lastProxyUseMs = Date.now();
      remote.once('close', () => {
        this.proxyUses -= 1;
        this.lastProxyUseMs = Date.now();
      });
      const count = () => {
        this.touch();
      };
      socket.on('data', count);
      remote.on('data', count);
      socket.pipe(remote);
      remote.pipe(socket);
      socket.resume();
    });
    remote.on('error', (error: NodeJS.ErrnoException) => {
      remote.destroy();
      if (connected) {
        socket.destroy();
        return;
      }
      void this.dialFailed(socket, live, retry, error.code ?? error.message);
    });
    remote.once('close', () => {
      if (connected) socket.destroy();
    });
    socket.once('close', () => remote.destroy());
  }

  /** The proxy refused the dial: has the connection ended (then a new one carries the socket), or is it something else? */
  private async dialFailed(socket: Socket, live: Live, retry: boolean, why: string): Promise<void> {
    const connection = live.keeper.connection;
    let latest: Connection | undefined;
    try {
      latest = await live.keeper.check();
    } catch {
      latest = undefined;
    }
    if (latest && !isLive(latest) && retry && !this.closing) {
      if (this.live === live) this.forget(live);
      await this.carry(socket, false);
      return;
    }
    this.emit({ type: 'dial_failed', connection, message: `remote.it's proxy ${connection.proxy?.host ?? ''}:${connection.proxy?.port ?? ''} refused the connection (${why})` });
    socket.destroy();
  }

  /** A use of the reverse proxy starts (it counts as work until it ends): the call that ends it, once. */
  private beginUse(): () => void {
    this.proxyUses += 1;
    this.touch();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.proxyUses -= 1;
      this.lastProxyUseMs = Date.now();
    };
  }

  /** Where a local request goes: the reverse proxy's origin and base path, with the host name remote.it routes by. */
  private static targetOf(proxyUrl: string, request: IncomingMessage) {
    const target = new URL(proxyUrl);
    const basePath = target.pathname === '/' ? '' : target.pathname.replace(/\/$/, '');
    return {
      send: target.protocol === 'https:' ? httpsRequest : httpRequest,
      options: {
        protocol: target.protocol,
        hostname: target.hostname,
        port: target.port || undefined,
        method: request.method,
        path: `${basePath}${request.url ?? '/'}`,
        headers: { ...withoutHopByHop(request.headers), host: target.host } as OutgoingHttpHeaders,
      },
    };
  }

  /** One request through the reverse proxy (http services), with the host name remote.it routes by. */
  private relay(request: IncomingMessage, response: ServerResponse): void {
    const live = this.live;
    const proxy = live?.keeper.connection.proxy;
    if (!live || !proxy) {
      response.writeHead(502, { 'content-type': 'text/plain' }).end(ENDED_TEXT);
      request.socket.destroy();
      return;
    }
    const { send, options } = Forwarder.targetOf(proxy.url, request);
    const finish = this.beginUse();
    const outgoing = send(
      { ...options, agent: live.agent },
      (answer) => {
        const headers = withoutHopByHop(answer.headers);
        response.writeHead(answer.statusCode ?? 502, answer.statusMessage, headers);
        answer.on('data', () => this.touch());
        answer.pipe(response);
        answer.once('end', finish);
        answer.once('error', () => {
          finish();
          response.destroy();
        });
      },
    );
    request.on('data', () => this.touch());
    request.pipe(outgoing);
    outgoing.on('error', (error) => {
      finish();
      if (response.headersSent) {
        response.destroy();
        return;
      }
      response.writeHead(502, { 'content-type': 'text/plain' }).end(`rbroker: remote.it's reverse proxy did not answer: ${error.message}\n`);
    });
    response.once('close', finish);
  }

  /**
   * A request to switch protocols (a WebSocket) through the reverse proxy: sent with its `Upgrade` (a hop-by-hop
   * header, so kept only here), on a socket of its own. The proxy's 101 and its bytes go back to the local
   * socket, and from then on the two are joined; any other answer is passed back and the local socket closed.
   * Inferred: that remote.it's reverse proxies pass an upgrade on to the service; when one does not, the caller
   * gets its answer, as it would from the proxy itself.
   */
  private relayUpgrade(request: IncomingMessage, socket: Socket, head: Buffer): void {
    const proxy = this.live?.keeper.connection.proxy;
    if (!proxy) {
      socket.end(`HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${ENDED_TEXT}`);
      return;
    }
    const { send, options } = Forwarder.targetOf(proxy.url, request);
    const upgrade = request.headers.upgrade ?? '';
    const outgoing = send({ ...options, headers: { ...options.headers, connection: 'upgrade', upgrade }, agent: false });
    const finish = this.beginUse();
    socket.once('close', finish);
    socket.on('error', () => outgoing.destroy());
    outgoing.on('upgrade', (answer: IncomingMessage, remote: Socket, remoteHead: Buffer) => {
      socket.write(statusLineOf(answer) + headerLinesOf(answer.rawHeaders));
      if (remoteHead.length > 0) socket.write(remoteHead);
      if (head.length > 0) remote.write(head);
      const count = () => this.touch();
      socket.on('data', count);
      remote.on('data', count);
      remote.on('error', () => socket.destroy());
      remote.once('close', () => socket.destroy());
      socket.once('close', () => remote.destroy());
      socket.pipe(remote);
      remote.pipe(socket);
    });
    outgoing.on('response', (answer: IncomingMessage) => {
      // Not switched: the answer as it came, its body delimited by the close (it arrives de-chunked).
      const raw = answer.rawHeaders;
      const kept: string[] = [];
      for (let index = 0; index + 1 < raw.length; index += 2) {
        const name = raw[index] ?? '';
        if (!['transfer-encoding', 'connection', 'keep-alive'].includes(name.toLowerCase())) kept.push(name, raw[index + 1] ?? '');
      }
      socket.write(statusLineOf(answer) + headerLinesOf([...kept, 'connection', 'close']));
      answer.on('data', () => this.touch());
      answer.pipe(socket);
    });
    outgoing.on('error', (error) => {
      finish();
      if (socket.writable) socket.end(`HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nrbroker: remote.it's reverse proxy did not answer: ${error.message}\n`);
    });
    outgoing.end();
  }
}

/** `HTTP/1.1 <status> <reason>` and its line end. */
function statusLineOf(answer: IncomingMessage): string {
  return `HTTP/1.1 ${answer.statusCode ?? 502} ${answer.statusMessage ?? ''}\r\n`;
}

/** Raw header pairs as header lines, and the blank line that ends them. */
function headerLinesOf(raw: readonly string[]): string {
  let text = '';
  for (let index = 0; index + 1 < raw.length; index += 2) text += `${raw[index] ?? ''}: ${raw[index + 1] ?? ''}\r\n`;
  return `${text}\r\n`;
}
