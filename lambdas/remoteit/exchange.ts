/**
 * One exchange with remote.it's REST API (`/apv/v27`) over global fetch: a signed POST, and how its answer
 * is read. Anything but a success becomes a `RemoteitFailure` (./failures.ts), its `reason` scrubbed of
 * every credential. See docs/remoteit-api.md for the quirks handled here.
 */
import type { RemoteitFailure } from '../broker/ports';
import * as z from '../zod';
import type { RemoteitCredentials } from './credentials';
import {
  connectionLost,
  credentialsRefused,
  gone,
  notFound,
  refused,
  throttled,
  timedOut,
  unreachable,
  undecidedStopRefusal,
  unusable,
  upstream,
} from './failures';
import { signRequest, type SignatureScheme } from './signing';

/** Structured logging seam; Powertools' Logger fits. Attributes never carry credentials. */
export interface RemoteitLogger {
  debug(message: string, ...attributes: Array<Record<string, unknown>>): void;
  warn(message: string, ...attributes: Array<Record<string, unknown>>): void;
}

export const STOP_PATH = '/device/connect/stop';

/** Network failures that happen before a byte of the request is written: retrying cannot duplicate it. */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);
/**
 * Stop refusals that say the connection is already gone: a fast path that skips the credentials probe.
 * remote.it documents no wording for it (the first two are the emulator's); a gone connection refused in
 * other words is an undecided stop refusal, which the probe decides (./session.ts).
 */
const CONNECTION_GONE_REASON =
  /connection (?:not found|is not active|not active|(?:has )?expired|already stopped|does not exist)|no such connection/i;
const NOT_FOUND_REASON = /\[0806\]|\[0861\]|bad device address/i;
const AUTH_REASON = /missing api token|\[0102\]|invalid (?:signature|credential|token|api key|developer ?key)|unauthori[sz]ed|not authori[sz]ed|authentication/i;

const envelopeSchema = z.looseObject({
  status: z.optional(z.union([z.string(), z.boolean()])),
  reason: z.optional(z.string()),
  code: z.optional(z.string()),
});
/** remote.it's answer to every call: `status` "true"/"false", a `reason` and a `code` when it refuses. */
export type Envelope = z.infer<typeof envelopeSchema>;

export interface ExchangeOptions {
  /** e.g. `https://api.remote.it/apv/v27`, without a trailing slash. */
  baseUrl: string;
  signatureScheme: SignatureScheme;
  /** Deadline of one HTTP call. */
  timeoutMs: number;
  /** Epoch milliseconds. */
  now: () => number;
  logger?: RemoteitLogger;
}

export interface ExchangeExtras {
  /** The login token to send (password credentials only; access keys sign instead). */
  token?: string;
  /** Credentials held elsewhere (the cached login token) that must not reach a failure either; read after the answer. */
  alsoSecret?: () => readonly string[];
}

/** One POST, answered: the envelope of a success, or a `RemoteitFailure` thrown. Never retried here. */
export type Exchange = (path: string, body: Record<string, unknown>, credentials: RemoteitCredentials, extras?: ExchangeExtras) => Promise<Envelope>;

/** What one POST to remote.it came back with, and every credential it carried (to scrub from a failure). */
export interface Posted {
  response: Response;
  text: string;
  secrets: string[];
}

/**
 * One POST of `body` to `url` with the credentials' authentication: access keys sign it; a password session
 * sends `extras.token`; `developerkey` only where remote.it's API takes it (REST, not GraphQL). Network
 * failures become `RemoteitFailure`s; the answer is the caller's to read. The one transport of this adapter.
 */
export async function postSigned(
  options: Omit<ExchangeOptions, 'baseUrl'>,
  request: { url: string; path: string; body: string; developerKey?: string },
  credentials: RemoteitCredentials,
  extras: ExchangeExtras,
): Promise<Posted> {
  const { url, path, body } = request;
  const date = new Date(options.now());
  const headers: Record<string, string> = { 'content-type': 'application/json', date: date.toUTCString() };
  if (request.developerKey !== undefined) headers.developerkey = request.developerKey;
  if (credentials.kind === 'access_key') {
    Object.assign(headers, await signRequest(options.signatureScheme, credentials, { method: 'POST', url, date, body }));
  } else if (extras.token) {
    headers.token = extras.token;
  }

  const started = options.now();
  let response: Response;
  let text: string;
  try {
    // No redirects: a redirect would carry the developer key and token to another host, and replay a connect.
    response = await fetch(url, { method: 'POST', headers, body, redirect: 'error', signal: AbortSignal.timeout(options.timeoutMs) });
    text = await response.text();
  } catch (error) {
    throw networkFailure(error, options.timeoutMs);
  }
  options.logger?.debug('remote.it answered', { path, httpStatus: response.status, durationMs: options.now() - started });
  return { response, text, secrets: [...secretsOf(credentials), ...(extras.alsoSecret?.() ?? []), ...sentCredentials(headers)] };
}

export function createExchange(options: ExchangeOptions): Exchange {
  return async function exchange(path, body, credentials, extras = {}) {
    const url = `${options.baseUrl}${path}`;
    const posted = await postSigned(options, { url, path, body: JSON.stringify(body), developerKey: credentials.developerKey }, credentials, extras);
    return interpret(posted.response, posted.text, posted.secrets, path, options.now);
  };
}

