import type { ConnectionRecord } from '../../../lambdas/broker/model';
import type { ConnectionStore } from '../../../lambdas/broker/ports';
import { InvalidCursorError } from '../../../lambdas/store/errors';
import { connectionRecord, uniqueOwner } from '../support/records';
import { createTestTables, type TestTables } from '../support/dynamo';
import { NOW, NOW_S, recordsOf, storeOn, useStoreTables } from './dynamo-store-support';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

async function listAll(store: ConnectionStore, query: Parameters<ConnectionStore['list']>[0]) {
  const pages: ConnectionRecord[][] = [];
  let cursor = query.cursor;
  for (let page = 0; page < 50; page += 1) {
    const result = await store.list({ ...query, cursor });
    pages.push(result.items);
    cursor = result.cursor;
    if (!cursor) break;
  }
  return { pages, items: pages.flat(), finished: cursor === undefined };
}

const newestFirst = (records: ConnectionRecord[]) =>
  [...records].sort((a, b) => b.createdAt.localeCompare(a.createdAt)).map((record) => record.id);

describe('DynamoConnectionStore', () => {
  const suite = useStoreTables();

  describe('list', () => {
    it('returns the owner records newest first across pages when there are more than the limit', async () => {
      const owner = uniqueOwner();
      const records = recordsOf(owner, 7);
      await Promise.all(records.map((record) => suite.store.create(record)));

      const { pages, items, finished } = await listAll(suite.store, { owner, limit: 3 });

      expect(items.map((record) => record.id)).toEqual(newestFirst(records));
      expect(pages.slice(0, 2).map((page) => page.length)).toEqual([3, 3]);
      expect(finished).toBe(true);
    });

    it('returns records without the suite.store internal attributes', async () => {
      const owner = uniqueOwner();
      await suite.store.create(connectionRecord({ owner, dueAt: NOW_S + 60 }));

      const { items } = await suite.store.list({ owner, limit: 10 });

      expect(items).toHaveLength(1);
      expect(items[0]).not.toHaveProperty('dueShard');
      expect(items[0]).not.toHaveProperty('createdDay');
    });

    it('filters by status and service when asked, filling the page past non-matching records', async () => {
      const owner = uniqueOwner();
      const stopped = recordsOf(owner, 30, { status: 'stopped' });
      const wanted = connectionRecord({
        owner,
        serviceId: '80:00:00:00:0A:0B:0C:0D',
        createdAt: new Date(NOW.getTime() - 40 * 60_000).toISOString(),
      });
      const otherService = connectionRecord({ owner, createdAt: new Date(NOW.getTime() - 41 * 60_000).toISOString() });
      await Promise.all([...stopped, wanted, otherService].map((record) => suite.store.create(record)));

      const byStatus = await listAll(suite.store, { owner, status: 'active', limit: 1 });
      const byBoth = await suite.store.list({ owner, status: 'active', serviceId: wanted.serviceId, limit: 5 });

      expect(byStatus.items.map((record) => record.id)).toEqual([wanted.id, otherService.id]);
      expect(byStatus.pages[0]).toHaveLength(1);
      expect(byBoth.items.map((record) => record.id)).toEqual([wanted.id]);
    });

    it('leaves out records whose expiresAt has passed although TTL has not deleted them yet', async () => {
      const owner = uniqueOwner();
      const live = connectionRecord({ owner });
      const expired = connectionRecord({ owner, expiresAt: NOW_S - 1 });
      await Promise.all([live, expired].map((record) => suite.store.create(record)));

      const { items } = await suite.store.list({ owner, limit: 10 });

      expect(items.map((record) => record.id)).toEqual([live.id]);
    });

    it('shows an owner none of another owner records', async () => {
      const owner = uniqueOwner('a');
      const other = uniqueOwner('b');
      await suite.store.create(connectionRecord({ owner }));

      const { items } = await suite.store.list({ owner: other, limit: 10 });

      expect(items).toEqual([]);
    });

    it('rejects a cursor issued to another owner', async () => {
      const owner = uniqueOwner('a');
      await Promise.all(recordsOf(owner, 3).map((record) => suite.store.create(record)));
      const { cursor } = await suite.store.list({ owner, limit: 1 });
      expect(cursor).toBeDefined();

      const attempt = suite.store.list({ owner: uniqueOwner('b'), limit: 1, cursor });

      await expect(attempt).rejects.toBeInstanceOf(InvalidCursorError);
      await expect(attempt).rejects.toMatchObject({ code: 'invalid_cursor', field: 'cursor' });
    });

    it.each([
      ['is not base64url', '%%%'],
      ['is not JSON', Buffer.from('{"i":').toString('base64url')],
      ['has an unknown shape', Buffer.from(JSON.stringify({ i: 'by-owner', k: { id: 1 } })).toString('base64url')],
      ['names another index', Buffer.from(JSON.stringify({ i: 'due' })).toString('base64url')],
    ])('rejects a cursor that %s', async (_case, cursor) => {
      await expect(suite.store.list({ owner: uniqueOwner(), limit: 1, cursor })).rejects.toBeInstanceOf(InvalidCursorError);
    });

  });
});

