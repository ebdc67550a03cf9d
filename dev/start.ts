/**
 * `npm start`: the whole broker on loopback (dev/stack.ts), what runs where, a first command to try, and a
 * clean stop on Ctrl-C / SIGTERM. State (DynamoDB data, local keys) lives in `.local/` between runs. The policy
 * file (`--policy`) is served through the AppConfig stub and watched: an edit takes effect within seconds, an
 * invalid one is refused with a `[policy]` line and the last good policy stays.
 */
import { rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { SweepSummary } from '../lambdas/broker/sweeper';
import { DynamoDbLocalStartError, JavaMissingError } from './dynamodb-local';
import type { GatewayRequestLog } from './gateway';
import type { LocalIdentity } from './identities';
import {
  type AuditEnvelope,
  DEFAULT_POLICY_FILE,
  DEFAULT_SERVICES_FILE,
  loadServicesFile,
  StackAlreadyRunningError,
  StackConfigError,
  startStack,
  type Stack,
  type StackService,
} from './stack';

/** `.local/` at the repository root, whatever the working directory: `--reset` must never wipe another one. */
export const STATE_DIR = resolve(__dirname, '..', '.local');

/** Signals closer together than this are one Ctrl-C delivered twice. */
const SIGNAL_REPEAT_MS = 1_000;

export const DEFAULT_PORTS = { api: 4000, emulator: 4100, dynamodb: 4200 } as const;

const USAGE = `Usage: npm start -- [options]

  --reset               wipe .local/ (DynamoDB data, local keys) and start clean
  --sweep-seconds N     sweeper period in seconds (default 10)
  --no-timers           no lease timers: the sweeper alone ends leases (at its period)
  --api-port N          gateway port (default ${DEFAULT_PORTS.api}; 0 = any free port)
  --emulator-port N     remote.it emulator port (default ${DEFAULT_PORTS.emulator})
  --dynamodb-port N     DynamoDB Local port (default ${DEFAULT_PORTS.dynamodb})
  --policy FILE         broker policy document (default dev/local-policy.json), served as AppConfig would
                        and watched: edits take effect within 5 s, invalid ones are refused (last good stays)
  --services FILE       services registered in the emulator (default dev/local-services.json)
  --events              print each audit event (one JSON line) as it is published; they are
                        always appended to .local/events.jsonl
  --quiet               no line per request or sweep
  --help                this text

Environment: REMOTEIT_API_URL replaces the emulator with that remote.it endpoint; the broker then
signs with REMOTEIT_SECRET_JSON ({"developerKey","accessKeyId","secretAccessKey"} or
{"developerKey","username","password"}).`;

export class UsageError extends Error {
  readonly code = 'usage';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface StartArgs {
  reset: boolean;
  help: boolean;
  quiet: boolean;
  /** Print each audit event as it is published. */
  events: boolean;
  sweepSeconds: number;
  /** Lease timers (the stream and queue pollers); `--no-timers` turns them off. */
  timers: boolean;
  apiPort: number;
  emulatorPort: number;
  dynamodbPort: number;
  policyFile: string | undefined;
  servicesFile: string | undefined;
}

function numberOption(name: string, value: string | undefined, fallback: number, check: (value: number) => boolean, expected: string): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed) || !check(parsed)) throw new UsageError(`--${name} must be ${expected}, got '${value}'`);
  return parsed;
}

const isPort = (value: number) => Number.isInteger(value) && value >= 0 && value <= 65_535;

export function parseStartArgs(argv: readonly string[]): StartArgs {
  let values: ReturnType<typeof parse>['values'];
  try {
    values = parse(argv).values;
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  return {
    reset: values.reset ?? false,
    help: values.help ?? false,
    quiet: values.quiet ?? false,
    events: values.events ?? false,
    sweepSeconds: numberOption('sweep-seconds', values['sweep-seconds'], 10, (value) => value > 0 && value <= 3600, 'a number of seconds in (0, 3600]'),
    timers: !(values['no-timers'] ?? false),
    apiPort: numberOption('api-port', values['api-port'], DEFAULT_PORTS.api, isPort, 'a port number'),
    emulatorPort: numberOption('emulator-port', values['emulator-port'], DEFAULT_PORTS.emulator, isPort, 'a port number'),
    dynamodbPort: numberOption('dynamodb-port', values['dynamodb-port'], DEFAULT_PORTS.dynamodb, isPort, 'a port number'),
    policyFile: values.policy,
    servicesFile: values.services,
  };
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      reset: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      quiet: { type: 'boolean', short: 'q' },
      events: { type: 'boolean' },
      'sweep-seconds': { type: 'string' },
      'no-timers': { type: 'boolean' },
      'api-port': { type: 'string' },
      'emulator-port': { type: 'string' },
      'dynamodb-port': { type: 'string' },
      policy: { type: 'string' },
      services: { type: 'string' },
    },
  });
}

