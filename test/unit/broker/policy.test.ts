import {
  evaluatePolicy,
  isAdmin,
  matchesGlob,
  policyDocumentSchema,
  type PolicyDocument,
} from '../../../lambdas/broker/policy';

const APP = 'arn:aws:iam::123456789012:role/app';
const SERVICE = '80:00:00:00:01:02:03:04';

const policyOf = (document: unknown): PolicyDocument => policyDocumentSchema.parse(document);

describe('policy', () => {
  describe('matchesGlob', () => {
    it.each([
      ['*', '', true],
      ['*', 'anything at all', true],
      ['arn:aws:iam::*:role/app', 'arn:aws:iam::123456789012:role/app', true],
      ['arn:aws:iam::123456789012:role/*', 'arn:aws:iam::123456789012:role/team/app', true],
      ['arn:aws:iam::123456789012:role/app', 'arn:aws:iam::123456789012:role/app-admin', false],
      ['role/app', 'arn:aws:iam::123456789012:role/app', false],
      ['a*c*e', 'abcde', true],
      ['a*c*e', 'abcdef', false],
    ])('answers %s against %s with %s (anchored, * is any run)', (glob, value, expected) => {
      expect(matchesGlob(glob, value)).toBe(expected);
    });

    it.each([
      ['a.b', 'aXb'],
      ['a+b', 'aab'],
      ['a?b', 'ab'],
      ['(a|b)', 'a'],
      ['[ab]', 'a'],
      ['^a$', 'a'],
      ['a{2}', 'aa'],
      ['a\\d', 'a1'],
    ])('treats regex-special characters literally when the glob is %s', (glob, value) => {
      expect(matchesGlob(glob, value)).toBe(false);
      expect(matchesGlob(glob, glob)).toBe(true);
    });

    it('matches case-insensitively only when asked', () => {
      expect(matchesGlob('80:00:00:00:0A:*', '80:00:00:00:0a:01:02:03', { caseInsensitive: true })).toBe(true);
      expect(matchesGlob('80:00:00:00:0A:*', '80:00:00:00:0a:01:02:03')).toBe(false);
    });
  });

  describe('isAdmin', () => {
    it('is true when a glob in admins matches the principal', () => {
      const policy = policyOf({ admins: ['arn:aws:iam::123456789012:role/ops-*'] });

      expect(isAdmin(policy, 'arn:aws:iam::123456789012:role/ops-admin')).toBe(true);
      expect(isAdmin(policy, APP)).toBe(false);
    });

    it('is false when there are no admins', () => {
      expect(isAdmin(policyOf({}), APP)).toBe(false);
    });
  });

  describe('evaluatePolicy', () => {
    const request = { principal: APP, serviceId: SERVICE, mode: 'latching' as const, ttlSeconds: 900 };

    it('denies when there are no rules (deny by default)', () => {
      expect(evaluatePolicy(policyOf({}), request)).toMatchObject({ allowed: false, reason: 'no_matching_rule' });
    });

    it('denies naming the service when rules match the principal but not the service', () => {
      const policy = policyOf({ rules: [{ principals: [APP], services: ['80:00:00:00:09:*'] }] });

      const decision = evaluatePolicy(policy, request);

      expect(decision).toMatchObject({ allowed: false, reason: 'no_matching_rule', detail: expect.stringContaining(SERVICE) });
    });

    it('denies when only another principal has a rule for the service', () => {
      const policy = policyOf({ rules: [{ principals: ['arn:aws:iam::123456789012:role/other'], services: ['*'] }] });

      expect(evaluatePolicy(policy, request)).toMatchObject({ allowed: false, reason: 'no_matching_rule' });
    });

    it('matches principals case-sensitively', () => {
      const policy = policyOf({ rules: [{ principals: ['arn:aws:iam::123456789012:role/APP'], services: ['*'] }] });

      expect(evaluatePolicy(policy, request)).toMatchObject({ allowed: false, reason: 'no_matching_rule' });
    });

    it('matches service globs case-insensitively when the rule is written lower-case', () => {
      const policy = policyOf({ rules: [{ principals: [APP], services: ['80:00:00:00:01:02:03:0a'] }] });

      expect(evaluatePolicy(policy, { ...request, serviceId: '80:00:00:00:01:02:03:0A' })).toMatchObject({ allowed: true });
    });

    it('denies a mode no matching rule allows, listing the modes that are allowed', () => {
      const policy = policyOf({ rules: [{ principals: [APP], services: ['*'], modes: ['latching', 'ip'] }] });

      const decision = evaluatePolicy(policy, { ...request, mode: 'public' });

      expect(decision).toMatchObject({
        allowed: false,
        reason: 'mode_not_allowed',
        detail: expect.stringMatching(/mode 'public'.*allowed: latching, ip/),
      });
    });

    it('denies a ttl above the maximum, naming the maximum', () => {
      const policy = policyOf({ rules: [{ principals: [APP], services: ['*'], maxTtlSeconds: 600 }] });

      const decision = evaluatePolicy(policy, { ...request, ttlSeconds: 601 });

      expect(decision).toMatchObject({ allowed: false, reason: 'ttl_above_max', detail: expect.stringMatching(/601.*maximum of 600/) });
    });

    it('allows a ttl equal to the maximum', () => {
      const policy = policyOf({ rules: [{ principals: [APP], services: ['*'], maxTtlSeconds: 600 }] });

      expect(evaluatePolicy(policy, { ...request, ttlSeconds: 600 })).toMatchObject({ allowed: true, maxTtlSeconds: 600 });
    });

    it('takes the most generous limits of the rules allowing the mode when several match', () => {
      const policy = policyOf({
        rules: [
          { principals: [APP], services: ['*'], modes: ['latching'], maxTtlSeconds: 600, maxActive: 1, opensPerMinute: 120 },
          { principals: ['arn:aws:iam::*:role/app'], services: ['80:*'], modes: ['latching', 'ip'], maxTtlSeconds: 3600, maxActive: 5, opensPerMinute: 30 },
          // Allows only ip: must not widen latching.
          { principals: [APP], services: ['*'], modes: ['ip'], maxTtlSeconds: 7200, maxActive: 9, opensPerMinute: 500 },
        ],
      });

      const decision = evaluatePolicy(policy, { ...request, ttlSeconds: 3600 });

      expect(decision).toEqual({ allowed: true, maxTtlSeconds: 3600, maxActive: 5, opensPerMinute: 120, publicAllowed: false });
    });

    it('gives a rule that names no opensPerMinute 60 a minute, and refuses a rate below 1', () => {
      expect(evaluatePolicy(policyOf({ rules: [{ principals: [APP], services: ['*'] }] }), request)).toMatchObject({ allowed: true, opensPerMinute: 60 });
      expect(policyDocumentSchema.safeParse({ rules: [{ principals: [APP], services: ['*'], opensPerMinute: 0 }] }).success).toBe(false);
    });

    it('reports public as allowed when any rule for the principal and service allows it', () => {
      const policy = policyOf({
        rules: [
          { principals: [APP], services: ['*'], modes: ['latching'] },
          { principals: [APP], services: [SERVICE], modes: ['public'] },
        ],
      });

      expect(evaluatePolicy(policy, request)).toMatchObject({ allowed: true, publicAllowed: true });
      expect(evaluatePolicy(policy, { ...request, serviceId: '80:00:00:00:01:02:03:05' })).toMatchObject({
        allowed: true,
        publicAllowed: false,
      });
    });

    describe('clientCidrs (mode ip: who the proxy may be granted to)', () => {
      const ipRequest = { ...request, mode: 'ip' as const, clientIp: '203.0.113.7' };

      it('allows an address inside one of the rule\'s CIDRs', () => {
        const policy = policyOf({ rules: [{ principals: [APP], services: ['*'], clientCidrs: ['198.51.100.0/24', '203.0.113.0/28'] }] });

        expect(evaluatePolicy(policy, ipRequest)).toMatchObject({ allowed: true });
      });

      it('denies an address outside every CIDR, naming the address and never the CIDRs', () => {
        const policy = policyOf({ rules: [{ principals: [APP], services: ['*'], clientCidrs: ['198.51.100.0/24'] }] });

        const decision = evaluatePolicy(policy, ipRequest);

        expect(decision).toMatchObject({ allowed: false, reason: 'client_ip_not_allowed', detail: expect.stringContaining('203.0.113.7') });
        expect(JSON.stringify(decision)).not.toContain('198.51.100');
      });

      it('allows any address when one allowing rule sets no CIDRs (rules only add)', () => {
        const policy = policyOf({
          rules: [
            { principals: [APP], services: ['*'], clientCidrs: ['198.51.100.0/24'] },
            { principals: [APP], services: [SERVICE] },
          ],
        });

        expect(evaluatePolicy(policy, ipRequest)).toMatchObject({ allowed: true });
      });

      it('refuses a policy whose CIDR is not an IPv4 CIDR, naming the field', () => {
        const result = policyDocumentSchema.safeParse({ rules: [{ principals: [APP], services: ['*'], clientCidrs: ['203.0.113.7'] }] });

        expect(result.success).toBe(false);
        expect(result.error?.issues[0]?.path).toEqual(['rules', 0, 'clientCidrs', 0]);
      });
    });

    describe('maxLifetimeSeconds', () => {
      it('caps the lease of one renew or open at the lifetime too', () => {
        const policy = policyOf({ rules: [{ principals: [APP], services: ['*'], maxTtlSeconds: 3600, maxLifetimeSeconds: 1200 }] });

        expect(evaluatePolicy(policy, { ...request, ttlSeconds: 1200 })).toMatchObject({ allowed: true, maxTtlSeconds: 1200, maxLifetimeSeconds: 1200 });
        expect(evaluatePolicy(policy, { ...request, ttlSeconds: 1800 })).toMatchObject({ allowed: false, reason: 'ttl_above_max' });
      });

      it('is unbounded when any allowing rule sets none', () => {
        const policy = policyOf({
          rules: [
            { principals: [APP], services: ['*'], maxLifetimeSeconds: 1200 },
            { principals: [APP], services: [SERVICE] },
          ],
        });

        expect(evaluatePolicy(policy, request)).toMatchObject({ allowed: true, maxLifetimeSeconds: undefined });
      });
    });
  });
});
