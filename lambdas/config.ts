/**
 * Environment, read once at load into one typed config per function. Each function parses only the
 * variables it uses (`readConfigSchema`, `openConfigSchema`, `writeConfigSchema`, `sweeperConfigSchema`, the timers' two, `auditConfigSchema`), and the CDK construct
 * gives each function only the variables of its schema (`FUNCTION_CONFIG`). A missing or bad variable fails
 * the cold start with the variable's name (never its value: none of these is a secret, but the rule keeps
 * it that way).
 *
 * Every variable is defined once, in one of the shapes below; the schemas are unions of shapes.
 */
import * as z from './zod';
import { MAX_TTL_SECONDS, MIN_TTL_SECONDS } from './broker/model';

const positiveInt = /* @__NO_SIDE_EFFECTS__ */ (fallback: number) => z._default(z.coerce.number().check(z.int(), z.positive()), fallback);
const nonEmptyString = z.string().check(z.minLength(1));

/** The connection records: every function. */
const connectionsShape = {
  CONNECTIONS_TABLE_NAME: nonEmptyString,
  DUE_SHARDS: positiveInt(8),
};

/**
 * Who may do what: the API functions (the sweeper acts on records, not on callers). The policy is live data in
 * AWS AppConfig, read through Powertools' AppConfig provider (lambdas/handlers/policy-source.ts).
 */
const policyShape = {
  /** AppConfig application, environment and configuration profile of the policy: ids or names. */
  POLICY_APPCONFIG_APPLICATION: nonEmptyString,
  POLICY_APPCONFIG_ENVIRONMENT: nonEmptyString,
  POLICY_APPCONFIG_PROFILE: nonEmptyString,
  /** How long a loaded policy is used before AppConfig is asked again, seconds: a deployed change takes effect within this. */
  POLICY_MAX_AGE_SECONDS: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(60)), 60),
};

/** Operators' locks (lambdas/broker/locks.ts): the functions that check them or enforce them. */
const locksShape = {
  LOCKS_TABLE_NAME: nonEmptyString,
};

/** Talking to remote.it: the functions that open or stop connections. */
const remoteitShape = {
  REMOTEIT_SECRET_ID: nonEmptyString,
  REMOTEIT_API_URL: z._default(z.url(), 'https://api.remote.it/apv/v27'),
  /** `cavage`: remote.it's documented access-key signature (scheme A). `rfc9421`: HTTP Message Signatures (scheme B). */
  REMOTEIT_SIGNATURE_SCHEME: z._default(z.enum(['cavage', 'rfc9421']), 'cavage'),
  /** Deadline of one remote.it call. connect with `wait: "true"` takes seconds; API Gateway gives up at 30 s. */
  REMOTEIT_TIMEOUT_MS: positiveInt(12_000),
  /** How long a fetched secret is reused before Secrets Manager is asked again. */
  SECRET_CACHE_SECONDS: positiveInt(300),
};

/** Stopping and settling connections: the API functions (DELETE, a refused or abandoned open) and the sweeper alike. */
const stoppingShape = {
  SWEEPER_MAX_ATTEMPTS: positiveInt(8),
  /** A pending record older than this was left by an invocation that died mid-connect. */
  PENDING_GRACE_SECONDS: positiveInt(120),
};

/** Opening connections: the open function alone. */
const openingShape = {
  IDEMPOTENCY_TABLE_NAME: nonEmptyString,
  /** How long an idempotency record (and so a replayed answer) lives. */
  IDEMPOTENCY_TTL_SECONDS: positiveInt(3600),
  DEFAULT_TTL_SECONDS: z._default(
    z.coerce.number().check(z.int(), z.minimum(MIN_TTL_SECONDS), z.maximum(MAX_TTL_SECONDS)),
    900,
  ),
  /**
   * Accept private and loopback addresses as `ip`-mode client IPs. Off in AWS (remote.it only ever sees public
   * addresses); the local stack turns it on because loopback addresses stand in for the internet there.
   */
  ALLOW_PRIVATE_CLIENT_IPS: z.pipe(z._default(z.enum(['true', 'false']), 'false'), z.transform((value) => value === 'true')),
};

/** Sweeping: the sweeper alone. */
const sweepingShape = {
  SWEEPER_CONCURRENCY: positiveInt(16),
  /** Time the sweeper keeps back from its Lambda budget to record what it has in flight. */
  SWEEPER_SAFETY_MARGIN_MS: positiveInt(10_000),
};

/** Lease timers: the function that arms them and the one they fire in. */
const timersShape = {
  /** The SQS queue of lease timers (messages delayed until each lease end). */
  TIMER_QUEUE_URL: z.url(),
};

