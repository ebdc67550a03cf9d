/**
 * What every local stand-in of an AWS service shares on the wire: reading a bounded request body, Node's
 * headers as SigV4 and Lambda's payload see them, and checking a request's SigV4 signature against the one
 * key the stand-in accepts. The SQS and EventBridge stubs (and the SigV4 gateway) use these, so a fix to how
 * one of them reads a request reaches them all.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { verifySigV4, type SigningKey, type SigV4Failure } from './sigv4';

/** AWS's own clock-skew allowance for service requests: 15 minutes (`RequestTimeTooSkewed` beyond it). */
export const AWS_MAX_SKEW_SECONDS = 15 * 60;

/**
 * Node's header object -> lower-case names with repeated values joined by `,` (as payload 2.0 and SigV4's
 * canonical headers join them). Pass `request.headersDistinct`: `request.headers` has already joined most
 * repeats with `, ` and dropped repeats of some headers.
 */
export function flattenHeaders(headers: IncomingHttpHeaders | NodeJS.Dict<string[]>): Record<string, string> {
  // No prototype: a header named `constructor` or `__proto__` is a header like any other, and a lookup of
  // one that was not sent finds nothing.
  const flat = Object.create(null) as Record<string, string>;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    flat[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
  }
  return flat;
}

/** The body, or `tooLarge()` thrown as soon as it passes `limit` bytes (the rest is not read). */
export async function readBody(request: IncomingMessage, limit: number, tooLarge: () => Error): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limit) throw tooLarge();
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

/** The request's SigV4 check against `key` for `service` in `region`: undefined when it holds, the failure otherwise. */
export async function sigV4FailureOf(
  request: IncomingMessage,
  body: Buffer,
  expected: { region: string; service: string; key: SigningKey; maxSkewSeconds?: number },
): Promise<SigV4Failure | undefined> {
  const url = request.url ?? '/';
  const queryStart = url.indexOf('?');
  const verdict = await verifySigV4(
    {
      method: (request.method ?? 'POST').toUpperCase(),
      path: queryStart < 0 ? url : url.slice(0, queryStart),
      rawQuery: queryStart < 0 ? '' : url.slice(queryStart + 1),
      headers: flattenHeaders(request.headersDistinct),
      body,
    },
    {
      region: expected.region,
      service: expected.service,
      lookup: (accessKeyId) => (accessKeyId === expected.key.accessKeyId ? expected.key : undefined),
      maxSkewSeconds: expected.maxSkewSeconds ?? AWS_MAX_SKEW_SECONDS,
    },
  );
  return verdict.ok ? undefined : verdict.failure;
}
