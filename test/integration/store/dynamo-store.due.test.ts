import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { ConnectionRecord } from '../../../lambdas/broker/model';
import type { ConnectionStore, DueBatch } from '../../../lambdas/broker/ports';
import { dueShardOf } from '../../../lambdas/store/codec';
import { CONNECTIONS } from '../../../lambdas/store/tables';
import { connectionRecord } from '../support/records';
import { NOW, NOW_S, SHARDS, useStoreTables } from './dynamo-store-support';

async function batchesOf(store: ConnectionStore, now: number, pageSize: number): Promise<DueBatch[]> {
  const batches: DueBatch[] = [];
  for await (const batch of store.due(now, { pageSize })) batches.push(batch);
  return batches;
}

const itemsOf = (batches: readonly DueBatch[]): ConnectionRecord[] => batches.flatMap((batch) => batch.items);
const ids = (records: readonly ConnectionRecord[]): string[] => records.map((record) => record.id);

describe('DynamoConnectionStore', () => {
  const suite = useStoreTables();

  /** The derived shard attribute as stored on the item (the suite.store never hands it out). */
  async function storedShard(id: string): Promise<unknown> {
    const result = await suite.tables.documentClient.send(new GetCommand({ TableName: suite.tables.connections, Key: { id } }));
    return result.Item?.[CONNECTIONS.dueShardAttribute];
  }

  describe('due', () => {
    // Due times far in the past are unique to this block: other records are due around NOW.
    const BASE = NOW_S - 1_000_000;
    const CUTOFF = BASE + 310; // the last of `due` is due exactly at the cutoff
    let due: ConnectionRecord[];
    let notDue: ConnectionRecord[];
    let undue: ConnectionRecord;

    beforeAll(async () => {
      // Ids are random: draw again in the (unlikely) case one shard got none, so every shard has work.
      do {
        due = Array.from({ length: 32 }, (_, index) => connectionRecord({ dueAt: BASE + index * 10 }));
      } while (new Set(due.map((record) => dueShardOf(record.id, SHARDS))).size < SHARDS);
      notDue = Array.from({ length: 4 }, (_, index) => connectionRecord({ dueAt: CUTOFF + 1 + index }));
      undue = connectionRecord({ status: 'stopped', dueAt: undefined });
      await Promise.all([...due, ...notDue, undue].map((record) => suite.store.create(record)));
    });

    it('stores each due record on the shard its id hashes to, spread over every shard', async () => {
      const stored = await Promise.all(due.map((record) => storedShard(record.id)));

      expect(stored).toEqual(due.map((record) => dueShardOf(record.id, SHARDS)));
      expect(new Set(stored)).toEqual(new Set(Array.from({ length: SHARDS }, (_, shard) => `due#${shard}`)));
    });

    it('yields only the records due at or before now, each once, from every shard', async () => {
      const batches = await batchesOf(suite.store, CUTOFF, 100);

      const found = itemsOf(batches);
      expect(ids(found).sort()).toEqual(ids(due).sort());
      expect(found.every((record) => record.dueAt !== undefined && record.dueAt <= CUTOFF)).toBe(true);
      expect(batches.flatMap((batch) => batch.failures)).toEqual([]);
    });

    it('leaves out a record without dueAt: the index is sparse', async () => {
      const found = ids(itemsOf(await batchesOf(suite.store, NOW_S + 1_000_000, 100)));

      expect(found).not.toContain(undue.id);
      expect(found).toEqual(expect.arrayContaining(ids([...due, ...notDue])));
      expect(await storedShard(undue.id)).toBeUndefined();
    });

    it('hands out each shard oldest due first', async () => {
      const found = itemsOf(await batchesOf(suite.store, CUTOFF, 3));

      for (let shard = 0; shard < SHARDS; shard += 1) {
        const mine = found.filter((record) => dueShardOf(record.id, SHARDS) === `due#${shard}`);
        const expected = due.filter((record) => dueShardOf(record.id, SHARDS) === `due#${shard}`);
        expect(ids(mine)).toEqual(ids(expected));
        expect(mine.map((record) => record.dueAt)).toEqual(expected.map((record) => record.dueAt));
      }
    });

    it('pages through the due work without repeating or skipping a record', async () => {
      const whole = await batchesOf(suite.store, CUTOFF, 100);

      const paged = await batchesOf(suite.store, CUTOFF, 2);

      expect(whole).toHaveLength(1);
      expect(paged.length).toBeGreaterThan(2);
      // At most one page of each shard per batch.
      expect(paged.every((batch) => batch.items.length <= 2 * SHARDS)).toBe(true);
      expect(ids(itemsOf(paged)).sort()).toEqual(ids(itemsOf(whole)).sort());
      expect(new Set(ids(itemsOf(paged))).size).toBe(due.length);
    });

    it('serves every shard in the first batch', async () => {
      const iterator = suite.store.due(CUTOFF, { pageSize: 1 })[Symbol.asyncIterator]();

      const first = await iterator.next();
      await iterator.return?.();

      expect(first.done).toBe(false);
      const shards = (first.value as DueBatch).items.map((record) => dueShardOf(record.id, SHARDS));
      expect(shards.sort()).toEqual(Array.from({ length: SHARDS }, (_, shard) => `due#${shard}`));
    });

    it('reports as scanned exactly the items it read: one per due item', async () => {
      for (const pageSize of [100, 3]) {
        const batches = await batchesOf(suite.store, CUTOFF, pageSize);

        expect(batches.map((batch) => batch.scanned)).toEqual(batches.map((batch) => batch.items.length));
        expect(batches.reduce((sum, batch) => sum + batch.scanned, 0)).toBe(due.length);
      }
    });

    it('keeps a record on its shard across updates and drops it from the due work when it reaches a terminal status', async () => {
      const record = connectionRecord({ dueAt: BASE + 5 });
      await suite.store.create(record);
      const shard = await storedShard(record.id);
      expect(shard).toBe(dueShardOf(record.id, SHARDS));

      const claimed = await suite.store.update(record.id, { status: ['active'] }, { status: 'stopping', dueAt: BASE + 7 });
      const afterClaim = await storedShard(record.id);
      const dueAfterClaim = ids(itemsOf(await batchesOf(suite.store, NOW_S, 100)));
      await suite.store.update(record.id, { status: ['stopping'] }, { status: 'stopped', dueAt: null, stoppedAt: NOW.toISOString() }, claimed);
      const afterStop = await storedShard(record.id);
      const dueAfterStop = ids(itemsOf(await batchesOf(suite.store, NOW_S, 100)));

      expect(afterClaim).toBe(shard);
      expect(dueAfterClaim).toContain(record.id);
      expect(afterStop).toBeUndefined();
      expect(dueAfterStop).not.toContain(record.id);
      expect(dueAfterStop.length).toBeGreaterThan(0);
    });
  });
});
