/**
 * The sweeper's cost must grow with the number of due records, never with the table: reading every
 * shard for what is due must read about as many items as are due, however many records wait elsewhere.
 */
import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import type { ConnectionRecord, ConnectionStore } from '../../../lambdas/broker/model';
import { toItem } from '../../../lambdas/store/codec';
import { createDynamoConnectionStore } from '../../../lambdas/store/dynamo-store';
import { connectionRecord } from '../support/records';
import { createTestTables, type TestTables } from '../support/dynamo';

const SHARDS = 8;
const NOT_DUE = 20_000;
const DUE = 200;
const BATCH_SIZE = 25; // BatchWriteItem's maximum
const CONCURRENT_BATCHES = 4;
const LOAD_DEADLINE_MS = 45_000;
const NOW_S = Math.floor(Date.now() / 1000);

/** What `create` would write, loaded in bulk: BatchWriteItem, a few batches in flight, retried while unprocessed. */
async function load(tables: TestTables, records: ConnectionRecord[]): Promise<void> {
  const deadline = Date.now() + LOAD_DEADLINE_MS;
  const batches: ConnectionRecord[][] = [];
  for (let start = 0; start < records.length; start += BATCH_SIZE) batches.push(records.slice(start, start + BATCH_SIZE));
  let next = 0;
  const worker = async () => {
    while (next < batches.length) {
      const batch = batches[next++] ?? [];
      let requests = batch.map((record) => ({ PutRequest: { Item: toItem(record, SHARDS) } }));
      for (let attempt = 0; requests.length > 0; attempt += 1) {
        if (attempt >= 5 || Date.now() > deadline) throw new Error('loading the table took too long');
        const result = await tables.documentClient.send(new BatchWriteCommand({ RequestItems: { [tables.connections]: requests } }));
        requests = (result.UnprocessedItems?.[tables.connections] ?? []).flatMap((request) =>
          request.PutRequest?.Item ? [{ PutRequest: { Item: request.PutRequest.Item } }] : [],
        );
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENT_BATCHES }, worker));
}

async function sweepAllShards(store: ConnectionStore, now: number) {
  let scanned = 0;
  let found = 0;
  for (let shard = 0; shard < store.dueShardCount; shard += 1) {
    let cursor: string | undefined;
    for (let page = 0; page < 100; page += 1) {
      const result = await store.queryDue(shard, now, { limit: 50, cursor });
      scanned += result.scannedCount;
      found += result.items.length;
      cursor = result.cursor;
      if (!cursor) break;
    }
  }
  return { scanned, found };
}

describe('DynamoConnectionStore', () => {
  describe('queryDue', () => {
    let tables: TestTables;

    beforeAll(async () => {
      tables = await createTestTables('cost');
      const waiting = Array.from({ length: NOT_DUE }, (_, index) =>
        index % 2 === 0
          ? connectionRecord({ dueAt: NOW_S + 60 + (index % 3_600) }) // leases still running: indexed, not yet due
          : connectionRecord({ status: 'stopped', stopReason: 'requested' }), // finished: not indexed at all
      );
      const due = Array.from({ length: DUE }, (_, index) => connectionRecord({ dueAt: NOW_S - 1 - index }));
      await load(tables, [...waiting, ...due]);
    }, 60_000);

    afterAll(async () => {
      await tables?.drop();
    });

    it('reads about as many items as are due, not the whole table, when most records are not due', async () => {
      const store = createDynamoConnectionStore({ client: tables.documentClient, tableName: tables.connections, dueShardCount: SHARDS });

      const { scanned, found } = await sweepAllShards(store, NOW_S);

      expect(found).toBe(DUE);
      expect(scanned).toBeLessThanOrEqual(DUE + SHARDS);
    });
  });
});
