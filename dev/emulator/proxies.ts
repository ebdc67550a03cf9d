/**
 * The proxies the emulator opens, as remote.it's proxy servers would: a TCP port proxy per connection
 * for tcp services (access enforced by the connecting socket's address: public / ip / latching), an
 * HTTP reverse proxy for http services (always public, as remote.it's reverse proxies are). Both close
 * on stop, on override, after their lifetime, and after an idle time with no open TCP connection.
 */
import { listen } from '../listen';
import { randomUUID } from 'node:crypto';
import { Agent, createServer as createHttpServer, request as httpRequest } from 'node:http';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { connect, createServer as createTcpServer } from 'node:net';
import type { Server as TcpServer, Socket } from 'node:net';
import type { ServiceConfig } from './options';

export const PUBLIC_HOST_IP = '0.0.0.0';
export const LATCHING_HOST_IP = '255.255.255.255';

export type AccessMode = 'public' | 'latching' | 'ip';
export type EndReason = 'stopped' | 'overridden' | 'expired_lifetime' | 'expired_idle' | 'shutdown';

export interface ProxySnapshot {
  connectionId: string;
  serviceId: string;
  serviceName: string;
  kind: ServiceConfig['kind'];
  /** The account's label (`label`, else `account-<n>`): never a key id, a username or the developer key. */
  account: string;
  hostIp: string;
  /** The mode actually enforced: http services are public whatever hostIp says. */
  mode: AccessMode;
  concurrent: boolean;
  proxyUrl: string;
  proxyPort: number;
  createdAt: string;
  expiresAt: string;
  state: 'active' | 'ended';
  /**
   * True once a connect answer naming this proxy reached the client. A proxy whose answer was lost (timeout,
   * reset, a fault after effect) is live at remote.it but unknown to the client: nobody holds its address.
   */
  announced: boolean;
  endReason?: EndReason;
  endedAt?: string;
  latchedIp?: string;
  openSockets: number;
  acceptedSockets: number;
  refusedSockets: number;
}

export interface ProxyOptions {
  service: ServiceConfig;
  /** Who owns the proxy (overrides and stops match on it); in process only, never shown. */
  account: string;
  /** What snapshots show as the account. */
  accountLabel: string;
  hostIp: string;
  concurrent: boolean;
  proxyHost: string;
  lifetimeSeconds: number;
  idleSeconds: number;
}

export function accessModeOf(hostIp: string): AccessMode {
  if (hostIp === PUBLIC_HOST_IP) return 'public';
  if (hostIp === LATCHING_HOST_IP) return 'latching';
  return 'ip';
}

