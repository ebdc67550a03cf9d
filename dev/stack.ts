/**
 * The whole broker on loopback, as a library (`npm start` and the end-to-end tests use it): DynamoDB Local
 * with the shared table definitions, the Secrets Manager stub serving the remote.it secret, demo services
 * behind the remote.it emulator (or a remote.it endpoint the user names), the real handlers loaded
 * in-process with the env they read in AWS, the SigV4 gateway in front of them, the sweeper on a timer, and
 * lease timers: the SQS stub holding the timer queue, the connections table's stream read into the timer-arm
 * handler (dev/stream-poller.ts) and the timer queue read into the timer-fire handler (dev/sqs-poller.ts), as
 * Lambda's event source mappings would; and audit events: the same stream read into the audit handler, which
 * publishes to the EventBridge stub (dev/eventbridge-stub.ts), kept in memory and in `<stateDir>/events.jsonl`;
 * and the policy, served by the AppConfig Data stub (dev/appconfig-stub.ts) from a watched file or from memory.
 * Only endpoints differ from AWS: the handlers run unchanged.
 *
 * The stack may hold real remote.it keys (`remoteit`), on a laptop on a shared network, so nothing it serves
 * is open: every server but DynamoDB Local listens on loopback only; the stubs of AWS services (Secrets
 * Manager, SQS, EventBridge, AppConfig) check SigV4 against AWS credentials generated per run, which the
 * handlers sign with through their environment as they would with a role's in AWS; DynamoDB Local, which
 * cannot be bound to loopback, keeps the tables in the namespace of that run's access key id (dev/dynamodb-local.ts);
 * the emulator's admin API wants a per-run token. Those secrets leave the process only in the 0600 stack file.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Context, DynamoDBBatchResponse, DynamoDBStreamEvent, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { z } from 'zod';
import { AUDIT_FILTER_PATTERN, AUDIT_LOCKS_FILTER_PATTERN, AUDIT_RETRY_ATTEMPTS } from '../lambdas/audit/settings';
import type { AuditDetail } from '../lambdas/broker/audit';
import { policyDocumentSchema, type PolicyDocument } from '../lambdas/broker/policy';
import type { SweepSummary } from '../lambdas/broker/sweeper';
import type * as AuditModule from '../lambdas/handlers/audit';
import type * as ReadModule from '../lambdas/handlers/connections-read';
import type * as OpenModule from '../lambdas/handlers/connections-open';
import type * as WriteModule from '../lambdas/handlers/connections-write';
import { API_ROUTES, type ApiFunctionName } from '../lambdas/handlers/routes';
import type * as SweeperModule from '../lambdas/handlers/sweeper';
import type * as TimerArmModule from '../lambdas/handlers/timer-arm';
import type * as TimerFireModule from '../lambdas/handlers/timer-fire';
import { parseRemoteitCredentials } from '../lambdas/remoteit/credentials';
import { startAppConfigStub, type AppConfigFaults, type DeployResult, type PolicyInput } from './appconfig-stub';
import { createTables, DYNAMODB_LOCAL_ACCESS_KEY_ID, generateDynamoDbAccessKeyId, startDynamoDbLocal } from './dynamodb-local';
import { startEventBridgeStub, type EventBridgeFaults, type EventEnvelope, type PutEventsCall } from './eventbridge-stub';
import { startEchoServer, startEmulator, startHttpDemo, type Emulator, type Faults } from './emulator';
import { serviceSchema } from './emulator/options';
import { lambdaContext, startGateway, type ApiHandler, type GatewayRequestLog } from './gateway';
import { DEFAULT_IDENTITIES, loadOrCreateIdentities, type IdentitySpec, type LocalIdentity } from './identities';
import { startSecretsStub } from './secrets-stub';
import { startSqsPoller } from './sqs-poller';
import { startSqsStub, type SqsFaults, type SqsStub } from './sqs-stub';
import { patternFilter, startStreamPoller, timerArmFilter, type StreamPoller } from './stream-poller';
import {
  TIMER_ARM_RETRY_ATTEMPTS,
  TIMER_FIRE_TIMEOUT_SECONDS,
  TIMER_QUEUE_MAX_RECEIVES,
  TIMER_QUEUE_VISIBILITY_SECONDS,
} from '../lambdas/timers/settings';
import { startSweepTimer } from './sweep-timer';

export const DEFAULT_REGION = 'us-east-1';
export const DEFAULT_POLICY_FILE = join(__dirname, 'local-policy.json');
export const DEFAULT_SERVICES_FILE = join(__dirname, 'local-services.json');
export const LOCAL_SECRET_ID = 'remoteit/local';
export const STACK_FILE = 'stack.json';
export const IDENTITIES_FILE = 'identities.json';
/** The audit events published, one JSON line each, in `stateDir` (kept between runs, as AWS keeps a bus's archive). */
export const EVENTS_FILE = 'events.jsonl';
const DEFAULT_SWEEP_INTERVAL_MS = 10_000;
/** The sweeper function's timeout in AWS terms: its budget per run. */
const SWEEP_TIMEOUT_MS = 60_000;
/** The timer functions' timeouts, in AWS terms (what their contexts count down from). */
const TIMER_ARM_TIMEOUT_MS = 30_000;
const TIMER_FIRE_TIMEOUT_MS = TIMER_FIRE_TIMEOUT_SECONDS * 1000;
/** The audit function's timeout, in AWS terms. */
const AUDIT_TIMEOUT_MS = 30_000;
/** The account the emulator's admin API shows for the proxies the broker opens (never its key id). */
export const LOCAL_REMOTEIT_ACCOUNT_LABEL = 'local-broker';

