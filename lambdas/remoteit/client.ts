/**
 * The HTTP adapter behind `RemoteitApi`: remote.it's REST API (`/apv/v27`) over global fetch. Auth is
 * access-key signing or developer key + login token; every failure becomes one of the typed errors of
 * ./types. See shared remoteit-api.md for the quirks handled here.
 */
import * as z from '../zod';
import type { CredentialsSource, PasswordCredentials, RemoteitCredentials } from './credentials';
import { normaliseConnectResponse } from './normalise';
import { signRequest, type SignatureScheme } from './signing';
import {
  RemoteitError,
  RemoteitMalformedError,
  RemoteitNotFoundError,
  RemoteitConnectionGoneError,
  RemoteitRefusedError,
  RemoteitThrottledError,
  RemoteitTimeoutError,
  RemoteitUnauthorizedError,
  RemoteitUnreachableError,
  RemoteitUpstreamError,
  type RemoteConnection,
  type RemoteitApi,
} from './types';

/** Structured logging seam; Powertools' Logger fits. Attributes never carry credentials. */
export interface RemoteitLogger {
  debug(message: string, ...attributes: Array<Record<string, unknown>>): void;
  warn(message: string, ...attributes: Array<Record<string, unknown>>): void;
}

export interface RetryOptions {
  /** Total attempts including the first. */
  maxAttempts: number;
  baseDelayMs: number;
  /** Cap of one backoff delay; a Retry-After longer than this ends the retries instead. */
  maxDelayMs: number;
}

export interface RemoteitClientOptions {
  /** e.g. `https://api.remote.it/apv/v27` (REMOTEIT_API_URL). */
  apiUrl: string;
  credentials: CredentialsSource;
  signatureScheme: SignatureScheme;
  /** Deadline of one HTTP call. */
  timeoutMs: number;
  /** Epoch milliseconds. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** [0, 1): the jitter source. */
  random?: () => number;
  retry?: RetryOptions;
  logger?: RemoteitLogger;
}

export const DEFAULT_RETRY: RetryOptions = { maxAttempts: 3, baseDelayMs: 200, maxDelayMs: 2_000 };

/** The connection dropped after the request may have been sent (reset, closed early). */
export class RemoteitConnectionLostError extends RemoteitUpstreamError {
  constructor(options?: { cause?: unknown }) {
    super(0);
    this.message = 'the connection to remote.it failed before it answered';
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}

const MFA_CODES = new Set(['SMS_MFA', 'SOFTWARE_TOKEN_MFA', 'MFA_SETUP']);
/** Network failures that happen before a byte of the request is written: retrying cannot duplicate it. */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);
const TRANSIENT_KINDS = new Set(['throttled', 'upstream', 'timeout', 'unreachable']);
const STOP_PATH = '/device/connect/stop';
/**
 * Stop refusals that mean the connection is already gone (remote.it documents none: these are the phrasings
 * seen, as HTTP 200 or 401 with status "false"). Anything else on a stop is a failure to retry.
 */
const CONNECTION_GONE_REASON =
  /connection (?:not found|is not active|not active|(?:has )?expired|already stopped|does not exist)|no such connection/i;
const NOT_FOUND_REASON = /\[0806\]|\[0861\]|bad device address/i;
const AUTH_REASON = /missing api token|\[0102\]|invalid (?:signature|credential|token|api key|developer ?key)|unauthori[sz]ed|not authori[sz]ed|authentication/i;
/** Refresh a login token this long before remote.it's stated expiry, so it never expires in flight. */
const TOKEN_EXPIRY_SKEW_SECONDS = 60;

const envelopeSchema = z.looseObject({
  status: z.optional(z.union([z.string(), z.boolean()])),
  reason: z.optional(z.string()),
  code: z.optional(z.string()),
});
type Envelope = z.infer<typeof envelopeSchema>;

const loginSchema = z.looseObject({
  token: z.optional(z.string().check(z.minLength(1))),
  auth_token: z.optional(z.string().check(z.minLength(1))),
  auth_expiration: z.absentIfInvalid(z.coerce.number()),
});

interface CachedToken {
  token: string;
  /** Epoch seconds; undefined = remote.it gave none: reuse until an auth failure says otherwise. */
  expiresAt?: number;
}

