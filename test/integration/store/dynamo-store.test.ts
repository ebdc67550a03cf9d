import { GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import {
  ConnectionExistsError,
  StaleRecordError,
  type ConnectionRecord,
  type ConnectionStore,
} from '../../../lambdas/broker/model';
import { dueShardOf } from '../../../lambdas/store/codec';
import { createDynamoConnectionStore } from '../../../lambdas/store/dynamo-store';
import { InvalidCursorError } from '../../../lambdas/store/errors';
import { connectionRecord, uniqueOwner } from '../support/records';
import { createTestTables, type TestTables } from '../support/dynamo';

const SHARDS = 4;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
// Whole seconds, so records built from it compare exactly with the store's epoch-second arithmetic.
const NOW = new Date(Math.floor(Date.now() / 1000) * 1000);
const NOW_S = NOW.getTime() / 1000;

function storeOn(tables: TestTables): ConnectionStore {
  return createDynamoConnectionStore({
    client: tables.documentClient,
    tableName: tables.connections,
    dueShardCount: SHARDS,
    clock: () => NOW,
  });
}

/** Records of one owner, `count` of them, each a minute older than the previous. */
function recordsOf(owner: string, count: number, overrides: Partial<ConnectionRecord> = {}): ConnectionRecord[] {
  return Array.from({ length: count }, (_, index) =>
    connectionRecord({ owner, createdAt: new Date(NOW.getTime() - (index + 1) * 60_000).toISOString(), ...overrides }),
  );
}

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

async function dueAll(store: ConnectionStore, shard: number, now: number, limit: number) {
  const items: ConnectionRecord[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 100; page += 1) {
    const result = await store.queryDue(shard, now, { limit, cursor });
    items.push(...result.items);
    cursor = result.cursor;
    if (!cursor) break;
  }
  return items;
}

const newestFirst = (records: ConnectionRecord[]) =>
  [...records].sort((a, b) => b.createdAt.localeCompare(a.createdAt)).map((record) => record.id);

describe('DynamoConnectionStore', () => {
  let tables: TestTables;
  let store: ConnectionStore;

  beforeAll(async () => {
    tables = await createTestTables('store');
    store = storeOn(tables);
  });

  afterAll(async () => {
    await tables.drop();
  });

  const rawItem = async (id: string) =>
    (await tables.documentClient.send(new GetCommand({ TableName: tables.connections, Key: { id } }))).Item;

  describe('create', () => {
    it('stores a record that get returns unchanged when it is new', async () => {
      const record = connectionRecord({ dueAt: NOW_S + 900, failureReason: undefined });

      await store.create(record);
      const read = await store.get(record.id);

      const { failureReason: _omitted, ...expected } = record;
      expect(read).toEqual(expected);
    });

    it('indexes the record for listing and the sweeper without returning those attributes when dueAt is set', async () => {
      const record = connectionRecord({ dueAt: NOW_S + 900 });

      await store.create(record);

      expect(await rawItem(record.id)).toMatchObject({
        createdDay: record.createdAt.slice(0, 10),
        dueShard: dueShardOf(record.id, SHARDS),
      });
      const read = await store.get(record.id);
      expect(read).not.toHaveProperty('dueShard');
      expect(read).not.toHaveProperty('createdDay');
      expect(read).not.toHaveProperty('liveOwner');
    });

    it('leaves the record out of the due index when it has no dueAt', async () => {
      const record = connectionRecord({ status: 'stopped' });

      await store.create(record);

      expect(await rawItem(record.id)).not.toHaveProperty('dueShard');
    });

    it('throws ConnectionExistsError and keeps the first record when the id is taken', async () => {
      const first = connectionRecord();
      await store.create(first);

      const attempt = store.create({ ...first, owner: uniqueOwner() });

      await expect(attempt).rejects.toBeInstanceOf(ConnectionExistsError);
      expect((await store.get(first.id))?.owner).toBe(first.owner);
    });
  });

  describe('get', () => {
    it('returns undefined when the id is unknown', async () => {
      await expect(store.get('01ARZ3NDEKTSV4RRFFQ69G5FAV')).resolves.toBeUndefined();
    });
  });

  describe('update', () => {
    it('applies the changes, bumps the version and stamps updatedAt when the status is expected', async () => {
      const record = connectionRecord({ status: 'pending', createdAt: new Date(NOW.getTime() - 5_000).toISOString() });
      await store.create(record);

      const updated = await store.update(record.id, { status: ['pending'] }, { status: 'active', dueAt: NOW_S + 900 });

      expect(updated).toEqual({ ...record, status: 'active', dueAt: NOW_S + 900, version: 2, updatedAt: NOW.toISOString() });
      await expect(store.get(record.id)).resolves.toEqual(updated);
    });

    it('removes attributes given as null', async () => {
      const record = connectionRecord({ failureReason: 'remote.it timed out', stopReason: 'requested' });
      await store.create(record);

      const updated = await store.update(record.id, { status: ['active'] }, { failureReason: null, stopReason: null });

      expect(updated).not.toHaveProperty('failureReason');
      expect(updated).not.toHaveProperty('stopReason');
      expect(await rawItem(record.id)).not.toHaveProperty('failureReason');
    });

    it('moves the record onto its due shard when dueAt is set and off the index when dueAt is null', async () => {
      const record = connectionRecord({ status: 'pending' });
      await store.create(record);

      await store.update(record.id, { status: ['pending'] }, { status: 'active', dueAt: NOW_S - 1 });
      const indexed = await rawItem(record.id);
      await store.update(record.id, { status: ['active'] }, { status: 'stopped', dueAt: null });
      const removed = await rawItem(record.id);

      expect(indexed).toMatchObject({ dueAt: NOW_S - 1, dueShard: dueShardOf(record.id, SHARDS) });
      expect(removed).not.toHaveProperty('dueAt');
      expect(removed).not.toHaveProperty('dueShard');
    });

    it('throws StaleRecordError and changes nothing when the status is not expected', async () => {
      const record = connectionRecord({ status: 'stopped' });
      await store.create(record);

      const attempt = store.update(record.id, { status: ['active', 'stopping'] }, { status: 'stopping' });

      await expect(attempt).rejects.toBeInstanceOf(StaleRecordError);
      await expect(store.get(record.id)).resolves.toMatchObject({ status: 'stopped', version: 1 });
    });

    it('throws StaleRecordError when the version is not the expected one', async () => {
      const record = connectionRecord({ version: 3 });
      await store.create(record);

      const attempt = store.update(record.id, { status: ['active'], version: 2 }, { status: 'stopping' });

      await expect(attempt).rejects.toMatchObject({ name: 'StaleRecordError', code: 'stale_record', id: record.id });
      await expect(store.get(record.id)).resolves.toMatchObject({ status: 'active', version: 3 });
    });

    it('throws StaleRecordError with the cause and creates nothing when the record is missing', async () => {
      const id = connectionRecord().id;

      const attempt = store.update(id, { status: ['active'] }, { status: 'stopping' });

      await expect(attempt).rejects.toMatchObject({ name: 'StaleRecordError', cause: expect.objectContaining({ name: 'ConditionalCheckFailedException' }) });
      await expect(attempt).rejects.toHaveProperty('current', undefined);
      await expect(store.get(id)).resolves.toBeUndefined();
    });

    it('reports the record it found, as get returns it, when the condition fails', async () => {
      const record = connectionRecord({ status: 'stopped', dueAt: undefined });
      await store.create(record);

      const error: unknown = await store.update(record.id, { status: ['active'] }, { status: 'stopping' }).catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(StaleRecordError);
      expect((error as StaleRecordError).current).toEqual(await store.get(record.id));
    });

    it('applies an update conditioned on the owner and on not being past expiresAt only when both hold', async () => {
      const owner = uniqueOwner();
      const record = connectionRecord({ owner, expiresAt: NOW_S + 60 });
      await store.create(record);
      const claim = { status: 'stopping' as const, stopReason: 'requested' as const };

      await expect(store.update(record.id, { status: ['active'], owner: uniqueOwner() }, claim)).rejects.toMatchObject({
        current: { owner, status: 'active' },
      });
      await expect(store.update(record.id, { status: ['active'], unexpiredAt: NOW_S + 60 }, claim)).rejects.toBeInstanceOf(StaleRecordError);
      await expect(store.update(record.id, { status: ['active'], owner, unexpiredAt: NOW_S + 59 }, claim)).resolves.toMatchObject({
        status: 'stopping',
      });
    });

    it('lets exactly one of two concurrent claims win when both expect the same version', async () => {
      const record = connectionRecord({ dueAt: NOW_S - 10 });
      await store.create(record);
      const claim = { status: ['active'] as const, version: 1 };

      const outcomes = await Promise.allSettled([
        store.update(record.id, claim, { status: 'stopping', failureReason: 'sweeper-a' }),
        store.update(record.id, claim, { status: 'stopping', failureReason: 'sweeper-b' }),
      ]);

      const won = outcomes.filter((outcome) => outcome.status === 'fulfilled');
      const lost = outcomes.filter((outcome) => outcome.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      expect(lost[0]?.status === 'rejected' && lost[0].reason).toBeInstanceOf(StaleRecordError);
      const final = await store.get(record.id);
      expect(final?.version).toBe(2);
      expect(won[0]?.status === 'fulfilled' && won[0].value.failureReason).toBe(final?.failureReason);
    });
  });

  describe('queryDue', () => {
    // Due times far in the past are unique to this block: other tests' records are due around NOW.
    const BASE = NOW_S - 1_000_000;
    let due: ConnectionRecord[];

    beforeAll(async () => {
      due = Array.from({ length: 12 }, (_, index) => connectionRecord({ dueAt: BASE + index * 10 }));
      const later = Array.from({ length: 4 }, (_, index) => connectionRecord({ dueAt: BASE + 1_000 + index }));
      await Promise.all([...due, ...later].map((record) => store.create(record)));
    });

    const dueAcrossShards = async (now: number, limit: number) =>
      (await Promise.all(Array.from({ length: SHARDS }, (_, shard) => dueAll(store, shard, now, limit)))).flat();

    it('returns only records due at or before now, across all shards', async () => {
      const cutoff = BASE + 110; // the last of `due` is due exactly at the cutoff

      const found = (await dueAcrossShards(cutoff, 100)).filter((record) => record.dueAt !== undefined && record.dueAt >= BASE);

      expect(found.map((record) => record.id).sort()).toEqual(due.map((record) => record.id).sort());
    });

    it('returns each record only on its own shard, oldest due first', async () => {
      const shard = Number(dueShardOf(due[0]!.id, SHARDS).split('#')[1]);

      const page = await store.queryDue(shard, BASE + 110, { limit: 100 });

      const mine = due.filter((record) => dueShardOf(record.id, SHARDS) === `due#${shard}`);
      const found = page.items.filter((record) => record.dueAt !== undefined && record.dueAt >= BASE);
      expect(found.map((record) => record.id)).toEqual(mine.map((record) => record.id));
      const dueTimes = page.items.map((record) => record.dueAt ?? Number.NaN);
      expect(dueTimes).toEqual([...dueTimes].sort((a, b) => a - b));
    });

    it('pages through a shard with cursors without repeating or skipping a record', async () => {
      const shard = Number(dueShardOf(due[0]!.id, SHARDS).split('#')[1]);
      const whole = (await store.queryDue(shard, BASE + 110, { limit: 100 })).items.map((record) => record.id);

      const paged = (await dueAll(store, shard, BASE + 110, 1)).map((record) => record.id);

      expect(whole.length).toBeGreaterThan(0);
      expect(paged).toEqual(whole);
    });

    it('reports how many items DynamoDB read', async () => {
      const shard = Number(dueShardOf(due[0]!.id, SHARDS).split('#')[1]);

      const page = await store.queryDue(shard, BASE + 110, { limit: 100 });

      expect(page.scannedCount).toBe(page.items.length);
    });

    it('drops a record from the due index when it reaches a terminal status', async () => {
      const record = connectionRecord({ dueAt: BASE + 5 });
      await store.create(record);
      const shard = Number(dueShardOf(record.id, SHARDS).split('#')[1]);

      await store.update(record.id, { status: ['active'] }, { status: 'stopped', dueAt: null, stoppedAt: NOW.toISOString() });

      const ids = (await dueAll(store, shard, NOW_S, 100)).map((item) => item.id);
      expect(ids).not.toContain(record.id);
      expect(ids.length).toBeGreaterThan(0);
    });

    it('rejects a cursor issued for another shard', async () => {
      const shard = Number(dueShardOf(due[0]!.id, SHARDS).split('#')[1]);
      const first = await store.queryDue(shard, NOW_S, { limit: 1 });
      expect(first.cursor).toBeDefined();

      const attempt = store.queryDue((shard + 1) % SHARDS, NOW_S, { limit: 1, cursor: first.cursor });

      await expect(attempt).rejects.toBeInstanceOf(InvalidCursorError);
    });

    it('rejects a cursor that does not decode', async () => {
      await expect(store.queryDue(0, NOW_S, { limit: 1, cursor: 'bm90LWpzb24' })).rejects.toMatchObject({ code: 'invalid_cursor' });
    });
  });

  describe('list', () => {
    it('returns the owner records newest first across pages when there are more than the limit', async () => {
      const owner = uniqueOwner();
      const records = recordsOf(owner, 7);
      await Promise.all(records.map((record) => store.create(record)));

      const { pages, items, finished } = await listAll(store, { owner, limit: 3 });

      expect(items.map((record) => record.id)).toEqual(newestFirst(records));
      expect(pages.slice(0, 2).map((page) => page.length)).toEqual([3, 3]);
      expect(finished).toBe(true);
    });

    it('returns records without the store internal attributes', async () => {
      const owner = uniqueOwner();
      await store.create(connectionRecord({ owner, dueAt: NOW_S + 60 }));

      const { items } = await store.list({ owner, limit: 10 });

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
      await Promise.all([...stopped, wanted, otherService].map((record) => store.create(record)));

      const byStatus = await listAll(store, { owner, status: 'active', limit: 1 });
      const byBoth = await store.list({ owner, status: 'active', serviceId: wanted.serviceId, limit: 5 });

      expect(byStatus.items.map((record) => record.id)).toEqual([wanted.id, otherService.id]);
      expect(byStatus.pages[0]).toHaveLength(1);
      expect(byBoth.items.map((record) => record.id)).toEqual([wanted.id]);
    });

    it('leaves out records whose expiresAt has passed although TTL has not deleted them yet', async () => {
      const owner = uniqueOwner();
      const live = connectionRecord({ owner });
      const expired = connectionRecord({ owner, expiresAt: NOW_S - 1 });
      await Promise.all([live, expired].map((record) => store.create(record)));

      const { items } = await store.list({ owner, limit: 10 });

      expect(items.map((record) => record.id)).toEqual([live.id]);
    });

    it('shows an owner none of another owner records', async () => {
      const owner = uniqueOwner('a');
      const other = uniqueOwner('b');
      await store.create(connectionRecord({ owner }));

      const { items } = await store.list({ owner: other, limit: 10 });

      expect(items).toEqual([]);
    });

    it('rejects a cursor issued to another owner', async () => {
      const owner = uniqueOwner('a');
      await Promise.all(recordsOf(owner, 3).map((record) => store.create(record)));
      const { cursor } = await store.list({ owner, limit: 1 });
      expect(cursor).toBeDefined();

      const attempt = store.list({ owner: uniqueOwner('b'), limit: 1, cursor });

      await expect(attempt).rejects.toBeInstanceOf(InvalidCursorError);
      await expect(attempt).rejects.toMatchObject({ code: 'invalid_cursor', field: 'cursor' });
    });

    it.each([
      ['is not base64url', '%%%'],
      ['is not JSON', Buffer.from('{"i":').toString('base64url')],
      ['has an unknown shape', Buffer.from(JSON.stringify({ i: 'by-owner', k: { id: 1 } })).toString('base64url')],
      ['names another index', Buffer.from(JSON.stringify({ i: 'due' })).toString('base64url')],
    ])('rejects a cursor that %s', async (_case, cursor) => {
      await expect(store.list({ owner: uniqueOwner(), limit: 1, cursor })).rejects.toBeInstanceOf(InvalidCursorError);
    });

  });

  describe('countLive', () => {
    it('counts pending, active and stopping records of the owner that have not expired', async () => {
      const owner = uniqueOwner();
      const counted = [
        connectionRecord({ owner, status: 'pending' }),
        connectionRecord({ owner, status: 'active' }),
        connectionRecord({ owner, status: 'stopping' }),
      ];
      const ignored = [
        connectionRecord({ owner, status: 'stopped' }),
        connectionRecord({ owner, status: 'failed' }),
        connectionRecord({ owner, status: 'stop_failed' }),
        connectionRecord({ owner, status: 'active', expiresAt: NOW_S - 1 }),
        connectionRecord({ owner: uniqueOwner(), status: 'active' }),
      ];
      await Promise.all([...counted, ...ignored].map((record) => store.create(record)));

      await expect(store.countLive(owner)).resolves.toBe(3);
    });

    it('returns 0 when the owner has no records', async () => {
      await expect(store.countLive(uniqueOwner())).resolves.toBe(0);
    });

    /** What the sparse index holds for `owner`, and how many items a count of it reads. */
    const liveIndexOf = async (owner: string) => {
      const result = await tables.documentClient.send(
        new QueryCommand({
          TableName: tables.connections,
          IndexName: 'live-by-owner',
          KeyConditionExpression: 'liveOwner = :owner',
          ExpressionAttributeValues: { ':owner': owner },
        }),
      );
      return (result.Items ?? []).map((item) => item.id as string).sort();
    };

    it('indexes exactly the live records, so the count never reads the owner finished history', async () => {
      const owner = uniqueOwner();
      const live = [connectionRecord({ owner, status: 'pending' }), connectionRecord({ owner, status: 'active' })];
      const finished = recordsOf(owner, 30, { status: 'stopped', dueAt: undefined });
      await Promise.all([...live, ...finished].map((record) => store.create(record)));

      expect(await liveIndexOf(owner)).toEqual(live.map((record) => record.id).sort());
      await expect(store.countLive(owner)).resolves.toBe(2);
    });

    it('keeps the index in step with every status change: in while live, out once finished', async () => {
      const owner = uniqueOwner();
      const record = connectionRecord({ owner, status: 'pending', remoteConnectionId: undefined, proxy: undefined });
      await store.create(record);

      const active = await store.update(record.id, { status: ['pending'] }, { status: 'active', remoteConnectionId: 'rc-1' });
      const renewed = await store.update(record.id, { status: ['active'] }, { leaseExpiresAt: active.leaseExpiresAt });
      const stopping = await store.update(record.id, { status: ['active'] }, { status: 'stopping', stopReason: 'requested' });
      expect([active.status, renewed.status, stopping.status]).toEqual(['active', 'active', 'stopping']);
      expect(await liveIndexOf(owner)).toEqual([record.id]);
      expect(await rawItem(record.id)).toMatchObject({ liveOwner: owner });

      const stopped = await store.update(record.id, { status: ['stopping'] }, { status: 'stopped', dueAt: null });

      expect(stopped).not.toHaveProperty('liveOwner');
      expect(await rawItem(record.id)).not.toHaveProperty('liveOwner');
      expect(await liveIndexOf(owner)).toEqual([]);
      await expect(store.countLive(owner)).resolves.toBe(0);
    });

    it('counts a record written before the index existed once its status next changes to a live one', async () => {
      const owner = uniqueOwner();
      const record = connectionRecord({ owner, status: 'active' });
      // As an older deployment wrote it: its index attributes but no liveOwner.
      const legacy = { ...record, createdDay: record.createdAt.slice(0, 10), dueShard: dueShardOf(record.id, SHARDS) };
      await tables.documentClient.send(new PutCommand({ TableName: tables.connections, Item: legacy }));
      await expect(store.countLive(owner)).resolves.toBe(0);

      await store.update(record.id, { status: ['active'] }, { status: 'stopping', stopReason: 'requested' });

      await expect(store.countLive(owner)).resolves.toBe(1);
    });

    it('does not count a finished record that kept a liveOwner (left by code that did not maintain it)', async () => {
      const owner = uniqueOwner();
      const record = connectionRecord({ owner, status: 'stopped' });
      await tables.documentClient.send(
        new PutCommand({ TableName: tables.connections, Item: { ...record, createdDay: record.createdAt.slice(0, 10), liveOwner: owner } }),
      );

      expect(await liveIndexOf(owner)).toEqual([record.id]);
      await expect(store.countLive(owner)).resolves.toBe(0);
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
