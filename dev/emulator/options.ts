/**
 * Options of the remote.it emulator and the JSON config file format (`services.example.json`), one zod
 * schema for both so a bad file fails at start with the field's path.
 */
import { readFile } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import { z } from 'zod';

/** remote.it service address: 8 hex bytes, stored upper-case as remote.it prints them. */
export const SERVICE_ID_PATTERN = /^[0-9A-F]{2}(?::[0-9A-F]{2}){7}$/i;

/**
 * What a stop of an unknown, ended or foreign connection (or one named with the wrong deviceaddress) answers,
 * with HTTP 401. remote.it documents the 401 and its cases ("connectionid incorrect or missing") but no
 * reason text; the default is that phrase, which no client can take for "already gone" by its wording.
 */
export const DEFAULT_STOP_REFUSAL_REASON = 'connectionid incorrect or missing';

/** A stop refusal reason: any non-empty text (an inferred wording under test, e.g. `connection not found`). */
export const stopRefusalReasonSchema = z.string().min(1).max(500);

const seconds = (fallback: number) => z.int().positive().max(2_000_000).default(fallback);

const base64Secret = z
  .string()
  .min(1)
  .refine((value) => /^[A-Za-z0-9+/]+={0,2}$/.test(value) && value.length % 4 === 0, 'must be base64');

export const accountSchema = z
  .object({
    developerKey: z.string().min(1),
    accessKeyId: z.string().min(1).optional(),
    /** base64, as remote.it hands it out; the HMAC key is the decoded bytes. */
    secretAccessKey: base64Secret.optional(),
    username: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    email: z.email().optional(),
    /** What proxy snapshots (`/_emulator/connections`) show as the account; default `account-<n>` (1-based). */
    label: z.string().min(1).max(100).optional(),
  })
  .refine((account) => (account.accessKeyId === undefined) === (account.secretAccessKey === undefined), {
    message: 'accessKeyId and secretAccessKey go together',
  })
  .refine((account) => (account.username === undefined) === (account.password === undefined), {
    message: 'username and password go together',
  });

const hostPort = z.string().refine((value) => {
  const match = /^(.+):(\d{1,5})$/.exec(value);
  return match !== null && Number(match[2]) > 0 && Number(match[2]) < 65_536;
}, 'must be host:port');

export const serviceSchema = z.object({
  serviceId: z
    .string()
    .regex(SERVICE_ID_PATTERN, 'must be 8 hex bytes XX:XX:XX:XX:XX:XX:XX:XX')
    .transform((value) => value.toUpperCase()),
  name: z.string().min(1),
  /** `http` services get a reverse proxy (always public), everything else a TCP port proxy. */
  kind: z.enum(['tcp', 'http']),
  /** When set, every connect to this service is refused (200, status "false") with this reason: an offline device. */
  refuseReason: z.string().min(1).optional(),
  target: hostPort,
});

export const faultsSchema = z.object({
  /** Delay before every affected answer (faults included). */
  latencyMs: z.int().min(0).max(600_000).optional(),
  /** Share of affected requests answered HTTP 500. */
  errorRate: z.number().min(0).max(1).optional(),
  /** Answer every affected request 429 with this Retry-After (true = 1 s). */
  throttle: z.union([z.boolean(), z.object({ retryAfterSeconds: z.int().min(0).max(3600) })]).optional(),
  /** Never answer affected requests (until the fault is lifted there is no answer at all; stop() drops them). */
  hang: z.boolean().optional(),
  /** Cut the connection without an answer (the client sees a reset socket). */
  reset: z.boolean().optional(),
  /** Answer every affected request with this HTTP status (a 5xx: 502 bad gateway, 503 unavailable, ...). */
  status: z.int().min(500).max(599).optional(),
  /** Answer HTTP 200 with a body that is not JSON, as a broken proxy or truncated answer would. */
  malformed: z.boolean().optional(),
  /**
   * Refuse every affected request with `status: "false"` and this reason (HTTP 200 unless `httpStatus`),
   * before it takes effect: remote.it's known reasons (`[0806] ...`, `missing api token`, ...) or any other.
   */
  refuse: z.object({ reason: z.string().min(1), httpStatus: z.int().min(200).max(499).default(200) }).optional(),
  /**
   * Fields dropped from successful answers (top level and inside `connection`), e.g. `["proxy", "proxyURL",
   * "proxyserver", "proxyport", "proxyServerPort"]`: a success the client cannot fully use. Applies after effect.
   */
  missingFields: z.array(z.string().min(1)).optional(),
  /**
   * Apply errorRate, status, reset, malformed and hang AFTER the request took effect (proxy opened, proxy
   * stopped), as when remote.it did the work but its answer was lost: the case a broker's compensation must handle.
   */
  afterEffect: z.boolean().optional(),
  /** Paths the faults apply to: under /apv/v27 (e.g. "/device/connect"), or "/graphql/v1"; all when absent. */
  onlyPaths: z.array(z.string().startsWith('/')).optional(),
});

