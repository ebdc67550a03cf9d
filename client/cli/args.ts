/** `rbroker` arguments (node:util parseArgs) into one typed command; anything wrong is a `UsageError` (exit 2). */
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
// The client's copy of the API's lists (test/unit/client/contract.test.ts keeps them equal).
import { CONNECTION_MODES, CONNECTION_STATUSES, type ConnectionMode, type ConnectionStatus } from '../types';

export class UsageError extends Error {
  readonly code = 'usage';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface GlobalOptions {
  /** A URL, or `local` for the local stack; undefined: RBROKER_ENDPOINT, else the local stack. */
  endpoint: string | undefined;
  stackFile: string | undefined;
  /** A local stack identity (`app`, `admin`). */
  as: string | undefined;
  json: boolean;
  /** A deployed API's region (custom domains); undefined: the profile's, the execute-api host name's, AWS_REGION. */
  region?: string | undefined;
  /** A profile of the config file (cli/profiles.ts); undefined: RBROKER_PROFILE, else none. */
  profile?: string | undefined;
}

export type Command =
  | {
      name: 'connect';
      serviceId: string;
      mode: ConnectionMode | undefined;
      ttlSeconds: number | undefined;
      clientIp: string | undefined;
      reuse: boolean;
      idempotencyKey: string | undefined;
      exec: string | undefined;
    }
  | {
      name: 'forward';
      serviceId: string;
      mode: ConnectionMode | undefined;
      ttlSeconds: number | undefined;
      localPort: number | undefined;
      listen: string;
      eager: boolean;
      idleSeconds: number | undefined;
      exec: string | undefined;
    }
  | { name: 'ls'; status: ConnectionStatus | undefined; serviceId: string | undefined; limit: number }
  | { name: 'get'; id: string }
  | { name: 'renew'; id: string; ttlSeconds: number }
  | { name: 'stop'; id: string }
  | { name: 'lock'; principal: string | undefined; serviceId: string | undefined; reason: string; ttlSeconds: number | undefined }
  | { name: 'locks' }
  | { name: 'whoami' }
  | { name: 'services' }
  | { name: 'unlock'; id: string }
  | { name: 'completion'; shell: 'bash' | 'zsh' };

/** `topic`: `rbroker <command> --help` or `rbroker help <command>`; absent: the whole usage. */
export type Invocation = { help: true; topic?: Command['name'] } | { help: false; command: Command; options: GlobalOptions };

export const DEFAULT_LIST_LIMIT = 50;
const MAX_LIST_LIMIT = 10_000;

const OPTIONS = {
  endpoint: { type: 'string' },
  stack: { type: 'string' },
  as: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  region: { type: 'string' },
  profile: { type: 'string' },
  mode: { type: 'string' },
  ttl: { type: 'string' },
  'client-ip': { type: 'string' },
  reuse: { type: 'boolean' },
  'idempotency-key': { type: 'string' },
  exec: { type: 'string' },
  'local-port': { type: 'string' },
  listen: { type: 'string' },
  eager: { type: 'boolean' },
  idle: { type: 'string' },
  status: { type: 'string' },
  service: { type: 'string' },
  limit: { type: 'string' },
  principal: { type: 'string' },
  reason: { type: 'string' },
} as const;

export type OptionName = keyof typeof OPTIONS;

/** Whether an option takes a value (completion skips the value when it looks for the command). */
export const takesValue = (option: OptionName): boolean => OPTIONS[option].type === 'string';

export const GLOBAL: readonly OptionName[] = ['endpoint', 'stack', 'as', 'profile', 'region', 'json', 'help'];

/** Options each command takes besides the global ones, and how many ids or service ids it needs. */
export const COMMANDS = {
  connect: { options: ['mode', 'ttl', 'client-ip', 'reuse', 'idempotency-key', 'exec'], positional: '<serviceId>' },
  forward: { options: ['local-port', 'listen', 'eager', 'exec', 'idle', 'mode', 'ttl'], positional: '<serviceId>' },
  ls: { options: ['status', 'service', 'limit'], positional: undefined },
  get: { options: [], positional: '<id>' },
  renew: { options: ['ttl'], positional: '<id>' },
  stop: { options: [], positional: '<id>' },
  lock: { options: ['principal', 'service', 'reason', 'ttl'], positional: undefined },
  locks: { options: [], positional: undefined },
  whoami: { options: [], positional: undefined },
  services: { options: [], positional: undefined },
  unlock: { options: [], positional: '<id>' },
  completion: { options: [], positional: '<bash|zsh>' },
} as const satisfies Record<Command['name'], { options: readonly OptionName[]; positional: string | undefined }>;

export const isCommandName = (value: string): value is Command['name'] => Object.hasOwn(COMMANDS, value);

/** `--help` after a command, or `help <command>`: that command's help; an unknown one is a usage error. */
function helpTopic(name: string | undefined, rest: readonly string[]): Invocation {
  const topic = name === 'help' ? rest[0] : name;
  if (topic === undefined || topic === 'help') return { help: true };
  if (!isCommandName(topic)) throw new UsageError(`no help for unknown command '${topic}'`);
  return { help: true, topic };
}

/** `15m`, `900s`, `1h`, `1h30m`, or plain seconds (`900`) -> seconds. */
export function parseDuration(text: string, option: string): number {
  const match = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text);
  const seconds = /^\d+$/.test(text)
    ? Number(text)
    : match && text !== ''
      ? Number(match[1] ?? 0) * 3600 + Number(match[2] ?? 0) * 60 + Number(match[3] ?? 0)
      : Number.NaN;
  if (!Number.isSafeInteger(seconds) || seconds <= 0) {
    throw new UsageError(`--${option} must be a duration such as 15m, 900s, 1h or 900 (seconds), got '${text}'`);
  }
  return seconds;
}

