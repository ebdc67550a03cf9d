import type { ConnectionRecord } from '../../../lambdas/broker/model';
import type { DueBatch } from '../../../lambdas/broker/ports';
import { dueRounds, type ShardPage, type ShardReader } from '../../../lambdas/store/due-rounds';
import { connectionRecord } from '../../fixtures/memory-store';

const partName = (shard: number): string => `due#${shard}`;

/** Due records of one shard, oldest due first (the index order), labelled `<shard>:<position>` in `serviceId`. */
function shardRecords(shard: number, count: number): ConnectionRecord[] {
  return Array.from({ length: count }, (_, index) => connectionRecord({ dueAt: 1_000 + index, serviceId: `${shard}:${index}` }));
}

const labels = (items: readonly ConnectionRecord[]): string[] => items.map((record) => record.serviceId);

interface FakeIndexOptions {
  pageSize: number;
  /** Items read per item returned (a filtered read costs more than it returns); 1 by default. */
  costPerItem?: number;
  /** Throws `error` instead of reading this shard's `page`th page (0-based). */
  failing?: { shard: number; page: number; error: unknown };
}

/**
 * A fake "due" index: each shard pages through its records in order, the cursor being the next position.
 * Every read is logged as [shard, page].
 */
function fakeIndex(shards: readonly ConnectionRecord[][], options: FakeIndexOptions) {
  const reads: [shard: number, page: number][] = [];
  const readPage: ShardReader<string> = async (shard, cursor) => {
    await Promise.resolve();
    const start = cursor === undefined ? 0 : Number(cursor);
    const page = start / options.pageSize;
    reads.push([shard, page]);
    if (options.failing && options.failing.shard === shard && options.failing.page === page) throw options.failing.error;
    const all = shards[shard] ?? [];
    const items = all.slice(start, start + options.pageSize);
    const next = start + items.length;
    const result: ShardPage<string> = { items, scanned: items.length * (options.costPerItem ?? 1) };
    return next < all.length ? { ...result, cursor: String(next) } : result;
  };
  return { readPage, reads };
}

/** Every batch of the walk; a walk that does not end (a failed shard read again forever) fails instead of hanging. */
async function collect(batches: AsyncIterable<DueBatch>): Promise<DueBatch[]> {
  const all: DueBatch[] = [];
  for await (const batch of batches) {
    all.push(batch);
    if (all.length > 50) throw new Error('the walk did not end after 50 batches');
  }
  return all;
}

