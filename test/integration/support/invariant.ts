/**
 * The broker's promise, checked against the real parts after a scenario: every live remote.it connection is
 * recorded, every recorded lease ends, nothing outlives its lease by more than one sweep.
 *
 * - Every live proxy at the emulator that the broker was told about (its connect answer reached the broker:
 *   `announced`) belongs to exactly one record in `active` or `stopping`, by remote connection id.
 * - Every `active` or `stopping` record names a live proxy.
 * - After one sweep, no record is still `active` whose lease ended before that sweep started.
 *
 * Two kinds of live proxy are reported apart, because a scenario may legitimately leave them and must say so:
 * `orphans`, proxies whose connect answer never reached the broker (it timed out, or remote.it's answer was
 * lost or unusable: the broker cannot know their id, nobody holds their address, remote.it closes them when
 * idle), and `stopFailed`, proxies whose record gave up as `stop_failed` (the alarmed leftover). A
 * `stop_failed` record whose proxy remote.it no longer has is never allowed: that alarm would be false.
 *
 * A stop retry scheduled for later is a consistent state (the record is `stopping`; the proxy may already be
 * gone). To compare exactly, the check first makes every `stopping` record due now (time injection through a
 * conditional write, as the sweeper tests do) so the sweep it runs settles them.
 */
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { Emulator, ProxySnapshot } from '../../../dev/emulator';
import type { ConnectionRecord, ConnectionStatus } from '../../../lambdas/broker/model';
import type { SweepSummary } from '../../../lambdas/broker/sweeper';
import { toRecord } from '../../../lambdas/store/codec';
import { CONNECTIONS } from '../../../lambdas/store/tables';
import { createDynamoConnectionStore } from '../../../lambdas/store/dynamo-store';
import type { TestTables } from './dynamo';

export interface InvariantTarget {
  emulator: Emulator;
  tables: TestTables;
  /** One run of the real sweeper. */
  sweep(): Promise<SweepSummary>;
  /** Shards of the due index (the handlers' DUE_SHARDS). */
  dueShardCount: number;
}

export interface InvariantReport {
  /** Live proxies the broker was told about but holds no active or stopping record of: the broken promise. */
  unrecorded: ProxySnapshot[];
  /** Active or stopping records whose proxy is not live at remote.it. */
  phantom: ConnectionRecord[];
  /** Records still active after a sweep although their lease ended before it. */
  overdue: ConnectionRecord[];
  /** Two records claiming one proxy. */
  duplicated: string[];
  /** Live proxies whose connect answer never reached the broker. */
  orphans: ProxySnapshot[];
  /** Live proxies of `stop_failed` records (alarmed, for an operator). */
  stopFailed: ProxySnapshot[];
  /**
   * `stop_failed` records whose proxy remote.it no longer has: a false alarm (the runbook would send an
   * operator after credentials for a connection that is simply gone).
   */
  falseStopFailed: ConnectionRecord[];
  /** What the check's own sweep did. */
  sweep: SweepSummary;
}

const LIVE: readonly ConnectionStatus[] = ['active', 'stopping'];

/**
 * A connection record's item, not an owner's quota counter nor its opens of a minute (the same table,
 * docs/ARCHITECTURE.md "The quota").
 */
export const isRecordItem = (item: Record<string, unknown>): boolean =>
  !String(item.id).startsWith(CONNECTIONS.quotaCounterPrefix) && !String(item.id).startsWith(CONNECTIONS.openRatePrefix);
const MAX_SCAN_PAGES = 200;

/** The connection records of the table: every item but the owners' quota counters and opens items (`isRecordItem`). */
export async function scanAll(tables: TestTables): Promise<ConnectionRecord[]> {
  const records: ConnectionRecord[] = [];
  let startKey: Record<string, unknown> | undefined;
  for (let page = 0; page < MAX_SCAN_PAGES; page += 1) {
    const result = await tables.documentClient.send(new ScanCommand({ TableName: tables.connections, ExclusiveStartKey: startKey, ConsistentRead: true }));
    records.push(...(result.Items ?? []).filter(isRecordItem).map(toRecord));
    startKey = result.LastEvaluatedKey;
    if (!startKey) return records;
  }
  throw new Error(`the connections table has more than ${MAX_SCAN_PAGES} pages: too big for the invariant check`);
}

/** Makes every `stopping` record due now, so the next sweep settles it (a retry or a claim that would lapse later). */
async function makeStoppingDue(target: InvariantTarget, records: ConnectionRecord[]): Promise<void> {
  const store = createDynamoConnectionStore({ client: target.tables.documentClient, tableName: target.tables.connections, dueShardCount: target.dueShardCount });
  const dueAt = Math.floor(Date.now() / 1000) - 1;
  await Promise.all(
    records
      .filter((record) => record.status === 'stopping' && (record.dueAt === undefined || record.dueAt > dueAt))
      .map((record) => store.update(record.id, { status: ['stopping'], version: record.version }, { dueAt })),
  );
}

