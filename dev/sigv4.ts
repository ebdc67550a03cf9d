/**
 * SigV4 verification for the local gateway, as API Gateway's IAM authorization does it: the signature is
 * recomputed with `@smithy/signature-v4` (the signer the AWS SDK itself uses) over what was received (method,
 * path, query, the headers the caller signed, body) and compared in constant time. Only the parsing of the
 * Authorization header and the checks around it (scope, date skew) are hand-written: no library verifies.
 * Failures carry API Gateway's own status, `x-amzn-ErrorType` and message, so clients see what AWS answers.
 */
import { timingSafeEqual } from 'node:crypto';
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';

export const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
/** API Gateway accepts an `X-Amz-Date` at most this far from its clock, either way ("... - 5 min." in its errors). */
export const DEFAULT_MAX_SKEW_SECONDS = 5 * 60;

export const MISMATCH_MESSAGE =
  'The request signature we calculated does not match the signature you provided. ' +
  'Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

export interface SigningKey {
  accessKeyId: string;
  secretAccessKey: string;
}

/** A request as the gateway received it, before any decoding. */
export interface ReceivedRequest {
  method: string;
  /** The path as sent (percent-encoding kept), without the query. */
  path: string;
  /** The query string as sent, without `?` ('' when none). */
  rawQuery: string;
  /** Lower-case names; repeated headers joined with `,`. */
  headers: Record<string, string>;
  body: Buffer;
}

export type SigV4FailureKind = 'missing' | 'incomplete' | 'unknown_key' | 'bad_scope' | 'expired' | 'mismatch';

export interface SigV4Failure {
  kind: SigV4FailureKind;
  status: 403;
  /** API Gateway's `x-amzn-ErrorType`. */
  errorType: string;
  /** API Gateway's `{"message": ...}`. */
  message: string;
}

export type SigV4Result<K extends SigningKey> = { ok: true; key: K } | { ok: false; failure: SigV4Failure };

export interface VerifyOptions<K extends SigningKey> {
  region: string;
  /** `execute-api` for API Gateway. */
  service: string;
  /** Finds the key an access key id belongs to. */
  lookup: (accessKeyId: string) => K | undefined;
  now?: () => Date;
  maxSkewSeconds?: number;
}

interface AuthorizationHeader {
  accessKeyId: string;
  scopeDate: string;
  scopeRegion: string;
  scopeService: string;
  scopeTerminator: string;
  signedHeaders: string[];
  signature: string;
}

const fail = (kind: SigV4FailureKind, errorType: string, message: string): { ok: false; failure: SigV4Failure } => ({
  ok: false,
  failure: { kind, status: 403, errorType, message },
});

const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/** `20261126T131550Z` -> Date, or undefined when it is not that exact shape. */
export function parseAmzDate(value: string): Date | undefined {
  const match = AMZ_DATE.exec(value);
  if (!match) return undefined;
  const [, year, month, day, hour, minute, second] = match.map(Number);
  const date = new Date(Date.UTC(year ?? 0, (month ?? 1) - 1, day ?? 0, hour ?? 0, minute ?? 0, second ?? 0));
  return Number.isNaN(date.getTime()) ? undefined : date;
}

const formatAmzDate = (date: Date) => date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');

/**
 * `AWS4-HMAC-SHA256 Credential=AKID/20261126/us-east-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date,
 * Signature=<hex>` -> its parts, or the names of what is missing (API Gateway lists them all at once).
 */
export function parseAuthorization(value: string): AuthorizationHeader | { missing: string[] } {
  const space = value.indexOf(' ');
  const algorithm = space < 0 ? value : value.slice(0, space);
  const fields = new Map<string, string>();
  if (algorithm === SIGV4_ALGORITHM) {
    for (const part of value.slice(space + 1).split(',')) {
      const equals = part.indexOf('=');
      if (equals > 0) fields.set(part.slice(0, equals).trim(), part.slice(equals + 1).trim());
    }
  }
  const missing = ['Credential', 'Signature', 'SignedHeaders'].filter((name) => !fields.get(name));
  if (missing.length > 0) return { missing };
  const [accessKeyId = '', scopeDate = '', scopeRegion = '', scopeService = '', scopeTerminator = '', ...extra] = (
    fields.get('Credential') ?? ''
  ).split('/');
  if (!accessKeyId || extra.length > 0) return { missing: ['Credential'] };
  return {
    accessKeyId,
    scopeDate,
    scopeRegion,
    scopeService,
    scopeTerminator,
    signedHeaders: (fields.get('SignedHeaders') ?? '').split(';').filter(Boolean),
    signature: fields.get('Signature') ?? '',
  };
}