/** A `curl --aws-sigv4` call signed as `identity` (single quotes: the values never contain one). */
export function curlCommand(
  identity: Pick<LocalIdentity, 'accessKeyId' | 'secretAccessKey'>,
  region: string,
  url: string,
  options: { method?: string; body?: unknown } = {},
): string {
  const parts = [`curl --aws-sigv4 "aws:amz:${region}:execute-api"`, `--user "${identity.accessKeyId}:${identity.secretAccessKey}"`];
  if (options.method) parts.push(`-X ${options.method}`);
  if (options.body !== undefined) parts.push(`-H 'content-type: application/json'`, `-d '${JSON.stringify(options.body)}'`);
  parts.push(url);
  return parts.join(' ');
}

export interface BannerInput {
  apiUrl: string;
  region: string;
  emulatorUrl: string | undefined;
  remoteitApiUrl: string;
  dynamoDbEndpoint: string;
  stackFile: string | undefined;
  identities: readonly LocalIdentity[];
  services: readonly StackService[];
  sweepSeconds: number;
  /** The lease timers: their queue, and whether the pollers run (absent: not shown). */
  timers?: { queueUrl: string; enabled: boolean };
  /** The audit events: the local bus, the file they go to, and whether they are printed (absent: not shown). */
  audit?: { busName: string; eventsFile: string | undefined; printed: boolean };
  /** The policy file the AppConfig stub serves and watches (absent: not shown). */
  policyFile?: string;
}

/** What runs where, and the first commands to try. */
export function formatBanner(input: BannerInput): string {
  const app = input.identities.find((identity) => !identity.admin) ?? input.identities[0];
  const echo = input.services.find((service) => service.kind === 'tcp' && !/offline|admin/i.test(service.name));
  const web = input.services.find((service) => service.kind === 'http');
  const lines = [
    'remoteit-broker is running on loopback',
    '',
    `  API (SigV4, execute-api, ${input.region})  ${input.apiUrl}`,
    input.emulatorUrl
      ? `  remote.it emulator                      ${input.emulatorUrl}   (faults: POST ${input.emulatorUrl.replace(/\/apv\/v27$/, '')}/_emulator/faults` +
        `${input.stackFile ? ` with the admin token in ${input.stackFile}, emulatorAdmin.token` : ', with the emulator\'s admin token'})`
      : `  remote.it (REMOTEIT_API_URL)            ${input.remoteitApiUrl}`,
    `  DynamoDB                                ${input.dynamoDbEndpoint}   (every interface: the tables are in this run's namespace` +
      `${input.stackFile ? `, its access key id in ${input.stackFile}` : ''})`,
    ...(input.timers
      ? [
          `  SQS (lease timer queue)                 ${input.timers.queueUrl}`,
          input.timers.enabled
            ? '  lease timers                            on: each lease ends at its end (table stream -> timer-arm, queue -> timer-fire)'
            : '  lease timers                            off (--no-timers): the sweeper alone ends leases',
        ]
      : []),
    `  sweeper                                 every ${input.sweepSeconds} s`,
    ...(input.audit
      ? [
          `  audit events                            ${input.audit.eventsFile ?? 'in memory'} (EventBridge bus ${input.audit.busName}; ` +
            `${input.audit.printed ? 'printed here too' : '--events prints them here'})`,
        ]
      : []),
    ...(input.policyFile ? [`  policy (AppConfig stub)                 ${input.policyFile} (watched: an edit takes effect within 5 s)`] : []),
    ...(input.stackFile ? [`  for scripts                             ${input.stackFile}`] : []),
    '',
    'Identities (local throwaway keys):',
    ...input.identities.map(
      (identity) =>
        `  ${identity.name.padEnd(6)} ${identity.admin ? 'admin ' : '      '} ${identity.accessKeyId}  ${identity.secretAccessKey}  ${identity.principal}`,
    ),
  ];
  if (input.services.length > 0) {
    lines.push('', 'Services registered in the emulator:');
    for (const service of input.services) lines.push(`  ${service.serviceId}  ${service.kind.padEnd(4)}  ${service.name}  -> ${service.target}`);
  }
  if (app && echo) {
    const open = curlCommand(app, input.region, `${input.apiUrl}/connections`, { body: { serviceId: echo.serviceId } });
    lines.push(
      '',
      `Try it: open a connection to ${echo.name} as ${app.name} (the answer's proxy.port is the proxy):`,
      '',
      ...(input.stackFile ? [`  npx rbroker connect ${echo.serviceId}`, '', 'or with curl:', ''] : []),
      `  ${open}`,
      '',
      'Then talk to the echo service through the proxy (latching: the first address that connects owns it):',
      '',
      `  node -e 'const s=require("net").connect(+process.argv[1],"127.0.0.1",()=>s.write("hello through remote.it\\n"));s.on("data",(d)=>{process.stdout.write(d);s.end()})' <proxy.port>`,
      '',
      'Or both at once:',
      '',
      `  PORT=$(${open.replace(/^curl /, 'curl -s ')} | node -pe 'JSON.parse(require("fs").readFileSync(0,"utf8")).proxy.port')`,
      `  node -e 'const s=require("net").connect(+process.argv[1],"127.0.0.1",()=>s.write("hello through remote.it\\n"));s.on("data",(d)=>{process.stdout.write(d);s.end()})' "$PORT"`,
      '',
      'List and stop:',
      '',
      `  ${curlCommand(app, input.region, `${input.apiUrl}/connections`)}`,
      `  ${curlCommand(app, input.region, `${input.apiUrl}/connections/<id>`, { method: 'DELETE' })}`,
    );
    if (input.stackFile) {
      lines.push('', `  npx rbroker ls`, `  npx rbroker stop <id>`);
    }
    if (web) {
      lines.push('', `${web.name} is an http service: remote.it gives it a public reverse proxy; curl the answer's proxy.url.`);
      if (input.stackFile) {
        lines.push('Open it, use it and stop it in one go:', '', `  npx rbroker connect ${web.serviceId} --exec 'curl -s {url}/hello'`);
      }
    }
  }
  lines.push('', 'Ctrl-C stops everything.');
  return lines.join('\n');
}