function oneOf<T extends string>(value: string | undefined, choices: readonly T[], option: string): T | undefined {
  if (value === undefined) return undefined;
  if (!(choices as readonly string[]).includes(value)) throw new UsageError(`--${option} must be one of ${choices.join(', ')}, got '${value}'`);
  return value as T;
}

function parseLocalPort(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) throw new UsageError(`--local-port must be a port number from 1 to 65535, got '${value}'`);
  return port;
}

/** An IP address of this machine, or `localhost`. */
function parseListen(value: string | undefined): string {
  if (value === undefined) return '127.0.0.1';
  if (value === 'localhost') return '127.0.0.1';
  if (isIP(value) === 0) throw new UsageError(`--listen must be an IP address such as 127.0.0.1 or ::1, got '${value}'`);
  return value;
}

function parseLimit(value: string | undefined): number {
  if (value === undefined) return DEFAULT_LIST_LIMIT;
  const limit = Number(value);
  if (!/^\d+$/.test(value) || limit < 1 || limit > MAX_LIST_LIMIT) throw new UsageError(`--limit must be a whole number from 1 to ${MAX_LIST_LIMIT}, got '${value}'`);
  return limit;
}

export function parseCommandLine(argv: readonly string[]): Invocation {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  const [name, ...rest] = positionals;
  if (values.help || name === 'help') return helpTopic(name, rest);
  if (name === undefined) throw new UsageError('no command given');
  if (!isCommandName(name)) throw new UsageError(`unknown command '${name}'`);

  const spec = COMMANDS[name];
  const allowed = new Set<OptionName>([...GLOBAL, ...spec.options]);
  for (const option of Object.keys(values) as OptionName[]) {
    if (!allowed.has(option)) throw new UsageError(`--${option} does not apply to ${name}`);
  }
  const wanted = spec.positional === undefined ? 0 : 1;
  if (rest.length < wanted) throw new UsageError(`${name} needs ${spec.positional}`);
  if (rest.length > wanted) throw new UsageError(`unexpected argument '${rest[wanted]}' for ${name}`);
  const target = rest[0] ?? '';
  if (wanted === 1 && target.trim() === '') throw new UsageError(`${name} needs ${spec.positional}, got an empty one`);
  if (values.exec !== undefined && values.exec.trim() === '') throw new UsageError('--exec needs a command');

  if (values.profile !== undefined && values.profile.trim() === '') throw new UsageError('--profile needs a profile name');
  if (values.region !== undefined && !/^[a-z]{2}(-[a-z]+)+-\d+$/.test(values.region)) {
    throw new UsageError(`--region must be an AWS region such as eu-central-1, got '${values.region}'`);
  }
  const options: GlobalOptions = {
    endpoint: values.endpoint,
    stackFile: values.stack,
    as: values.as,
    json: values.json ?? false,
    ...(values.region !== undefined && { region: values.region }),
    ...(values.profile !== undefined && { profile: values.profile }),
  };
  const ttlSeconds = values.ttl === undefined ? undefined : parseDuration(values.ttl, 'ttl');
  let command: Command;
  switch (name) {
    case 'connect':
      command = {
        name,
        serviceId: target,
        mode: oneOf(values.mode, CONNECTION_MODES, 'mode'),
        ttlSeconds,
        clientIp: values['client-ip'],
        reuse: values.reuse ?? false,
        idempotencyKey: values['idempotency-key'],
        exec: values.exec,
      };
      break;
    case 'forward':
      command = {
        name,
        serviceId: target,
        mode: oneOf(values.mode, CONNECTION_MODES, 'mode'),
        ttlSeconds,
        localPort: parseLocalPort(values['local-port']),
        listen: parseListen(values.listen),
        eager: values.eager ?? false,
        idleSeconds: values.idle === undefined ? undefined : parseDuration(values.idle, 'idle'),
        exec: values.exec,
      };
      break;
    case 'ls':
      command = { name, status: oneOf(values.status, CONNECTION_STATUSES, 'status'), serviceId: values.service, limit: parseLimit(values.limit) };
      break;
    case 'renew':
      if (ttlSeconds === undefined) throw new UsageError('renew needs --ttl <duration> (the new lease, from now)');
      command = { name, id: target, ttlSeconds };
      break;
    case 'lock':
      if (values.principal === undefined && values.service === undefined) {
        throw new UsageError('lock needs --principal GLOB or --service GLOB (or both): what the lock covers');
      }
      if (values.reason === undefined || values.reason.trim() === '') throw new UsageError('lock needs --reason TEXT (shown to every caller it refuses)');
      command = { name, principal: values.principal, serviceId: values.service, reason: values.reason, ttlSeconds };
      break;
    case 'locks':
    case 'whoami':
    case 'services':
      command = { name };
      break;
    case 'get':
    case 'stop':
    case 'unlock':
      command = { name, id: target };
      break;
    case 'completion':
      if (target !== 'bash' && target !== 'zsh') throw new UsageError(`completion needs <bash|zsh>, got '${target}'`);
      if (values.json) throw new UsageError('--json does not apply to completion (it prints a shell script)');
      command = { name, shell: target };
      break;
  }
  return { help: false, command, options };
}