/**
 * `a=1&b=x%20y&a=2` -> `{a: ['1', '2'], b: 'x y'}`: decoded, because the signer encodes them again. Gathered in
 * a Map: in a plain object `constructor`, `toString` or `__proto__` would meet the prototype's, and a valid
 * signature over such a name would not verify.
 */
export function parseQueryForSigning(rawQuery: string): Record<string, string | string[]> {
  const query = new Map<string, string | string[]>();
  const decode = (text: string) => {
    try {
      return decodeURIComponent(text);
    } catch {
      return text;
    }
  };
  for (const pair of rawQuery.split('&')) {
    if (!pair) continue;
    const equals = pair.indexOf('=');
    const name = decode(equals < 0 ? pair : pair.slice(0, equals));
    const value = equals < 0 ? '' : decode(pair.slice(equals + 1));
    const previous = query.get(name);
    query.set(name, previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value]);
  }
  // Object.fromEntries defines each name as an own property, `__proto__` included.
  return Object.fromEntries(query);
}

async function sha256Hex(body: Buffer): Promise<string> {
  const hash = new Sha256();
  hash.update(body);
  return Buffer.from(await hash.digest()).toString('hex');
}

function sameSignature(expected: string, received: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(received, 'utf8');
  // The length of a SigV4 signature is public (64 hex digits); only the content needs constant time.
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Recomputes the signature the holder of `key` would have sent for `request`, signed at `signingDate`. */
async function expectedSignature(
  request: ReceivedRequest,
  parsed: AuthorizationHeader,
  key: SigningKey,
  signingDate: Date,
  region: string,
  service: string,
): Promise<string> {
  const signed = new Set(parsed.signedHeaders);
  // Only what the caller signed: anything else a proxy or client adds must not change the signature.
  const headers: Record<string, string> = {};
  for (const name of signed) {
    // Own properties only: a signed name like `constructor` must not find the prototype's.
    const value = Object.hasOwn(request.headers, name) ? request.headers[name] : undefined;
    if (value !== undefined) headers[name] = value;
  }
  const signer = new SignatureV4({
    credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey },
    region,
    service,
    sha256: Sha256,
    // Never add x-amz-content-sha256 ourselves: when the caller signed it (curl's UNSIGNED-PAYLOAD), its value
    // is the payload hash; when not, the body's hash is.
    applyChecksum: false,
  });
  const toSign = new HttpRequest({
    method: request.method,
    protocol: 'http:',
    hostname: (request.headers.host ?? '').replace(/:\d+$/, ''),
    path: request.path,
    query: parseQueryForSigning(request.rawQuery),
    headers,
    body: request.body.length > 0 ? request.body : undefined,
  });
  // signableHeaders: a caller may sign headers the SDK never would (user-agent): they count when signed.
  const result = await signer.sign(toSign, { signingDate, signableHeaders: signed });
  const authorization = result.headers.authorization ?? '';
  return /Signature=([0-9a-f]+)$/.exec(authorization)?.[1] ?? '';
}

