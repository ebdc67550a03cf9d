/**
 * Test-side helpers for the remote.it emulator: an independent signer for both schemes (node:crypto,
 * written from docs/remoteit-api.md, sharing no code with the emulator or the broker), raw HTTP calls that
 * keep the exact bytes, and bounded TCP probes from chosen loopback source addresses.
 */
import { createHmac } from 'node:crypto';
import { request } from 'node:http';
import { connect } from 'node:net';
import type { Socket } from 'node:net';

export const DEVELOPER_KEY = 'TEST-DEVELOPER-KEY';
export const ACCESS_KEY_ID = 'TESTACCESSKEYID';
/** base64 of 32 arbitrary bytes. */
export const SECRET_ACCESS_KEY = Buffer.from('0123456789abcdef0123456789abcdef').toString('base64');
export const USERNAME = 'tester@example.com';
export const PASSWORD = 'correct horse battery staple';

export const testAccount = {
  developerKey: DEVELOPER_KEY,
  accessKeyId: ACCESS_KEY_ID,
  secretAccessKey: SECRET_ACCESS_KEY,
  username: USERNAME,
  password: PASSWORD,
};

export const TCP_SERVICE = '80:00:00:00:01:00:00:01';
export const HTTP_SERVICE = '80:00:00:00:01:00:00:02';

const hmac = (secretBase64: string, text: string) =>
  createHmac('sha256', Buffer.from(secretBase64, 'base64')).update(text, 'utf8').digest('base64');

export interface SignInput {
  method: string;
  /** Full URL called. */
  url: string;
  body: string;
  date?: Date;
  keyId?: string;
  secret?: string;
}

/** Scheme A (draft-cavage) headers. */
export function signCavage(input: SignInput): Record<string, string> {
  const url = new URL(input.url);
  const date = (input.date ?? new Date()).toUTCString();
  const contentLength = String(Buffer.byteLength(input.body, 'utf8'));
  const base = [
    `(request-target): ${input.method.toLowerCase()} ${url.pathname}${url.search}`,
    `host: ${url.host}`,
    `date: ${date}`,
    'content-type: application/json',
    `content-length: ${contentLength}`,
  ].join('\n');
  const signature = hmac(input.secret ?? SECRET_ACCESS_KEY, base);
  return {
    date,
    'content-type': 'application/json',
    'content-length': contentLength,
    authorization: `Signature keyId="${input.keyId ?? ACCESS_KEY_ID}",algorithm="hmac-sha256",headers="(request-target) host date content-type content-length",signature="${signature}"`,
  };
}

/** Scheme B (RFC 9421, label `remoteit`) headers. */
export function signRfc9421(input: SignInput): Record<string, string> {
  const url = new URL(input.url);
  const when = input.date ?? new Date();
  const date = when.toUTCString();
  const created = Math.floor(when.getTime() / 1000);
  const params = `("@method" "@authority" "@target-uri" "date");keyid="${input.keyId ?? ACCESS_KEY_ID}";alg="hmac-sha256";created=${created};expires=${created + 300}`;
  const base = [
    `"@method": ${input.method.toUpperCase()}`,
    `"@authority": ${url.host}`,
    `"@target-uri": ${url.href}`,
    `"date": ${date}`,
    `"@signature-params": ${params}`,
  ].join('\n');
  return {
    date,
    'content-type': 'application/json',
    'signature-input': `remoteit=${params}`,
    signature: `remoteit=:${hmac(input.secret ?? SECRET_ACCESS_KEY, base)}:`,
  };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Exact body text, escapes included. */
  text: string;
  json: Record<string, unknown>;
}

/** POSTs `body` with exactly `headers` (plus Host and Content-Length); no keep-alive left behind. */
/** The header the emulator's admin API (`/_emulator/*`) wants: its per-start token. */
export const adminAuth = (emulator: { adminToken: string }): Record<string, string> => ({ authorization: `Bearer ${emulator.adminToken}` });