export function formatRequestLog(log: GatewayRequestLog): string {
  const who = log.identity ?? (log.refused ? `refused: ${log.refused}` : '-');
  return `[gateway] ${log.method} ${log.path} ${log.status} ${log.durationMs} ms (${who})`;
}

/** A line of the AppConfig stub: a policy version deployed, or an edit refused. */
export function formatPolicyLog(line: string): string {
  return `[policy] ${line}`;
}

/** An audit event as one line: the envelope EventBridge delivers, as JSON. */
export function formatEventLog(event: AuditEnvelope): string {
  return `[event] ${JSON.stringify(event)}`;
}

/** A line when the sweep did something, nothing for an idle tick. */
export function formatSweepLog(summary: SweepSummary): string | undefined {
  const counts = (['swept', 'expired', 'retried', 'stopFailed', 'settledPending', 'errors', 'backlog'] as const)
    .filter((field) => summary[field] > 0)
    .map((field) => `${field} ${summary[field]}`);
  return counts.length > 0 ? `[sweeper] ${counts.join(', ')} (lag ${summary.lagSeconds} s)` : undefined;
}

/** A start failure as one clear message: the cases a user can fix get no stack trace. */
export function describeStartError(error: unknown, args: StartArgs): string {
  if (error instanceof JavaMissingError || error instanceof StackConfigError || error instanceof UsageError || error instanceof StackAlreadyRunningError) {
    return error.message;
  }
  // Refused before the JVM ran (a data directory in use, a bad key): nothing of Java's to show.
  if (error instanceof DynamoDbLocalStartError && error.output === '') return error.message;
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'EADDRINUSE') {
    const port = (error as { port?: unknown }).port;
    const flag = port === args.apiPort ? '--api-port' : port === args.emulatorPort ? '--emulator-port' : '--api-port / --emulator-port';
    return `port ${String(port)} is in use (another npm start?): stop it, or pass ${flag} <port> (0 = any free port)`;
  }
  if (error instanceof Error && /address already in use|BindException/i.test(error.message)) {
    return `DynamoDB Local could not bind port ${args.dynamodbPort}: pass --dynamodb-port <port> (0 = any free port)\n${error.message}`;
  }
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

/**
 * Fails fast, naming the flag, when a fixed port is taken: DynamoDB Local's own bind failure would surface late
 * (and its readiness probe could even be answered by the other stack's DynamoDB on that port).
 */
