/**
 * The DynamoDB LockStore on DynamoDB Local: place / get / live / lift, what `live` leaves out (lifted, lapsed),
 * its one strongly consistent, bounded query, and that it fails closed when the partition outgrows one page.
 */
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { monotonicFactory } from 'ulid';
import { LockNotFoundError, type Lock, type LockStore } from '../../../lambdas/broker/locks';
import { StoreUnavailableError } from '../../../lambdas/store/errors';
import { createDynamoLockStore, LOCK_PARTITION_OVERFLOW } from '../../../lambdas/store/lock-store';
import { LOCKS } from '../../../lambdas/store/tables';
import { createTestTables, type TestTables } from '../support/dynamo';

const NOW_S = Math.floor(Date.now() / 1000);
const ADMIN = 'arn:aws:sts::123456789012:assumed-role/ops-admin/alice';
const newId = monotonicFactory();

const lockOf = (overrides: Partial<Lock> = {}): Lock => ({
  id: newId(),
  principal: 'arn:aws:iam::123456789012:role/app',
  reason: 'incident 1',
  createdAt: new Date(NOW_S * 1000).toISOString(),
  createdBy: ADMIN,
  ...overrides,
});

/**
 * A lifted or lapsed lock's TTL attribute is in the past, and DynamoDB (Local too) deletes such items in the
 * background at a time of its choosing: read back, it is either exactly as written or gone, never changed.
 */
async function expectAsWrittenOrExpired(read: Promise<unknown>, written: unknown): Promise<void> {
  const found = await read;
  if (found !== undefined) expect(found).toEqual(written);
}

describe('DynamoLockStore', () => {
  let tables: TestTables;

  beforeAll(async () => {
    tables = await createTestTables('locks');
  });
  afterAll(async () => {
    await tables.drop();
  });

  /** Each test its own table: `live` reads the whole lock partition. */
  async function freshStore(readLimit?: number): Promise<{ store: LockStore; tableName: string }> {
    const own = await createTestTables('locks');
    cleanups.push(() => own.drop());
    return {
      store: createDynamoLockStore({ client: own.documentClient, tableName: own.locks, ...(readLimit !== undefined && { readLimit }) }),
      tableName: own.locks,
    };
  }
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
  });

  it('stores a lock in the one lock partition and get returns it unchanged', async () => {
    const store = createDynamoLockStore({ client: tables.documentClient, tableName: tables.locks });
    const lock = lockOf({ serviceId: '80:00:00:00:01:*', expiresAt: NOW_S + 600 });

    await expect(store.place(lock)).resolves.toEqual(lock);

    await expect(store.get(lock.id)).resolves.toEqual(lock);
    const raw = await tables.documentClient.send(new GetCommand({ TableName: tables.locks, Key: { [LOCKS.partitionKey]: LOCKS.partition, id: lock.id } }));
    expect(raw.Item).toMatchObject({ pk: 'lock', id: lock.id });
  });

  it('returns undefined from get for an unknown id', async () => {
    const store = createDynamoLockStore({ client: tables.documentClient, tableName: tables.locks });

    await expect(store.get(newId())).resolves.toBeUndefined();
  });

  it('lists only live locks, oldest first: a lifted one and one whose expiresAt has passed (TTL not yet run) are left out', async () => {
    const { store } = await freshStore();
    const forever = await store.place(lockOf());
    const lapsed = await store.place(lockOf({ expiresAt: NOW_S }));
    const lapsing = await store.place(lockOf({ serviceId: '*', expiresAt: NOW_S + 1 }));
    const lifted = await store.place(lockOf({ serviceId: '80:*' }));
    await store.lift(lifted.id, ADMIN, new Date().toISOString(), NOW_S);

    const live = await store.live(NOW_S);

    expect(live).toEqual([forever, lapsing]);
    expect(live.map((lock) => lock.id)).not.toContain(lapsed.id);
    // The same lock lapses once its second has passed.
    await expect(store.live(NOW_S + 1)).resolves.toEqual([forever]);
  });

  it('sees a lock placed a moment ago at once (a strongly consistent read)', async () => {
    const { store } = await freshStore();

    const lock = await store.place(lockOf());

    await expect(store.live(NOW_S)).resolves.toEqual([lock]);
  });

  it('lifts a live lock: liftedAt, liftedBy, and expiresAt set to now so TTL removes it', async () => {
    const { store } = await freshStore();
    const lock = await store.place(lockOf({ expiresAt: NOW_S + 3600 }));
    const at = new Date(NOW_S * 1000).toISOString();

    const lifted = await store.lift(lock.id, ADMIN, at, NOW_S);

    expect(lifted).toEqual({ ...lock, liftedAt: at, liftedBy: ADMIN, expiresAt: NOW_S });
    await expectAsWrittenOrExpired(store.get(lock.id), lifted);
    await expect(store.live(NOW_S)).resolves.toEqual([]);
  });

  it('throws LockNotFoundError lifting an unknown, an already lifted or a lapsed lock, and changes nothing', async () => {
    const { store } = await freshStore();
    const lifted = await store.place(lockOf());
    await store.lift(lifted.id, ADMIN, new Date(NOW_S * 1000).toISOString(), NOW_S);
    const afterFirstLift = await store.get(lifted.id);
    const lapsed = await store.place(lockOf({ expiresAt: NOW_S - 1 }));
    const unknown = newId();

    await expect(store.lift(lifted.id, 'arn:other', new Date().toISOString(), NOW_S + 5)).rejects.toBeInstanceOf(LockNotFoundError);
    await expect(store.lift(lapsed.id, ADMIN, new Date().toISOString(), NOW_S)).rejects.toBeInstanceOf(LockNotFoundError);
    await expect(store.lift(unknown, ADMIN, new Date().toISOString(), NOW_S)).rejects.toBeInstanceOf(LockNotFoundError);

    await expectAsWrittenOrExpired(store.get(lifted.id), afterFirstLift);
    await expectAsWrittenOrExpired(store.get(lapsed.id), lapsed);
    await expect(store.get(unknown)).resolves.toBeUndefined();
  });

  it('answers live locks while the partition fits the read limit, lifted ones included in what it reads', async () => {
    const { store } = await freshStore(5);
    for (let index = 0; index < 3; index += 1) {
      const lock = await store.place(lockOf());
      await store.lift(lock.id, ADMIN, new Date().toISOString(), NOW_S);
    }
    const live = await store.place(lockOf());

    await expect(store.live(NOW_S)).resolves.toEqual([live]);
  });

  it('fails closed with a 503-class error when the partition holds more than one page, rather than answer part of it', async () => {
    const { store, tableName } = await freshStore(5);
    for (let index = 0; index < 5; index += 1) await store.place(lockOf({ expiresAt: NOW_S - 10 }));
    // The live lock sorts last: a reader that stopped at one page would not see it.
    const { documentClient } = tables;
    await documentClient.send(new PutCommand({ TableName: tableName, Item: { ...lockOf(), pk: LOCKS.partition } }));

    const error = await store.live(NOW_S).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );

    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect(((error as StoreUnavailableError).cause as Error).message).toContain(LOCK_PARTITION_OVERFLOW);
  });
});
