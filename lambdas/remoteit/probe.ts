/**
 * The credentials probe: one cheap authenticated call that says whether the broker's remote.it credentials
 * work. The session asks it when remote.it refuses a stop in words the adapter does not know (./session.ts):
 * only a `valid` verdict lets such a refusal mean "the connection is gone".
 *
 * `POST <origin of apiUrl>/graphql/v1` with `{ login { id apiKey { key } } }`. Access keys sign it exactly
 * as REST (remote.it's own signing example signs a `login` query at /graphql/v1); a password session sends
 * its login token in a `token` header, unsigned (remote.it's Go SDK). No `developerkey` header: remote.it's
 * GraphQL examples send none. GraphQL alone does not prove the developer key, so the answer's
 * `login.apiKey.key` (the account's developer key, as remote.it's desktop reads it) must equal it.
 * docs/remoteit-api.md ("Stop", the credentials probe) has the sources; what GraphQL answers to bad credentials (401 or 403, or
 * the bare text `Unauthorized`) is inferred from remote.it's clients.
 */
import { createHash } from 'node:crypto';
import type { RemoteitFailure } from '../broker/ports';
import type { RemoteitCredentials } from './credentials';
import { postSigned, redact, retryAfterSeconds, type ExchangeExtras, type RemoteitLogger } from './exchange';
import { throttled, unusable, upstream } from './failures';
import type { SignatureScheme } from './signing';

export const PROBE_PATH = '/graphql/v1';
/** Sent byte for byte. */
export const PROBE_BODY = '{"query":"{ login { id apiKey { key } } }"}';
/** How long a `valid` verdict is reused for the same credentials. Nothing else is cached. */
export const VALID_VERDICT_TTL_MS = 60_000;

/**
 * `valid`: remote.it accepted the credentials and the developer key is this account's. `invalid`: it refused
 * them, or the developer key is another. Anything else (throttled, 5xx, timeout, an answer that proves
 * neither) is thrown as a `RemoteitFailure`: inconclusive.
 */
export type CredentialsVerdict = 'valid' | 'invalid';

/** `extras.token`: the login token that made the refused call (password credentials). */
export type CredentialsProbe = (credentials: RemoteitCredentials, extras?: ExchangeExtras) => Promise<CredentialsVerdict>;

export interface ProbeOptions {
  /** REMOTEIT_API_URL, e.g. `https://api.remote.it/apv/v27`: only its origin is used. */
  apiUrl: string;
  signatureScheme: SignatureScheme;
  /** Deadline of the call. */
  timeoutMs: number;
  /** Epoch milliseconds. */
  now: () => number;
  logger?: RemoteitLogger;
}

/** `/graphql/v1` at the origin of REMOTEIT_API_URL: `https://api.remote.it/graphql/v1` in production. */
export function probeUrl(apiUrl: string): string {
  return new URL(PROBE_PATH, apiUrl).toString();
}

export function createCredentialsProbe(options: ProbeOptions): CredentialsProbe {
  const { now } = options;
  const url = probeUrl(options.apiUrl);
  /** Credentials fingerprint -> epoch ms until which a `valid` verdict holds. */
  const validUntil = new Map<string, number>();
  /** Concurrent probes with the same credentials share one call. */
  const inFlight = new Map<string, Promise<CredentialsVerdict>>();

  async function call(credentials: RemoteitCredentials, extras: ExchangeExtras): Promise<CredentialsVerdict> {
    if (credentials.kind === 'password' && !extras.token) throw unusable('no login token to check the password credentials with');
    // No developerkey: remote.it's GraphQL examples send none.
    const posted = await postSigned(options, { url, path: PROBE_PATH, body: PROBE_BODY }, credentials, extras);
    return verdictOf(posted.response, posted.text, credentials.developerKey, posted.secrets, now);
  }

  return async function probe(credentials, extras = {}) {
    const key = fingerprint(credentials, extras.token);
    const until = validUntil.get(key);
    if (until !== undefined && until > now()) return 'valid';
    let shared = inFlight.get(key);
    if (!shared) {
      shared = call(credentials, extras)
        .then((verdict) => {
          if (verdict === 'valid') {
            for (const [stale, expiry] of validUntil) if (expiry <= now()) validUntil.delete(stale);
            validUntil.set(key, now() + VALID_VERDICT_TTL_MS);
          }
          return verdict;
        })
        .finally(() => inFlight.delete(key));
      inFlight.set(key, shared);
    }
    return shared;
  };
}

/**
 * What the answer proves. A verdict only from an answer that is unambiguous: 401/403 or `Unauthorized` (no
 * GraphQL at all), or a `login` carrying both its id and the account's developer key.
 */
function verdictOf(response: Response, text: string, developerKey: string, secrets: string[], now: () => number): CredentialsVerdict {
  const status = response.status;
  if (status === 429) throw throttled(retryAfterSeconds(response.headers.get('retry-after'), now()));
  if (status >= 500) throw upstream(status);
  if (status === 401 || status === 403 || text.trim() === 'Unauthorized') return 'invalid';
  if (status !== 200) throw inconclusive(`it answered HTTP ${status}`);

  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch {
    throw inconclusive('its answer is not JSON');
  }
  const login = field(field(answer, 'data'), 'login');
  const apiKey = field(field(login, 'apiKey'), 'key');
  const errors = field(answer, 'errors');
  if (errors !== undefined && errors !== null) {
    const message = field(Array.isArray(errors) ? errors[0] : undefined, 'message');
    // Scrubbed like a REST reason, and of the account's developer key should the message echo it.
    const scrubbed = typeof message === 'string' ? redact(message, typeof apiKey === 'string' ? [...secrets, apiKey] : secrets) : undefined;
    throw inconclusive(`it answered GraphQL errors${scrubbed ? `: ${scrubbed.slice(0, 200)}` : ''}`);
  }
  const id = field(login, 'id');
  if (id === undefined || id === null || id === '') throw inconclusive('its answer has no login id');
  if (typeof apiKey !== 'string' || apiKey === '') throw inconclusive('its answer has no developer key (login.apiKey.key)');
  return apiKey === developerKey ? 'valid' : 'invalid';
}

function inconclusive(why: string): RemoteitFailure {
  return unusable(`remote.it's GraphQL API gave no verdict on the broker's credentials: ${why}`);
}

function field(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null && Object.hasOwn(value, name) ? (value as Record<string, unknown>)[name] : undefined;
}

/** The cache key: a digest, so the map holds no credential. The developer key counts: the verdict checks it. */
function fingerprint(credentials: RemoteitCredentials, token: string | undefined): string {
  const parts =
    credentials.kind === 'access_key'
      ? ['access_key', credentials.accessKeyId, credentials.secretAccessKey, credentials.developerKey]
      : ['password', token ?? '', credentials.developerKey];
  return createHash('sha256').update(parts.join('\0')).digest('hex');
}
