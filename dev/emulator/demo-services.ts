/**
 * Demo target services behind the emulator's proxies (used by `npm start` and the integration tests):
 * a TCP echo server and a small HTTP service that says who called it.
 */
import { listen } from '../listen';
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import type { Server as TcpServer, Socket } from 'node:net';

export interface DemoService {
  host: string;
  port: number;
  /** `host:port`, what an emulator service's `target` takes. */
  target: string;
  /** Closes the listener and cuts open connections. */
  close(): Promise<void>;
}

export interface DemoOptions {
  host?: string;
  port?: number;
}

async function listenDemo(server: TcpServer | HttpServer, options: DemoOptions): Promise<{ host: string; port: number }> {
  const host = options.host ?? '127.0.0.1';
  return { host, port: await listen(server, options.port ?? 0, host) };
}

function closer(server: TcpServer | HttpServer, sockets: Set<Socket>): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => {
    closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });
    return closing;
  };
}

function trackSockets(server: TcpServer | HttpServer): Set<Socket> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  return sockets;
}

/** Writes back every byte it receives (an SSH or database stand-in for a TCP service). */
export async function startEchoServer(options: DemoOptions = {}): Promise<DemoService> {
  const server = createTcpServer((socket) => {
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
  const sockets = trackSockets(server);
  const { host, port } = await listenDemo(server, options);
  return { host, port, target: `${host}:${port}`, close: closer(server, sockets) };
}

/** Answers every request with JSON naming the service, the request and the client it came through. */
export async function startHttpDemo(options: DemoOptions & { name?: string } = {}): Promise<DemoService> {
  const name = options.name ?? 'demo-http';
  const server = createHttpServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const text = JSON.stringify({
        service: name,
        method: request.method,
        path: request.url,
        forwardedFor: request.headers['x-forwarded-for'] ?? null,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
      response.end(text);
    });
  });
  // `Upgrade: echo` switches the connection to an echo of every byte (a WebSocket's shape, without its frames):
  // what a caller sees of a protocol switch through the proxies. Any other upgrade is refused with a 426.
  server.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
    if (String(request.headers.upgrade ?? '').toLowerCase() !== 'echo') {
      socket.end('HTTP/1.1 426 Upgrade Required\r\nupgrade: echo\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      return;
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: echo\r\nx-demo-service: ${name}\r\n\r\n`);
    if (head.length > 0) socket.write(head);
    socket.pipe(socket);
  });
  const sockets = trackSockets(server);
  const { host, port } = await listenDemo(server, options);
  return { host, port, target: `${host}:${port}`, close: closer(server, sockets) };
}
