/**
 * Shared by the dynamo-store.*.test.ts files: the store under test on a test file's own tables, with a fixed
 * clock, and the record builder more than one of them uses. Not a test file (jest runs only `*.test.ts`).
 */
import type { ConnectionRecord } from '../../../lambdas/broker/model';
import type { ConnectionStore } from '../../../lambdas/broker/ports';
import { createDynamoConnectionStore } from '../../../lambdas/store/dynamo-store';
import { connectionRecord } from '../support/records';
import { createTestTables, type TestTables } from '../support/dynamo';

export const SHARDS = 4;
// Whole seconds, so records built from it compare exactly with the store's epoch-second arithmetic.
export const NOW = new Date(Math.floor(Date.now() / 1000) * 1000);
export const NOW_S = NOW.getTime() / 1000;

export function storeOn(tables: TestTables): ConnectionStore {
  return createDynamoConnectionStore({
    client: tables.documentClient,
    tableName: tables.connections,
    dueShardCount: SHARDS,
    now: () => NOW.getTime(),
  });
}

/** Records of one owner, `count` of them, each a minute older than the previous. */
export function recordsOf(owner: string, count: number, overrides: Partial<ConnectionRecord> = {}): ConnectionRecord[] {
  return Array.from({ length: count }, (_, index) =>
    connectionRecord({ owner, createdAt: new Date(NOW.getTime() - (index + 1) * 60_000).toISOString(), ...overrides }),
  );
}

/** The tables and the store of one test file: created before its tests, dropped after them. */
export function useStoreTables(): { tables: TestTables; store: ConnectionStore } {
  const suite = {} as { tables: TestTables; store: ConnectionStore };
  beforeAll(async () => {
    suite.tables = await createTestTables('store');
    suite.store = storeOn(suite.tables);
  });
  afterAll(async () => {
    await suite.tables.drop();
  });
  return suite;
}
