/**
 * The store's due work across the shards of the sparse "due" index: read in rounds, one page from every
 * shard still holding work per round, items interleaved by position, so a hot shard cannot starve the
 * others; within a shard, oldest due first (the index order). A round is read only when the consumer asks
 * for the next batch. A shard whose query fails is reported once and dropped from this walk.
 */
import type { ConnectionRecord } from '../broker/model';
import type { DueBatch } from '../broker/ports';

/** One page of one shard; `cursor` is the reader's own position (never leaves the store), absent at the end. */
export interface ShardPage<Cursor> {
  items: ConnectionRecord[];
  scanned: number;
  cursor?: Cursor;
}

export type ShardReader<Cursor> = (shard: number, cursor: Cursor | undefined) => Promise<ShardPage<Cursor>>;

export async function* dueRounds<Cursor>(
  shardCount: number,
  readPage: ShardReader<Cursor>,
  partName: (shard: number) => string,
): AsyncGenerator<DueBatch> {
  const shards = Array.from({ length: shardCount }, (_, shard) => ({ shard, cursor: undefined as Cursor | undefined, done: false }));
  while (shards.some((state) => !state.done)) {
    const live = shards.filter((state) => !state.done);
    const batch: DueBatch = { items: [], scanned: 0, failures: [] };
    const pages = await Promise.all(
      live.map(async (state) => {
        try {
          const page = await readPage(state.shard, state.cursor);
          batch.scanned += page.scanned;
          state.cursor = page.cursor;
          state.done = page.cursor === undefined;
          return page.items;
        } catch (error) {
          state.done = true;
          batch.failures.push({ part: partName(state.shard), error });
          return [];
        }
      }),
    );
    const longest = Math.max(0, ...pages.map((items) => items.length));
    for (let index = 0; index < longest; index += 1) {
      for (const items of pages) {
        const record = items[index];
        if (record) batch.items.push(record);
      }
    }
    yield batch;
  }
}
