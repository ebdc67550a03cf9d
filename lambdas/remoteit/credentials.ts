/**
 * remote.it credentials from Secrets Manager (the secret named by REMOTEIT_SECRET_ID), through Powertools
 * parameters' cache. Two shapes, see docs/remoteit-api.md: access keys (recommended) or username + password.
 */
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import * as z from '../zod';

const nonEmpty = z.string().check(z.trim(), z.minLength(1));
/** Sent as an HTTP header: a control character would make fetch throw with the value in its message. */
const headerValue = nonEmpty.check(z.regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces'));

const accessKeySchema = z.object({
  developerKey: headerValue,
  accessKeyId: headerValue,
  // The HMAC key is the decoded bytes: a value that is not base64 would sign garbage and fail at remote.it.
  secretAccessKey: z.base64().check(z.minLength(1)),
});

const passwordSchema = z.object({
  developerKey: headerValue,
  username: nonEmpty,
  password: z.string().check(z.minLength(1)),
});

export type AccessKeyCredentials = z.infer<typeof accessKeySchema> & { kind: 'access_key' };
export type PasswordCredentials = z.infer<typeof passwordSchema> & { kind: 'password' };
export type RemoteitCredentials = AccessKeyCredentials | PasswordCredentials;

/** Where the client gets credentials; `refresh()` bypasses the cache (after an auth failure: rotation). */
export interface CredentialsSource {
  get(): Promise<RemoteitCredentials>;
  refresh(): Promise<RemoteitCredentials>;
}

/** The secret is missing, not JSON, or neither shape. Names fields, never values. */
export class RemoteitSecretInvalidError extends Error {
  readonly code = 'secret_invalid';
  constructor(
    readonly secretId: string,
    readonly fields: string[],
    detail: string,
  ) {
    super(`remote.it secret "${secretId}" is invalid: ${detail}`);
    this.name = 'RemoteitSecretInvalidError';
  }
}

/**
 * Picks the shape by the fields present, so the error names what is missing from the shape the operator
 * meant rather than a union's noise. Messages are built from paths and issue codes only: zod's own
 * messages and `input` never reach the error, so no secret value can.
 */
export function parseRemoteitCredentials(secretId: string, value: unknown): RemoteitCredentials {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RemoteitSecretInvalidError(secretId, [], 'expected a JSON object');
  }
  const has = (field: string) => Object.prototype.hasOwnProperty.call(value, field);
  const usesAccessKeys = has('accessKeyId') || has('secretAccessKey') || !(has('username') || has('password'));
  const schema = usesAccessKeys ? accessKeySchema : passwordSchema;
  const result = schema.safeParse(value);
  if (result.success) return { ...result.data, kind: usesAccessKeys ? 'access_key' : 'password' } as RemoteitCredentials;

  const issues = result.error.issues;
  const fields = [...new Set(issues.map((issue) => String(issue.path[0])))];
  const detail = issues
    .map((issue) => {
      const field = String(issue.path[0]);
      if (!has(field)) return `${field} is required`;
      if (issue.code === 'invalid_format') return `${field} must be base64`;
      if (issue.code === 'invalid_type') return `${field} must be a string`;
      return `${field} must not be empty`;
    })
    .join('; ');
  const shape = usesAccessKeys
    ? '{developerKey, accessKeyId, secretAccessKey}'
    : '{developerKey, username, password}';
  throw new RemoteitSecretInvalidError(secretId, fields, `${detail} (expected ${shape})`);
}

/**
 * Secrets Manager could not be read (outage, throttling, network): transient, so the API answers 503 with
 * Retry-After rather than 500. The cause is kept for the logs; it names the secret id, never a value.
 */
export class RemoteitSecretUnavailableError extends Error {
  readonly code = 'secret_unavailable';
  readonly retryAfterSeconds = 1;
  constructor(
    readonly secretId: string,
    options: { cause: unknown },
  ) {
    super(`remote.it secret "${secretId}" could not be read from Secrets Manager`, options);
    this.name = 'RemoteitSecretUnavailableError';
  }
}

export interface SecretCredentialsOptions {
  secretId: string;
  /** Powertools cache lifetime (SECRET_CACHE_SECONDS). */
  maxAgeSeconds: number;
  /** Injected in tests or to share a provider; one is created otherwise. */
  provider?: SecretsProvider;
}

export interface SecretCredentialsSource extends CredentialsSource {
  /** Drops the cached secret (tests; the next get() fetches). */
  clearCache(): void;
}

export function createSecretCredentials(options: SecretCredentialsOptions): SecretCredentialsSource {
  const provider = options.provider ?? new SecretsProvider();
  // The raw string is fetched (no `transform: 'json'`): Powertools' JSON error would quote the secret text.
  const parse = (raw: unknown): RemoteitCredentials => {
    if (typeof raw !== 'string') {
      throw new RemoteitSecretInvalidError(options.secretId, [], 'expected a SecretString holding JSON');
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new RemoteitSecretInvalidError(options.secretId, [], 'is not valid JSON');
    }
    return parseRemoteitCredentials(options.secretId, parsed);
  };
  const load = async (forceFetch: boolean) => {
    let raw: unknown;
    try {
      raw = await provider.get(options.secretId, { maxAge: options.maxAgeSeconds, forceFetch });
    } catch (error) {
      throw new RemoteitSecretUnavailableError(options.secretId, { cause: error });
    }
    try {
      return parse(raw);
    } catch (error) {
      // An invalid value must not stay cached: the operator's fix would otherwise wait out the cache age,
      // since no call reaches remote.it (whose rejection is what forces a re-read) while it is cached.
      provider.clearCache();
      throw error;
    }
  };
  return {
    get: () => load(false),
    refresh: () => load(true),
    clearCache: () => provider.clearCache(),
  };
}
