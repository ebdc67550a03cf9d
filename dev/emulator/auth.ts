/**
 * remote.it access-key request signatures, verified the way the emulator's server side must: scheme A
 * (draft-cavage `Authorization: Signature ...`) and scheme B (RFC 9421 `Signature`/`Signature-Input`,
 * label `remoteit`). The base strings and HMACs come from the independent `http-message-signatures`
 * package, so the broker's signer is checked against code it does not share. What that package leaves
 * to its caller is done here: finding the key, the covered components remote.it requires, and time.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { cavage, createVerifier, httpbis } from 'http-message-signatures';
import type { Request as SignedMessage, VerifyingKey } from 'http-message-signatures';

export const SIGNATURE_LABEL = 'remoteit';
const CAVAGE_HEADERS = ['(request-target)', 'host', 'date', 'content-type', 'content-length'];
const RFC9421_COMPONENTS = ['"@method"', '"@authority"', '"@target-uri"', '"date"'];
const RFC9421_PARAMS = ['keyid', 'alg', 'created', 'expires'];

export interface SignedRequest {
  method: string;
  /** Scheme and host the client called, e.g. `http://127.0.0.1:4100` (the signed `host` / `@authority`). */
  origin: string;
  /** Path and query as sent on the request line. */
  target: string;
  /** Lower-case names, as node:http gives them. */
  headers: Record<string, string | string[] | undefined>;
}

export type SignatureScheme = 'cavage' | 'rfc9421';

export type SignatureCheck =
  | { ok: true; scheme: SignatureScheme; keyId: string }
  | { ok: false; reason: 'no_signature' | 'unknown_key' | 'malformed' | 'stale' | 'mismatch' };

/** Returns the base64-decoded HMAC key of an access key id, or undefined when unknown. */
export type SecretLookup = (keyId: string) => Buffer | undefined;

export interface VerifyOptions {
  lookupSecret: SecretLookup;
  /** Epoch milliseconds; injectable so the published test vectors (2022) can be checked. */
  now: number;
  maxSkewSeconds: number;
}

function headerValue(headers: SignedRequest['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** The package only sees plain headers; undefined values (absent headers) must not reach it. */
function toMessage(request: SignedRequest, extra: Record<string, string> = {}): SignedMessage {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined) headers[name] = value;
  }
  return { method: request.method, url: new URL(request.target, request.origin), headers: { ...headers, ...extra } };
}

function keyFor(lookupSecret: SecretLookup, keyId: string | undefined): VerifyingKey | null {
  if (keyId === undefined) return null;
  const secret = lookupSecret(keyId);
  if (secret === undefined) return null;
  return { id: keyId, algs: ['hmac-sha256'], verify: createVerifier(secret, 'hmac-sha256') };
}

function withinSkew(epochSeconds: number, options: VerifyOptions): boolean {
  return Number.isFinite(epochSeconds) && Math.abs(options.now / 1000 - epochSeconds) <= options.maxSkewSeconds;
}

/**
 * The package checks created/expires against its own `Date.now()`, which cannot be injected; time
 * policy (remote.it-like skew on Date and created, expiry) is applied here instead, against
 * `options.now`, and the package's own clock checks are switched off with an unbounded tolerance.
 */
const LIBRARY_CLOCK_OFF = { tolerance: Number.MAX_SAFE_INTEGER };

/** Scheme A: `Authorization: Signature keyId="..",algorithm="hmac-sha256",headers="..",signature=".."`. */
async function verifyCavage(request: SignedRequest, authorization: string, options: VerifyOptions): Promise<SignatureCheck> {
  const params = authorization.replace(/^Signature\s+/i, '');
  const keyId = /(?:^|,)\s*keyId="([^"]*)"/i.exec(params)?.[1];
  const algorithm = /(?:^|,)\s*algorithm="([^"]*)"/i.exec(params)?.[1];
  const covered = /(?:^|,)\s*headers="([^"]*)"/i.exec(params)?.[1]?.toLowerCase().split(/\s+/);
  if (keyId === undefined || algorithm?.toLowerCase() !== 'hmac-sha256' || covered === undefined) {
    return { ok: false, reason: 'malformed' };
  }
  // remote.it fixes the covered headers; a signature over fewer of them would let a body or target be swapped.
  if (!CAVAGE_HEADERS.every((name) => covered.includes(name))) return { ok: false, reason: 'malformed' };
  const date = headerValue(request.headers, 'date');
  if (date === undefined || !withinSkew(Date.parse(date) / 1000, options)) return { ok: false, reason: 'stale' };
  const key = keyFor(options.lookupSecret, keyId);
  if (key === null) return { ok: false, reason: 'unknown_key' };
  try {
    // The cavage verifier reads the draft's `Signature` header; remote.it sends the same parameters in Authorization.
    const verified = await cavage.verifyMessage(
      { keyLookup: async () => key, ...LIBRARY_CLOCK_OFF },
      toMessage(request, { signature: params }),
    );
    return verified === true ? { ok: true, scheme: 'cavage', keyId } : { ok: false, reason: 'mismatch' };
  } catch {
    // The package throws when a covered header is missing: the request cannot match its signature.
    return { ok: false, reason: 'malformed' };
  }
}

