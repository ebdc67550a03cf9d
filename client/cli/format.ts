/**
 * Human output: a connection as labelled lines, a list as a table. Hand-written: a column formatter is a
 * few lines, and no table library is a dependency.
 */
import type { BrokerApiError } from '../errors';
import type { Caller, Connection, Lock } from '../types';

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, column) => Math.max(...all.map((row) => (row[column] ?? '').length)));
  return all
    .map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0))).join('  ').trimEnd())
    .join('\n');
}

/** `45s`, `14m`, `1h 5m`, `2d 3h`: the two largest units. */
export function formatSpan(seconds: number): string {
  const total = Math.max(0, Math.round(seconds));
  const units: Array<[string, number]> = [
    ['d', Math.floor(total / 86_400)],
    ['h', Math.floor(total / 3600) % 24],
    ['m', Math.floor(total / 60) % 60],
    ['s', total % 60],
  ];
  const first = units.findIndex(([, value]) => value > 0);
  if (first === -1) return '0s';
  return units
    .slice(first, first + 2)
    .filter(([, value]) => value > 0)
    .map(([unit, value]) => `${value}${unit}`)
    .join(' ');
}

/** `in 14m` / `3m ago` relative to `now`. */
export function relativeTime(iso: string, now: number): string {
  const seconds = (Date.parse(iso) - now) / 1000;
  return seconds >= 0 ? `in ${formatSpan(seconds)}` : `${formatSpan(-seconds)} ago`;
}

const LIVE = new Set<Connection['status']>(['pending', 'active', 'stopping']);

export function proxyText(connection: Connection): string {
  if (!connection.proxy) return '-';
  return connection.proxy.kind === 'port' ? `${connection.proxy.host}:${connection.proxy.port}` : connection.proxy.url;
}

/** One connection as `label  value` lines. */
export function formatConnection(connection: Connection, now: number): string {
  const lines: Array<[string, string]> = [
    ['id', connection.id],
    ['service', connection.serviceId],
    ['status', connection.status],
    ['mode', `${connection.mode} (remote.it admits ${connection.hostIp})`],
    ['proxy', connection.proxy ? `${proxyText(connection)}  ${connection.proxy.kind === 'port' ? `(${connection.proxy.url})` : '(reverse proxy)'}` : '-'],
    ['lease ends', `${connection.leaseExpiresAt} (${relativeTime(connection.leaseExpiresAt, now)})`],
    ['expires', `${connection.expiresAt} (remote.it's limit)`],
    ['created', `${connection.createdAt} (${relativeTime(connection.createdAt, now)})`],
    ['owner', connection.owner],
  ];
  if (connection.stoppedAt) lines.push(['stopped', `${connection.stoppedAt}${connection.stopReason ? ` (${connection.stopReason})` : ''}`]);
  if (connection.failureReason) lines.push(['failure', connection.failureReason]);
  const width = Math.max(...lines.map(([label]) => label.length));
  return lines.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join('\n');
}

/** Connections as a table; an OWNER column only when they belong to more than one caller (admins). */
export function formatConnectionTable(connections: readonly Connection[], now: number): string {
  const showOwner = new Set(connections.map((connection) => connection.owner)).size > 1;
  const header = ['ID', 'SERVICE', 'STATUS', 'MODE', 'PROXY', 'LEASE', 'CREATED', ...(showOwner ? ['OWNER'] : [])];
  const rows = connections.map((connection) => [
    connection.id,
    connection.serviceId,
    connection.status,
    connection.mode,
    proxyText(connection),
    LIVE.has(connection.status) ? `ends ${relativeTime(connection.leaseExpiresAt, now)}` : '-',
    relativeTime(connection.createdAt, now),
    ...(showOwner ? [connection.owner] : []),
  ]);
  return formatTable(header, rows);
}

/** What a lock covers: `principal P on services S`, either part `any`. */
export function lockScope(lock: Pick<Lock, 'principal' | 'serviceId'>): string {
  return `${lock.principal ?? 'any principal'} on ${lock.serviceId === undefined ? 'any service' : `services ${lock.serviceId}`}`;
}

