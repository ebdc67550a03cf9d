/**
 * The lock routes as the write function serves them, on an in-memory lock store and a recorded enforcement:
 * admins only (checked before the body or the path is read), the body and path rules (every bad field
 * named), and the answers' shapes. DynamoDB and the real stop path are in test/integration/api/locks.test.ts.
 */
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { Lock } from '../../../lambdas/broker/locks';
import { errorResponse } from '../../../lambdas/handlers/http/problem';
import { lockRoutes, toLockView } from '../../../lambdas/handlers/lock-routes';
import { ADMIN_SESSION_ARN, apiEvent, lambdaContext, type ApiEventInit } from '../../fixtures/api-events';
import { lock, MemoryLockStore } from '../../fixtures/memory-locks';
import { defaultPolicy, NOW_MS, NOW_S } from '../broker/use-case-harness';

const LOCK_ID = '01JQ0000000000000000000001';
let sequence = 0;
/** A fixture lock with a real ULID id, as the path accepts. */
const ulidLock = (parts: Parameters<typeof lock>[0]) => lock({ id: `01JQ1${String(++sequence).padStart(21, '0')}`, ...parts });

function setup(failEnforcement?: Error) {
  const locks = new MemoryLockStore();
  const enforced: Lock[] = [];
  const failures: Array<{ placed: Lock; error: unknown }> = [];
  const routes = lockRoutes({
    locks,
    now: () => NOW_MS,
    newId: () => LOCK_ID,
    policy: async () => defaultPolicy,
    enforce: async (placed) => {
      enforced.push(placed);
      if (failEnforcement) throw failEnforcement;
      return { stopped: 2, remaining: 1, unreadParts: 0 };
    },
    onEnforcementFailed: (placed: Lock, error: unknown) => failures.push({ placed, error }),
  });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary response fields
  const call = async (init: ApiEventInit): Promise<{ status: number; body: any }> => {
    const route = routes[init.routeKey];
    if (!route) throw new Error(`no route ${init.routeKey}`);
    let result: APIGatewayProxyStructuredResultV2;
    try {
      result = await route(apiEvent(init), lambdaContext() as Context);
    } catch (error) {
      result = errorResponse(error, 'req-1');
    }
    return { status: result.statusCode ?? 200, body: JSON.parse(result.body ?? '{}') };
  };
  return { locks, enforced, failures, call };
}

const asAdmin = { callerArn: ADMIN_SESSION_ARN };