export function createRemoteitClient(options: RemoteitClientOptions): RemoteitApi {
  const baseUrl = options.apiUrl.replace(/\/+$/, '');
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const random = options.random ?? Math.random;
  const retry = options.retry ?? DEFAULT_RETRY;
  const logger = options.logger;

  let cachedToken: CachedToken | undefined;
  let loginInFlight: Promise<CachedToken> | undefined;
  /** Errors raised while logging in: the real request was never sent, so even connect may retry them. */
  const loginFailures = new WeakSet<Error>();

  /** Every value that must never leave in an error: remote.it's `reason` text is scrubbed of them too. */
  const secretsOf = (credentials: RemoteitCredentials): string[] => [
    credentials.developerKey,
    ...(credentials.kind === 'access_key' ? [credentials.secretAccessKey] : [credentials.password]),
    ...(cachedToken ? [cachedToken.token] : []),
  ];

  async function post(
    path: string,
    body: Record<string, unknown>,
    credentials: RemoteitCredentials,
    token?: string,
  ): Promise<Envelope> {
    const url = `${baseUrl}${path}`;
    const text = JSON.stringify(body);
    const date = new Date(now());
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      date: date.toUTCString(),
      developerkey: credentials.developerKey,
    };
    if (credentials.kind === 'access_key') {
      Object.assign(headers, await signRequest(options.signatureScheme, credentials, { method: 'POST', url, date, body: text }));
    } else if (token) {
      headers.token = token;
    }

    const started = now();
    let response: Response;
    let responseText: string;
    try {
      // No redirects: a redirect would carry the developer key and token to another host, and replay a connect.
      response = await fetch(url, { method: 'POST', headers, body: text, redirect: 'error', signal: AbortSignal.timeout(options.timeoutMs) });
      responseText = await response.text();
    } catch (error) {
      throw networkError(error, options.timeoutMs);
    }
    logger?.debug('remote.it answered', { path, httpStatus: response.status, durationMs: now() - started });
    return interpret(response, responseText, [...secretsOf(credentials), ...sentCredentials(headers)], path);
  }

  function interpret(response: Response, text: string, secrets: string[], path: string): Envelope {
    const status = response.status;
    if (status === 429) throw new RemoteitThrottledError(retryAfterSeconds(response.headers.get('retry-after'), now()));
    if (status >= 500) throw new RemoteitUpstreamError(status);

    const envelope = parseEnvelope(text);
    if (status === 200 && envelope && isFlag(envelope.status, 'true')) return envelope;

    const reason = envelope?.reason ? redact(envelope.reason, secrets) : undefined;
    const code = envelope?.code;
    if (status === 401) {
      if (reason && NOT_FOUND_REASON.test(reason)) throw new RemoteitNotFoundError(reason);
      // remote.it also answers bad stop parameters (a connection already stopped or expired) with 401: that is
      // the connection being gone, not the broker's credentials failing, and must not cost a re-login.
      if (path === STOP_PATH && reason && CONNECTION_GONE_REASON.test(reason)) throw new RemoteitConnectionGoneError(reason);
      throw new RemoteitUnauthorizedError(reason ?? 'HTTP 401', code);
    }
    if (envelope && isFlag(envelope.status, 'false') && (status === 200 || (status >= 400 && status < 500))) {
      const why = reason ?? 'no reason given';
      if (NOT_FOUND_REASON.test(why)) throw new RemoteitNotFoundError(why);
      if (AUTH_REASON.test(why)) throw new RemoteitUnauthorizedError(why, code);
      if (path === STOP_PATH && CONNECTION_GONE_REASON.test(why)) throw new RemoteitConnectionGoneError(why);
      throw new RemoteitRefusedError(why, code, status);
    }
    if (status === 200) throw new RemoteitMalformedError('remote.it answered 200 without a status it documents');
    throw new RemoteitUpstreamError(status);
  }

  /** Not retried on its own: the caller's retry loop covers it, so retries never multiply. */
  async function login(credentials: PasswordCredentials): Promise<CachedToken> {
    let envelope: Envelope;
    try {
      envelope = await post('/user/login', { username: credentials.username, password: credentials.password }, credentials);
    } catch (error) {
      throw mfaAware(error);
    }
    if (envelope.code && MFA_CODES.has(envelope.code)) throw mfaRequired(envelope.code);
    const parsed = loginSchema.safeParse(envelope);
    const token = parsed.data?.token ?? parsed.data?.auth_token;
    if (!token) throw new RemoteitMalformedError('remote.it login answer has no token');
    return { token, expiresAt: parsed.data?.auth_expiration };
  }

  async function tokenFor(credentials: PasswordCredentials): Promise<string> {
    const nowSeconds = now() / 1000;
    if (cachedToken && (cachedToken.expiresAt === undefined || cachedToken.expiresAt - TOKEN_EXPIRY_SKEW_SECONDS > nowSeconds)) {
      return cachedToken.token;
    }
    // Concurrent calls on a warm container share one login.
    loginInFlight ??= login(credentials).finally(() => {
      loginInFlight = undefined;
    });
    try {
      cachedToken = await loginInFlight;
    } catch (error) {
      if (error instanceof Error) loginFailures.add(error);
      throw error;
    }
    return cachedToken.token;
  }

  /**
   * One request with the auth recovery of DESIGN.md: on an auth failure, log in again once (the token may
   * have expired early), then refetch the secret once (it may have been rotated), then give up.
   */
  async function authenticated(path: string, body: Record<string, unknown>): Promise<Envelope> {
    let credentials = await options.credentials.get();
    let reloggedIn = false;
    let refreshed = false;
    for (;;) {
      let usedCachedToken = false;
      let token: string | undefined;
      try {
        if (credentials.kind === 'access_key') return await post(path, body, credentials);
        usedCachedToken = cachedToken !== undefined;
        token = await tokenFor(credentials);
        return await post(path, body, credentials, token);
      } catch (error) {
        if (!(error instanceof RemoteitUnauthorizedError)) throw error;
        // Only the rejected token is dropped: a concurrent call may already have cached a fresh one.
        if (cachedToken?.token === token) cachedToken = undefined;
        if (credentials.kind === 'password' && usedCachedToken && !reloggedIn && !loginFailures.has(error)) {
          reloggedIn = true;
          logger?.warn('remote.it rejected the login token; logging in again', { path });
          continue;
        }
        if (refreshed) throw error;
        refreshed = true;
        logger?.warn('remote.it rejected the credentials; refetching the secret', { path });
        credentials = await options.credentials.refresh();
      }
    }
  }

  async function withRetries<T>(operation: string, attempt: () => Promise<T>, retryable: (error: RemoteitError) => boolean): Promise<T> {
    for (let attemptNumber = 1; ; attemptNumber++) {
      try {
        return await attempt();
      } catch (error) {
        if (!(error instanceof RemoteitError) || !retryable(error) || attemptNumber >= retry.maxAttempts) throw error;
        const delayMs = backoffMs(attemptNumber, error);
        if (delayMs === undefined) throw error;
        logger?.warn('remote.it call failed; retrying', { operation, kind: error.kind, attempt: attemptNumber, delayMs });
        await sleep(delayMs);
      }
    }
  }

  /** Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"); Retry-After is the floor. */
  function backoffMs(attemptNumber: number, error: RemoteitError): number | undefined {
    const ceiling = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attemptNumber - 1));
    const jittered = Math.floor(random() * ceiling);
    if (error instanceof RemoteitThrottledError && error.retryAfterSeconds !== undefined) {
      const floor = error.retryAfterSeconds * 1000;
      // Waiting less than remote.it asked would only be throttled again; waiting longer would blow the budget.
      if (floor > retry.maxDelayMs) return undefined;
      return Math.max(jittered, floor);
    }
    return jittered;
  }

  function isTransient(error: RemoteitError): boolean {
    return TRANSIENT_KINDS.has(error.kind);
  }

  return {
    async connect(serviceId: string, hostIp: string): Promise<RemoteConnection> {
      const requestedAtMs = now();
      // A connect that may have reached remote.it is never repeated: it could open a second proxy.
      const envelope = await withRetries(
        'connect',
        () => authenticated('/device/connect', { deviceaddress: serviceId, wait: 'true', hostip: hostIp, concurrent: true }),
        (error) => isTransient(error) && (error.notSent || loginFailures.has(error)),
      );
      return normaliseConnectResponse(envelope, requestedAtMs);
    },

    async stop(serviceId: string, remoteConnectionId: string): Promise<void> {
      await withRetries(
        'stop',
        () => authenticated(STOP_PATH, { deviceaddress: serviceId, connectionid: remoteConnectionId }),
        isTransient,
      );
    },
  };
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

