/**
 * The broker's session at remote.it: access keys sign every request; a username + password logs in for a
 * token, cached until shortly before its expiry and shared by concurrent calls. On a credentials refusal it
 * recovers as docs/remoteit-api.md describes: log in again once, then refetch the secret once, then give up.
 *
 * A stop refused in words the adapter does not know (./exchange.ts) is decided here by evidence: the
 * credentials probe (./probe.ts), with the credentials and token that made the stop. Valid: the connection is
 * gone (one stop, one probe, the stop not repeated). Invalid: a credentials refusal of that call, recovered as
 * above (the stop is repeated: with bad credentials it did not take effect). The probe failed: that failure,
 * which the client does not retry within the call; the broker retries the stop later.
 */
import { RemoteitFailure } from '../broker/ports';
import * as z from '../zod';
import type { CredentialsSource, PasswordCredentials, RemoteitCredentials } from './credentials';
import type { Envelope, Exchange, RemoteitLogger } from './exchange';
import { credentialsRefused, gone, isUndecidedStopRefusal, probeFailed, refusalCode, unusable } from './failures';
import type { CredentialsProbe, CredentialsVerdict } from './probe';

const MFA_CODES = new Set(['SMS_MFA', 'SOFTWARE_TOKEN_MFA', 'MFA_SETUP']);
/** Refresh a login token this long before remote.it's stated expiry, so it never expires in flight. */
const TOKEN_EXPIRY_SKEW_SECONDS = 60;

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

export interface SessionOptions {
  exchange: Exchange;
  credentials: CredentialsSource;
  /** Decides a stop refusal the exchange could not read. */
  probe: CredentialsProbe;
  /** Epoch milliseconds. */
  now: () => number;
  logger?: RemoteitLogger;
}

export interface Session {
  /** One request, authenticated, with the recovery from a credentials refusal. Not retried otherwise. */
  send(path: string, body: Record<string, unknown>): Promise<Envelope>;
  /** True for a failure raised while logging in: the real request was never sent, so even a connect may retry it. */
  isLoginFailure(error: unknown): boolean;
}

export function createSession(options: SessionOptions): Session {
  const { exchange, now, logger } = options;
  let cachedToken: CachedToken | undefined;
  let loginInFlight: Promise<CachedToken> | undefined;
  const loginFailures = new WeakSet<Error>();
  /** The cached token is a secret too, whichever request's answer might echo it. */
  const alsoSecret = (): string[] => (cachedToken ? [cachedToken.token] : []);

  /** Not retried on its own: the caller's retry loop covers it, so retries never multiply. */
  async function login(credentials: PasswordCredentials): Promise<CachedToken> {
    let envelope: Envelope;
    try {
      envelope = await exchange('/user/login', { username: credentials.username, password: credentials.password }, credentials, { alsoSecret });
    } catch (error) {
      throw mfaAware(error);
    }
    if (envelope.code && MFA_CODES.has(envelope.code)) throw mfaRequired(envelope.code);
    const parsed = loginSchema.safeParse(envelope);
    const token = parsed.data?.token ?? parsed.data?.auth_token;
    if (!token) throw unusable('remote.it login answer has no token');
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
   * An undecided stop refusal, decided by one probe with the credentials (and token) that made the stop:
   * throws `gone` (valid) or the probe's failure; returns the credentials refusal to recover from (invalid).
   */
  async function decideStopRefusal(
    path: string,
    refusal: RemoteitFailure,
    credentials: RemoteitCredentials,
    token: string | undefined,
  ): Promise<RemoteitFailure> {
    const reason = refusal.reason ?? 'no reason given';
    logger?.warn("remote.it refused a stop; checking the broker's credentials", { path, reason });
    let verdict: CredentialsVerdict;
    try {
      verdict = await options.probe(credentials, { token, alsoSecret });
    } catch (error) {
      const failure = probeFailed(refusal, error);
      logger?.warn("remote.it's verdict on the broker's credentials", { path, verdict: 'inconclusive', kind: failure.kind });
      throw failure;
    }
    logger?.warn("remote.it's verdict on the broker's credentials", { path, verdict });
    if (verdict === 'valid') throw gone(reason);
    return credentialsRefused(reason, refusalCode(refusal));
  }

  async function send(path: string, body: Record<string, unknown>): Promise<Envelope> {
    let credentials = await options.credentials.get();
    let reloggedIn = false;
    let refreshed = false;
    for (;;) {
      let usedCachedToken = false;
      let token: string | undefined;
      try {
        if (credentials.kind === 'access_key') return await exchange(path, body, credentials, { alsoSecret });
        usedCachedToken = cachedToken !== undefined;
        token = await tokenFor(credentials);
        return await exchange(path, body, credentials, { token, alsoSecret });
      } catch (caught) {
        const error = isUndecidedStopRefusal(caught) ? await decideStopRefusal(path, caught, credentials, token) : caught;
        if (!(error instanceof RemoteitFailure) || error.kind !== 'credentials_refused') throw error;
        // Only the rejected token is dropped: a concurrent call may already have cached a fresh one.
        if (cachedToken?.token === token) cachedToken = undefined;
        // The token may have expired early: a new login costs less than a secret refetch.
        if (credentials.kind === 'password' && usedCachedToken && !reloggedIn && !loginFailures.has(error)) {
          reloggedIn = true;
          logger?.warn('remote.it rejected the login token; logging in again', { path });
          continue;
        }
        // The secret may have been rotated.
        if (refreshed) throw error;
        refreshed = true;
        logger?.warn('remote.it rejected the credentials; refetching the secret', { path });
        credentials = await options.credentials.refresh();
      }
    }
  }

  return { send, isLoginFailure: (error) => error instanceof Error && loginFailures.has(error) };
}

function mfaRequired(code: string): RemoteitFailure {
  return credentialsRefused(
    `the remote.it account requires multi-factor authentication (${code}); store access keys {developerKey, accessKeyId, secretAccessKey} in the secret instead of a password`,
    code,
  );
}

/** A login refused with an MFA code is an account that needs access keys, whatever remote.it's reason says. */
function mfaAware(error: unknown): unknown {
  const code = refusalCode(error);
  return code !== undefined && MFA_CODES.has(code) ? mfaRequired(code) : error;
}