/** One lock as `label  value` lines. */
export function formatLock(lock: Lock, now: number): string {
  const lines: Array<[string, string]> = [
    ['id', lock.id],
    ['principal', lock.principal ?? '* (any)'],
    ['service', lock.serviceId ?? '* (any)'],
    ['reason', lock.reason],
    ['created', `${lock.createdAt} (${relativeTime(lock.createdAt, now)}) by ${lock.createdBy}`],
    ['lapses', lock.expiresAt ? `${lock.expiresAt} (${relativeTime(lock.expiresAt, now)})` : 'never (until unlocked)'],
  ];
  if (lock.liftedAt) lines.push(['lifted', `${lock.liftedAt} by ${lock.liftedBy ?? '?'}`]);
  const width = Math.max(...lines.map(([label]) => label.length));
  return lines.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join('\n');
}

/** Locks as a table, oldest first as the API answers them. */
export function formatLockTable(locks: readonly Lock[], now: number): string {
  const header = ['ID', 'PRINCIPAL', 'SERVICE', 'LAPSES', 'CREATED', 'REASON'];
  const rows = locks.map((lock) => [
    lock.id,
    lock.principal ?? '*',
    lock.serviceId ?? '*',
    lock.expiresAt ? relativeTime(lock.expiresAt, now) : 'never',
    relativeTime(lock.createdAt, now),
    lock.reason,
  ]);
  return formatTable(header, rows);
}

/** `rbroker whoami`: the caller as the broker sees it, as labelled lines. */
export function formatCaller(caller: Caller): string {
  const lines: Array<[string, string]> = [
    ['principal', caller.principal],
    ['arn', caller.arn],
    ['admin', caller.admin ? 'yes (sees and stops every connection, places locks)' : 'no'],
    ['live', `${caller.live} connection(s)`],
    ['rules', caller.rules.length === 0 ? 'none: the policy lets you open nothing (rbroker services)' : `${caller.rules.length} (rbroker services)`],
  ];
  const width = Math.max(...lines.map(([label]) => label.length));
  return lines.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join('\n');
}

/** `rbroker services`: the rules naming the caller, one row each (a service is reachable when any row allows it). */
export function formatRuleTable(rules: Caller['rules']): string {
  const header = ['SERVICES', 'MODES', 'MAX TTL', 'MAX LIFETIME', 'MAX ACTIVE', 'OPENS/MIN', 'IP MODE TO'];
  const rows = rules.map((rule) => [
    rule.services.join(', '),
    rule.modes.join(', '),
    formatSpan(rule.maxTtlSeconds),
    rule.maxLifetimeSeconds === undefined ? "remote.it's expiry" : formatSpan(rule.maxLifetimeSeconds),
    String(rule.maxActive),
    String(rule.opensPerMinute),
    rule.clientCidrs?.join(', ') ?? 'any',
  ]);
  return formatTable(header, rows);
}

/** An API error as a few lines: status and title, detail, each bad field, the request id to quote. */
export function formatApiError(error: BrokerApiError): string {
  // A 400's detail repeats its field errors, listed below one per line.
  const detail = error.errors.length === 0 && error.detail && error.detail !== error.title ? `: ${error.detail}` : '';
  const lines = [`${error.title} (${error.status})${detail}`];
  for (const field of error.errors) lines.push(`  ${field.field}: ${field.message}`);
  if (error.retryAfterSeconds !== undefined) lines.push(`  retry after ${error.retryAfterSeconds} s`);
  if (error.requestId) lines.push(`  request id ${error.requestId}`);
  return lines.join('\n');
}

/** Why a connection ended, in words (the API's `stopReason`, else its status). */
export function endText(connection: Connection): string {
  switch (connection.stopReason) {
    case 'requested':
      return 'it was stopped (rbroker stop, DELETE, or an admin)';
    case 'lease_ended':
      return 'its lease ended';
    case 'expired':
      return "remote.it's own expiry passed, or remote.it had closed it";
    case 'locked':
      return "an operator's lock covers it (rbroker whoami; ask your operators)";
    case 'overridden':
      return 'remote.it replaced its proxy with a later connection';
    case undefined:
      return connection.status === 'failed' ? `it failed${connection.failureReason ? `: ${connection.failureReason}` : ''}` : `it is ${connection.status}`;
    default:
      return connection.stopReason;
  }
}