/** AWS credentials: what the handlers sign with, and what the local stand-ins of AWS services verify. */
export interface LocalAwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/**
 * The run's AWS credentials for the SDK in the handlers (and the stack's own clients), generated per start so
 * nobody else can sign for the stubs: the access key id is also DynamoDB Local's namespace (letters and digits
 * only, as it requires); the secret key is what the stubs' SigV4 checks rest on (DynamoDB Local checks none).
 * They keep the SDK from looking for real credentials.
 */
function localAwsCredentials(accessKeyId: string): LocalAwsCredentials {
  return { accessKeyId, secretAccessKey: randomBytes(30).toString('base64url') };
}

/** The access key id of an external DynamoDB Local's namespace: the option, else the environment's key. */
function externalDynamoDbKey(option: { accessKeyId?: string }): string {
  const accessKeyId = option.accessKeyId ?? process.env.AWS_ACCESS_KEY_ID;
  if (accessKeyId === undefined || !DYNAMODB_LOCAL_ACCESS_KEY_ID.test(accessKeyId)) {
    throw new StackConfigError(
      'dynamoDb.endpoint is given without dynamoDb.accessKeyId, and AWS_ACCESS_KEY_ID is not a DynamoDB Local key (letters and digits): ' +
        'pass the access key id whose namespace holds the tables',
    );
  }
  return accessKeyId;
}

export type ServiceKind = 'tcp' | 'http';

/** One service in dev/local-services.json: `target` is `host:port`, or `demo:echo` / `demo:http` for the demo services. */
export const localServiceSchema = serviceSchema.extend({
  target: z.union([z.enum(['demo:echo', 'demo:http']), serviceSchema.shape.target]),
});
export const localServicesFileSchema = z.object({ services: z.array(localServiceSchema) });
export type LocalServiceConfig = z.input<typeof localServiceSchema>;

export interface StackService {
  serviceId: string;
  name: string;
  kind: ServiceKind;
  /** `host:port` the emulator's proxies forward to. */
  target: string;
}

export interface StackHandlers {
  read: ApiHandler;
  open: ApiHandler;
  write: ApiHandler;
  sweeper: (event: unknown, context: Context) => Promise<SweepSummary>;
  timerArm: (event: DynamoDBStreamEvent, context: Context) => Promise<DynamoDBBatchResponse>;
  timerFire: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;
  audit: (event: DynamoDBStreamEvent, context: Context) => Promise<DynamoDBBatchResponse>;
}

/** An audit event as the bus delivers it: EventBridge's envelope around lambdas/broker/audit.ts's detail. */
export interface AuditEnvelope extends Omit<EventEnvelope, 'detail'> {
  detail: AuditDetail;
}

/** Where a failure outside a handler's own error handling happened: a sweep, an API invocation, the timers' pollers, or the audit poller. */
export type StackErrorSource = 'sweep' | 'handler' | 'timers' | 'audit';

export interface StackOptions {
  region?: string;
  /** Loopback address every server listens on. */
  host?: string;
  /** 0 or undefined: any free port. */
  apiPort?: number;
  emulatorPort?: number;
  /**
   * `{endpoint}`: use a running DynamoDB Local (tests), in the namespace of `accessKeyId` (default: the
   * environment's AWS_ACCESS_KEY_ID, which the integration run sets to its own per-run key, see
   * test/integration/global-setup.ts); otherwise DynamoDB Local is started (in memory without `dataDir`) under
   * an access key id generated for this run.
   */
  dynamoDb?: { endpoint: string; accessKeyId?: string } | { port?: number; dataDir?: string };
  /** Directory for `stack.json` (removed again on stop) and the identities kept between runs; nothing is written without it. */
  stateDir?: string;
  /** Table names are `<prefix>-connections`, `<prefix>-idempotency` and `<prefix>-locks`. */
  tablePrefix?: string;
  /** Period of the sweeper timer. */
  sweepIntervalMs?: number;
  /**
   * Lease timers (default true): the stream poller feeding timer-arm and the SQS poller feeding timer-fire.
   * False starts neither (the sweeper alone ends leases); the timer queue exists either way.
   */
  timers?: boolean;
  /** The policy, deployed in memory (as version 1); without it or `policyFile`, dev/local-policy.json is watched. */
  policy?: PolicyInput;
  /** Serve this file's policy, watched: each valid edit is deployed within a second or so, an invalid one refused. */
  policyFile?: string;
  /** The AppConfig stub's console lines: `policy <file> deployed as version N`, refusals. */
  onPolicyLog?: (line: string) => void;
  /** Services registered in the emulator; defaults to dev/local-services.json. */
  services?: LocalServiceConfig[];
  /** Talk to this remote.it endpoint instead of starting the emulator (`REMOTEIT_API_URL`). */
  remoteit?: { apiUrl: string; secretJson: string | undefined };
  emulator?: { lifetimeSeconds?: number; idleSeconds?: number; faults?: Faults };
  identities?: readonly IdentitySpec[];
  /** Extra handler env, applied last (e.g. `REMOTEIT_TIMEOUT_MS`). */
  env?: Record<string, string>;
  gatewayTimeoutMs?: number;
  onRequest?: (log: GatewayRequestLog) => void;
  onSweep?: (summary: SweepSummary) => void;
  /** Each audit event, as the EventBridge stub accepts it (in order). */
  onAuditEvent?: (event: AuditEnvelope) => void;
  /**
   * A sweep or a handler invocation failed outside the handler's own error handling, or a timer poller
   * failed (a stream or queue read, a dropped stream batch, a timer batch that threw, a failed delete), or the
   * audit poller did (a stream read, a dropped batch).
   */
  onError?: (error: unknown, where: StackErrorSource) => void;
  /**
   * Loads the handlers after their env is set. Defaults to `require`; a second stack in one process needs them
   * afresh: `() => { let h; jest.isolateModules(() => { h = handlersFrom((path) => require(path)); }); return h; }`.
   */
  loadHandlers?: () => StackHandlers;
}