export async function verifySigV4<K extends SigningKey>(request: ReceivedRequest, options: VerifyOptions<K>): Promise<SigV4Result<K>> {
  const authorization = request.headers.authorization;
  if (authorization === undefined || authorization === '') return fail('missing', 'ForbiddenException', 'Forbidden');

  const amzDateText = request.headers['x-amz-date'];
  const parsed = parseAuthorization(authorization);
  if ('missing' in parsed || amzDateText === undefined) {
    const missing = 'missing' in parsed ? parsed.missing.map((name) => `Authorization header requires '${name}' parameter.`) : [];
    if (amzDateText === undefined) missing.push("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
    return fail('incomplete', 'IncompleteSignatureException', missing.join(' '));
  }
  const signingDate = parseAmzDate(amzDateText);
  if (!signingDate) {
    return fail('incomplete', 'IncompleteSignatureException', `Date must be in ISO-8601 'basic format'. Got '${amzDateText}'.`);
  }

  if (request.headers['x-amz-security-token'] !== undefined) {
    // Local identities are long-term keys: no session token can be valid.
    return fail('unknown_key', 'UnrecognizedClientException', 'The security token included in the request is invalid.');
  }
  const key = options.lookup(parsed.accessKeyId);
  if (!key) return fail('unknown_key', 'UnrecognizedClientException', 'The security token included in the request is invalid.');

  if (parsed.scopeRegion !== options.region) {
    return fail('bad_scope', 'InvalidSignatureException', `Credential should be scoped to a valid region. `);
  }
  if (parsed.scopeService !== options.service) {
    return fail('bad_scope', 'InvalidSignatureException', `Credential should be scoped to correct service: '${options.service}'. `);
  }
  if (parsed.scopeTerminator !== 'aws4_request') {
    return fail('bad_scope', 'InvalidSignatureException', "Credential should be scoped with a valid terminator: 'aws4_request'");
  }
  if (parsed.scopeDate !== amzDateText.slice(0, 8)) {
    return fail(
      'bad_scope',
      'InvalidSignatureException',
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${parsed.scopeDate}' != '${amzDateText.slice(0, 8)}', from 'X-Amz-Date'.`,
    );
  }
  if (!parsed.signedHeaders.includes('host')) {
    return fail('incomplete', 'InvalidSignatureException', "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
  }

  const now = (options.now ?? (() => new Date()))();
  const skewMs = (options.maxSkewSeconds ?? DEFAULT_MAX_SKEW_SECONDS) * 1000;
  const minutes = Math.round(skewMs / 60_000);
  if (signingDate.getTime() < now.getTime() - skewMs) {
    return fail(
      'expired',
      'InvalidSignatureException',
      `Signature expired: ${amzDateText} is now earlier than ${formatAmzDate(new Date(now.getTime() - skewMs))} (${formatAmzDate(now)} - ${minutes} min.)`,
    );
  }
  if (signingDate.getTime() > now.getTime() + skewMs) {
    return fail(
      'expired',
      'InvalidSignatureException',
      `Signature not yet current: ${amzDateText} is still later than ${formatAmzDate(new Date(now.getTime() + skewMs))} (${formatAmzDate(now)} + ${minutes} min.)`,
    );
  }

  // A signed x-amz-content-sha256 becomes the payload hash the signature covers, so the body must match it. A
  // body that does not match is a signature that does not match: the same answer as any other tampering.
  // UNSIGNED-PAYLOAD is S3's option to leave the body out of the signature; no AWS documentation offers it for
  // execute-api (or the other services stood in for here), which hash the payload themselves. So a body under
  // UNSIGNED-PAYLOAD is a body nobody signed: refused as a mismatch. Without a body nothing goes unsigned, and
  // it stays accepted (curl 7.88 sends it on a DELETE).
  const claimedHash = parsed.signedHeaders.includes('x-amz-content-sha256') ? request.headers['x-amz-content-sha256'] : undefined;
  if (claimedHash === UNSIGNED_PAYLOAD) {
    if (request.body.length > 0) return fail('mismatch', 'InvalidSignatureException', MISMATCH_MESSAGE);
  } else if (claimedHash !== undefined && !sameSignature(await sha256Hex(request.body), claimedHash.toLowerCase())) {
    return fail('mismatch', 'InvalidSignatureException', MISMATCH_MESSAGE);
  }

  const expected = await expectedSignature(request, parsed, key, signingDate, options.region, options.service);
  if (!expected || !sameSignature(expected, parsed.signature)) return fail('mismatch', 'InvalidSignatureException', MISMATCH_MESSAGE);
  return { ok: true, key };
}