/** A dual-stack socket reports IPv4 peers as `::ffff:a.b.c.d`; hostip speaks plain IPv4. */
function peerAddress(socket: Socket): string {
  return (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
}

function splitTarget(target: string): { host: string; port: number } {
  const separator = target.lastIndexOf(':');
  return { host: target.slice(0, separator), port: Number(target.slice(separator + 1)) };
}

export class EmulatedProxy {
  readonly connectionId = randomUUID().toUpperCase();
  readonly createdAt = Date.now();
  readonly expiresAt: number;
  readonly mode: AccessMode;
  port = 0;
  state: 'active' | 'ended' = 'active';
  announced = false;
  endReason?: EndReason;
  endedAt?: number;
  latchedIp?: string;
  acceptedSockets = 0;
  refusedSockets = 0;

  private readonly server: TcpServer | HttpServer;
  private readonly target: { host: string; port: number };
  /** Client-side sockets: what counts for idleness and what stop must cut. */
  private readonly clientSockets = new Set<Socket>();
  private readonly upstreamSockets = new Set<Socket>();
  /** Own agent so closing the proxy also drops its kept-alive upstream sockets. */
  private readonly agent = new Agent({ keepAlive: true });
  private readonly lifetimeTimer: NodeJS.Timeout;
  private idleTimer?: NodeJS.Timeout;
  private closing?: Promise<void>;

  private constructor(readonly options: ProxyOptions) {
    this.mode = options.service.kind === 'http' ? 'public' : accessModeOf(options.hostIp);
    this.expiresAt = this.createdAt + options.lifetimeSeconds * 1000;
    this.target = splitTarget(options.service.target);
    this.server =
      options.service.kind === 'http'
        ? createHttpServer((request, response) => this.forwardHttp(request, response))
        : createTcpServer({ allowHalfOpen: true }, (socket) => this.acceptTcp(socket));
    if (options.service.kind === 'http') {
      this.server.on('connection', (socket: Socket) => this.track(socket));
      this.server.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => this.forwardUpgrade(request, socket, head));
    }
    this.lifetimeTimer = setTimeout(() => void this.close('expired_lifetime'), options.lifetimeSeconds * 1000);
    this.armIdle();
  }

  static async open(options: ProxyOptions): Promise<EmulatedProxy> {
    const proxy = new EmulatedProxy(options);
    try {
      proxy.port = await listen(proxy.server, 0, options.proxyHost);
    } catch (error) {
      await proxy.close('shutdown');
      throw error;
    }
    return proxy;
  }

  get url(): string {
    return `http://${this.options.proxyHost}:${this.port}`;
  }

  /** Closes the listener and cuts every open socket at once. Idempotent: the first reason wins. */
  close(reason: EndReason): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    this.state = 'ended';
    this.endReason = reason;
    this.endedAt = Date.now();
    clearTimeout(this.lifetimeTimer);
    clearTimeout(this.idleTimer);
    this.closing = new Promise<void>((resolve) => {
      // close() waits for open sockets: destroy them first so the listener closes now.
      for (const socket of [...this.clientSockets, ...this.upstreamSockets]) socket.destroy();
      this.agent.destroy();
      if (!this.server.listening) {
        resolve();
        return;
      }
      this.server.close(() => resolve());
    });
    return this.closing;
  }

  snapshot(): ProxySnapshot {
    return {
      connectionId: this.connectionId,
      serviceId: this.options.service.serviceId,
      serviceName: this.options.service.name,
      kind: this.options.service.kind,
      account: this.options.accountLabel,
      hostIp: this.options.hostIp,
      mode: this.mode,
      concurrent: this.options.concurrent,
      proxyUrl: this.url,
      proxyPort: this.port,
      createdAt: new Date(this.createdAt).toISOString(),
      expiresAt: new Date(this.expiresAt).toISOString(),
      state: this.state,
      announced: this.announced,
      ...(this.endReason === undefined ? {} : { endReason: this.endReason }),
      ...(this.endedAt === undefined ? {} : { endedAt: new Date(this.endedAt).toISOString() }),
      ...(this.latchedIp === undefined ? {} : { latchedIp: this.latchedIp }),
      openSockets: this.clientSockets.size,
      acceptedSockets: this.acceptedSockets,
      refusedSockets: this.refusedSockets,
    };
  }

  private admits(address: string): boolean {
    switch (this.mode) {
      case 'public':
        return true;
      case 'ip':
        return address === this.options.hostIp;
      case 'latching':
        // The first address to connect owns the proxy for the rest of its life.
        this.latchedIp ??= address;
        return address === this.latchedIp;
    }
  }

  private armIdle(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => void this.close('expired_idle'), this.options.idleSeconds * 1000);
  }

  private track(socket: Socket): void {
    if (this.state !== 'active') {
      socket.destroy();
      return;
    }
    this.acceptedSockets += 1;
    this.clientSockets.add(socket);
    clearTimeout(this.idleTimer);
    socket.once('close', () => {
      this.clientSockets.delete(socket);
      if (this.clientSockets.size === 0 && this.state === 'active') this.armIdle();
    });
  }

  private acceptTcp(socket: Socket): void {
    if (this.state !== 'active' || !this.admits(peerAddress(socket))) {
      this.refusedSockets += 1;
      socket.destroy();
      return;
    }
    this.track(socket);
    // Half-open on both legs, as a TCP proxy should: a client that sends its request and then shuts down its
    // writing side (`socket.end(data)`) still gets the answer; each side's end is passed on by pipe().
    joinSockets(socket, this.dialService());
  }

  /** A socket to the service, tracked so that closing the proxy cuts it. */
  private dialService(): Socket {
    const upstream = connect({ ...this.target, allowHalfOpen: true });
    this.upstreamSockets.add(upstream);
    upstream.once('close', () => this.upstreamSockets.delete(upstream));
    return upstream;
  }

  private forwardHttp(request: IncomingMessage, response: ServerResponse): void {
    const forwarded = request.headers['x-forwarded-for'];
    const peer = peerAddress(request.socket);
    const upstreamRequest = httpRequest(
      {
        ...this.target,
        agent: this.agent,
        method: request.method,
        path: request.url,
        headers: {
          ...request.headers,
          host: this.options.service.target,
          'x-forwarded-for': forwarded === undefined ? peer : `${String(forwarded)}, ${peer}`,
        },
      },
      (upstreamResponse) => {
        response.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
        upstreamResponse.pipe(response);
      },
    );
    upstreamRequest.on('socket', (socket) => {
      // The agent reuses sockets: listen for each one's close only once.
      if (this.upstreamSockets.has(socket)) return;
      this.upstreamSockets.add(socket);
      socket.once('close', () => this.upstreamSockets.delete(socket));
    });
    upstreamRequest.on('error', () => {
      if (response.headersSent) {
        response.destroy();
        return;
      }
      response.writeHead(502, { 'content-type': 'text/plain' }).end('bad gateway: the service did not answer\n');
    });
    request.pipe(upstreamRequest);
  }

  /**
   * A request to switch protocols (a WebSocket) on the reverse proxy: its head written again to the service,
   * with the service's host and the client in x-forwarded-for as for any request, then the two sockets
   * joined byte for byte, whatever the service answers. An assumption: remote.it's documentation does not
   * say whether its reverse proxies carry upgrades (docs/remoteit-api.md).
   */
  private forwardUpgrade(request: IncomingMessage, socket: Socket, head: Buffer): void {
    const upstream = this.dialService();
    const forwarded = request.headers['x-forwarded-for'];
    const peer = peerAddress(socket);
    const lines = [`${request.method ?? 'GET'} ${request.url ?? '/'} HTTP/1.1`];
    for (let index = 0; index + 1 < request.rawHeaders.length; index += 2) {
      const name = request.rawHeaders[index] ?? '';
      if (!['host', 'x-forwarded-for'].includes(name.toLowerCase())) lines.push(`${name}: ${request.rawHeaders[index + 1] ?? ''}`);
    }
    lines.push(`host: ${this.options.service.target}`, `x-forwarded-for: ${forwarded === undefined ? peer : `${String(forwarded)}, ${peer}`}`);
    upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length > 0) upstream.write(head);
    joinSockets(socket, upstream);
  }
}

/** Pipes two sockets both ways; either side failing or closing ends the pair, as a proxy server would. */
function joinSockets(socket: Socket, upstream: Socket): void {
  upstream.on('error', () => socket.destroy());
  socket.on('error', () => upstream.destroy());
  upstream.once('close', () => socket.destroy());
  socket.once('close', () => upstream.destroy());
  socket.pipe(upstream);
  upstream.pipe(socket);
}