export interface Stack {
  apiUrl: string;
  region: string;
  /** Undefined when `remoteit` replaced the emulator. */
  emulator: Emulator | undefined;
  remoteitApiUrl: string;
  dynamoDbEndpoint: string;
  /** The access key id whose DynamoDB Local namespace holds the tables (sign for `region`; any secret key). */
  dynamoDbAccessKeyId: string;
  secretsEndpoint: string;
  tables: { connections: string; idempotency: string; locks: string };
  identities: LocalIdentity[];
  services: StackService[];
  /** The SQS stub and the lease timer queues on it. */
  sqs: StackSqs;
  /** Whether the timer pollers run now (the `timers` option, or the last `timers.setEnabled`). */
  readonly timersEnabled: boolean;
  /** The timers' event source mappings, switched at run time (a benchmark compares with and without). */
  timers: StackTimers;
  /** The file written for scripts, when `stateDir` was given. */
  stackFile: string | undefined;
  /** The audit events published so far (by this stack, oldest first), as the bus delivered them. */
  events(): AuditEnvelope[];
  /** The EventBridge stub the audit events go to. */
  audit: StackAudit;
  /** The AppConfig stub the functions read the policy from. */
  policy: StackPolicy;
  /** Runs one sweep now (after the one in flight). */
  sweep(): Promise<SweepSummary>;
  /**
   * Stops everything: the audit poller and the timer pollers (after their batches in flight), sweeper, gateway
   * (after requests in flight), EventBridge and SQS stubs, emulator, servers, DynamoDB Local. Idempotent.
   */
  stop(): Promise<void>;
}

export interface StackTimers {
  readonly enabled: boolean;
  /**
   * Starts the pollers (the stream read from LATEST: changes made while they were off arm nothing, and the
   * sweeper ends those leases) or stops them (after their batches in flight). Resolves when done.
   */
  setEnabled(enabled: boolean): Promise<void>;
}

export interface StackAudit {
  /** What `AWS_ENDPOINT_URL_EVENTBRIDGE` is set to. */
  endpoint: string;
  /** What `AUDIT_BUS_NAME` is set to. */
  busName: string;
  /** `<stateDir>/events.jsonl`, when `stateDir` was given: every event, one JSON line each. */
  eventsFile: string | undefined;
  /** Faults of the EventBridge stub (dev/eventbridge-stub.ts); `{}` lifts them. */
  setFaults(faults: EventBridgeFaults): void;
  /** PutEvents requests received, in order, since start or the last reset. */
  calls(): PutEventsCall[];
  resetCalls(): void;
}

export interface StackPolicy {
  /** What `AWS_ENDPOINT_URL_APPCONFIGDATA` is set to. */
  endpoint: string;
  /** The watched file, when the policy comes from one. */
  file: string | undefined;
  /** The version served. */
  version(): number;
  /** Validates and deploys a policy as the next version (refused, the last good kept, when invalid). */
  deploy(content: PolicyInput | string): DeployResult;
  /** Faults of the AppConfig stub (dev/appconfig-stub.ts); `{}` lifts them. */
  setFaults(faults: AppConfigFaults): void;
}

export interface StackSqs {
  /** What `AWS_ENDPOINT_URL_SQS` is set to. */
  endpoint: string;
  timerQueueUrl: string;
  timerQueueArn: string;
  deadLetterQueueUrl: string;
  /** Faults of the SQS stub (dev/sqs-stub.ts); `{}` lifts them. */
  setFaults(faults: SqsFaults): void;
  /** SQS requests received per action (every caller: handlers and pollers), since start or the last reset. */
  calls(): Record<string, number>;
  resetCalls(): void;
}

