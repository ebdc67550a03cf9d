/**
 * Connection tables of the benchmarks' own on the stack's DynamoDB Local (created from the shared
 * definitions), records to fill them with, and a bounded bulk loader that reports its rate.
 */
import { randomUUID } from 'node:crypto';
import { DeleteTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { monotonicFactory } from 'ulid';
import { createTables } from '../../dev/dynamodb-local';
import type { ConnectionRecord } from '../../lambdas/broker/model';
import { toItem } from '../../lambdas/store/codec';
import { SERVICE_ID } from './stack';

/** Shards of the "due" index in the benchmark tables: the deployed default (DUE_SHARDS). */
export const BENCH_SHARDS = 8;
const OWNER = 'arn:aws:iam::000000000000:role/local-bench';
const newId = monotonicFactory();

export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

export interface BenchTable {
  name: string;
  drop(): Promise<void>;
}

export async function createBenchTable(client: DynamoDBClient, label: string): Promise<BenchTable> {
  const base = `bench-${label}-${randomUUID().slice(0, 8)}`;
  const names = { connections: `${base}-connections`, idempotency: `${base}-idempotency` };
  // Nothing reads these tables' streams (no timers run on them): left out, as dev/dynamodb-local.ts explains.
  await createTables(client, names, { streams: false });
  return {
    name: names.connections,
    async drop() {
      await Promise.all(Object.values(names).map((TableName) => client.send(new DeleteTableCommand({ TableName })).catch(() => undefined)));
    },
  };
}

/** An active connection record; `overrides` make it due, stopped, ... */
export function connectionRecord(overrides: Partial<ConnectionRecord> = {}): ConnectionRecord {
  const createdAt = new Date().toISOString();
  return {
    id: newId(),
    owner: OWNER,
    callerArn: `${OWNER}/bench`,
    serviceId: SERVICE_ID,
    mode: 'latching',
    hostIp: '255.255.255.255',
    status: 'active',
    createdAt,
    updatedAt: createdAt,
    leaseExpiresAt: createdAt,
    expiresAt: nowSeconds() + 28_800,
    stopAttempts: 0,
    version: 1,
    ...overrides,
  };
}

/** A record that needs nothing now: half are leases still running (in the due index, not yet due), half finished (not indexed). */
export function notDueRecord(index: number): ConnectionRecord {
  return index % 2 === 0
    ? connectionRecord({ dueAt: nowSeconds() + 600 + (index % 3_600) })
    : connectionRecord({ status: 'stopped', stopReason: 'requested', stoppedAt: new Date().toISOString(), stopAttempts: 1 });
}

/** A lease that ended a minute ago; `remoteConnectionId` names its remote.it connection. */
export function dueRecord(remoteConnectionId: string, index = 0): ConnectionRecord {
  return connectionRecord({ dueAt: nowSeconds() - 60 - (index % 600), remoteConnectionId });
}

export interface LoadResult {
  items: number;
  ms: number;
  itemsPerSecond: number;
}

/** BatchWriteItem in 25s on 4 workers, unprocessed items retried; fails past `timeoutMs`. */
export async function loadRecords(
  documents: DynamoDBDocumentClient,
  tableName: string,
  records: readonly ConnectionRecord[],
  timeoutMs = 180_000,
): Promise<LoadResult> {
  const started = performance.now();
  const deadline = Date.now() + timeoutMs;
  let next = 0;
  const worker = async () => {
    while (next < records.length) {
      if (Date.now() > deadline) throw new Error(`loading ${records.length} records took longer than ${timeoutMs} ms`);
      const batch = records.slice(next, next + 25);
      next += 25;
      let requests = batch.map((record) => ({ PutRequest: { Item: toItem(record, BENCH_SHARDS) } }));
      for (let attempt = 0; requests.length > 0; attempt += 1) {
        if (attempt >= 10) throw new Error('DynamoDB Local left items unprocessed 10 times in a row');
        const result = await documents.send(new BatchWriteCommand({ RequestItems: { [tableName]: requests } }));
        requests = (result.UnprocessedItems?.[tableName] ?? []) as typeof requests;
      }
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  const ms = performance.now() - started;
  return { items: records.length, ms, itemsPerSecond: ms > 0 ? (records.length * 1000) / ms : 0 };
}