/** Audit events: the function that publishes them from the connections table's stream. */
const auditShape = {
  /** The EventBridge bus the audit events go to: its name or ARN, as PutEvents' `EventBusName` takes it. */
  AUDIT_BUS_NAME: nonEmptyString,
};

// Each schema is built in a call marked pure, so esbuild leaves the schemas a handler does not use (and the
// shapes only they use) out of its bundle.
/** connections-read: GET /connections, GET /connections/{id}. */
export const readConfigSchema = /* @__PURE__ */ (() => z.object({ ...connectionsShape, ...policyShape }))();
/** connections-open: POST /connections. */
export const openConfigSchema = /* @__PURE__ */ (() =>
  z.object({ ...connectionsShape, ...policyShape, ...locksShape, ...remoteitShape, ...stoppingShape, ...openingShape }))();
/** connections-write: POST /connections/{id}/renew, DELETE /connections/{id}, and the lock routes. */
export const writeConfigSchema = /* @__PURE__ */ (() =>
  z.object({ ...connectionsShape, ...policyShape, ...locksShape, ...remoteitShape, ...stoppingShape }))();
/** sweeper: stops connections whose lease has ended. */
export const sweeperConfigSchema = /* @__PURE__ */ (() =>
  z.object({ ...connectionsShape, ...locksShape, ...remoteitShape, ...stoppingShape, ...sweepingShape }))();

/** timer-arm: arms a lease timer for every lease end the connections table's stream shows. */
export const timerArmConfigSchema = /* @__PURE__ */ (() => z.object({ ...timersShape, ...locksShape }))();
/** timer-fire: stops a connection when its lease timer fires (or arms the timer again for the rest of a long lease). */
export const timerFireConfigSchema = /* @__PURE__ */ (() =>
  z.object({ ...connectionsShape, ...remoteitShape, ...stoppingShape, ...timersShape }))();

/** audit: publishes an audit event for every change of a connection the connections table's stream shows. */
export const auditConfigSchema = /* @__PURE__ */ (() => z.object({ ...auditShape }))();

export type ReadConfig = z.infer<typeof readConfigSchema>;
export type OpenConfig = z.infer<typeof openConfigSchema>;
export type WriteConfig = z.infer<typeof writeConfigSchema>;
export type SweeperConfig = z.infer<typeof sweeperConfigSchema>;
export type TimerFireConfig = z.infer<typeof timerFireConfigSchema>;
export type AuditConfig = z.infer<typeof auditConfigSchema>;

/** Each function (named as its handler file, lambdas/handlers/<name>.ts) and the schema of its environment. */
export const FUNCTION_CONFIG = {
  'connections-read': readConfigSchema,
  'connections-open': openConfigSchema,
  'connections-write': writeConfigSchema,
  sweeper: sweeperConfigSchema,
  'timer-arm': timerArmConfigSchema,
  'timer-fire': timerFireConfigSchema,
  audit: auditConfigSchema,
} as const;

export type BrokerFunctionName = keyof typeof FUNCTION_CONFIG;
/** A function's config schema. */
export type ConfigSchema = (typeof FUNCTION_CONFIG)[BrokerFunctionName];
/** Every variable some function parses. */
export type ConfigKey = { [name in BrokerFunctionName]: keyof (typeof FUNCTION_CONFIG)[name]['shape'] }[BrokerFunctionName];

/** The variables `schema` parses. */
export function configKeys<S extends ConfigSchema>(schema: S): Array<keyof S['shape'] & string> {
  return Object.keys(schema.shape) as Array<keyof S['shape'] & string>;
}

/** The variables `schema` cannot do without: those with no default. */
export function requiredConfigKeys<S extends ConfigSchema>(schema: S): Array<keyof S['shape'] & string> {
  const shape = schema.shape as Record<string, z.ZodMiniType>;
  return configKeys(schema).filter((key) => !shape[key]?.safeParse(undefined).success);
}

export class ConfigError extends Error {
  readonly code = 'config_invalid';
  constructor(readonly variables: string[], detail: string) {
    super(`invalid environment: ${detail}`);
    this.name = 'ConfigError';
  }
}

/** `env` parsed with one function's schema; variables the schema does not name are ignored. */
export function loadConfig<S extends ConfigSchema>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data as z.infer<S>;
  const variables = [...new Set(result.error.issues.map((issue) => String(issue.path[0])))];
  const detail = result.error.issues
    .map((issue) => `${issue.path.join('.')}: ${z.isMissingValue(issue, env) ? 'is required' : issue.message}`)
    .join('; ');
  throw new ConfigError(variables, detail);
}