/** What `.local/stack.json` holds, for scripts and the CLI. Written 0600: it holds the run's secrets. */
export interface StackFile {
  apiUrl: string;
  region: string;
  emulatorUrl: string | null;
  /** The emulator's admin API and the token it wants (`Authorization: Bearer <token>`); absent without the emulator. */
  emulatorAdmin?: { url: string; token: string };
  dynamoDbEndpoint: string;
  /** The access key id of the run's DynamoDB Local namespace: sign for `region` with it (any secret key) to see the tables. */
  dynamoDbAccessKeyId?: string;
  identities: LocalIdentity[];
  services: StackService[];
}

export class StackConfigError extends Error {
  readonly code = 'stack_config_invalid';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StackConfigError';
  }
}

export class StackAlreadyRunningError extends Error {
  readonly code = 'stack_already_running';
  constructor() {
    super('a local stack is already running in this process: the handlers read process.env, so only one can run at a time');
    this.name = 'StackAlreadyRunningError';
  }
}

export async function loadPolicyFile(path: string): Promise<PolicyDocument> {
  const result = policyDocumentSchema.safeParse(JSON.parse(await readFile(path, 'utf8')));
  if (!result.success) throw new StackConfigError(`${path}: ${result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
  return result.data;
}

export async function loadServicesFile(path: string): Promise<LocalServiceConfig[]> {
  const result = localServicesFileSchema.safeParse(JSON.parse(await readFile(path, 'utf8')));
  if (!result.success) throw new StackConfigError(`${path}: ${result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
  return result.data.services;
}

/**
 * The secret the broker uses against a remote.it endpoint the user named: it must come from the user, and
 * is checked here so a bad one fails at start, naming fields (never values).
 */
export function remoteitSecretFrom(apiUrl: string, secretJson: string | undefined): string {
  if (!secretJson) {
    throw new StackConfigError(
      `REMOTEIT_API_URL is set (${apiUrl}), so the emulator is not started and its credentials are not known: ` +
        'set REMOTEIT_SECRET_JSON to {"developerKey":"...","accessKeyId":"...","secretAccessKey":"..."} ' +
        'or {"developerKey":"...","username":"...","password":"..."}',
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(secretJson);
  } catch {
    throw new StackConfigError('REMOTEIT_SECRET_JSON is not valid JSON');
  }
  try {
    parseRemoteitCredentials('REMOTEIT_SECRET_JSON', parsed);
  } catch (error) {
    throw new StackConfigError(error instanceof Error ? error.message : 'REMOTEIT_SECRET_JSON is invalid', { cause: error });
  }
  return secretJson;
}

/** The API functions by name, as the gateway routes to them. */
export function apiHandlersOf(handlers: Pick<StackHandlers, 'read' | 'open' | 'write'>): Record<ApiFunctionName, ApiHandler> {
  return { 'connections-read': handlers.read, 'connections-open': handlers.open, 'connections-write': handlers.write };
}

let handlersRequired = false;

/**
 * The real handler modules, each loaded through `load` by its absolute path. For `loadHandlers`: a test that
 * starts a second stack in one process passes `(path) => require(path)` inside `jest.isolateModules`.
 */
export function handlersFrom(load: (path: string) => unknown): StackHandlers {
  const module = (name: string) => load(join(__dirname, '..', 'lambdas', 'handlers', name));
  const read = module('connections-read') as typeof ReadModule;
  const open = module('connections-open') as typeof OpenModule;
  const write = module('connections-write') as typeof WriteModule;
  const sweeper = module('sweeper') as typeof SweeperModule;
  const timerArm = module('timer-arm') as typeof TimerArmModule;
  const timerFire = module('timer-fire') as typeof TimerFireModule;
  const audit = module('audit') as typeof AuditModule;
  return {
    read: read.handler as ApiHandler,
    open: open.handler as ApiHandler,
    write: write.handler as ApiHandler,
    sweeper: sweeper.handler,
    timerArm: timerArm.handler,
    timerFire: timerFire.handler,
    audit: audit.handler,
  };
}

/**
 * The real handler modules, loaded after the env they read at module load is set. Node caches modules, so
 * a second stack in the same module registry would get the first one's config: refused, with the way out.
 */
function requireHandlers(): StackHandlers {
  if (handlersRequired) {
    throw new StackConfigError(
      'the handlers were already loaded in this process with an earlier stack\'s env; ' +
        'pass loadHandlers (e.g. handlersFrom(require) inside jest.isolateModules) to start another stack',
    );
  }
  handlersRequired = true;
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded here, after the env they read at load is set
  return handlersFrom((path) => require(path));
}

/** Sets `values` in process.env (undefined deletes) and returns how to put back what was there. */
function applyEnv(values: Record<string, string | undefined>): () => void {
  const previous = new Map<string, string | undefined>();
  for (const [name, value] of Object.entries(values)) {
    previous.set(name, process.env[name]);
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  return () => {
    for (const [name, value] of previous) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}

let running = false;

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  if (running) throw new StackAlreadyRunningError();
  running = true;
  const region = options.region ?? DEFAULT_REGION;
  const host = options.host ?? '127.0.0.1';
  const prefix = options.tablePrefix ?? 'remoteit-broker-local';
  const tables = { connections: `${prefix}-connections`, idempotency: `${prefix}-idempotency`, locks: `${prefix}-locks` };
  // Undone in reverse on stop, or at once when a later step fails.
  const cleanups: Array<() => Promise<void> | void> = [() => {
    running = false;
  }];
  const cleanUp = async () => {
    const errors: unknown[] = [];
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'the local stack did not stop cleanly');
  };

  try {
    if (options.stateDir) await mkdir(options.stateDir, { recursive: true });
    const identities = await loadOrCreateIdentities(
      options.stateDir && join(options.stateDir, IDENTITIES_FILE),
      options.identities ?? DEFAULT_IDENTITIES,
    );
    const remoteSecret = options.remoteit && remoteitSecretFrom(options.remoteit.apiUrl, options.remoteit.secretJson);

    // DynamoDB first: it is the slow part (a JVM), and nothing else depends on it until the handlers load.
    const dynamoDbOption = options.dynamoDb ?? {};
    let dynamoDbEndpoint: string;
    let localCredentials: LocalAwsCredentials;
    if ('endpoint' in dynamoDbOption) {
      dynamoDbEndpoint = dynamoDbOption.endpoint;
      localCredentials = localAwsCredentials(externalDynamoDbKey(dynamoDbOption));
    } else {
      if (dynamoDbOption.dataDir) await mkdir(dynamoDbOption.dataDir, { recursive: true });
      const dynamoDbLocal = await startDynamoDbLocal({
        accessKeyId: generateDynamoDbAccessKeyId(),
        region,
        ...(dynamoDbOption.port !== undefined && { port: dynamoDbOption.port }),
        ...(dynamoDbOption.dataDir !== undefined && { dataDir: dynamoDbOption.dataDir }),
      });
      cleanups.push(() => dynamoDbLocal.stop());
      dynamoDbEndpoint = dynamoDbLocal.endpoint;
      localCredentials = localAwsCredentials(dynamoDbLocal.accessKeyId);
    }
    const tableClient = new DynamoDBClient({ endpoint: dynamoDbEndpoint, region, credentials: localCredentials });
    let streamArn: string | undefined;
    let locksStreamArn: string | undefined;
    try {
      await createTables(tableClient, tables);
      // Lease timers are armed from this stream (createTables enables it, on kept tables too).
      const { Table } = await tableClient.send(new DescribeTableCommand({ TableName: tables.connections }));
      streamArn = Table?.LatestStreamArn;
      // Locks placed and lifted are audited from this one.
      const locksTable = await tableClient.send(new DescribeTableCommand({ TableName: tables.locks }));
      locksStreamArn = locksTable.Table?.LatestStreamArn;
    } finally {
      tableClient.destroy();
    }
    if (!streamArn) throw new Error(`${tables.connections} has no stream: lease timers cannot be armed`);
    if (!locksStreamArn) throw new Error(`${tables.locks} has no stream: locks cannot be audited`);

    let emulator: Emulator | undefined;
    let services: StackService[] = [];
    let remoteitApiUrl: string;
    let secretJson: string;
    if (options.remoteit && remoteSecret) {
      remoteitApiUrl = options.remoteit.apiUrl;
      secretJson = remoteSecret;
    } else {
      const configured = (options.services ?? (await loadServicesFile(DEFAULT_SERVICES_FILE))).map((service) => localServiceSchema.parse(service));
      const [echo, web] = await Promise.all([startEchoServer({ host }), startHttpDemo({ host, name: 'demo-web' })]);
      cleanups.push(() => echo.close(), () => web.close());
      const targets: Record<string, string> = { 'demo:echo': echo.target, 'demo:http': web.target };
      services = configured.map((service) => ({
        serviceId: service.serviceId,
        name: service.name,
        kind: service.kind,
        target: targets[service.target] ?? service.target,
      }));
      // A fresh remote.it account each run: the broker only ever learns it through the secret, as in AWS.
      const account = {
        developerKey: `LOCAL-${randomBytes(8).toString('hex').toUpperCase()}`,
        accessKeyId: `LOCAL${randomBytes(8).toString('hex').toUpperCase()}`,
        secretAccessKey: randomBytes(32).toString('base64'),
      };
      const started = await startEmulator({
        host,
        port: options.emulatorPort ?? 0,
        proxyHost: host,
        accounts: [{ ...account, label: LOCAL_REMOTEIT_ACCOUNT_LABEL }],
        services: configured.map((service, index) => ({ ...service, target: services[index]?.target ?? service.target })),
        ...(options.emulator?.lifetimeSeconds !== undefined && { lifetimeSeconds: options.emulator.lifetimeSeconds }),
        ...(options.emulator?.idleSeconds !== undefined && { idleSeconds: options.emulator.idleSeconds }),
        ...(options.emulator?.faults !== undefined && { faults: options.emulator.faults }),
      });
      emulator = started;
      cleanups.push(() => started.stop());
      remoteitApiUrl = started.url;
      secretJson = JSON.stringify(account);
    }

    // The remote.it secret, served only to requests signed with the run's credentials.
    const secrets = await startSecretsStub({ [LOCAL_SECRET_ID]: secretJson }, { host, region, credentials: localCredentials });
    cleanups.push(() => secrets.stop());

    const sqsStub = await startSqsStub({ host, region, credentials: localCredentials });
    cleanups.push(() => sqsStub.stop());
    const timerQueues = await createTimerQueues(sqsStub, localCredentials, prefix);

    const eventsFile = options.stateDir && join(options.stateDir, EVENTS_FILE);
    const eventBridge = await startEventBridgeStub({
      host,
      region,
      credentials: localCredentials,
      busName: prefix,
      ...(eventsFile && { eventsFile }),
      ...(options.onAuditEvent && { onEvent: (event: EventEnvelope) => options.onAuditEvent?.(asAuditEnvelope(event)) }),
    });
    cleanups.push(() => eventBridge.stop());

    let lastPolicyLine: string | undefined;
    const policyFile = options.policyFile ?? (options.policy === undefined ? DEFAULT_POLICY_FILE : undefined);
    const appConfig = await startAppConfigStub({
      host,
      region,
      credentials: localCredentials,
      application: 'remoteit-broker',
      environment: 'local',
      profile: 'policy',
      ...(policyFile ? { file: policyFile } : options.policy !== undefined && { content: options.policy }),
      log: (line) => {
        lastPolicyLine = line;
        options.onPolicyLog?.(line);
      },
    });
    cleanups.push(() => appConfig.stop());
    if (appConfig.version() === 0) throw new StackConfigError(lastPolicyLine ?? 'no valid policy to serve');

    const restoreEnv = applyEnv({
      AWS_REGION: region,
      // The run's credentials, as a role's would be in AWS: the only ones the stubs and the tables accept.
      AWS_ACCESS_KEY_ID: localCredentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: localCredentials.secretAccessKey,
      // A session token of the user's real credentials must not ride along with the run's keys.
      AWS_SESSION_TOKEN: undefined,
      AWS_ENDPOINT_URL_DYNAMODB: dynamoDbEndpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
      AWS_ENDPOINT_URL_SQS: sqsStub.endpoint,
      AWS_ENDPOINT_URL_EVENTBRIDGE: eventBridge.endpoint,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ?? 'true',
      CONNECTIONS_TABLE_NAME: tables.connections,
      IDEMPOTENCY_TABLE_NAME: tables.idempotency,
      LOCKS_TABLE_NAME: tables.locks,
      REMOTEIT_SECRET_ID: LOCAL_SECRET_ID,
      REMOTEIT_API_URL: remoteitApiUrl,
      TIMER_QUEUE_URL: timerQueues.timerQueueUrl,
      AUDIT_BUS_NAME: eventBridge.busName,
      AWS_ENDPOINT_URL_APPCONFIGDATA: appConfig.endpoint,
      POLICY_APPCONFIG_APPLICATION: appConfig.application,
      POLICY_APPCONFIG_ENVIRONMENT: appConfig.environment,
      POLICY_APPCONFIG_PROFILE: appConfig.profile,
      // Short locally, so an edit of the policy file takes effect within seconds (AWS: 60).
      POLICY_MAX_AGE_SECONDS: '2',
      // Loopback addresses stand in for the internet here (AWS keeps this off).
      ALLOW_PRIVATE_CLIENT_IPS: 'true',
      DEFAULT_TTL_SECONDS: '300',
      POWERTOOLS_SERVICE_NAME: process.env.POWERTOOLS_SERVICE_NAME ?? 'remoteit-broker',
      POWERTOOLS_METRICS_NAMESPACE: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'RemoteitBroker',
      // EMF lines on stdout and an X-Ray daemon are for AWS; the user can turn them on through the env.
      POWERTOOLS_METRICS_DISABLED: process.env.POWERTOOLS_METRICS_DISABLED ?? 'true',
      POWERTOOLS_TRACE_ENABLED: process.env.POWERTOOLS_TRACE_ENABLED ?? 'false',
      POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'WARN',
      ...options.env,
    });
    cleanups.push(restoreEnv);
    const handlers = (options.loadHandlers ?? requireHandlers)();

    const gateway = await startGateway({
      routes: API_ROUTES,
      handlers: apiHandlersOf(handlers),
      identities,
      region,
      host,
      port: options.apiPort ?? 0,
      ...(options.gatewayTimeoutMs !== undefined && { timeoutMs: options.gatewayTimeoutMs }),
      ...(options.onRequest && { onRequest: options.onRequest }),
      onHandlerError: (error) => options.onError?.(error, 'handler'),
    });
    cleanups.push(() => gateway.stop());

    let lastSummary: SweepSummary | undefined;
    const runSweep = async () => {
      lastSummary = await handlers.sweeper(undefined, lambdaContext('remoteit-broker-local-sweeper', region, Date.now() + SWEEP_TIMEOUT_MS));
      options.onSweep?.(lastSummary);
    };
    const sweepTimer = startSweepTimer(runSweep, options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS, (error) => options.onError?.(error, 'sweep'));
    // Stopped (in-flight sweep awaited) before the gateway drains its requests; both before the emulator goes.
    cleanups.push(() => sweepTimer.stop());

    const timers = timerMappings({
      region,
      dynamoDbEndpoint,
      streamArn,
      sqsEndpoint: sqsStub.endpoint,
      credentials: localCredentials,
      timerQueues,
      handlers,
      onError: (error) => options.onError?.(error, 'timers'),
    });
    // Pushed last, so stopped first: their batches in flight end before the SQS stub, DynamoDB and the emulator go.
    cleanups.push(() => timers.close());
    if (options.timers ?? true) await timers.setEnabled(true);

    // Audit runs whatever the timers do: every change of a record (and of a lock) the streams show, from now on.
    for (const [arn, filter, name] of [
      [streamArn, auditFilter, 'audit'],
      [locksStreamArn, auditLocksFilter, 'audit-locks'],
    ] as const) {
      const audit = await auditMapping({
        region,
        dynamoDbEndpoint,
        streamArn: arn,
        filter,
        functionName: `remoteit-broker-local-${name}`,
        credentials: localCredentials,
        handler: handlers.audit,
        onError: (error) => options.onError?.(error, 'audit'),
      });
      // Pushed after the timers, so stopped before them: its batch in flight ends before the EventBridge stub goes.
      cleanups.push(() => audit.stop());
    }

    let stackFile: string | undefined;
    if (options.stateDir) {
      const file: StackFile = {
        apiUrl: gateway.url,
        region,
        emulatorUrl: emulator?.url ?? null,
        ...(emulator && { emulatorAdmin: { url: emulator.adminUrl, token: emulator.adminToken } }),
        dynamoDbEndpoint,
        dynamoDbAccessKeyId: localCredentials.accessKeyId,
        identities,
        services,
      };
      const path = join(options.stateDir, STACK_FILE);
      await writeStackFile(path, file);
      stackFile = path;
      // Scripts take the file's presence to mean the stack is up.
      cleanups.push(() => rm(path, { force: true }));
    }

    let stopping: Promise<void> | undefined;
    return {
      apiUrl: gateway.url,
      region,
      emulator,
      remoteitApiUrl,
      dynamoDbEndpoint,
      dynamoDbAccessKeyId: localCredentials.accessKeyId,
      secretsEndpoint: secrets.endpoint,
      tables,
      identities,
      services,
      sqs: {
        endpoint: sqsStub.endpoint,
        ...timerQueues,
        setFaults: (faults) => sqsStub.setFaults(faults),
        calls: () => sqsStub.calls(),
        resetCalls: () => sqsStub.resetCalls(),
      },
      get timersEnabled() {
        return timers.enabled;
      },
      timers: {
        get enabled() {
          return timers.enabled;
        },
        setEnabled: (enabled) => timers.setEnabled(enabled),
      },
      stackFile,
      events: () => eventBridge.events().map(asAuditEnvelope),
      audit: {
        endpoint: eventBridge.endpoint,
        busName: eventBridge.busName,
        eventsFile,
        setFaults: (faults) => eventBridge.setFaults(faults),
        calls: () => eventBridge.calls(),
        resetCalls: () => eventBridge.resetCalls(),
      },
      policy: {
        endpoint: appConfig.endpoint,
        file: appConfig.file,
        version: () => appConfig.version(),
        deploy: (content) => appConfig.deploy(content),
        setFaults: (faults) => appConfig.setFaults(faults),
      },
      async sweep() {
        lastSummary = undefined;
        await sweepTimer.runNow();
        if (!lastSummary) throw new Error('the sweep failed (reported through onError)');
        return lastSummary;
      },
      stop: () => {
        stopping ??= cleanUp();
        return stopping;
      },
    };
  } catch (error) {
    await cleanUp().catch(() => undefined);
    throw error;
  }
}

/**
 * Writes the stack file readable by its owner only. `mode` applies only when the file is created, so a file
 * left by an earlier run (a crash) is removed first, and the mode is set again in case umask took bits.
 */
async function writeStackFile(path: string, file: StackFile): Promise<void> {
  await rm(path, { force: true });
  await writeFile(path, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  await chmod(path, 0o600);
}

interface TimerQueues {
  timerQueueUrl: string;
  timerQueueArn: string;
  deadLetterQueueUrl: string;
}

/** `<prefix>-timers` and its dead-letter queue `<prefix>-timers-dlq`, made as infra makes them, with the real SQS client. */
async function createTimerQueues(
  stub: Pick<SqsStub, 'endpoint' | 'region' | 'queueArn'>,
  credentials: { accessKeyId: string; secretAccessKey: string },
  prefix: string,
): Promise<TimerQueues> {
  const names = { timers: `${prefix}-timers`, deadLetter: `${prefix}-timers-dlq` };
  const client = new SQSClient({ endpoint: stub.endpoint, region: stub.region, credentials });
  try {
    // A dead letter is kept as long as SQS keeps anything (14 days), to be looked at.
    const deadLetter = await client.send(new CreateQueueCommand({ QueueName: names.deadLetter, Attributes: { MessageRetentionPeriod: '1209600' } }));
    const timers = await client.send(
      new CreateQueueCommand({
        QueueName: names.timers,
        Attributes: {
          VisibilityTimeout: String(TIMER_QUEUE_VISIBILITY_SECONDS),
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: stub.queueArn(names.deadLetter), maxReceiveCount: TIMER_QUEUE_MAX_RECEIVES }),
        },
      }),
    );
    if (!timers.QueueUrl || !deadLetter.QueueUrl) throw new Error('CreateQueue answered no QueueUrl');
    return { timerQueueUrl: timers.QueueUrl, timerQueueArn: stub.queueArn(names.timers), deadLetterQueueUrl: deadLetter.QueueUrl };
  } finally {
    client.destroy();
  }
}

interface TimerMappingsInput {
  region: string;
  dynamoDbEndpoint: string;
  streamArn: string;
  sqsEndpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  timerQueues: TimerQueues;
  handlers: StackHandlers;
  onError: (error: unknown) => void;
}

interface TimerMappings extends StackTimers {
  /** Stops the pollers and closes their clients; later calls to setEnabled are refused. */
  close(): Promise<void>;
}

/**
 * Lambda's two event source mappings of the timers, switched on and off: the connections table's stream into
 * timer-arm, the timer queue into timer-fire. Switches are made one at a time, in the order asked.
 */
function timerMappings(input: TimerMappingsInput): TimerMappings {
  const { region, credentials } = input;
  const streams = new DynamoDBStreamsClient({ endpoint: input.dynamoDbEndpoint, region, credentials });
  const sqs = new SQSClient({ endpoint: input.sqsEndpoint, region, credentials });
  let pollers: Array<{ stop(): Promise<void> }> = [];
  let enabled = false;
  let closed = false;
  let chain: Promise<void> = Promise.resolve();

  const start = async () => {
    const streamPoller = await startStreamPoller({
      client: streams,
      streamArn: input.streamArn,
      handler: input.handlers.timerArm,
      filter: timerArmFilter,
      retryAttempts: TIMER_ARM_RETRY_ATTEMPTS,
      region,
      functionName: 'remoteit-broker-local-timer-arm',
      timeoutMs: TIMER_ARM_TIMEOUT_MS,
      onError: input.onError,
    });
    const sqsPoller = startSqsPoller({
      client: sqs,
      queueUrl: input.timerQueues.timerQueueUrl,
      queueArn: input.timerQueues.timerQueueArn,
      handler: input.handlers.timerFire,
      region,
      functionName: 'remoteit-broker-local-timer-fire',
      timeoutMs: TIMER_FIRE_TIMEOUT_MS,
      onError: input.onError,
    });
    pollers = [streamPoller, sqsPoller];
  };
  const stop = async () => {
    const running = pollers;
    pollers = [];
    await Promise.all(running.map((poller) => poller.stop()));
  };
  const enqueue = (step: () => Promise<void>) => {
    const next = chain.then(step);
    chain = next.catch(() => undefined);
    return next;
  };

  return {
    get enabled() {
      return enabled;
    },
    setEnabled(next) {
      return enqueue(async () => {
        if (closed) throw new Error('the local stack has stopped: its timers cannot be switched');
        if (next === enabled) return;
        if (next) await start();
        else await stop();
        enabled = next;
      });
    },
    close() {
      return enqueue(async () => {
        if (closed) return;
        closed = true;
        enabled = false;
        try {
          await stop();
        } finally {
          streams.destroy();
          sqs.destroy();
        }
      });
    },
  };
}

/** The audit function's filters: infra's patterns (lambdas/audit/settings.ts), applied as Lambda would. */
const auditFilter = patternFilter(AUDIT_FILTER_PATTERN);
const auditLocksFilter = patternFilter(AUDIT_LOCKS_FILTER_PATTERN);

/** The only events on the local bus are the audit function's: their detail is an AuditDetail. */
const asAuditEnvelope = (event: EventEnvelope) => event as unknown as AuditEnvelope;

/** One of Lambda's event source mappings of the audit function: a table's stream into the audit handler. */
async function auditMapping(input: {
  region: string;
  dynamoDbEndpoint: string;
  streamArn: string;
  filter: typeof auditFilter;
  functionName: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  handler: StackHandlers['audit'];
  onError: (error: unknown) => void;
}): Promise<{ stop(): Promise<void> }> {
  const streams = new DynamoDBStreamsClient({ endpoint: input.dynamoDbEndpoint, region: input.region, credentials: input.credentials });
  let poller: StreamPoller;
  try {
    poller = await startStreamPoller({
      client: streams,
      streamArn: input.streamArn,
      handler: input.handler,
      filter: input.filter,
      retryAttempts: AUDIT_RETRY_ATTEMPTS === -1 ? Number.POSITIVE_INFINITY : AUDIT_RETRY_ATTEMPTS,
      region: input.region,
      functionName: input.functionName,
      timeoutMs: AUDIT_TIMEOUT_MS,
      onError: input.onError,
    });
  } catch (error) {
    streams.destroy();
    throw error;
  }
  return {
    async stop() {
      try {
        await poller.stop();
      } finally {
        streams.destroy();
      }
    },
  };
}
