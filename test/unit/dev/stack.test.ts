import { evaluatePolicy, isAdmin } from '../../../lambdas/broker/policy';
import { roleArnOf } from '../../../dev/identities';
import {
  DEFAULT_POLICY_FILE,
  DEFAULT_SERVICES_FILE,
  loadPolicyFile,
  loadServicesFile,
  localServiceSchema,
  remoteitSecretFrom,
  StackConfigError,
} from '../../../dev/stack';

describe('stack configuration', () => {
  describe('dev/local-policy.json', () => {
    it('lets the app identity open the echo demo but not the admin-only service', async () => {
      const policy = await loadPolicyFile(DEFAULT_POLICY_FILE);
      const request = { principal: roleArnOf('app'), mode: 'latching' as const, ttlSeconds: 300 };

      const echo = evaluatePolicy(policy, { ...request, serviceId: '80:00:00:00:00:00:00:01' });
      const adminOnly = evaluatePolicy(policy, { ...request, serviceId: '80:00:00:00:00:00:01:01' });

      expect([echo.allowed, adminOnly.allowed]).toEqual([true, false]);
    });

    it('allows public for the http demo (remote.it forces it public) when the caller is the app', async () => {
      const policy = await loadPolicyFile(DEFAULT_POLICY_FILE);

      const web = evaluatePolicy(policy, { principal: roleArnOf('app'), serviceId: '80:00:00:00:00:00:00:02', mode: 'latching', ttlSeconds: 300 });

      expect(web).toMatchObject({ allowed: true, publicAllowed: true });
    });

    it('makes the admin identity, and only it, an admin', async () => {
      const policy = await loadPolicyFile(DEFAULT_POLICY_FILE);

      expect([isAdmin(policy, roleArnOf('admin')), isAdmin(policy, roleArnOf('app'))]).toEqual([true, false]);
    });
  });

  describe('dev/local-services.json', () => {
    it('registers a tcp echo and an http demo service when read', async () => {
      const services = await loadServicesFile(DEFAULT_SERVICES_FILE);

      expect(services).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ kind: 'tcp', target: 'demo:echo' }),
          expect.objectContaining({ kind: 'http', target: 'demo:http' }),
        ]),
      );
    });
  });

  describe('localServiceSchema', () => {
    it.each(['demo:echo', 'demo:http', '10.0.0.5:22'])('accepts target %s', (target) => {
      expect(localServiceSchema.safeParse({ serviceId: '80:00:00:00:00:00:00:09', name: 'x', kind: 'tcp', target }).success).toBe(true);
    });

    it('refuses a target when it is neither a demo nor host:port', () => {
      expect(localServiceSchema.safeParse({ serviceId: '80:00:00:00:00:00:00:09', name: 'x', kind: 'tcp', target: 'demo:ssh' }).success).toBe(false);
    });
  });

  describe('remoteitSecretFrom', () => {
    it('explains where the credentials go when REMOTEIT_SECRET_JSON is missing', () => {
      expect(() => remoteitSecretFrom('https://api.remote.it/apv/v27', undefined)).toThrow(/set REMOTEIT_SECRET_JSON/);
    });

    it('names the missing field, never a value, when the secret is incomplete', () => {
      const attempt = () => remoteitSecretFrom('https://api.remote.it/apv/v27', JSON.stringify({ developerKey: 'DEV-KEY-VALUE', accessKeyId: 'AK' }));

      expect(attempt).toThrow(StackConfigError);
      expect(attempt).toThrow(/secretAccessKey/);
      expect(attempt).not.toThrow(/DEV-KEY-VALUE/);
    });

    it('refuses a secret when it is not JSON', () => {
      expect(() => remoteitSecretFrom('https://x', '{')).toThrow('REMOTEIT_SECRET_JSON is not valid JSON');
    });

    it('passes a valid secret through when it has one of the two shapes', () => {
      const secret = JSON.stringify({ developerKey: 'd', username: 'u', password: 'p' });

      expect(remoteitSecretFrom('https://x', secret)).toBe(secret);
    });
  });
});