describe('DynamoConnectionStore admin listing', () => {
  // A table of its own: listing without an owner sees every record in the table.
  let tables: TestTables;
  let store: ConnectionStore;
  let visible: ConnectionRecord[];
  let beyondWalk: ConnectionRecord;

  beforeAll(async () => {
    tables = await createTestTables('admin');
    store = storeOn(tables);
    const [alice, bob] = [uniqueOwner('alice'), uniqueOwner('bob')];
    const at = (ageMs: number, owner: string) =>
      connectionRecord({ owner, createdAt: new Date(NOW.getTime() - ageMs).toISOString(), expiresAt: NOW_S + 3_600 });
    visible = [
      at(60_000, alice),
      at(120_000, bob),
      at(DAY_MS, alice),
      at(DAY_MS + 60_000, bob),
      at(2 * DAY_MS, bob),
      at(3 * DAY_MS, alice),
    ];
    beyondWalk = at(6 * DAY_MS, alice);
    const expired = connectionRecord({ owner: bob, createdAt: new Date(NOW.getTime() - 30_000).toISOString(), expiresAt: NOW_S - 1 });
    await Promise.all([...visible, beyondWalk, expired].map((record) => store.create(record)));
  });

  afterAll(async () => {
    await tables.drop();
  });

  describe('list', () => {
    it('returns every owner records newest first across days and pages when no owner is given', async () => {
      const { items, finished } = await listAll(store, { limit: 2 });

      expect(items.map((record) => record.id)).toEqual(newestFirst(visible));
      expect(finished).toBe(true);
    });

    it('walks back no further than the configured number of days', async () => {
      const { items } = await listAll(store, { limit: 50 });

      expect(items.map((record) => record.id)).not.toContain(beyondWalk.id);
      expect(items).toHaveLength(visible.length);
    });

    it('applies the status filter across days', async () => {
      const stopped = connectionRecord({
        owner: uniqueOwner(),
        status: 'stopped',
        createdAt: new Date(NOW.getTime() - 2 * DAY_MS - 60_000).toISOString(),
        expiresAt: NOW_S + 3_600,
      });
      await store.create(stopped);

      const { items } = await listAll(store, { status: 'stopped', limit: 5 });

      expect(items.map((record) => record.id)).toEqual([stopped.id]);
    });

    it('rejects an owner cursor in the admin listing and an admin cursor in an owner listing', async () => {
      const adminPage = await store.list({ limit: 1 });
      const ownerPage = await store.list({ owner: visible[0]!.owner, limit: 1 });
      expect(adminPage.cursor).toBeDefined();
      expect(ownerPage.cursor).toBeDefined();

      await expect(store.list({ owner: visible[0]!.owner, limit: 1, cursor: adminPage.cursor })).rejects.toBeInstanceOf(InvalidCursorError);
      await expect(store.list({ limit: 1, cursor: ownerPage.cursor })).rejects.toBeInstanceOf(InvalidCursorError);
    });
  });
});
