import { InvalidRequestError } from '../../../lambdas/broker/errors';
import { AdminRequiredError, liftLock, listLocks, placeLock, TooManyLocksError, type LockAdminDeps } from '../../../lambdas/broker/lock-admin';
import { LockNotFoundError, MAX_LIVE_LOCKS } from '../../../lambdas/broker/locks';
import { lock, MemoryLockStore } from '../../fixtures/memory-locks';
import { adminCaller, appCaller, defaultPolicy, NOW_MS, NOW_S, rejectionOf } from './use-case-harness';

function harness() {
  const locks = new MemoryLockStore();
  let sequence = 0;
  const deps: LockAdminDeps = { locks, now: () => NOW_MS, newId: () => `01LOCKNEW${String(++sequence).padStart(17, '0')}` };
  return { locks, deps };
}

describe('placeLock', () => {
  it('stores a lock created by the admin\'s full ARN, its service glob upper-cased, lapsing ttlSeconds from now', async () => {
    const { locks, deps } = harness();

    const placed = await placeLock(deps, defaultPolicy, adminCaller, {
      principal: 'arn:aws:iam::123456789012:role/ci-*',
      serviceId: '80:00:00:00:01:0a:*',
      reason: 'incident 7',
      ttlSeconds: 3600,
    });

    expect(placed).toEqual({
      id: '01LOCKNEW00000000000000001',
      principal: 'arn:aws:iam::123456789012:role/ci-*',
      serviceId: '80:00:00:00:01:0A:*',
      reason: 'incident 7',
      createdAt: new Date(NOW_MS).toISOString(),
      createdBy: adminCaller.arn,
      expiresAt: NOW_S + 3600,
    });
    expect(await locks.get(placed.id)).toEqual(placed);
  });

  it('places a lock without expiresAt (until lifted) when no ttlSeconds is given', async () => {
    const { deps } = harness();

    const placed = await placeLock(deps, defaultPolicy, adminCaller, { serviceId: '*', reason: 'maintenance' });

    expect(placed).not.toHaveProperty('expiresAt');
    expect(placed).not.toHaveProperty('principal');
  });

  it('refuses a non-admin with admin_required before reading the store', async () => {
    const { locks, deps } = harness();
    locks.failLive = new Error('must not be read');

    const error = await rejectionOf(placeLock(deps, defaultPolicy, appCaller, { serviceId: '*', reason: 'x' }));

    expect(error).toBeInstanceOf(AdminRequiredError);
    expect((error as AdminRequiredError).code).toBe('admin_required');
    expect(locks.liveReads).toBe(0);
    expect(locks.locks.size).toBe(0);
  });

  it('answers invalid_request naming principal when neither principal nor serviceId is given', async () => {
    const { locks, deps } = harness();

    const error = await rejectionOf(placeLock(deps, defaultPolicy, adminCaller, { reason: 'x' }));

    expect(error).toBeInstanceOf(InvalidRequestError);
    expect((error as InvalidRequestError).errors).toEqual([{ field: 'principal', message: expect.stringMatching(/serviceId is required/) }]);
    expect(locks.locks.size).toBe(0);
  });

  it(`refuses a new lock with too_many_locks when ${MAX_LIVE_LOCKS} are live, and places it once one is lifted`, async () => {
    const { locks, deps } = harness();
    for (let index = 0; index < MAX_LIVE_LOCKS; index += 1) await locks.place(lock({ serviceId: `80:00:00:00:00:00:00:${index}` }));

    const error = await rejectionOf(placeLock(deps, defaultPolicy, adminCaller, { serviceId: '*', reason: 'x' }));
    expect(error).toBeInstanceOf(TooManyLocksError);
    expect((error as TooManyLocksError).code).toBe('too_many_locks');
    expect(locks.locks.size).toBe(MAX_LIVE_LOCKS);

    const [first] = await locks.live(NOW_S);
    await locks.lift(first?.id ?? '', adminCaller.arn, new Date(NOW_MS).toISOString(), NOW_S);
    await expect(placeLock(deps, defaultPolicy, adminCaller, { serviceId: '*', reason: 'x' })).resolves.toMatchObject({ serviceId: '*' });
  });
});

describe('listLocks', () => {
  it('returns the live locks oldest first, without lifted or lapsed ones', async () => {
    const { locks, deps } = harness();
    const older = await locks.place(lock({ principal: 'arn:aws:iam::123456789012:role/a' }));
    const lapsed = await locks.place(lock({ serviceId: '*', expiresAt: NOW_S }));
    const newer = await locks.place(lock({ serviceId: '80:*', expiresAt: NOW_S + 1 }));
    const lifted = await locks.place(lock({ serviceId: '81:*' }));
    await locks.lift(lifted.id, adminCaller.arn, new Date(NOW_MS).toISOString(), NOW_S);

    const listed = await listLocks(deps, defaultPolicy, adminCaller);

    expect(listed.map((each) => each.id)).toEqual([older.id, newer.id]);
    expect(listed.map((each) => each.id)).not.toContain(lapsed.id);
  });

  it('refuses a non-admin with admin_required without reading the store', async () => {
    const { locks, deps } = harness();

    await expect(listLocks(deps, defaultPolicy, appCaller)).rejects.toBeInstanceOf(AdminRequiredError);
    expect(locks.liveReads).toBe(0);
  });
});

describe('liftLock', () => {
  it('marks the lock lifted by the admin\'s full ARN now, and it is no longer live', async () => {
    const { locks, deps } = harness();
    const placed = await locks.place(lock({ serviceId: '*' }));

    const lifted = await liftLock(deps, defaultPolicy, adminCaller, placed.id);

    expect(lifted).toMatchObject({ id: placed.id, liftedAt: new Date(NOW_MS).toISOString(), liftedBy: adminCaller.arn, expiresAt: NOW_S });
    expect(await locks.live(NOW_S)).toEqual([]);
  });

  it('answers lock_not_found for an unknown id and for one already lifted', async () => {
    const { locks, deps } = harness();
    const placed = await locks.place(lock({ serviceId: '*' }));
    await liftLock(deps, defaultPolicy, adminCaller, placed.id);

    await expect(liftLock(deps, defaultPolicy, adminCaller, placed.id)).rejects.toBeInstanceOf(LockNotFoundError);
    await expect(liftLock(deps, defaultPolicy, adminCaller, '01LOCKUNKNOWN0000000000000')).rejects.toBeInstanceOf(LockNotFoundError);
  });

  it('refuses a non-admin with admin_required and leaves the lock live', async () => {
    const { locks, deps } = harness();
    const placed = await locks.place(lock({ serviceId: '*' }));

    await expect(liftLock(deps, defaultPolicy, appCaller, placed.id)).rejects.toBeInstanceOf(AdminRequiredError);
    expect(await locks.live(NOW_S)).toHaveLength(1);
  });
});
