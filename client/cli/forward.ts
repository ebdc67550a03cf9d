/**
 * `rbroker forward <serviceId>`: client/forward.ts's Forwarder from a shell. It binds first (a taken port
 * exits 1 before anything is opened), reports each change of connection as a line (`--json`: one JSON
 * object a line, `{event, local, connectionId, leaseExpiresAt}`), runs `--exec CMD` against the stable local
 * address, and stops the connection on exit, Ctrl-C, SIGTERM and SIGHUP.
 */
import type { ChildProcess } from 'node:child_process';
import { isIP } from 'node:net';
import type { BrokerClient } from '../client';
import { Forwarder, LocalPortError, type ForwardEvent } from '../forward';
import type { LeaseEvent } from '../lease';
import type { Connection } from '../types';
import type { Command } from './args';
import { expandValues, listenForInterruptions, runShell, type Placeholders } from './exec';
import { EXIT, exitCodeOf, signalExitCode } from './exit-codes';
import { endText, formatApiError } from './format';
import { BrokerApiError } from '../errors';


/** How the CLI speaks: lines for people on stderr, JSON lines on stdout, warnings that `--json` keeps. */
export interface Talk {
  json: boolean;
  /** A state line: JSON on stdout with --json, else `human` on stderr. */
  state(value: Record<string, unknown>, human: string): void;
  /** Progress for people (stderr); nothing with --json. */
  info(line: string): void;
  /** Always said (stderr): `{"warning": {...}}` with --json. */
  warn(code: string, message: string): void;
  /** An error as the CLI reports it. */
  error(error: unknown, context?: string): void;
}

const isoOrNull = (connection: Connection | undefined) => connection?.leaseExpiresAt ?? null;

/** What a lease's keeper reports, said to the user (shared by `connect --exec` and `forward`). */
export function tellLease(talk: Talk, event: LeaseEvent, after: string): void {
  const { connection } = event;
  const endsIn = () => `${Math.max(0, Math.round((Date.parse(connection.leaseExpiresAt) - Date.now()) / 1000))} s`;
  switch (event.type) {
    case 'renewed':
      talk.info(`rbroker: renewed connection ${connection.id}: its lease ends ${connection.leaseExpiresAt}`);
      return;
    case 'capped':
      talk.warn(
        event.by === 'expiry' ? 'lease_at_expiry' : 'lease_capped',
        event.by === 'expiry'
          ? `connection ${connection.id} cannot be renewed past remote.it's own expiry: it ends ${connection.leaseExpiresAt}${after}`
          : `the broker renewed connection ${connection.id} only until ${connection.leaseExpiresAt} (your policy's cap)${after}`,
      );
      return;
    case 'renew_refused':
      talk.warn(
        `renew_refused:${event.error.code}`,
        `the broker refused to renew connection ${connection.id} (${event.error.code}: ${event.error.detail || event.error.title}): it ends with its lease at ${connection.leaseExpiresAt}, in ${endsIn()}${after}`,
      );
      return;
    case 'renew_failed':
      talk.warn('renew_failed', `could not renew connection ${connection.id} (${event.error.message}); trying again in ${Math.round(event.retryInMs / 1000)} s; its lease ends ${connection.leaseExpiresAt}`);
      return;
    case 'ended':
      talk.warn(`ended:${connection.stopReason ?? connection.status}`, `connection ${connection.id} ended: ${endText(connection)}${after}`);
      return;
  }
}

export interface ForwardRun {
  command: Extract<Command, { name: 'forward' }>;
  client: BrokerClient;
  talk: Talk;
  /** The share of a lease that passes before a renew (tests make it short). */
  renewAfter?: number;
}

