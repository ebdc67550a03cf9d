/**
 * `rbroker connect ... --exec CMD`: open a connection, run CMD through the shell with the proxy's address
 * in it, and stop the connection when CMD ends, fails, or rbroker is interrupted, so a lease is never left
 * running for a command that is gone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { StopResult } from '../client';
import type { Connection } from '../types';
import { signalExitCode } from './exit-codes';

/** Time a command gets to end after a forwarded signal before it is killed. */
const KILL_GRACE_MS = 10_000;
/** Signals closer together than this are one Ctrl-C delivered twice (to rbroker directly and through the group). */
const SIGNAL_REPEAT_MS = 1_000;
/** The signals that end a command run under rbroker (and its connection with it). */
const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** The signals rbroker has seen while it holds a connection: the first one's name, and a promise of it. */
export interface Interruptions {
  /** The first signal, once one has arrived. */
  readonly signal: NodeJS.Signals | undefined;
  /** Settles when the first signal arrives. */
  readonly arrived: Promise<void>;
  /** Stops listening for signals. */
  dispose(): void;
}

/**
 * SIGINT, SIGTERM and SIGHUP while rbroker holds a connection (`connect --exec`, `forward`). The first is
 * passed to the running command (killed KILL_GRACE_MS later if it has not ended), or handed to `onFirst`
 * when none runs; the caller then stops the connection. One more, SIGNAL_REPEAT_MS or more later, kills a
 * command that ignored the first, or, with none running, says what `leaving()` returns and exits at once
 * without stopping.
 */
export function listenForInterruptions(options: {
  child: () => ChildProcess | undefined;
  onFirst?: (signal: NodeJS.Signals) => void;
  leaving: () => string;
  log: (line: string) => void;
}): Interruptions {
  let first: NodeJS.Signals | undefined;
  let firstAt = 0;
  let wake: (() => void) | undefined;
  const arrived = new Promise<void>((resolve) => {
    wake = resolve;
  });
  const onSignal = (signal: NodeJS.Signals) => {
    const child = options.child();
    const running = child !== undefined && child.exitCode === null && child.signalCode === null;
    if (first) {
      if (Date.now() - firstAt < SIGNAL_REPEAT_MS) return;
      if (running) {
        // The command ignores the signal: end it, and the connection is still stopped.
        child.kill('SIGKILL');
        return;
      }
      options.log(options.leaving());
      process.exit(signalExitCode(signal));
    }
    first = signal;
    firstAt = Date.now();
    if (running) {
      child.kill(signal);
      setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS).unref();
    } else {
      options.onFirst?.(signal);
    }
    wake?.();
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);
  return {
    get signal() {
      return first;
    },
    arrived,
    dispose: () => {
      for (const signal of SIGNALS) process.off(signal, onSignal);
    },
  };
}

/** Characters a shell takes literally: anything else is single-quoted. */
const SHELL_SAFE = /^[A-Za-z0-9._:/@%+=,~-]+$/;

export function shellQuote(value: string): string {
  return SHELL_SAFE.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The placeholders of `--exec`: each also in the command's environment as RBROKER_<NAME>. */
export interface Placeholders {
  host: string;
  port: string;
  url: string;
  id?: string;
}

/** `{host}`, `{port}`, `{url}`, `{id}` replaced (quoted for the shell when they hold anything unusual). */
export function expandValues(command: string, values: Placeholders): string {
  return command.replace(/\{(host|port|url|id)\}/g, (_, name: keyof Placeholders) => shellQuote(values[name] ?? ''));
}

function placeholdersOf(connection: Connection): Placeholders {
  const proxy = connection.proxy;
  return { id: connection.id, host: proxy?.host ?? '', port: proxy ? String(proxy.port) : '', url: proxy?.url ?? '' };
}

export function expandPlaceholders(command: string, connection: Connection): string {
  return expandValues(command, placeholdersOf(connection));
}

export interface ExecPlan {
  command: string;
  open: () => Promise<Connection>;
  stop: (id: string) => Promise<StopResult>;
  /** Progress for the user (stderr). */
  log: (line: string) => void;
  /** While the command runs: keep the lease going (client/lease.ts); stopped when the command ends. */
  follow?: (connection: Connection, running: () => boolean) => { stop(): void };
  /** The stop failed: the error is reported, and its exit code used when the command itself succeeded. */
  onStopError: (error: unknown, connection: Connection) => number;
}

/** Runs `command` (already expanded) through the shell, with the placeholders in its environment; its exit code. */
export function runShell(command: string, values: Placeholders, onChild: (child: ChildProcess) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, {
      shell: true,
      stdio: 'inherit',
      env: {
        ...process.env,
        ...(values.id !== undefined && { RBROKER_CONNECTION_ID: values.id }),
        RBROKER_HOST: values.host,
        RBROKER_PORT: values.port,
        RBROKER_URL: values.url,
      },
    });
    onChild(child);
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal ? signalExitCode(signal) : 1)));
  });
}

/** The exit code: the command's, 128+n when interrupted, or the stop's failure when only that failed. */
export async function runWithConnection(plan: ExecPlan): Promise<number> {
  let child: ChildProcess | undefined;
  let connection: Connection | undefined;
  let following: { stop(): void } | undefined;

  const interruptions = listenForInterruptions({
    child: () => child,
    onFirst: (signal) => {
      // Abandoning the open would leave the connection the broker is opening unstopped.
      if (!connection) plan.log(`${signal}: the connection is being opened; it is stopped as soon as it is (${signal} again to leave at once)`);
    },
    leaving: () =>
      connection
        ? `leaving without stopping: connection ${connection.id} stays open until its lease ends (${connection.leaseExpiresAt}); rbroker stop ${connection.id}`
        : 'leaving without stopping: the connection being opened stays open until its lease ends (rbroker ls)',
    log: plan.log,
  });
  try {
    connection = await plan.open();
    const opened = connection;
    let code: number;
    if (interruptions.signal) {
      code = signalExitCode(interruptions.signal);
    } else if (!opened.proxy) {
      plan.log(`connection ${opened.id} has no proxy yet (status ${opened.status}); not running the command`);
      code = 1;
    } else {
      const command = expandPlaceholders(plan.command, opened);
      plan.log(`running: ${command}`);
      try {
        const running = () => child !== undefined && child.exitCode === null && child.signalCode === null;
        code = await runShell(command, placeholdersOf(opened), (started) => {
          child = started;
          following = plan.follow?.(opened, running);
        });
      } catch (error) {
        plan.log(`could not start the command: ${error instanceof Error ? error.message : String(error)}`);
        code = 1;
      }
      following?.stop();
      if (interruptions.signal) code = signalExitCode(interruptions.signal);
    }
    plan.log(`${interruptions.signal ? `interrupted (${interruptions.signal})` : `exit code ${code}`}: stopping connection ${opened.id}`);
    try {
      const stopped = await plan.stop(opened.id);
      if (stopped.pending) plan.log(`remote.it could not be reached: connection ${opened.id} is stopping; the broker retries the stop`);
    } catch (error) {
      const stopCode = plan.onStopError(error, opened);
      if (code === 0) code = stopCode;
    }
    return code;
  } finally {
    interruptions.dispose();
  }
}