describe('lock routes', () => {
  describe('POST /locks', () => {
    it('answers 201 with the lock and what enforcing it stopped, after enforcing the stored lock', async () => {
      const { locks, enforced, call } = setup();

      const answer = await call({ routeKey: 'POST /locks', ...asAdmin, body: { serviceId: '80:00:00:00:01:*', reason: 'incident 9', ttlSeconds: 600 } });

      expect(answer.status).toBe(201);
      expect(answer.body).toEqual({
        id: LOCK_ID,
        serviceId: '80:00:00:00:01:*',
        reason: 'incident 9',
        createdAt: new Date(NOW_MS).toISOString(),
        createdBy: ADMIN_SESSION_ARN,
        expiresAt: new Date((NOW_S + 600) * 1000).toISOString(),
        enforcement: { stopped: 2, remaining: 1, complete: true },
      });
      expect(enforced).toEqual([await locks.get(LOCK_ID)]);
    });

    it('answers 201 with an incomplete enforcement when stopping what the lock covers fails: the lock is placed, and a retry would place another', async () => {
      const { locks, failures, call } = setup(new Error('DynamoDB unavailable'));

      const answer = await call({ routeKey: 'POST /locks', body: { serviceId: '80:00:00:00:01:*', reason: 'incident 10' }, ...asAdmin });

      expect(answer.status).toBe(201);
      expect(answer.body.enforcement).toEqual({ stopped: 0, remaining: 0, complete: false });
      expect(await locks.get(LOCK_ID)).toBeDefined();
      expect(failures.map((failure) => (failure.error as Error).message)).toEqual(['DynamoDB unavailable']);
    });

    it('answers a non-admin 403 admin_required even for a bad body, and stores and enforces nothing', async () => {
      const { locks, enforced, call } = setup();

      const answer = await call({ routeKey: 'POST /locks', body: { colour: 'red' } });

      expect(answer.status).toBe(403);
      expect(answer.body.type).toBe('urn:remoteit-broker:problem:admin_required');
      expect(locks.locks.size).toBe(0);
      expect(enforced).toEqual([]);
    });

    it.each([
      [{ reason: 'x' }, ['principal']],
      [{ serviceId: '*' }, ['reason']],
      [{ serviceId: '80:zz', reason: 'x' }, ['serviceId']],
      [{ serviceId: `${'8'.repeat(65)}`, reason: 'x' }, ['serviceId']],
      [{ principal: '', reason: 'x' }, ['principal']],
      [{ principal: 'a'.repeat(2049), reason: 'x' }, ['principal']],
      [{ serviceId: '*', reason: '' }, ['reason']],
      [{ serviceId: '*', reason: 'r'.repeat(501) }, ['reason']],
      [{ serviceId: '*', reason: 'line\nbreak' }, ['reason']],
      [{ serviceId: '*', reason: 'x', ttlSeconds: 59 }, ['ttlSeconds']],
      [{ serviceId: '*', reason: 'x', ttlSeconds: 2_592_001 }, ['ttlSeconds']],
      [{ serviceId: '*', reason: 'x', ttlSeconds: 90.5 }, ['ttlSeconds']],
      [{ serviceId: '*', reason: 'x', colour: 'red' }, ['colour']],
      [{ serviceId: 7, reason: 7, ttlSeconds: 'soon' }, ['serviceId', 'reason', 'ttlSeconds']],
    ])('answers 400 naming the bad field(s) for %j', async (body, fields) => {
      const { locks, call } = setup();

      const answer = await call({ routeKey: 'POST /locks', ...asAdmin, body });

      expect(answer.status).toBe(400);
      expect(answer.body.errors.map((error: { field: string }) => error.field)).toEqual(fields);
      expect(locks.locks.size).toBe(0);
    });

    it('says one of principal and serviceId is required when both are missing', async () => {
      const { call } = setup();

      const answer = await call({ routeKey: 'POST /locks', ...asAdmin, body: { reason: 'x' } });

      expect(answer.body.errors).toEqual([{ field: 'principal', message: expect.stringContaining('or serviceId is required') }]);
    });

    it('accepts the bounds: a 2048-character principal, a 500-character reason, ttlSeconds 60 and 2592000', async () => {
      const { call } = setup();

      const low = await call({ routeKey: 'POST /locks', ...asAdmin, body: { principal: 'a'.repeat(2048), reason: 'r'.repeat(500), ttlSeconds: 60 } });
      const high = await call({ routeKey: 'POST /locks', ...asAdmin, body: { serviceId: '80:*', reason: 'é ünïcode ok', ttlSeconds: 2_592_000 } });

      expect([low.status, high.status]).toEqual([201, 201]);
    });
  });

  describe('GET /locks', () => {
    it('answers the live locks as views, oldest first', async () => {
      const { locks, call } = setup();
      const first = await locks.place(ulidLock({ principal: 'arn:aws:iam::123456789012:role/a', expiresAt: NOW_S + 60 }));
      const second = await locks.place(ulidLock({ serviceId: '*' }));

      const answer = await call({ routeKey: 'GET /locks', ...asAdmin });

      expect(answer).toEqual({ status: 200, body: { items: [toLockView(first), toLockView(second)] } });
      expect(answer.body.items[0].expiresAt).toBe(new Date((NOW_S + 60) * 1000).toISOString());
    });

    it('answers a non-admin 403 admin_required', async () => {
      const { locks, call } = setup();

      const answer = await call({ routeKey: 'GET /locks' });

      expect(answer.status).toBe(403);
      expect(answer.body.type).toBe('urn:remoteit-broker:problem:admin_required');
      expect(locks.liveReads).toBe(0);
    });
  });

  describe('DELETE /locks/{id}', () => {
    it('answers 200 with the lifted lock', async () => {
      const { locks, call } = setup();
      const placed = await locks.place(ulidLock({ serviceId: '*' }));

      const answer = await call({ routeKey: 'DELETE /locks/{id}', ...asAdmin, pathParameters: { id: placed.id } });

      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ id: placed.id, liftedAt: new Date(NOW_MS).toISOString(), liftedBy: ADMIN_SESSION_ARN });
      // The TTL attribute lifting sets is bookkeeping: a lifted lock lapses at no time.
      expect(answer.body).not.toHaveProperty('expiresAt');
    });

    it('answers 400 naming id when the id is not a ULID', async () => {
      const { call } = setup();

      const answer = await call({ routeKey: 'DELETE /locks/{id}', ...asAdmin, pathParameters: { id: 'not-a-lock' } });

      expect(answer.status).toBe(400);
      expect(answer.body.errors).toEqual([{ field: 'id', message: 'is not a lock id' }]);
    });

    it('answers 404 lock_not_found for an unknown id', async () => {
      const { call } = setup();

      const answer = await call({ routeKey: 'DELETE /locks/{id}', ...asAdmin, pathParameters: { id: LOCK_ID } });

      expect(answer.status).toBe(404);
      expect(answer.body.type).toBe('urn:remoteit-broker:problem:lock_not_found');
    });

    it('answers a non-admin 403 admin_required, even for a malformed id, and leaves the lock live', async () => {
      const { locks, call } = setup();
      const placed = await locks.place(ulidLock({ serviceId: '*' }));

      const known = await call({ routeKey: 'DELETE /locks/{id}', pathParameters: { id: placed.id } });
      const malformed = await call({ routeKey: 'DELETE /locks/{id}', pathParameters: { id: 'x' } });

      expect([known.status, malformed.status]).toEqual([403, 403]);
      expect(await locks.live(NOW_S)).toHaveLength(1);
    });
  });
});