function parse(argv: readonly string[]) {
  return parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: true });
}

export const USAGE = `Usage: rbroker <command> [options]

Commands:
  connect <serviceId>   open a connection to a remote.it service and print its proxy
      --mode M            latching (default: the first address to connect owns the proxy), ip, public
      --ttl D             lease: 15m, 900s, 1h, or seconds (default: the broker's, 15m)
      --client-ip IP      mode ip: the address allowed to connect (default: your source address)
      --reuse             answer with your live connection to the same service instead, if one covers --ttl
      --idempotency-key K repeat an open without opening twice (default: a fresh key per run)
      --exec 'CMD'        open, run CMD through the shell (sh -c) with {host} {port} {url} {id} replaced
                          (also in env: RBROKER_HOST, RBROKER_PORT, RBROKER_URL, RBROKER_CONNECTION_ID),
                          then stop the connection when CMD ends, fails or is interrupted (Ctrl-C);
                          exits with CMD's exit code. The lease is renewed while CMD runs, up to the
                          policy's max TTL a renew and the proxy's first idle window (rbroker forward
                          carries the traffic itself, so it renews past it)
  forward <serviceId>   a stable local port for a service: rbroker connects to remote.it's proxy for you,
                        opening a connection on the first local connection and another after one ends
      --local-port N      the local port (default: a free one, kept while rbroker runs); taken: exit 1
      --listen IP         the local address (default 127.0.0.1; anything else lets other hosts in)
      --eager             open the connection now, not on the first local connection
      --idle D            stop the connection after D without traffic (the port stays; default: the lease)
      --exec 'CMD'        run CMD with {host} {port} {url} meaning the local address, then stop and exit
                          with its code; without it, runs until Ctrl-C (SIGINT), SIGTERM or SIGHUP
      --mode M, --ttl D   as for connect; the lease is renewed while sockets carry bytes or CMD runs
  ls                    your connections, newest first (admins: everyone's)
      --status S          pending, active, stopping, stopped, failed, expired, stop_failed
      --service ID        one service's connections
      --limit N           at most N (default ${DEFAULT_LIST_LIMIT}; pages are followed)
  get <id>              one connection
  renew <id> --ttl D    the lease ends D from now (never past remote.it's expiry)
  stop <id>             stop it (idempotent)
  whoami                who the broker sees (your role), whether you are an admin, your live connections
  services              what your policy lets you reach: services, modes, max TTL, max live connections
  completion bash|zsh   a shell completion script (commands, options, your live connection ids)

Admins (emergency locks):
  lock                  refuse every open and renew a lock covers, and stop its live connections now
      --principal GLOB    role ARN glob, as in the policy (e.g. 'arn:aws:iam::123456789012:role/ci-*')
      --service GLOB      service id glob (e.g. '80:00:00:00:01:*'); with --principal: only both together
      --reason TEXT       why: shown to every caller the lock refuses (required)
      --ttl D             the lock lapses D from now (default: until unlocked); 1m to 30 days
  locks                 the live locks, oldest first
  unlock <id>           lift a lock

Options:
  --endpoint URL|local  the broker API (env RBROKER_ENDPOINT); default: the local stack when it runs
  --stack FILE          the local stack's file (env RBROKER_STACK_FILE; default .local/stack.json)
  --as NAME             local stack only: sign as this identity (app, admin; default app)
  --profile NAME        a profile of the config file (env RBROKER_PROFILE): endpoint, region, AWS profile
  --region R            a deployed API's region (needed for a custom domain unless AWS_REGION or the profile says)
  --json                machine-readable output on stdout (errors as JSON on stderr)
  -h, --help            this text; rbroker <command> --help (or rbroker help <command>): that command's
  --version             the client's version (alone: rbroker --version)

Credentials: against the local stack, its identities' keys; against a deployed API, the AWS default
credential chain (AWS_PROFILE, env, SSO, instance or container role). Region: from the execute-api host
name, else AWS_REGION. Precedence: a flag, then the environment, then the --profile's value, then the local
stack. Profiles: RBROKER_CONFIG, else ~/.config/rbroker/config.json, as
  {"profiles": {"prod": {"endpoint": "https://...", "region": "eu-central-1", "awsProfile": "broker-prod"}}}

Exit codes:
  0  done (--exec: the command's own exit code)
  1  other failure (broker error, unreachable endpoint, conflict, quota)
  2  usage: bad arguments, or the API rejected the input (400)
  3  not allowed: no or bad credentials, unsigned (403), denied by policy, locked, not an admin
  4  not found: unknown connection id (or another caller's), unknown service, unknown lock
  5  remote.it failed: refused (502), unavailable or throttling (503), timed out (504)
  130, 143  interrupted (SIGINT, SIGTERM); with --exec the connection is stopped first`;
