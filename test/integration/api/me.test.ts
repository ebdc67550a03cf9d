/**
 * GET /me through the real read function on DynamoDB Local and the AppConfig stub, for each kind of caller;
 * and the policy's refusals as callers read them: each says which part failed (service, mode, TTL, quota) and
 * the caller's own limit, and none shows another caller's rules.
 */
import { ADMIN_SESSION_ARN, APP_SESSION_ARN, OTHER_SESSION_ARN } from '../../fixtures/api-events';
import { ROLES, SERVICES, startBroker, type ApiAnswer, type Broker } from '../support/broker';

const LIMITED_SESSION_ARN = 'arn:aws:sts::123456789012:assumed-role/limited/s1';
const DENIED = 'urn:remoteit-broker:problem:policy_denied';

const me = (broker: Broker, callerArn: string | null) => broker.call({ routeKey: 'GET /me', callerArn });
const open = (broker: Broker, body: object, callerArn = APP_SESSION_ARN) => broker.call({ routeKey: 'POST /connections', body, callerArn });
const stop = (broker: Broker, id: string, callerArn = APP_SESSION_ARN) =>
  broker.call({ routeKey: 'DELETE /connections/{id}', pathParameters: { id }, callerArn });

/** What the other callers' rules say and app's do not (TEST_POLICY): none may appear in app's answers. */
function expectNothingOfOthers(answer: ApiAnswer): void {
  const text = JSON.stringify(answer.body);
  expect(text).not.toContain('other-app');
  expect(text).not.toContain('ops-admin');
  expect(text).not.toContain('limited');
  expect(text).not.toContain('principals');
  expect(text).not.toMatch(/\b600\b/);
}

describe('GET /me', () => {
  let broker: Broker;

  beforeAll(async () => {
    broker = await startBroker();
  });

  afterAll(async () => {
    await broker.stop();
  });

  it('answers the app caller its role, its session ARN, not admin, only its own rule and its live count', async () => {
    const opened = await open(broker, { serviceId: SERVICES.echo });
    expect(opened.status).toBe(201);
    try {
      const answer = await me(broker, APP_SESSION_ARN);

      expect([answer.status, answer.headers['content-type']]).toEqual([200, 'application/json']);
      expect(answer.body).toEqual({
        principal: ROLES.app,
        arn: APP_SESSION_ARN,
        admin: false,
        rules: [{ services: ['80:00:00:00:01:*'], modes: ['latching', 'ip'], maxTtlSeconds: 3600, maxActive: 100, opensPerMinute: 100_000 }],
        live: 1,
      });
      expectNothingOfOthers(answer);
    } finally {
      await stop(broker, opened.body.id);
    }
    expect((await me(broker, APP_SESSION_ARN)).body.live).toBe(0);
  });

  it('answers another caller with its own rule, never the app\'s', async () => {
    const answer = await me(broker, OTHER_SESSION_ARN);

    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      principal: ROLES.other,
      arn: OTHER_SESSION_ARN,
      admin: false,
      rules: [{ services: ['*'], modes: ['latching', 'ip', 'public'], maxTtlSeconds: 600, maxActive: 100, opensPerMinute: 100_000 }],
      live: 0,
    });
    expect(JSON.stringify(answer.body)).not.toContain('80:00:00:00:01:*');
  });

  it('answers an admin that it is one, with its own rule only', async () => {
    const answer = await me(broker, ADMIN_SESSION_ARN);

    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      principal: ROLES.admin,
      arn: ADMIN_SESSION_ARN,
      admin: true,
      rules: [{ services: ['*'], modes: ['latching'], maxTtlSeconds: 3600, maxActive: 100, opensPerMinute: 100_000 }],
      live: 0,
    });
  });

  it('answers a caller no rule names with no rules', async () => {
    const stranger = 'arn:aws:sts::123456789012:assumed-role/stranger/s';
    const answer = await me(broker, stranger);

    expect(answer.body).toEqual({ principal: 'arn:aws:iam::123456789012:role/stranger', arn: stranger, admin: false, rules: [], live: 0 });
  });

  it('answers an unsigned request 403 problem+json, reading nothing', async () => {
    const answer = await me(broker, null);

    expect([answer.status, answer.headers['content-type'], answer.body.type]).toEqual([403, 'application/problem+json', 'urn:remoteit-broker:problem:missing_identity']);
  });
});

describe('GET /me with no policy loaded', () => {
  let broker: Broker;

  beforeAll(async () => {
    broker = await startBroker({ policy: null });
  });

  afterAll(async () => {
    await broker.stop();
  });

  it('answers 200 with no rules and no admin, even for the policy\'s admin role', async () => {
    const answer = await me(broker, ADMIN_SESSION_ARN);

    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ principal: ROLES.admin, arn: ADMIN_SESSION_ARN, admin: false, rules: [], live: 0 });
  });
});

describe('policy refusals as the caller reads them', () => {
  let broker: Broker;

  beforeAll(async () => {
    broker = await startBroker();
  });

  afterAll(async () => {
    await broker.stop();
  });

  it('names the service when no rule of the caller\'s covers it', async () => {
    const answer = await open(broker, { serviceId: SERVICES.restricted });

    expect([answer.status, answer.body.type]).toEqual([403, DENIED]);
    expect(answer.body.detail).toBe(`your policy does not allow connections to service ${SERVICES.restricted}`);
    expectNothingOfOthers(answer);
  });

  it('names the mode and the modes the caller\'s own rules allow for that service', async () => {
    const answer = await open(broker, { serviceId: SERVICES.echo, mode: 'public' });

    expect([answer.status, answer.body.type]).toEqual([403, DENIED]);
    expect(answer.body.detail).toBe(`your policy does not allow mode 'public' for service ${SERVICES.echo} (allowed: latching, ip)`);
    expectNothingOfOthers(answer);
  });

  it('names the TTL and the caller\'s own maximum', async () => {
    const answer = await open(broker, { serviceId: SERVICES.echo, ttlSeconds: 7200 });

    expect([answer.status, answer.body.type]).toEqual([403, DENIED]);
    expect(answer.body.detail).toBe(`ttlSeconds 7200 is above your policy's maximum of 3600 for service ${SERVICES.echo} in mode 'latching'`);
    expectNothingOfOthers(answer);
  });

  it('names the quota and the caller\'s own maximum of live connections', async () => {
    const first = await open(broker, { serviceId: SERVICES.echo }, LIMITED_SESSION_ARN);
    expect(first.status).toBe(201);
    try {
      const answer = await open(broker, { serviceId: SERVICES.echo }, LIMITED_SESSION_ARN);

      expect([answer.status, answer.body.type]).toEqual([429, 'urn:remoteit-broker:problem:quota_exceeded']);
      expect(answer.body.detail).toBe('you already hold 1 live connection(s), the most your policy allows; stop one first');
      expect(JSON.stringify(answer.body)).not.toMatch(/\b100\b|other-app|ops-admin/);
    } finally {
      await stop(broker, first.body.id, LIMITED_SESSION_ARN);
    }
  });
});
