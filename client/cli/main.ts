/**
 * `rbroker`: the broker API from a shell. Readable output by default, `--json` for scripts, a spinner while
 * remote.it works (only on a terminal), and exit codes a script can branch on (cli/exit-codes.ts).
 */
import { createSpinner, type Spinner } from 'nanospinner';
import { BrokerClient, type RetryEvent } from '../client';
import { BrokerApiError } from '../errors';
import type { Connection, OpenConnectionInput, PlaceLockInput } from '../types';
import { packageVersion } from '../version';
import { parseCommandLine, USAGE, UsageError, type Command } from './args';
import { bashScript, complete, zshScript } from './completion';
import { runWithConnection } from './exec';
import { runForward, tellLease, type Talk } from './forward';
import { LeaseKeeper, leaseSecondsOf } from '../lease';
import { EXIT, exitCodeOf } from './exit-codes';
import { formatApiError, formatCaller, formatConnection, formatConnectionTable, formatLock, formatLockTable, formatRuleTable, lockScope, proxyText } from './format';
import { commandHelp } from './help';
import { resolveTarget } from './target';

/** GET /connections's largest page. */
const MAX_PAGE_SIZE = 100;
const SPINNER_INTERVAL_MS = 80;

type TerminalStream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

export interface Streams {
  stdout: TerminalStream;
  stderr: TerminalStream;
}

/** What the user sees besides the results: progress on stderr (a spinner on a terminal), errors. */
class Ui {
  private spinner: Spinner | undefined;

  constructor(
    private readonly streams: Streams,
    private readonly json: boolean,
  ) {}

  /** A result on stdout: JSON, or the human text. */
  print(value: unknown, human: string): void {
    this.streams.stdout.write(`${this.json ? JSON.stringify(value, null, 2) : human}\n`);
  }

  /** A progress line on stderr; scripts (`--json`) get none. */
  info(line: string): void {
    if (this.json) return;
    if (this.spinner) this.spinner.clear();
    this.streams.stderr.write(`${line}\n`);
    if (this.spinner) this.spinner.render();
  }

  /** Always said on stderr (`{"warning": {code, message}}` with --json): what may end the user's work. */
  warn(code: string, message: string): void {
    if (this.json) {
      this.streams.stderr.write(`${JSON.stringify({ warning: { code, message } })}\n`);
      return;
    }
    if (this.spinner) this.spinner.clear();
    this.streams.stderr.write(`rbroker: warning: ${message}\n`);
    if (this.spinner) this.spinner.render();
  }

  /** A change of state: one JSON line on stdout with --json, else a line for people on stderr. */
  state(value: Record<string, unknown>, human: string): void {
    if (this.json) this.streams.stdout.write(`${JSON.stringify(value)}\n`);
    else this.info(human);
  }

  get talk(): Talk {
    return {
      json: this.json,
      state: (value, human) => this.state(value, human),
      info: (line) => this.info(line),
      warn: (code, message) => this.warn(code, message),
      error: (error, context) => this.error(error, context),
    };
  }

  retrying(event: RetryEvent): void {
    const why = event.error instanceof BrokerApiError ? `${event.error.status} ${event.error.title}` : event.error.message;
    const text = `${why}; retrying in ${(event.delayMs / 1000).toFixed(1)} s (attempt ${event.attempt})`;
    if (this.spinner) this.spinner.update({ text });
    else this.info(`rbroker: ${text}`);
  }

  /**
   * A spinner on stderr while `work` runs. Only on a terminal: nanospinner decides from stdout whether it may
   * redraw, and a pseudo-terminal without a width would make it redraw forever. Driven by our own timer, as
   * its start() installs SIGINT/SIGTERM handlers that exit at once (--exec must stop the connection first).
   */
  async working<T>(text: string, work: () => Promise<T>, done: (result: T) => string): Promise<T> {
    const { stdout, stderr } = this.streams;
    const terminal = stdout.isTTY === true && stderr.isTTY === true && (stderr.columns ?? 0) > 0 && process.env.TERM !== 'dumb' && !('CI' in process.env);
    if (this.json || !terminal) return work();
    const spinner = createSpinner(text, { stream: stderr as NodeJS.WriteStream });
    const showCursor = () => stderr.write('\x1b[?25h');
    process.once('exit', showCursor);
    const timer = setInterval(() => spinner.spin(), SPINNER_INTERVAL_MS);
    this.spinner = spinner.spin();
    try {
      const result = await work();
      spinner.success({ text: done(result) });
      return result;
    } catch (error) {
      spinner.error({ text: `${text}: failed` });
      throw error;
    } finally {
      clearInterval(timer);
      process.off('exit', showCursor);
      this.spinner = undefined;
    }
  }