/** A success's envelope, or the failure remote.it's answer means. */
function interpret(response: Response, text: string, secrets: string[], path: string, now: () => number): Envelope {
  const status = response.status;
  if (status === 429) throw throttled(retryAfterSeconds(response.headers.get('retry-after'), now()));
  if (status >= 500) throw upstream(status);

  const envelope = parseEnvelope(text);
  if (status === 200 && envelope && isFlag(envelope.status, 'true')) return envelope;

  const reason = envelope?.reason ? redact(envelope.reason, secrets) : undefined;
  const code = envelope?.code;
  const refusedEnvelope = envelope !== undefined && isFlag(envelope.status, 'false') && (status === 200 || (status >= 400 && status < 500));
  if (path === STOP_PATH && (status === 401 || refusedEnvelope)) throw stopRefusal(status, reason, code);
  if (status === 401) {
    if (reason && NOT_FOUND_REASON.test(reason)) throw notFound(reason);
    throw credentialsRefused(reason ?? 'HTTP 401', code);
  }
  if (refusedEnvelope) {
    const why = reason ?? 'no reason given';
    if (NOT_FOUND_REASON.test(why)) throw notFound(why);
    if (AUTH_REASON.test(why)) throw credentialsRefused(why, code);
    throw refused(why, code);
  }
  if (status === 200) throw unusable('remote.it answered 200 without a status it documents');
  throw upstream(status);
}

/**
 * A refused stop: HTTP 401 with any reason or none, or `status: "false"` on 200 or another 4xx. remote.it
 * documents only "401 + reason" for a bad developer key, connection id or device address, and nothing for a
 * connection already closed (idle proxies close 15 min after their last TCP connection: common). So the words
 * decide only when they are known; an auth phrase wins over a gone phrase, because reading bad credentials
 * as "gone" would leave a live proxy marked ended. Any other 401 is undecided: the session probes.
 */
function stopRefusal(status: number, reason: string | undefined, code: string | undefined): RemoteitFailure {
  if (reason && NOT_FOUND_REASON.test(reason)) return notFound(reason);
  if (reason && AUTH_REASON.test(reason)) return credentialsRefused(reason, code);
  if (reason && CONNECTION_GONE_REASON.test(reason)) return gone(reason);
  // remote.it documents a refused stop as HTTP 401 only (a bad developer key, connectionid or deviceaddress):
  // with the credentials proven good, that can only be a connection remote.it no longer has. Any other
  // refusal is undocumented; taking it for "gone" could record a live proxy as ended, so it stays a
  // refusal, retried and alarmed as stop_failed when it persists.
  if (status !== 401) return refused(reason ?? 'no reason given', code);
  return undecidedStopRefusal(reason ?? `HTTP ${status}, no reason given`, code);
}

/** Retry-After is seconds or an HTTP date (RFC 9110 section 10.2.3). The one parser of it in lambdas/. */
export function retryAfterSeconds(header: string | null, nowMs: number): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - nowMs) / 1000));
}

function parseEnvelope(text: string): Envelope | undefined {
  try {
    const parsed = envelopeSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function isFlag(value: string | boolean | undefined, expected: 'true' | 'false'): boolean {
  return String(value).toLowerCase() === expected;
}

/** A fetch that threw, as a failure: timed_out, unreachable (never sent) or unavailable (may have been sent). */
function networkFailure(error: unknown, timeoutMs: number): RemoteitFailure {
  // By name, not instanceof: fetch's DOMException can come from another realm (jest's vm, bundlers).
  const name = (error as { name?: unknown } | undefined)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') {
    return timedOut(timeoutMs);
  }
  const code = causeCode(error);
  if (code && NOT_SENT_CODES.has(code)) return unreachable(code, error);
  return connectionLost(error);
}

/** undici reports the socket error as `cause` (an AggregateError when several addresses were tried). */
function causeCode(error: unknown): string | undefined {
  const cause = (error as { cause?: { code?: unknown; errors?: Array<{ code?: unknown }> } } | undefined)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  const nested = cause?.errors?.find((inner) => typeof inner.code === 'string')?.code;
  return typeof nested === 'string' ? nested : undefined;
}

/** Every value of the credentials that must never leave in a failure: remote.it's `reason` is scrubbed of them. */
function secretsOf(credentials: RemoteitCredentials): string[] {
  return [credentials.developerKey, credentials.kind === 'access_key' ? credentials.secretAccessKey : credentials.password];
}

/** The token and signature values just sent: an echo of them in `reason` must not reach a failure either. */
function sentCredentials(headers: Record<string, string>): string[] {
  const values = [headers.token, headers.authorization, headers.signature].filter((value): value is string => Boolean(value));
  const signatures = values.flatMap((value) => [...value.matchAll(/signature="([^"]+)"|=:([^:]+):/g)].map((match) => match[1] ?? match[2] ?? ''));
  return [...values, ...signatures];
}

export function redact(text: string, secrets: string[]): string {
  return secrets.filter((secret) => secret.length >= 4).reduce((scrubbed, secret) => scrubbed.split(secret).join('[redacted]'), text);
}
