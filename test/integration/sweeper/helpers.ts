/**
 * Test-side helpers of the sweeper's integration tests: a store and a remote.it client on the same real
 * parts the broker uses (DynamoDB Local, the emulator), time injection into records, bulk loading, counting
 * the stop calls the emulator received, and bounded TCP probes of proxies.
 */
import { connect } from 'node:net';
import { BatchWriteCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { Emulator } from '../../../dev/emulator';
import type { ConnectionRecord, ConnectionStatus } from '../../../lambdas/broker/model';
import type { ConnectionStore, RemoteConnection, RemoteitApi } from '../../../lambdas/broker/ports';
import { createRemoteitClient } from '../../../lambdas/remoteit/client';
import type { CredentialsSource } from '../../../lambdas/remoteit/credentials';
import { toItem, toRecord } from '../../../lambdas/store/codec';
import { createDynamoConnectionStore } from '../../../lambdas/store/dynamo-store';
import { createTestDocumentClient, type TestTables } from '../support/dynamo';
import { isRecordItem } from '../support/invariant';

export const STOP_PATH = '/device/connect/stop';

export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

export interface AccessKeySecret {
  developerKey: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/** Fixed access-key credentials, as the Secrets Manager source would return them. */
export function staticCredentials(secret: AccessKeySecret): CredentialsSource {
  const credentials = { kind: 'access_key' as const, ...secret };
  return { get: async () => credentials, refresh: async () => credentials };
}

/** The broker's real remote.it client (signing every request), aimed at the emulator. */
export function remoteitClient(apiUrl: string, secret: AccessKeySecret): RemoteitApi {
  return createRemoteitClient({ apiUrl, credentials: staticCredentials(secret), signatureScheme: 'cavage', timeoutMs: 5_000 });
}

/**
 * The real DynamoDB store on `tables`. `ownClient` gives it a document client of its own (a separate
 * connection pool, as another Lambda instance would have); destroy it with `close`.
 */
export function connectionStore(tables: TestTables, dueShardCount: number, ownClient = false): { store: ConnectionStore; close(): void } {
  const client = ownClient ? createTestDocumentClient() : tables.documentClient;
  return {
    store: createDynamoConnectionStore({ client, tableName: tables.connections, dueShardCount }),
    close: () => {
      if (ownClient) client.destroy();
    },
  };
}

/**
 * Injects time: the lease of `record` ended `secondsAgo` ago, as if it had been opened that long before.
 * A conditional update through the store, so the "due" index follows as it would in production.
 */
export async function endLease(store: ConnectionStore, id: string, secondsAgo = 5): Promise<ConnectionRecord> {
  const record = await mustGet(store, id);
  const endedSeconds = nowSeconds() - secondsAgo;
  return store.update(
    id,
    { status: [record.status], version: record.version },
    { leaseExpiresAt: new Date(endedSeconds * 1000).toISOString(), dueAt: endedSeconds },
  );
}

/** Makes a scheduled retry (or a lapsed claim) due now: moves `dueAt` back into the past. */
export async function makeDueNow(store: ConnectionStore, id: string, secondsAgo = 1): Promise<ConnectionRecord> {
  const record = await mustGet(store, id);
  return store.update(id, { status: [record.status], version: record.version }, { dueAt: nowSeconds() - secondsAgo });
}

export async function mustGet(store: ConnectionStore, id: string): Promise<ConnectionRecord> {
  const record = await store.get(id);
  if (!record) throw new Error(`connection ${id} is not in the table`);
  return record;
}

/** Every record of the table whose due index shard attribute is set, i.e. what the sweeper still sees. */
export async function dueIds(store: ConnectionStore, atSeconds = nowSeconds() + 86_400): Promise<string[]> {
  const ids: string[] = [];
  for await (const batch of store.due(atSeconds, { pageSize: 100 })) ids.push(...batch.items.map((record) => record.id));
  return ids;
}

/** The whole (small) table, read with a paged Scan: for final-state assertions over hundreds of records. */
export async function scanRecords(tables: TestTables): Promise<ConnectionRecord[]> {
  const records: ConnectionRecord[] = [];
  let startKey: Record<string, unknown> | undefined;
  for (let page = 0; page < 1_000; page += 1) {
    const result = await tables.documentClient.send(new ScanCommand({ TableName: tables.connections, ExclusiveStartKey: startKey }));
    records.push(...(result.Items ?? []).filter(isRecordItem).map(toRecord));
    startKey = result.LastEvaluatedKey;
    if (!startKey) break;
  }
  return records;
}

export function countByStatus(records: ConnectionRecord[]): Partial<Record<ConnectionStatus, number>> {
  const counts: Partial<Record<ConnectionStatus, number>> = {};
  for (const record of records) counts[record.status] = (counts[record.status] ?? 0) + 1;
  return counts;
}

/** Runs `task` over `items` with at most `concurrency` in flight; fails when it outlasts `deadlineMs`. */
export async function inBatches<T, R>(items: readonly T[], concurrency: number, deadlineMs: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const deadline = Date.now() + deadlineMs;
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      if (Date.now() > deadline) throw new Error(`bulk work did not finish within ${deadlineMs} ms`);
      const index = next++;
      results[index] = await task(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}

const BATCH_WRITE_MAX = 25;

/** What `create` would write, in bulk: BatchWriteItem, a few batches in flight, unprocessed items retried. */
export async function loadRecords(tables: TestTables, records: ConnectionRecord[], shardCount: number, deadlineMs = 45_000): Promise<void> {
  const batches: ConnectionRecord[][] = [];
  for (let start = 0; start < records.length; start += BATCH_WRITE_MAX) batches.push(records.slice(start, start + BATCH_WRITE_MAX));
  await inBatches(batches, 4, deadlineMs, async (batch) => {
    let requests = batch.map((record) => ({ PutRequest: { Item: toItem(record, shardCount) } }));
    for (let attempt = 0; requests.length > 0; attempt += 1) {
      if (attempt >= 5) throw new Error('DynamoDB Local kept items unprocessed');
      const result = await tables.documentClient.send(new BatchWriteCommand({ RequestItems: { [tables.connections]: requests } }));
      requests = (result.UnprocessedItems?.[tables.connections] ?? []).flatMap((request) =>
        request.PutRequest?.Item ? [{ PutRequest: { Item: request.PutRequest.Item } }] : [],
      );
    }
  });
}

/** Opens `count` real proxies at the emulator through the real client (latching, concurrent). */
export function openProxies(client: RemoteitApi, serviceId: string, count: number, deadlineMs = 20_000): Promise<RemoteConnection[]> {
  return inBatches(
    Array.from({ length: count }, (_, index) => index),
    16,
    deadlineMs,
    () => client.connect(serviceId, '255.255.255.255'),
  );
}

/** Stop calls the emulator received, per remote.it connection id (upper-case, as remote.it prints them). */
export function stopCallsById(emulator: Emulator): Map<string, number> {
  const counts = new Map<string, number>();
  for (const call of emulator.calls().records) {
    if (call.path !== STOP_PATH || call.connectionid === undefined) continue;
    const id = call.connectionid.toUpperCase();
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

export function stopCallsFor(emulator: Emulator, remoteConnectionId: string): number {
  return stopCallsById(emulator).get(remoteConnectionId.toUpperCase()) ?? 0;
}

/** The emulator's view of one proxy: `active`, `ended` (with why), or undefined when it never opened it. */
export function proxyState(emulator: Emulator, remoteConnectionId: string) {
  const proxy = emulator.connections().find((snapshot) => snapshot.connectionId === remoteConnectionId.toUpperCase());
  return proxy && { state: proxy.state, endReason: proxy.endReason };
}

export type ProbeOutcome = 'echoed' | 'refused' | 'closed' | 'timeout';

/** One short TCP client through a proxy port on loopback: sends a word, waits (bounded) for its echo. */
export function probeProxy(port: number, timeoutMs = 2_000): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    let received = '';
    let settled = false;
    const socket = connect({ host: '127.0.0.1', port });
    const finish = (outcome: ProbeOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    socket.once('connect', () => socket.write('ping'));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('utf8');
      if (received === 'ping') finish('echoed');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => finish(error.code === 'ECONNREFUSED' ? 'refused' : 'closed'));
    socket.once('close', () => finish('closed'));
  });
}