describe('dueRounds', () => {
  it('interleaves the shards by position within a round', async () => {
    // Arrange
    const index = fakeIndex([shardRecords(0, 3), shardRecords(1, 1), shardRecords(2, 2)], { pageSize: 3 });

    // Act
    const batches = await collect(dueRounds(3, index.readPage, partName));

    // Assert
    expect(batches.map((batch) => labels(batch.items))).toEqual([['0:0', '1:0', '2:0', '0:1', '2:1', '0:2']]);
  });

  it('serves every shard among the first items when one shard holds most of the due work', async () => {
    // Arrange
    const index = fakeIndex([shardRecords(0, 30), shardRecords(1, 1), shardRecords(2, 1), shardRecords(3, 1)], { pageSize: 5 });

    // Act
    const batches = await collect(dueRounds(4, index.readPage, partName));

    // Assert: each cold shard's item among the first four, not after thirty hot ones.
    const order = labels(batches.flatMap((batch) => batch.items));
    expect(order).toHaveLength(33);
    expect(order.slice(0, 4)).toEqual(['0:0', '1:0', '2:0', '3:0']);
    expect(labels(batches[0]?.items ?? [])).toEqual(['0:0', '1:0', '2:0', '3:0', '0:1', '0:2', '0:3', '0:4']);
  });

  it('hands out each shard oldest due first across its pages', async () => {
    // Arrange
    const shards = [shardRecords(0, 7), shardRecords(1, 4)];
    const index = fakeIndex(shards, { pageSize: 2 });

    // Act
    const batches = await collect(dueRounds(2, index.readPage, partName));

    // Assert
    const items = batches.flatMap((batch) => batch.items);
    for (const [shard, records] of shards.entries()) {
      expect(labels(items.filter((record) => record.serviceId.startsWith(`${shard}:`)))).toEqual(labels(records));
    }
  });

  it('reads one page of every shard still holding work per round, and shards once done no more', async () => {
    // Arrange
    const index = fakeIndex([shardRecords(0, 7), shardRecords(1, 2), shardRecords(2, 0)], { pageSize: 3 });

    // Act
    const batches = await collect(dueRounds(3, index.readPage, partName));

    // Assert
    expect(batches.map((batch) => batch.items.length)).toEqual([5, 3, 1]);
    expect(index.reads).toEqual([
      [0, 0],
      [1, 0],
      [2, 0],
      [0, 1],
      [0, 2],
    ]);
  });

  it('reads a round only when the consumer asks for the next batch', async () => {
    // Arrange
    const index = fakeIndex([shardRecords(0, 9), shardRecords(1, 9)], { pageSize: 3 });

    // Act
    const batches = dueRounds(2, index.readPage, partName);
    const readsBeforeAsking = index.reads.length;
    const first = await batches.next();
    const readsAfterFirst = index.reads.length;
    await batches.return(undefined);

    // Assert
    expect(readsBeforeAsking).toBe(0);
    expect(first.done).toBe(false);
    expect(labels(first.value?.items ?? [])).toEqual(['0:0', '1:0', '0:1', '1:1', '0:2', '1:2']);
    expect(readsAfterFirst).toBe(2);
    expect(index.reads).toHaveLength(2);
  });

  it('reports a shard whose read fails once, by its part name, and keeps serving the others', async () => {
    // Arrange: shard 1 fails on its second page.
    const error = new Error('shard 1 unavailable');
    const index = fakeIndex([shardRecords(0, 6), shardRecords(1, 6), shardRecords(2, 6)], { pageSize: 2, failing: { shard: 1, page: 1, error } });

    // Act
    const batches = await collect(dueRounds(3, index.readPage, partName));

    // Assert
    expect(batches.map((batch) => batch.failures)).toEqual([[], [{ part: 'due#1', error }], []]);
    expect(batches.map((batch) => labels(batch.items))).toEqual([
      ['0:0', '1:0', '2:0', '0:1', '1:1', '2:1'],
      ['0:2', '2:2', '0:3', '2:3'],
      ['0:4', '2:4', '0:5', '2:5'],
    ]);
    expect(index.reads.filter(([shard]) => shard === 1)).toEqual([
      [1, 0],
      [1, 1],
    ]);
  });

  it('reports a shard that fails on its first read and still serves the rest', async () => {
    // Arrange
    const error = new Error('throttled');
    const index = fakeIndex([shardRecords(0, 1), shardRecords(1, 1)], { pageSize: 5, failing: { shard: 0, page: 0, error } });

    // Act
    const batches = await collect(dueRounds(2, index.readPage, partName));

    // Assert
    expect(batches).toEqual([{ items: [expect.objectContaining({ serviceId: '1:0' })], scanned: 1, failures: [{ part: 'due#0', error }] }]);
  });

  it('sums what every shard read into the batch it read for', async () => {
    // Arrange: each returned item cost two reads (a filtered read, say).
    const index = fakeIndex([shardRecords(0, 4), shardRecords(1, 1), shardRecords(2, 3)], { pageSize: 2, costPerItem: 2 });

    // Act
    const batches = await collect(dueRounds(3, index.readPage, partName));

    // Assert
    expect(batches.map((batch) => batch.scanned)).toEqual([10, 6]);
    expect(batches.map((batch) => batch.items.length)).toEqual([5, 3]);
  });

  it('ends after one empty round when no shard holds due work', async () => {
    // Arrange
    const index = fakeIndex([[], []], { pageSize: 10 });

    // Act
    const batches = await collect(dueRounds(2, index.readPage, partName));

    // Assert
    expect(batches).toEqual([{ items: [], scanned: 0, failures: [] }]);
    expect(index.reads).toHaveLength(2);
  });
});