  error(error: unknown, context?: string): void {
    if (this.json) {
      const body =
        error instanceof BrokerApiError
          ? {
              status: error.status,
              type: error.type,
              code: error.code,
              title: error.title,
              detail: error.detail,
              errors: error.errors,
              ...(error.retryAfterSeconds !== undefined && { retryAfterSeconds: error.retryAfterSeconds }),
              ...(error.requestId && { requestId: error.requestId }),
            }
          : { code: (error as { code?: unknown }).code ?? 'error', message: error instanceof Error ? error.message : String(error) };
      this.streams.stderr.write(`${JSON.stringify({ error: { ...body, ...(context && { context }) } })}\n`);
      return;
    }
    const text = error instanceof BrokerApiError ? formatApiError(error) : error instanceof Error ? error.message : String(error);
    this.streams.stderr.write(`rbroker: ${text}\n${context ? `${context}\n` : ''}`);
    if (error instanceof UsageError) this.streams.stderr.write('Run rbroker --help for usage.\n');
  }
}

async function runCommand(command: Exclude<Command, { name: 'completion' }>, client: BrokerClient, ui: Ui): Promise<number> {
  const now = () => Date.now();
  switch (command.name) {
    case 'connect': {
      const input: OpenConnectionInput = {
        serviceId: command.serviceId,
        ...(command.mode && { mode: command.mode }),
        ...(command.clientIp && { clientIp: command.clientIp }),
        ...(command.ttlSeconds !== undefined && { ttlSeconds: command.ttlSeconds }),
        ...(command.reuse && { reuse: true }),
      };
      const open = () =>
        ui.working(
          `opening a connection to ${command.serviceId} at remote.it`,
          () => client.open(input, command.idempotencyKey ? { idempotencyKey: command.idempotencyKey } : {}),
          ({ connection, reused }) => `${reused ? 'reusing your connection' : 'connected'} ${connection.id}: ${proxyText(connection)}`,
        );
      if (command.exec !== undefined) {
        return runWithConnection({
          command: command.exec,
          open: async () => (await open()).connection,
          stop: (id) => ui.working(`stopping connection ${id}`, () => client.stop(id), () => `stopped ${id}`),
          log: (line) => ui.info(`rbroker: ${line}`),
          follow: (connection, running) => {
            const keeper = new LeaseKeeper({
              client,
              connection,
              ttlSeconds: command.ttlSeconds ?? leaseSecondsOf(connection),
              usage: () => ({ busy: running() }),
              onEvent: (event) => tellLease(ui.talk, event, event.type === 'ended' ? ': the command has lost its proxy' : ': the command loses its proxy then'),
            });
            keeper.start();
            return keeper;
          },
          onStopError: (error, connection) => {
            ui.error(error, `connection ${connection.id} was not stopped: it ends with its lease (${connection.leaseExpiresAt}); rbroker stop ${connection.id}`);
            return exitCodeOf(error);
          },
        });
      }
      const { connection, reused } = await open();
      ui.print(connection, formatConnection(connection, now()));
      ui.info(reused ? `(your live connection, reused) stop it with: rbroker stop ${connection.id}` : `stop it with: rbroker stop ${connection.id}`);
      return EXIT.ok;
    }
    case 'forward':
      return runForward({ command, client, talk: ui.talk });
    case 'ls': {
      const connections: Connection[] = [];
      const query = { status: command.status, serviceId: command.serviceId, limit: Math.min(command.limit, MAX_PAGE_SIZE) };
      for await (const connection of client.list(query)) {
        connections.push(connection);
        if (connections.length >= command.limit) break;
      }
      ui.print(connections, connections.length === 0 ? 'No connections.' : formatConnectionTable(connections, now()));
      return EXIT.ok;
    }
    case 'get': {
      const connection = await client.get(command.id);
      ui.print(connection, formatConnection(connection, now()));
      return EXIT.ok;
    }
    case 'renew': {
      const connection = await client.renew(command.id, command.ttlSeconds);
      ui.print(connection, formatConnection(connection, now()));
      return EXIT.ok;
    }
    case 'stop': {
      const { connection, pending } = await ui.working(`stopping connection ${command.id}`, () => client.stop(command.id), () => `stopped ${command.id}`);
      ui.print(connection, formatConnection(connection, now()));
      if (pending) ui.info('remote.it could not be reached: the connection is stopping; the broker retries the stop');
      return EXIT.ok;
    }
    case 'lock': {
      const input: PlaceLockInput = {
        ...(command.principal !== undefined && { principal: command.principal }),
        ...(command.serviceId !== undefined && { serviceId: command.serviceId }),
        reason: command.reason,
        ...(command.ttlSeconds !== undefined && { ttlSeconds: command.ttlSeconds }),
      };
      const placed = await ui.working(
        `locking ${lockScope(input)} and stopping its connections`,
        () => client.placeLock(input),
        (lock) => `locked ${lock.id}: ${lock.enforcement.stopped} connection(s) stopped`,
      );
      const { enforcement, ...lock } = placed;
      ui.print(placed, formatLock(lock, now()));
      ui.info(`stopped ${enforcement.stopped} live connection(s) at once${enforcement.remaining > 0 ? `; ${enforcement.remaining} more are stopped by the broker shortly` : ''}`);
      if (!enforcement.complete) ui.info('the broker could not check every live connection just now: its sweeper stops the rest on its next run');
      ui.info(`lift it with: rbroker unlock ${lock.id}`);
      return EXIT.ok;
    }
    case 'locks': {
      const locks = await client.listLocks();
      ui.print(locks, locks.length === 0 ? 'No live locks.' : formatLockTable(locks, now()));
      return EXIT.ok;
    }
    case 'unlock': {
      const lock = await client.liftLock(command.id);
      ui.print(lock, formatLock(lock, now()));
      return EXIT.ok;
    }
    case 'whoami': {
      const caller = await client.me();
      ui.print(caller, formatCaller(caller));
      return EXIT.ok;
    }
    case 'services': {
      const { rules } = await client.me();
      ui.print(rules, rules.length === 0 ? 'No policy rule names you: you may open nothing.' : formatRuleTable(rules));
      return EXIT.ok;
    }
  }
}