export async function runForward({ command, client, talk, renewAfter }: ForwardRun): Promise<number> {
  let fatal: ((error: Error) => void) | undefined;
  const fatalOpen = new Promise<Error>((resolve) => {
    fatal = resolve;
  });
  let child: ChildProcess | undefined;
  const running = () => child !== undefined && child.exitCode === null && child.signalCode === null;
  let forwarder: Forwarder;
  const state = (event: string, connection: Connection | undefined, extra: Record<string, unknown> = {}) => ({
    event,
    local: forwarder.local,
    connectionId: connection?.id ?? null,
    leaseExpiresAt: isoOrNull(connection),
    ...extra,
  });
  const reopen = '; the next local connection opens another';
  const onEvent = (event: ForwardEvent) => {
    switch (event.type) {
      case 'opened':
        talk.state(state('opened', event.connection), `rbroker: opened connection ${event.connection.id} to ${command.serviceId}: its lease ends ${event.connection.leaseExpiresAt}`);
        return;
      case 'renewed':
        talk.state(state('renewed', event.connection), `rbroker: renewed connection ${event.connection.id}: its lease ends ${event.connection.leaseExpiresAt}`);
        return;
      case 'ended':
        tellLease(talk, event, reopen);
        talk.state(state('ended', undefined, { endedConnectionId: event.connection.id, stopReason: event.connection.stopReason ?? event.connection.status }), `rbroker: waiting on ${forwarder.local}`);
        return;
      case 'idle_stopped':
        talk.state(
          state('ended', undefined, { endedConnectionId: event.connection.id, stopReason: 'idle' }),
          `rbroker: stopped connection ${event.connection.id} after ${command.idleSeconds ?? 0} s without traffic (--idle)${reopen}`,
        );
        return;
      case 'open_failed':
        if (event.fatal) fatal?.(event.error);
        else talk.warn('open_failed', `could not open a connection (${event.error instanceof BrokerApiError ? formatApiError(event.error) : event.error.message}); the next local connection tries again`);
        return;
      case 'dial_failed':
        talk.warn('dial_failed', event.message);
        return;
      default:
        tellLease(talk, event, reopen);
    }
  };
  try {
    forwarder = await Forwarder.listen({
      client,
      serviceId: command.serviceId,
      listen: command.listen,
      ...(command.localPort !== undefined && { localPort: command.localPort }),
      ...(command.mode && { mode: command.mode }),
      ...(command.ttlSeconds !== undefined && { ttlSeconds: command.ttlSeconds }),
      ...(command.idleSeconds !== undefined && { idleMs: command.idleSeconds * 1000 }),
      ...(renewAfter !== undefined && { renewAfter }),
      busy: running,
      onEvent,
    });
  } catch (error) {
    if (error instanceof LocalPortError) {
      talk.error(error);
      return EXIT.failure;
    }
    throw error;
  }

  const loopback = command.listen === '::1' || command.listen.startsWith('127.');
  if (!loopback) talk.warn('not_loopback', `listening on ${forwarder.local}: any host that reaches it uses your connection`);
  talk.state(state('listening', undefined), `rbroker: forwarding ${forwarder.local} to ${command.serviceId}${command.eager ? '' : ' (the connection opens on the first local connection)'}`);

  // Signals: the first ends the command (or the wait); one more, later, leaves at once without stopping.
  const interruptions = listenForInterruptions({
    child: () => child,
    leaving: () => {
      const live = forwarder.connection;
      return live ? `leaving without stopping: connection ${live.id} ends with its lease (${live.leaseExpiresAt}); rbroker stop ${live.id}` : 'leaving at once';
    },
    log: (line) => talk.warn('left', line),
  });
  const interruption = interruptions.arrived;

  const work = async (): Promise<number> => {
    if (command.eager) {
      const failed = await Promise.race([forwarder.open().then(() => undefined, (error: unknown) => error), interruption.then(() => undefined)]);
      if (failed !== undefined) {
        talk.error(failed);
        return exitCodeOf(failed);
      }
    }
    if (interruptions.signal) return signalExitCode(interruptions.signal);
    if (command.exec === undefined) {
      const error = await Promise.race([fatalOpen, interruption.then(() => undefined)]);
      if (error) {
        talk.error(error);
        return exitCodeOf(error);
      }
      return interruptions.signal ? signalExitCode(interruptions.signal) : EXIT.ok;
    }
    const host = isIP(forwarder.host) === 6 ? `[${forwarder.host}]` : forwarder.host;
    const values: Placeholders = { host: forwarder.host, port: String(forwarder.port), url: `http://${host}:${forwarder.port}` };
    const shellCommand = expandValues(command.exec, values);
    talk.info(`rbroker: running: ${shellCommand}`);
    const exited = runShell(shellCommand, values, (started) => {
      child = started;
    }).catch((error: unknown) => {
      talk.error(error, 'could not start the command');
      return EXIT.failure as number;
    });
    const first = await Promise.race([exited.then((exit) => ({ exit })), fatalOpen.then((error) => ({ error }))]);
    if ('exit' in first) return interruptions.signal ? signalExitCode(interruptions.signal) : first.exit;
    talk.error(first.error);
    if (running()) child?.kill('SIGTERM');
    await exited;
    return exitCodeOf(first.error);
  };

  let code: number;
  try {
    code = await work();
  } catch (error) {
    talk.error(error);
    code = exitCodeOf(error);
  }
  const live = forwarder.connection;
  if (live) talk.info(`rbroker: ${interruptions.signal ? `interrupted (${interruptions.signal})` : 'done'}: stopping connection ${live.id}`);
  try {
    const stopped = await forwarder.close();
    if (stopped) talk.state(state('stopped', undefined, { endedConnectionId: stopped.id, stopReason: stopped.stopReason ?? stopped.status }), `rbroker: stopped connection ${stopped.id}`);
  } catch (error) {
    const id = live?.id ?? '';
    talk.error(error, `connection ${id} was not stopped: it ends with its lease (${live?.leaseExpiresAt ?? ''}); rbroker stop ${id}`);
    if (code === EXIT.ok) code = exitCodeOf(error);
  } finally {
    interruptions.dispose();
  }
  return code;
}
