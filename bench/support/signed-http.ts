/**
 * An API client as an app would run it: SigV4-signed (`execute-api`) with the AWS SDK's signer, over one
 * kept-alive connection per client, from its own loopback source address. Answers are timed from the first
 * byte sent to the last byte read.
 */
import { Agent, request } from 'node:http';
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';

export interface ApiAnswer {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the bench reads a few fields of the API's JSON
  body: any;
  /** Response headers, lower-case names. */
  headers: Record<string, string | string[] | undefined>;
  ms: number;
}

export interface ApiClient {
  send(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown, headers?: Record<string, string>): Promise<ApiAnswer>;
  close(): void;
}

export interface ApiClientOptions {
  apiUrl: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** 127.0.0.x: the source address the gateway (and so the broker) sees. */
  localAddress?: string;
  timeoutMs?: number;
}

export function createApiClient(options: ApiClientOptions): ApiClient {
  const base = new URL(options.apiUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ...(options.localAddress && { localAddress: options.localAddress }) });
  const signer = new SignatureV4({ credentials: options.credentials, region: options.region, service: 'execute-api', sha256: Sha256 });
  const timeoutMs = options.timeoutMs ?? 30_000;

  async function send(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown, extra: Record<string, string> = {}): Promise<ApiAnswer> {
    const started = performance.now();
    const text = body === undefined ? '' : JSON.stringify(body);
    const signed = await signer.sign(
      new HttpRequest({
        method,
        protocol: base.protocol,
        hostname: base.hostname,
        port: Number(base.port),
        path,
        headers: {
          ...extra,
          host: base.host,
          ...(text && { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) }),
        },
        ...(text && { body: text }),
      }),
    );
    return new Promise((resolve, reject) => {
      const outgoing = request(new URL(path, base), { method, headers: signed.headers, agent }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const answer = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = answer ? JSON.parse(answer) : undefined;
          } catch {
            parsed = answer;
          }
          resolve({ status: response.statusCode ?? 0, body: parsed, headers: response.headers, ms: performance.now() - started });
        });
        response.on('error', reject);
      });
      outgoing.setTimeout(timeoutMs, () => outgoing.destroy(new Error(`no answer to ${method} ${path} within ${timeoutMs} ms`)));
      outgoing.on('error', reject);
      outgoing.end(text);
    });
  }

  return { send, close: () => agent.destroy() };
}