function networkError(error: unknown, timeoutMs: number): RemoteitError {
  // By name, not instanceof: fetch's DOMException can come from another realm (jest's vm, bundlers).
  const name = (error as { name?: unknown } | undefined)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new RemoteitTimeoutError(timeoutMs);
  }
  const code = causeCode(error);
  if (code && NOT_SENT_CODES.has(code)) {
    return new RemoteitUnreachableError(`remote.it could not be reached (${code})`, { cause: error });
  }
  return new RemoteitConnectionLostError({ cause: error });
}

/** undici reports the socket error as `cause` (an AggregateError when several addresses were tried). */
function causeCode(error: unknown): string | undefined {
  const cause = (error as { cause?: { code?: unknown; errors?: Array<{ code?: unknown }> } } | undefined)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  const nested = cause?.errors?.find((inner) => typeof inner.code === 'string')?.code;
  return typeof nested === 'string' ? nested : undefined;
}

/** Retry-After is seconds or an HTTP date (RFC 9110 section 10.2.3). */
export function retryAfterSeconds(header: string | null, nowMs: number): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - nowMs) / 1000));
}

function mfaRequired(code: string): RemoteitUnauthorizedError {
  return new RemoteitUnauthorizedError(
    `the remote.it account requires multi-factor authentication (${code}); store access keys {developerKey, accessKeyId, secretAccessKey} in the secret instead of a password`,
    code,
  );
}

function mfaAware(error: unknown): unknown {
  if (error instanceof RemoteitError && 'code' in error && typeof error.code === 'string' && MFA_CODES.has(error.code)) {
    return mfaRequired(error.code);
  }
  return error;
}

/** The token and signature values just sent: an echo of them in `reason` must not reach an error either. */
function sentCredentials(headers: Record<string, string>): string[] {
  const values = [headers.token, headers.authorization, headers.signature].filter((value): value is string => Boolean(value));
  const signatures = values.flatMap((value) => [...value.matchAll(/signature="([^"]+)"|=:([^:]+):/g)].map((match) => match[1] ?? match[2] ?? ''));
  return [...values, ...signatures];
}

function redact(text: string, secrets: string[]): string {
  return secrets.filter((secret) => secret.length >= 4).reduce((scrubbed, secret) => scrubbed.split(secret).join('[redacted]'), text);
}
