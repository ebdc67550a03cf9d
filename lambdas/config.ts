/**
 * Environment, read once at load into one typed config. A missing or bad variable fails the cold start
 * with the variable's name (never its value: none of these is a secret, but the rule keeps it that way).
 */
import * as z from './zod';
import { policyDocumentSchema } from './broker/policy';

const positiveInt = (fallback: number) => z._default(z.coerce.number().check(z.int(), z.positive()), fallback);
const nonEmptyString = z.string().check(z.minLength(1));

/** The policy document arrives as JSON text: parsed here, so a bad document names BROKER_POLICY. */
const jsonText = z.pipe(
  z.string(),
  z.transform((text: string, payload) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      payload.issues.push({ code: 'custom', message: 'is not valid JSON', input: text });
      return z.NEVER;
    }
  }),
);
const policyJson = z.pipe(jsonText, policyDocumentSchema);

export const configSchema = z.object({
  CONNECTIONS_TABLE_NAME: nonEmptyString,
  IDEMPOTENCY_TABLE_NAME: nonEmptyString,
  REMOTEIT_SECRET_ID: nonEmptyString,
  REMOTEIT_API_URL: z._default(z.url(), 'https://api.remote.it/apv/v27'),
  /** `cavage`: remote.it's documented access-key signature (scheme A). `rfc9421`: HTTP Message Signatures (scheme B). */
  REMOTEIT_SIGNATURE_SCHEME: z._default(z.enum(['cavage', 'rfc9421']), 'cavage'),
  /** Deadline of one remote.it call. connect with `wait: "true"` takes seconds; API Gateway gives up at 30 s. */
  REMOTEIT_TIMEOUT_MS: positiveInt(12_000),
  /** How long a fetched secret is reused before Secrets Manager is asked again. */
  SECRET_CACHE_SECONDS: positiveInt(300),
  BROKER_POLICY: policyJson,
  DUE_SHARDS: positiveInt(8),
  DEFAULT_TTL_SECONDS: z._default(z.coerce.number().check(z.int(), z.minimum(60), z.maximum(86_400)), 900),
  /**
   * Accept private and loopback addresses as `ip`-mode client IPs. Off in AWS (remote.it only ever sees public
   * addresses); the local stack turns it on because loopback addresses stand in for the internet there.
   */
  ALLOW_PRIVATE_CLIENT_IPS: z.pipe(z._default(z.enum(['true', 'false']), 'false'), z.transform((value) => value === 'true')),
  /** How long an idempotency record (and so a replayed answer) lives. */
  IDEMPOTENCY_TTL_SECONDS: positiveInt(3600),
  SWEEPER_CONCURRENCY: positiveInt(16),
  SWEEPER_MAX_ATTEMPTS: positiveInt(8),
  /** A pending record older than this was left by an invocation that died mid-connect. */
  PENDING_GRACE_SECONDS: positiveInt(120),
  /** Time the sweeper keeps back from its Lambda budget to record what it has in flight. */
  SWEEPER_SAFETY_MARGIN_MS: positiveInt(10_000),
});

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  readonly code = 'config_invalid';
  constructor(readonly variables: string[], detail: string) {
    super(`invalid environment: ${detail}`);
    this.name = 'ConfigError';
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const result = configSchema.safeParse(env);
  if (result.success) return result.data;
  const variables = [...new Set(result.error.issues.map((issue) => String(issue.path[0])))];
  const detail = result.error.issues
    .map((issue) => `${issue.path.join('.')}: ${z.isMissingValue(issue, env) ? 'is required' : issue.message}`)
    .join('; ');
  throw new ConfigError(variables, detail);
}