export async function checkInvariant(target: InvariantTarget): Promise<InvariantReport> {
  await makeStoppingDue(target, await scanAll(target.tables));
  const sweptFrom = Date.now();
  const sweep = await target.sweep();
  const records = await scanAll(target.tables);
  const live = target.emulator.connections().filter((proxy) => proxy.state === 'active');

  const byRemoteId = new Map<string, ConnectionRecord[]>();
  for (const record of records) {
    if (record.remoteConnectionId === undefined) continue;
    const key = record.remoteConnectionId.toUpperCase();
    byRemoteId.set(key, [...(byRemoteId.get(key) ?? []), record]);
  }
  const liveIds = new Set(live.map((proxy) => proxy.connectionId));
  const recordsOf = (proxy: ProxySnapshot) => byRemoteId.get(proxy.connectionId) ?? [];
  const isStopFailed = (proxy: ProxySnapshot) => recordsOf(proxy).some((record) => record.status === 'stop_failed');

  return {
    unrecorded: live.filter((proxy) => proxy.announced && !isStopFailed(proxy) && !recordsOf(proxy).some((record) => LIVE.includes(record.status))),
    phantom: records.filter((record) => LIVE.includes(record.status) && !liveIds.has(record.remoteConnectionId?.toUpperCase() ?? '')),
    // Leases end on whole seconds for the sweeper (dueAt rounds the end up): overdue is due before the sweep began.
    overdue: records.filter((record) => record.status === 'active' && Math.ceil(Date.parse(record.leaseExpiresAt) / 1000) <= Math.floor(sweptFrom / 1000)),
    duplicated: [...byRemoteId.entries()]
      .filter(([, claimants]) => claimants.filter((record) => LIVE.includes(record.status)).length > 1)
      .map(([remoteId]) => remoteId),
    orphans: live.filter((proxy) => !proxy.announced && !recordsOf(proxy).some((record) => LIVE.includes(record.status))),
    stopFailed: live.filter(isStopFailed),
    falseStopFailed: records.filter((record) => record.status === 'stop_failed' && !liveIds.has(record.remoteConnectionId?.toUpperCase() ?? '')),
    sweep,
  };
}

export interface Allowed {
  /** New orphans the scenario leaves (answers lost before the broker could learn the proxy's id). */
  orphans?: number;
  /** New stop_failed leftovers the scenario leaves. */
  stopFailed?: number;
  /**
   * Leftovers of earlier scenarios on the same emulator, not counted again (orphans idle out only after
   * remote.it's idle time). The check adds this scenario's to it.
   */
  seen?: Set<string>;
}

/** Fails with what broke the promise; leftovers a scenario may leave are counted against `allow`. */
export async function expectInvariant(target: InvariantTarget, allow: Allowed = {}): Promise<InvariantReport> {
  const report = await checkInvariant(target);
  const ids = (proxies: ProxySnapshot[]) => proxies.map((proxy) => proxy.connectionId);
  const fresh = (proxies: ProxySnapshot[]) => ids(proxies).filter((id) => !allow.seen?.has(id));
  expect({
    unrecorded: ids(report.unrecorded),
    phantom: report.phantom.map((record) => `${record.id} ${record.status}`),
    overdue: report.overdue.map((record) => `${record.id} lease ${record.leaseExpiresAt}`),
    duplicated: report.duplicated,
    orphans: fresh(report.orphans).length,
    stopFailed: fresh(report.stopFailed).length,
    falseStopFailed: report.falseStopFailed.map((record) => `${record.id} ${record.failureReason ?? ''}`),
    sweepErrors: report.sweep.errors,
  }).toEqual({ unrecorded: [], phantom: [], overdue: [], duplicated: [], orphans: allow.orphans ?? 0, stopFailed: allow.stopFailed ?? 0, falseStopFailed: [], sweepErrors: 0 });
  for (const id of [...ids(report.orphans), ...ids(report.stopFailed)]) allow.seen?.add(id);
  return report;
}

/** The invariant target of a `startBroker` broker. */
export function brokerTarget(broker: { emulator: Emulator; tables: TestTables; sweep(): Promise<SweepSummary>; env: Record<string, string> }): InvariantTarget {
  return { emulator: broker.emulator, tables: broker.tables, sweep: () => broker.sweep(), dueShardCount: Number(broker.env.DUE_SHARDS ?? '8') };
}
