import { describeCaller } from '../../../lambdas/broker/me';
import { policyDocumentSchema } from '../../../lambdas/broker/policy';
import { toCaller } from '../../../lambdas/broker/principal';
import { connectionRecord, MemoryConnectionStore } from '../../fixtures/memory-store';
import { APP_ROLE, NOW_MS, NOW_S, adminCaller, appCaller, otherCaller } from './use-case-harness';

/** app: two rules of its own (one shared with other); other: one more; ops-*: admins; a rule for nobody here. */
const policy = policyDocumentSchema.parse({
  rules: [
    { principals: [APP_ROLE, 'arn:aws:iam::123456789012:role/other'], services: ['80:00:00:00:01:*'], modes: ['latching', 'ip'], maxTtlSeconds: 3600, maxActive: 2 },
    { principals: ['arn:aws:iam::123456789012:role/ap*'], services: ['80:00:00:00:09:00:00:01'], modes: ['public'], maxTtlSeconds: 600, maxActive: 1, opensPerMinute: 5 },
    { principals: ['arn:aws:iam::123456789012:role/other'], services: ['*'], modes: ['latching'], maxTtlSeconds: 7200, maxActive: 7 },
    { principals: ['arn:aws:iam::999999999999:role/secret-team'], services: ['80:00:00:00:FF:*'], modes: ['public'], maxTtlSeconds: 86400, maxActive: 50 },
  ],
  admins: ['arn:aws:iam::123456789012:role/ops-*'],
});

const storeWith = (...owners: Array<[string, 'active' | 'pending' | 'stopping' | 'stopped', number?]>) => {
  const store = new MemoryConnectionStore({ now: () => NOW_MS });
  store.seed(...owners.map(([owner, status, expiresAt]) => connectionRecord({ owner, status, expiresAt: expiresAt ?? NOW_S + 3600 })));
  return store;
};

describe('describeCaller', () => {
  it('shows the caller its role, its full ARN, and only what the rules naming it grant, in the policy\'s order', async () => {
    const described = await describeCaller({ store: storeWith(), policy }, appCaller);

    expect(described).toEqual({
      principal: APP_ROLE,
      arn: 'arn:aws:sts::123456789012:assumed-role/app/session-1',
      admin: false,
      rules: [
        { services: ['80:00:00:00:01:*'], modes: ['latching', 'ip'], maxTtlSeconds: 3600, maxActive: 2, opensPerMinute: 60 },
        { services: ['80:00:00:00:09:00:00:01'], modes: ['public'], maxTtlSeconds: 600, maxActive: 1, opensPerMinute: 5 },
      ],
      live: 0,
    });
  });

  it('never shows a rule\'s principal globs, another caller\'s rules or the admins list', async () => {
    const text = JSON.stringify(await describeCaller({ store: storeWith(), policy }, appCaller));

    expect(text).not.toContain('principals');
    expect(text).not.toContain('role/other');
    expect(text).not.toContain('role/ap*');
    expect(text).not.toContain('secret-team');
    expect(text).not.toContain('80:00:00:00:FF');
    expect(text).not.toContain('7200');
    expect(text).not.toContain('ops-');
  });

  it('gives each caller its own rules: another role matched by a shared rule sees that one and its own', async () => {
    const described = await describeCaller({ store: storeWith(), policy }, otherCaller);

    expect(described.rules).toEqual([
      { services: ['80:00:00:00:01:*'], modes: ['latching', 'ip'], maxTtlSeconds: 3600, maxActive: 2, opensPerMinute: 60 },
      { services: ['*'], modes: ['latching'], maxTtlSeconds: 7200, maxActive: 7, opensPerMinute: 60 },
    ]);
  });

  it('says admin when the policy\'s admins match the caller\'s role, with no rules when none names it', async () => {
    const described = await describeCaller({ store: storeWith(), policy }, adminCaller);

    expect(described).toMatchObject({ principal: 'arn:aws:iam::123456789012:role/ops-admin', admin: true, rules: [] });
  });

  it('counts the caller\'s live connections as the quota does: pending, active and stopping, unexpired, its own', async () => {
    const store = storeWith(
      [APP_ROLE, 'active'],
      [APP_ROLE, 'pending'],
      [APP_ROLE, 'stopping'],
      [APP_ROLE, 'stopped'],
      [APP_ROLE, 'active', NOW_S],
      [otherCaller.principal, 'active'],
    );

    await expect(describeCaller({ store, policy }, appCaller)).resolves.toMatchObject({ live: 3 });
    await expect(describeCaller({ store, policy }, otherCaller)).resolves.toMatchObject({ live: 1 });
  });

  it('answers with no rules and not an admin when no policy is loaded, and still counts', async () => {
    const store = storeWith([adminCaller.principal, 'active']);

    await expect(describeCaller({ store, policy: undefined }, adminCaller)).resolves.toEqual({
      principal: adminCaller.principal,
      arn: adminCaller.arn,
      admin: false,
      rules: [],
      live: 1,
    });
  });

  it('matches a caller that is a role ARN (no session) as itself', async () => {
    const user = toCaller({ arn: 'arn:aws:iam::999999999999:role/secret-team', sourceIp: '81.2.69.160' });

    await expect(describeCaller({ store: storeWith(), policy }, user)).resolves.toMatchObject({
      rules: [{ services: ['80:00:00:00:FF:*'], modes: ['public'], maxTtlSeconds: 86400, maxActive: 50, opensPerMinute: 60 }],
    });
  });
});