/** Scheme B: RFC 9421 with the `remoteit` label, fixed components and parameters. */
async function verifyRfc9421(request: SignedRequest, options: VerifyOptions): Promise<SignatureCheck> {
  const input = headerValue(request.headers, 'signature-input');
  const signature = headerValue(request.headers, 'signature');
  if (input === undefined || signature === undefined) return { ok: false, reason: 'malformed' };
  // Only the `remoteit` member is checked: the package would accept any one valid label.
  const ownInput = new RegExp(`(?:^|,)\\s*${SIGNATURE_LABEL}=(\\([^)]*\\)[^,]*)`).exec(input)?.[1];
  const ownSignature = new RegExp(`(?:^|,)\\s*${SIGNATURE_LABEL}=(:[A-Za-z0-9+/=]*:)`).exec(signature)?.[1];
  if (ownInput === undefined || ownSignature === undefined) return { ok: false, reason: 'malformed' };
  const components = /^\(([^)]*)\)/.exec(ownInput)?.[1]?.split(/\s+/) ?? [];
  const params = new Map(
    [...ownInput.matchAll(/;\s*([a-z]+)=("[^"]*"|[0-9]+)/g)].map(([, name = '', value = '']) => [name, value.replace(/^"|"$/g, '')]),
  );
  if (!RFC9421_COMPONENTS.every((component) => components.includes(component))) return { ok: false, reason: 'malformed' };
  if (!RFC9421_PARAMS.every((name) => params.has(name)) || params.get('alg') !== 'hmac-sha256') {
    return { ok: false, reason: 'malformed' };
  }
  const created = Number(params.get('created'));
  const expires = Number(params.get('expires'));
  if (!withinSkew(created, options) || options.now / 1000 > expires + options.maxSkewSeconds) {
    return { ok: false, reason: 'stale' };
  }
  const keyId = params.get('keyid') ?? '';
  const key = keyFor(options.lookupSecret, keyId);
  if (key === null) return { ok: false, reason: 'unknown_key' };
  try {
    const verified = await httpbis.verifyMessage(
      { keyLookup: async () => key, ...LIBRARY_CLOCK_OFF },
      toMessage(request, {
        'signature-input': `${SIGNATURE_LABEL}=${ownInput}`,
        signature: `${SIGNATURE_LABEL}=${ownSignature}`,
      }),
    );
    return verified === true ? { ok: true, scheme: 'rfc9421', keyId } : { ok: false, reason: 'mismatch' };
  } catch {
    return { ok: false, reason: 'malformed' };
  }
}

/** Verifies whichever scheme the request carries (A when it has `Authorization: Signature`). */
export async function verifySignature(request: SignedRequest, options: VerifyOptions): Promise<SignatureCheck> {
  const authorization = headerValue(request.headers, 'authorization');
  if (authorization !== undefined && /^Signature\s/i.test(authorization)) {
    return verifyCavage(request, authorization, options);
  }
  if (request.headers['signature-input'] !== undefined || request.headers.signature !== undefined) {
    return verifyRfc9421(request, options);
  }
  return { ok: false, reason: 'no_signature' };
}

/** Constant-time string comparison for passwords (hashing first evens out the lengths). */
export function secretEquals(given: string, expected: string): boolean {
  const digest = (value: string) => createHmac('sha256', 'remoteit-emulator').update(value).digest();
  return timingSafeEqual(digest(given), digest(expected));
}