export async function assertPortsFree(ports: ReadonlyArray<{ port: number; flag: string }>, host = '127.0.0.1'): Promise<void> {
  for (const { port, flag } of ports) {
    if (port === 0) continue;
    const taken = await new Promise<boolean>((resolveProbe) => {
      const probe = createServer();
      probe.once('error', () => resolveProbe(true));
      probe.listen(port, host, () => probe.close(() => resolveProbe(false)));
    });
    if (taken) throw new UsageError(`port ${port} is in use (another npm start?): stop it, or pass ${flag} <port> (0 = any free port)`);
  }
}

async function main(): Promise<void> {
  // The SDK's Node.js support notice is for deployments; it would only clutter the local banner.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  let args: StartArgs;
  try {
    args = parseStartArgs(process.argv.slice(2));
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (args.help) {
    console.log(USAGE);
    return;
  }
  if (args.reset) {
    await rm(STATE_DIR, { recursive: true, force: true });
    console.log(`reset: removed ${STATE_DIR}`);
  }

  let stack: Stack;
  try {
    await assertPortsFree([
      { port: args.apiPort, flag: '--api-port' },
      { port: args.emulatorPort, flag: '--emulator-port' },
      { port: args.dynamodbPort, flag: '--dynamodb-port' },
    ]);
    const remoteitApiUrl = process.env.REMOTEIT_API_URL;
    stack = await startStack({
      stateDir: STATE_DIR,
      dynamoDb: { port: args.dynamodbPort, dataDir: join(STATE_DIR, 'dynamodb') },
      apiPort: args.apiPort,
      emulatorPort: args.emulatorPort,
      sweepIntervalMs: args.sweepSeconds * 1000,
      timers: args.timers,
      policyFile: args.policyFile ? resolve(args.policyFile) : DEFAULT_POLICY_FILE,
      // Always printed, --quiet or not: a refused edit must not go unnoticed.
      onPolicyLog: (line: string) => console.log(formatPolicyLog(line)),
      services: await loadServicesFile(args.servicesFile ? resolve(args.servicesFile) : DEFAULT_SERVICES_FILE),
      ...(remoteitApiUrl && { remoteit: { apiUrl: remoteitApiUrl, secretJson: process.env.REMOTEIT_SECRET_JSON } }),
      ...(!args.quiet && {
        onRequest: (log: GatewayRequestLog) => console.log(formatRequestLog(log)),
        onSweep: (summary: SweepSummary) => {
          const line = formatSweepLog(summary);
          if (line) console.log(line);
        },
      }),
      ...(args.events && { onAuditEvent: (event: AuditEnvelope) => console.log(formatEventLog(event)) }),
      onError: (error, where) => console.error(`[${where}] ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`),
    });
  } catch (error) {
    console.error(describeStartError(error, args));
    process.exitCode = 1;
    return;
  }

  console.log(
    formatBanner({
      apiUrl: stack.apiUrl,
      region: stack.region,
      emulatorUrl: stack.emulator?.url,
      remoteitApiUrl: stack.remoteitApiUrl,
      dynamoDbEndpoint: stack.dynamoDbEndpoint,
      stackFile: stack.stackFile,
      identities: stack.identities,
      services: stack.services,
      sweepSeconds: args.sweepSeconds,
      timers: { queueUrl: stack.sqs.timerQueueUrl, enabled: stack.timersEnabled },
      audit: { busName: stack.audit.busName, eventsFile: stack.audit.eventsFile, printed: args.events },
      ...(stack.policy.file && { policyFile: stack.policy.file }),
    }),
  );

  await new Promise<void>((resolveStop) => {
    let firstSignalAt: number | undefined;
    const onSignal = (signal: NodeJS.Signals) => {
      if (firstSignalAt !== undefined) {
        // One Ctrl-C can arrive twice (the terminal signals the whole group, and tsx relays it too): only a
        // second press, a moment later, means "leave now". DynamoDB Local's JVM is killed on exit regardless.
        if (Date.now() - firstSignalAt > SIGNAL_REPEAT_MS) process.exit(signal === 'SIGINT' ? 130 : 143);
        return;
      }
      firstSignalAt = Date.now();
      console.log(`\n${signal}: stopping... (Ctrl-C again to leave at once)`);
      stack
        .stop()
        .then(() => console.log('stopped'))
        .catch((error: unknown) => {
          console.error(error);
          process.exitCode = 1;
        })
        .finally(resolveStop);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    // A closed terminal: stop as for Ctrl-C (DynamoDB Local runs in its own process group and would stay).
    process.on('SIGHUP', onSignal);
  });
}

if (require.main === module) {
  void main();
}
