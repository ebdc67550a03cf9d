/**
 * `rbroker <command> --help` (and `rbroker help <command>`): one command's usage, its options, the global
 * ones, and an example. Built from the parser's own table (cli/args.ts COMMANDS), so a command or option
 * added there shows here; the text below only describes them.
 */
import { COMMANDS, DEFAULT_LIST_LIMIT, GLOBAL, type Command, type OptionName } from './args';

/** An option's value placeholder and what it does, when no command says otherwise. */
const OPTION_TEXT: Partial<Record<OptionName, [string, string]>> = {
  endpoint: ['URL|local', 'the broker API (env RBROKER_ENDPOINT); default: the profile\'s, else the local stack when it runs'],
  stack: ['FILE', "the local stack's file (env RBROKER_STACK_FILE; default .local/stack.json)"],
  as: ['NAME', 'local stack only: sign as this identity (app, admin; default app)'],
  profile: ['NAME', 'a profile of the config file (env RBROKER_PROFILE): endpoint, region, AWS profile'],
  region: ['R', "a deployed API's region (a custom domain needs it unless AWS_REGION or the profile gives one)"],
  json: ['', 'machine-readable output on stdout (errors as JSON on stderr)'],
  help: ['', 'this text'],
  mode: ['M', 'latching (default: the first address to connect owns the proxy), ip, public'],
  ttl: ['D', "the lease: 15m, 900s, 1h, or seconds (default: the broker's, 15m)"],
  'client-ip': ['IP', 'mode ip: the address allowed to connect (default: your source address)'],
  reuse: ['', 'answer with your live connection to the same service instead, if one covers --ttl'],
  'idempotency-key': ['K', 'repeat an open without opening twice (default: a fresh key per run)'],
  exec: ["'CMD'", 'run CMD (sh -c) with {host} {port} {url} {id} replaced, then stop the connection; exits with its code'],
  'local-port': ['N', 'the local port (default: a free one, kept while rbroker runs); a taken one exits 1'],
  listen: ['IP', 'the local address (default 127.0.0.1; another lets other hosts use the connection)'],
  eager: ['', 'open the connection at once (default: on the first local connection)'],
  idle: ['D', 'stop the connection after D without a byte either way; the port stays, the next connection opens another'],
  status: ['S', 'pending, active, stopping, stopped, failed, expired, stop_failed'],
  service: ['ID', "one service's connections"],
  limit: ['N', `at most N (default ${DEFAULT_LIST_LIMIT}; pages are followed)`],
  principal: ['GLOB', "role ARN glob, as in the policy (e.g. 'arn:aws:iam::123456789012:role/ci-*')"],
  reason: ['TEXT', 'why: shown to every caller the lock refuses (required)'],
};

interface CommandText {
  summary: string;
  example: string;
  /** Options whose meaning differs for this command. */
  options?: Partial<Record<OptionName, string>>;
}

const COMMAND_TEXT: Partial<Record<Command['name'], CommandText>> = {
  connect: { summary: 'open a connection to a remote.it service and print its proxy', example: "rbroker connect 80:00:00:00:00:00:00:01 --ttl 15m --exec 'psql -h {host} -p {port}'" },
  forward: {
    summary:
      "a stable local port for a service: rbroker opens a connection on the first local connection (or --eager), carries every socket to remote.it's proxy (an http service's reverse proxy as local HTTP), renews while sockets carry bytes or CMD runs, opens another after one ends, and stops it on exit",
    example: "rbroker forward 80:00:00:00:00:00:00:01 --local-port 5432 --idle 10m --exec 'psql -h {host} -p {port}'",
    options: {
      exec: "'CMD'  run CMD (sh -c) with {host} {port} {url} meaning the local address; stop the connection and exit with its code when it ends",
      ttl: "D  each lease (default: the broker's, 15m); renewed while there is traffic, within your policy's max",
    },
  },
  ls: { summary: 'your connections, newest first (admins: everyone\'s)', example: 'rbroker ls --status active --json' },
  get: { summary: 'one connection', example: 'rbroker get 01JDTESTCONNECTION00000001' },
  renew: { summary: "extend a connection's lease: it ends --ttl from now (never past remote.it's expiry)", example: 'rbroker renew 01JDTESTCONNECTION00000001 --ttl 1h', options: { ttl: 'D  the new lease, from now (required)' } },
  stop: { summary: 'stop a connection (idempotent)', example: 'rbroker stop 01JDTESTCONNECTION00000001' },
  lock: {
    summary: 'admins: refuse every open and renew a lock covers, and stop its live connections now',
    example: "rbroker lock --principal 'arn:aws:iam::123456789012:role/ci-*' --reason 'key leaked'",
    options: { service: "GLOB  service id glob (e.g. '80:00:00:00:01:*'); with --principal: only both together", ttl: 'D  the lock lapses D from now (default: until unlocked); 1m to 30 days' },
  },
  locks: { summary: 'admins: the live locks, oldest first', example: 'rbroker locks --json' },
  unlock: { summary: 'admins: lift a lock', example: 'rbroker unlock 01JDTESTLOCK0000000000001' },
  whoami: { summary: 'who the broker sees (your role), whether you are an admin, your live connections', example: 'rbroker whoami --profile prod' },
  services: { summary: 'what your policy lets you reach: services, modes, max TTL, max live connections', example: 'rbroker services --json' },
  completion: {
    summary: 'print a shell completion script: commands, options, and your live connection ids (asked of the API)',
    example: 'source <(rbroker completion bash)   # zsh: source <(rbroker completion zsh), after compinit',
  },
};

function optionLines(options: readonly OptionName[], overrides: Partial<Record<OptionName, string>> = {}): string[] {
  const cells = options.map((option): [string, string] => {
    const override = overrides[option];
    const [value, text] = override === undefined ? (OPTION_TEXT[option] ?? ['', '']) : (override.split(/ {2}(.*)/s) as [string, string]);
    return [`--${option}${value ? ` ${value}` : ''}`, text];
  });
  const width = Math.max(...cells.map(([flag]) => flag.length));
  return cells.map(([flag, text]) => `  ${flag.padEnd(width)}  ${text}`.trimEnd());
}

/** The help of one command, as `rbroker <command> --help` prints it. */
export function commandHelp(name: Command['name']): string {
  const spec = COMMANDS[name];
  const text = COMMAND_TEXT[name];
  const own: readonly OptionName[] = spec.options;
  const lines = [`Usage: rbroker ${name}${spec.positional ? ` ${spec.positional}` : ''}${own.length > 0 ? ' [options]' : ''} [global options]`, ''];
  if (text) lines.push(text.summary, '');
  if (own.length > 0) lines.push('Options:', ...optionLines(own, text?.options), '');
  lines.push('Global options:', ...optionLines(GLOBAL), '');
  if (text) lines.push('Example:', `  ${text.example}`, '');
  lines.push('Exit codes: rbroker --help lists them.');
  return lines.join('\n');
}