export async function main(argv: readonly string[], streams: Streams = process): Promise<number> {
  if (argv.length === 1 && argv[0] === '--version') {
    streams.stdout.write(`${packageVersion()}\n`);
    return EXIT.ok;
  }
  // Hidden: what the completion scripts (cli/completion.ts) ask for; quiet whatever happens.
  if (argv[0] === '__complete') return complete(argv.slice(1), streams.stdout);
  let invocation: ReturnType<typeof parseCommandLine>;
  try {
    invocation = parseCommandLine(argv);
  } catch (error) {
    new Ui(streams, argv.includes('--json')).error(error);
    return exitCodeOf(error);
  }
  if (invocation.help) {
    streams.stdout.write(`${invocation.topic === undefined ? USAGE : commandHelp(invocation.topic)}\n`);
    return EXIT.ok;
  }
  const { command } = invocation;
  if (command.name === 'completion') {
    streams.stdout.write(command.shell === 'bash' ? bashScript() : zshScript());
    return EXIT.ok;
  }
  const ui = new Ui(streams, invocation.options.json);
  try {
    const target = await resolveTarget(invocation.options);
    const client = new BrokerClient({ ...target.client, onRetry: (event) => ui.retrying(event) });
    return await runCommand(command, client, ui);
  } catch (error) {
    ui.error(error);
    return exitCodeOf(error);
  }
}

/** The `rbroker` executable (client/bin/rbroker.cjs). */
export function run(): void {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`rbroker: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = EXIT.failure;
    },
  );
}