export function rawCall(url: string, body: string, headers: Record<string, string>, method = 'POST'): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const outgoing = request(url, { method, headers: { 'content-length': String(Buffer.byteLength(body)), ...headers }, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: Record<string, unknown> = {};
        try {
          json = JSON.parse(text) as Record<string, unknown>;
        } catch {
          // Left empty: tests on non-JSON answers read `text`.
        }
        resolve({ status: response.statusCode ?? 0, headers: response.headers, text, json });
      });
      response.on('error', reject);
    });
    outgoing.setTimeout(10_000, () => outgoing.destroy(new Error(`no answer from ${url} within 10 s`)));
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

/** Calls the emulator API signed with scheme A (the broker's default). */
export function signedCall(apiUrl: string, path: string, payload: unknown): Promise<RawResponse> {
  const url = `${apiUrl}${path}`;
  const body = JSON.stringify(payload);
  return rawCall(url, body, { developerkey: DEVELOPER_KEY, ...signCavage({ method: 'POST', url, body }) });
}

/**
 * POSTs a GraphQL query to `graphqlUrl` as remote.it's docs show it: signed with scheme A over the
 * GraphQL request and no developer key (`auth: 'signature'`), with a login token in a `token` header, or bare.
 */
export function graphqlCall(
  graphqlUrl: string,
  query: string,
  auth: { signature?: Partial<SignInput>; token?: string } = { signature: {} },
): Promise<RawResponse> {
  const body = JSON.stringify({ query });
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (auth.signature !== undefined) Object.assign(headers, signCavage({ method: 'POST', url: graphqlUrl, body, ...auth.signature }));
  if (auth.token !== undefined) headers.token = auth.token;
  return rawCall(graphqlUrl, body, headers);
}

export interface Connected {
  connectionid: string;
  connection: Record<string, unknown> & { proxy: string; proxyServerPort: number; proxyserver: string };
}

export async function openProxy(apiUrl: string, serviceId: string, hostip: string, extra: Record<string, unknown> = {}): Promise<Connected> {
  const response = await signedCall(apiUrl, '/device/connect', { deviceaddress: serviceId, wait: 'true', hostip, ...extra });
  if (response.json.status !== 'true') throw new Error(`connect failed: HTTP ${response.status} ${response.text}`);
  return response.json as unknown as Connected;
}

export type ProbeOutcome = 'echoed' | 'closed' | 'refused' | 'timeout';

/** Opens a TCP connection from `localAddress`, keeps it open, and tells what happened to `payload`. */
export function openSocket(port: number, localAddress: string, host = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, localAddress });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Sends `payload` on `socket` and waits (at most `timeoutMs`) for it to come back or the socket to close. */
export function exchange(socket: Socket, payload: string, timeoutMs = 3_000): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    let received = '';
    const finish = (outcome: ProbeOutcome) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      resolve(outcome);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.toString('utf8');
      if (received === payload) finish('echoed');
    };
    const onClose = () => finish('closed');
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    socket.on('error', () => undefined);
    socket.on('data', onData);
    socket.once('close', onClose);
    if (socket.destroyed) finish('closed');
    else socket.write(payload);
  });
}

/** Connects from `localAddress`, sends one payload, closes: the whole life of a short client. */
export async function probe(port: number, localAddress: string, payload = 'ping'): Promise<ProbeOutcome> {
  let socket: Socket;
  try {
    socket = await openSocket(port, localAddress);
  } catch {
    return 'refused';
  }
  try {
    return await exchange(socket, payload);
  } finally {
    socket.destroy();
  }
}

/** Resolves once `socket` has closed, or 'timeout' after `timeoutMs`. */
export function closedWithin(socket: Socket, timeoutMs: number): Promise<'closed' | 'timeout'> {
  if (socket.destroyed) return Promise.resolve('closed');
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), timeoutMs);
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve('closed');
    });
  });
}

/** Polls `condition` every 50 ms for at most `timeoutMs`; returns its last value. */
export async function eventually(condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
