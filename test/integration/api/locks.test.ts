/**
 * The lock routes end to end at the handler boundary: the real write function on DynamoDB Local (its locks
 * table), the real stop path against the remote.it emulator, and the open function's lock check.
 */
import { ADMIN_SESSION_ARN, APP_SESSION_ARN } from '../../fixtures/api-events';
import { ROLES, SERVICES, startBroker, type Broker } from '../support/broker';

let broker: Broker;

beforeAll(async () => {
  broker = await startBroker();
});

afterAll(async () => {
  await broker.stop();
});

const asAdmin = { callerArn: ADMIN_SESSION_ARN };
const place = (body: object, callerArn = ADMIN_SESSION_ARN) => broker.call({ routeKey: 'POST /locks', body, callerArn });
const list = (callerArn = ADMIN_SESSION_ARN) => broker.call({ routeKey: 'GET /locks', callerArn });
const lift = (id: string, callerArn = ADMIN_SESSION_ARN) => broker.call({ routeKey: 'DELETE /locks/{id}', pathParameters: { id }, callerArn });
const open = (serviceId: string, callerArn = APP_SESSION_ARN) => broker.call({ routeKey: 'POST /connections', body: { serviceId }, callerArn });

/** Lifts every live lock, so each test starts with none. */
afterEach(async () => {
  const { body } = await list();
  for (const lock of (body?.items ?? []) as Array<{ id: string }>) await lift(lock.id);
});

describe('lock routes', () => {
  it('lets an admin place a lock, list it and lift it, after which it is gone from the list', async () => {
    const placed = await place({ principal: ROLES.other, serviceId: '80:00:00:00:02:*', reason: 'incident 12', ttlSeconds: 3600 });

    expect(placed.status).toBe(201);
    expect(placed.body).toEqual({
      id: expect.stringMatching(/^[0-9A-HJKMNP-TV-Z]{26}$/),
      principal: ROLES.other,
      serviceId: '80:00:00:00:02:*',
      reason: 'incident 12',
      createdAt: expect.any(String),
      createdBy: ADMIN_SESSION_ARN,
      expiresAt: expect.any(String),
      enforcement: { stopped: 0, remaining: 0, complete: true },
    });
    expect(Date.parse(placed.body.expiresAt) - Date.parse(placed.body.createdAt)).toBeGreaterThanOrEqual(3_599_000);

    const listed = await list();
    expect(listed.status).toBe(200);
    const { enforcement: _enforcement, ...view } = placed.body;
    expect(listed.body).toEqual({ items: [view] });

    const lifted = await lift(placed.body.id);
    expect(lifted.status).toBe(200);
    expect(lifted.body).toMatchObject({ id: placed.body.id, liftedBy: ADMIN_SESSION_ARN, liftedAt: expect.any(String) });
    expect((await list()).body).toEqual({ items: [] });
    expect((await lift(placed.body.id)).status).toBe(404);
  });

  it('answers a non-admin 403 admin_required on all three routes, and changes nothing', async () => {
    const placed = await place({ serviceId: '80:00:00:00:02:*', reason: 'incident 13' });

    const answers = await Promise.all([
      place({ serviceId: '*', reason: 'not mine to place' }, APP_SESSION_ARN),
      list(APP_SESSION_ARN),
      lift(placed.body.id, APP_SESSION_ARN),
    ]);

    expect(answers.map((answer) => [answer.status, answer.body.type])).toEqual(
      Array.from({ length: 3 }, () => [403, 'urn:remoteit-broker:problem:admin_required']),
    );
    expect((await list()).body.items.map((lock: { id: string }) => lock.id)).toEqual([placed.body.id]);
  });

  it('answers 400 naming the field for bad input, and 404 lock_not_found for an unknown id', async () => {
    const neither = await place({ reason: 'x' });
    const badTtl = await place({ serviceId: '*', reason: 'x', ttlSeconds: 30 });
    const badId = await lift('nope');
    const unknown = await lift('01JQ0000000000000000000000');

    expect(neither.status).toBe(400);
    expect(neither.body.errors).toEqual([{ field: 'principal', message: expect.stringContaining('serviceId is required') }]);
    expect(badTtl.body.errors).toEqual([{ field: 'ttlSeconds', message: expect.any(String) }]);
    expect([badId.status, badId.body.errors]).toEqual([400, [{ field: 'id', message: 'is not a lock id' }]]);
    expect([unknown.status, unknown.body.type]).toEqual([404, 'urn:remoteit-broker:problem:lock_not_found']);
    expect((await list()).body.items).toEqual([]);
  });

  it('refuses an open of a locked service with 403 locked naming the reason, and opens it again once lifted', async () => {
    const placed = await place({ serviceId: SERVICES.echo.toLowerCase(), reason: 'echo is being patched' });

    const refused = await open(SERVICES.echo);
    expect(refused.status).toBe(403);
    expect(refused.body.type).toBe('urn:remoteit-broker:problem:locked');
    expect(refused.body.detail).toContain('echo is being patched');

    await lift(placed.body.id);
    const opened = await open(SERVICES.echo);
    expect(opened.status).toBe(201);
    await broker.call({ routeKey: 'DELETE /connections/{id}', pathParameters: { id: opened.body.id }, callerArn: APP_SESSION_ARN });
  });

  it('stops the live connections a new principal lock covers at once, and counts them in enforcement', async () => {
    const first = await open(SERVICES.echo);
    const second = await open(SERVICES.echo);
    expect([first.status, second.status]).toEqual([201, 201]);

    const placed = await place({ principal: ROLES.app, reason: 'app role compromised' });

    expect(placed.status).toBe(201);
    expect(placed.body.enforcement).toEqual({ stopped: 2, remaining: 0, complete: true });
    for (const id of [first.body.id, second.body.id]) {
      const seen = await broker.call({ routeKey: 'GET /connections/{id}', pathParameters: { id }, ...asAdmin });
      expect(seen.body).toMatchObject({ status: 'stopped', stopReason: 'locked' });
    }
  });
});
