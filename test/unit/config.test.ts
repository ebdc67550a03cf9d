import { ConfigError, loadConfig } from '../../lambdas/config';

const validEnv = {
  CONNECTIONS_TABLE_NAME: 'connections',
  IDEMPOTENCY_TABLE_NAME: 'idempotency',
  REMOTEIT_SECRET_ID: 'remoteit/credentials',
  BROKER_POLICY: JSON.stringify({ rules: [], admins: [] }),
};

describe('config', () => {
  describe('loadConfig', () => {
    it('applies documented defaults when optional variables are absent', () => {
      const config = loadConfig(validEnv);

      expect(config.REMOTEIT_API_URL).toBe('https://api.remote.it/apv/v27');
      expect(config.REMOTEIT_SIGNATURE_SCHEME).toBe('cavage');
      expect(config.DUE_SHARDS).toBe(8);
      expect(config.BROKER_POLICY).toEqual({ rules: [], admins: [] });
    });

    it('names every missing variable when required ones are absent', () => {
      const attempt = () => loadConfig({ BROKER_POLICY: validEnv.BROKER_POLICY });

      expect(attempt).toThrow(ConfigError);
      expect(attempt).toThrow(/CONNECTIONS_TABLE_NAME: is required.*IDEMPOTENCY_TABLE_NAME.*REMOTEIT_SECRET_ID/);
    });

    it('rejects a policy that is not JSON, naming the variable', () => {
      expect(() => loadConfig({ ...validEnv, BROKER_POLICY: '{rules' })).toThrow(/BROKER_POLICY: is not valid JSON/);
    });

    it('rejects a policy rule with an unknown mode, naming its path', () => {
      const policy = { rules: [{ principals: ['*'], services: ['*'], modes: ['tunnel'] }] };

      expect(() => loadConfig({ ...validEnv, BROKER_POLICY: JSON.stringify(policy) })).toThrow(/BROKER_POLICY\.rules\.0\.modes\.0/);
    });

    it('says what is wrong with a numeric setting that is present but not a number, not that it is required', () => {
      const attempt = () => loadConfig({ ...validEnv, SWEEPER_CONCURRENCY: 'many' });

      expect(attempt).toThrow(/SWEEPER_CONCURRENCY: /);
      expect(attempt).not.toThrow(/SWEEPER_CONCURRENCY: is required/);
    });

    it('rejects a numeric setting that is not a positive integer', () => {
      expect(() => loadConfig({ ...validEnv, SWEEPER_CONCURRENCY: '0' })).toThrow(/SWEEPER_CONCURRENCY/);
    });
  });
});