const ipv4 = z.string().refine((value) => isIPv4(value), 'must be an IPv4 address');

const emulatorFileObject = z.object({
  host: ipv4.default('127.0.0.1'),
  port: z.int().min(0).max(65_535).default(0),
  accounts: z.array(accountSchema).min(1),
  services: z.array(serviceSchema).default([]),
  /** Address the proxies listen on and announce (remote.it's proxyN.rt3.io). */
  proxyHost: ipv4.default('127.0.0.1'),
  lifetimeSeconds: seconds(28_800),
  idleSeconds: seconds(900),
  tokenLifetimeSeconds: seconds(3600),
  /** Accepted clock skew of Date / created on signed requests. */
  maxSkewSeconds: seconds(900),
  faults: faultsSchema.default({}),
  /** The reason of a stop's 401 refusal (see DEFAULT_STOP_REFUSAL_REASON); settable at run time too. */
  stopRefusalReason: stopRefusalReasonSchema.default(DEFAULT_STOP_REFUSAL_REASON),
  /** Seeds the random draws of `errorRate`, so a fault run is reproducible. */
  seed: z.int().optional(),
});

function checkUnique(
  config: { services: { serviceId: string }[]; accounts: { developerKey: string }[] },
  context: z.core.$RefinementCtx,
): void {
  const seen = new Set<string>();
  config.services.forEach((service, index) => {
    if (seen.has(service.serviceId)) {
      context.addIssue({ code: 'custom', path: ['services', index, 'serviceId'], message: 'is listed twice' });
    }
    seen.add(service.serviceId);
  });
  const keys = config.accounts.map((account) => account.developerKey);
  if (new Set(keys).size !== keys.length) {
    context.addIssue({ code: 'custom', path: ['accounts'], message: 'developerKey must be unique' });
  }
}

export const emulatorFileSchema = emulatorFileObject.superRefine(checkUnique);

/** Options of `startEmulator`: the file format plus what only code can pass. */
export const emulatorOptionsSchema = emulatorFileObject
  .extend({
    /** Injectable random in [0, 1) (wins over `seed`). */
    random: z.custom<() => number>((value) => typeof value === 'function').optional(),
    /**
     * The token the admin API (`/_emulator/*`) requires as `Authorization: Bearer <token>`; a random one per
     * start when absent. Code only, never in a config file: it is a secret.
     */
    adminToken: z.string().regex(/^[\x21-\x7e]{32,512}$/, 'must be 32 to 512 visible ASCII characters').optional(),
  })
  .superRefine(checkUnique);

export type EmulatorOptions = z.input<typeof emulatorOptionsSchema>;
export type EmulatorConfig = z.output<typeof emulatorOptionsSchema>;
export type AccountConfig = z.output<typeof accountSchema>;
export type ServiceConfig = z.output<typeof serviceSchema>;
export type Faults = z.output<typeof faultsSchema>;

export class EmulatorConfigError extends Error {
  readonly code = 'emulator_config_invalid';
  constructor(detail: string, options?: { cause?: unknown }) {
    super(`invalid emulator config: ${detail}`, options);
    this.name = 'EmulatorConfigError';
  }
}

/** Issue paths and messages only: never the input values (developer keys and secrets live here). */
function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');
}

export function parseEmulatorOptions(options: EmulatorOptions): EmulatorConfig {
  const result = emulatorOptionsSchema.safeParse(options);
  if (!result.success) throw new EmulatorConfigError(describeIssues(result.error));
  return result.data;
}

const accountsSchema = z.array(accountSchema).min(1).refine(
  (accounts) => new Set(accounts.map((account) => account.developerKey)).size === accounts.length,
  'developerKey must be unique',
);

export function parseAccounts(accounts: unknown): AccountConfig[] {
  const result = accountsSchema.safeParse(accounts);
  if (!result.success) throw new EmulatorConfigError(describeIssues(result.error));
  return result.data;
}

export function parseFaults(faults: unknown): Faults {
  const result = faultsSchema.safeParse(faults);
  if (!result.success) throw new EmulatorConfigError(describeIssues(result.error));
  return result.data;
}

/** Reads a JSON config file (format: `services.example.json`) into options for `startEmulator`. */
export async function loadEmulatorConfig(path: string): Promise<EmulatorOptions> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new EmulatorConfigError(`${path} is not readable JSON`, { cause: error });
  }
  const result = emulatorFileSchema.safeParse(parsed);
  if (!result.success) throw new EmulatorConfigError(`${path}: ${describeIssues(result.error)}`);
  return result.data;
}
