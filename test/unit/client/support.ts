/**
 * A scripted broker for the client's unit tests: a real HTTP server on 127.0.0.1 that checks every request's
 * SigV4 signature with the local gateway's verifier and answers from a script, recording what it received.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { flattenHeaders } from '../../../dev/gateway';
import { verifySigV4 } from '../../../dev/sigv4';
import { PassThrough } from 'node:stream';
import { parseCommandLine, UsageError } from '../../../client/cli/args';
import { main } from '../../../client/cli/main';

export const KEY = { accessKeyId: 'AKIATESTCLIENT000001', secretAccessKey: 'test-secret-key-for-the-client-tests' };
export const REGION = 'eu-central-1';

export interface Received {
  method: string;
  path: string;
  rawQuery: string;
  headers: Record<string, string>;
  body: string;
  /** The verifier's verdict on the signature. */
  signed: boolean;
}

export type Reply =
  | { status: number; body?: unknown; headers?: Record<string, string>; raw?: string }
  | 'destroy'
  | 'hang';

export interface ScriptedServer {
  url: string;
  received: Received[];
  close(): Promise<void>;
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

/** Answers the n-th request with `script(n, request)` (n from 0). */
export async function startScriptedServer(script: (index: number, request: Received) => Reply): Promise<ScriptedServer> {
  const received: Received[] = [];
  const hanging = new Set<() => void>();
  const server: Server = createServer((request, response) => {
    void (async () => {
      const body = await readBody(request);
      const [path = '', rawQuery = ''] = (request.url ?? '').split('?', 2) as [string, string?];
      const headers = flattenHeaders(request.headers);
      const verdict = await verifySigV4(
        { method: request.method ?? '', path, rawQuery, headers, body },
        { region: REGION, service: 'execute-api', lookup: (id) => (id === KEY.accessKeyId ? KEY : undefined) },
      );
      const entry: Received = { method: request.method ?? '', path, rawQuery, headers, body: body.toString('utf8'), signed: verdict.ok };
      received.push(entry);
      const reply = script(received.length - 1, entry);
      if (reply === 'destroy') {
        request.socket.destroy();
        return;
      }
      if (reply === 'hang') {
        hanging.add(() => response.destroy());
        return;
      }
      const problem = reply.status >= 400 && reply.body !== undefined && typeof (reply.body as { type?: unknown }).type === 'string';
      response.writeHead(reply.status, {
        'content-type': problem ? 'application/problem+json' : 'application/json',
        'apigw-requestid': `req-${received.length}`,
        ...reply.headers,
      });
      response.end(reply.raw ?? (reply.body === undefined ? '' : JSON.stringify(reply.body)));
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    async close() {
      for (const release of hanging) release();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export const problem = (code: string, status: number, title: string, detail: string, extra: object = {}) => ({
  type: `urn:remoteit-broker:problem:${code}`,
  title,
  status,
  detail,
  instance: `instance-${code}`,
  ...extra,
});

/** A connection as the API answers it. */
export function connection(overrides: Record<string, unknown> = {}) {
  return {
    id: '01JDTESTCONNECTION00000001',
    serviceId: '80:00:00:00:00:00:00:01',
    mode: 'latching',
    hostIp: '255.255.255.255',
    status: 'active',
    proxy: { kind: 'port', url: 'tcp://127.0.0.1:40001', host: '127.0.0.1', port: 40001 },
    owner: 'arn:aws:iam::000000000000:role/local-app',
    createdAt: '2026-11-26T14:00:00.000Z',
    leaseExpiresAt: '2026-11-26T14:15:00.000Z',
    expiresAt: '2026-11-26T22:00:00.000Z',
    ...overrides,
  };
}

/** The usage error `argv` gets from the CLI's parser; fails when it parses. */
export function usage(argv: string[]): string {
  try {
    parseCommandLine(argv);
  } catch (error) {
    if (error instanceof UsageError) return error.message;
    throw error;
  }
  throw new Error(`no usage error for ${argv.join(' ')}`);
}

/** Runs the CLI in process with `argv`; what it wrote to stdout and stderr and its exit code. */
export async function runCli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: string[] = [];
  const err: string[] = [];
  stdout.on('data', (chunk: Buffer) => out.push(chunk.toString('utf8')));
  stderr.on('data', (chunk: Buffer) => err.push(chunk.toString('utf8')));
  const code = await main(argv, { stdout, stderr });
  return { code, stdout: out.join(''), stderr: err.join('') };
}
