/**
 * What a policy rule can bound besides services, modes, TTL and quota, on the real handlers with the policy
 * served by the AppConfig stub: `clientCidrs` (who a mode ip proxy may be granted to: without it a caller can
 * hand a proxy to any host on the internet) and `maxLifetimeSeconds` (how long a connection may live across
 * renews: without it renewals chain a connection to remote.it's own expiry, about 8 h).
 */
import type { PolicyDocument } from '../../../lambdas/broker/policy';
import { ROLES, SERVICES, startBroker, type Broker } from '../support/broker';

const CONTRACTOR = 'arn:aws:iam::123456789012:role/contractor';

const POLICY: PolicyDocument = {
  rules: [
    { principals: [ROLES.app], services: ['80:00:00:00:01:*'], modes: ['latching', 'ip'], maxTtlSeconds: 3600, maxActive: 100, opensPerMinute: 100_000, clientCidrs: ['203.0.113.0/24'] },
    { principals: [CONTRACTOR], services: ['80:00:00:00:01:*'], modes: ['latching'], maxTtlSeconds: 600, maxActive: 10, opensPerMinute: 100_000, maxLifetimeSeconds: 60 },
  ],
  admins: [ROLES.admin],
};

let broker: Broker;

beforeAll(async () => {
  broker = await startBroker({ policy: POLICY });
}, 30_000);

afterAll(async () => {
  await broker?.stop();
});

const open = (body: object, callerArn = ROLES.app) => broker.call({ routeKey: 'POST /connections', body: { serviceId: SERVICES.echo, ...body }, callerArn });

describe('policy limits', () => {
  it('grants a mode ip proxy only to an address inside the rule\'s clientCidrs, refusing others with 403 naming the address', async () => {
    const inside = await open({ mode: 'ip', clientIp: '203.0.113.9' });
    const outside = await open({ mode: 'ip', clientIp: '198.51.100.20' });

    expect(inside.status).toBe(201);
    expect(inside.body.hostIp).toBe('203.0.113.9');
    expect(outside.status).toBe(403);
    expect(outside.body).toMatchObject({ type: 'urn:remoteit-broker:problem:policy_denied', detail: expect.stringContaining('198.51.100.20') });
    expect(outside.body.detail).toContain('clientCidrs');
    expect(outside.body.detail).not.toContain('203.0.113.0/24');
  });

  it('refuses a renew once a connection has lived its maxLifetimeSeconds, with 403 naming the limit', async () => {
    const opened = await open({ ttlSeconds: 60 }, CONTRACTOR);
    expect(opened.status).toBe(201);

    const renewed = await broker.call({ routeKey: 'POST /connections/{id}/renew', pathParameters: { id: opened.body.id }, body: { ttlSeconds: 60 }, callerArn: CONTRACTOR });
    const tooLong = await open({ ttlSeconds: 120 }, CONTRACTOR);

    expect(renewed.status).toBe(403);
    expect(renewed.body).toMatchObject({ type: 'urn:remoteit-broker:problem:policy_denied', detail: expect.stringContaining('maxLifetimeSeconds of 60') });
    expect(tooLong.status).toBe(403);
  });
});
