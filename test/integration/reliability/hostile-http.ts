/**
 * Raw HTTP for hostile.test.ts: one request with an exact (unnormalised) path to the local gateway, signed
 * with SigV4 unless asked not to. Not a test file (jest runs only `*.test.ts`).
 */
import { request } from 'node:http';
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { Gateway } from '../../../dev/gateway';
import type { LocalIdentity } from '../../../dev/identities';

export const REGION = 'eu-west-1';

export interface RawAnswer {
  status: number;
  contentType: string | undefined;
  text: string;
}

/** One request with an exact (unnormalised) path, SigV4-signed over that path unless `signed` is false. */
export async function rawHttp(gateway: Gateway, identity: LocalIdentity, init: { method: string; path: string; body?: string; headers?: Record<string, string>; signed?: boolean }): Promise<RawAnswer> {
  const url = new URL(gateway.url);
  let headers: Record<string, string> = { host: url.host, ...init.headers, ...(init.body !== undefined && { 'content-type': 'application/json' }) };
  if (init.signed !== false) {
    const [path = '/', query = ''] = init.path.split('?');
    const signer = new SignatureV4({ credentials: identity, region: REGION, service: 'execute-api', sha256: Sha256 });
    const signed = await signer.sign(
      new HttpRequest({ method: init.method, protocol: 'http:', hostname: url.hostname, port: Number(url.port), path, query: Object.fromEntries(new URLSearchParams(query)), headers, ...(init.body !== undefined && { body: init.body }) }),
    );
    headers = signed.headers;
  }
  return new Promise((resolve, reject) => {
    const outgoing = request({ host: url.hostname, port: url.port, method: init.method, path: init.path, headers, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, contentType: response.headers['content-type'], text: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    outgoing.setTimeout(10_000, () => outgoing.destroy(new Error('no answer within 10 s')));
    outgoing.on('error', reject);
    outgoing.end(init.body);
  });
}
