import {
  ConfigError,
  configKeys,
  FUNCTION_CONFIG,
  loadConfig,
  readConfigSchema,
  requiredConfigKeys,
  sweeperConfigSchema,
  openConfigSchema,
} from '../../lambdas/config';

const policyEnv = { POLICY_APPCONFIG_APPLICATION: 'remoteit-broker', POLICY_APPCONFIG_ENVIRONMENT: 'prod', POLICY_APPCONFIG_PROFILE: 'policy' };
const writeEnv = {
  CONNECTIONS_TABLE_NAME: 'connections',
  IDEMPOTENCY_TABLE_NAME: 'idempotency',
  LOCKS_TABLE_NAME: 'locks',
  REMOTEIT_SECRET_ID: 'remoteit/credentials',
  ...policyEnv,
};

describe('config', () => {
  describe('schemas per function', () => {
    // The contract with the handlers and the CDK construct: what each function reads, and nothing more.
    it.each([
      ['connections-read', ['CONNECTIONS_TABLE_NAME', 'DUE_SHARDS', 'POLICY_APPCONFIG_APPLICATION', 'POLICY_APPCONFIG_ENVIRONMENT', 'POLICY_APPCONFIG_PROFILE', 'POLICY_MAX_AGE_SECONDS']],
      [
        'connections-write',
        [
          'CONNECTIONS_TABLE_NAME',
          'DUE_SHARDS',
          'LOCKS_TABLE_NAME',
          'PENDING_GRACE_SECONDS',
          'POLICY_APPCONFIG_APPLICATION',
          'POLICY_APPCONFIG_ENVIRONMENT',
          'POLICY_APPCONFIG_PROFILE',
          'POLICY_MAX_AGE_SECONDS',
          'REMOTEIT_API_URL',
          'REMOTEIT_SECRET_ID',
          'REMOTEIT_SIGNATURE_SCHEME',
          'REMOTEIT_TIMEOUT_MS',
          'SECRET_CACHE_SECONDS',
          'SWEEPER_MAX_ATTEMPTS',
        ],
      ],
      [
        'connections-open',
        [
          'ALLOW_PRIVATE_CLIENT_IPS',
          'CONNECTIONS_TABLE_NAME',
          'DEFAULT_TTL_SECONDS',
          'DUE_SHARDS',
          'IDEMPOTENCY_TABLE_NAME',
          'IDEMPOTENCY_TTL_SECONDS',
          'LOCKS_TABLE_NAME',
          'PENDING_GRACE_SECONDS',
          'POLICY_APPCONFIG_APPLICATION',
          'POLICY_APPCONFIG_ENVIRONMENT',
          'POLICY_APPCONFIG_PROFILE',
          'POLICY_MAX_AGE_SECONDS',
          'REMOTEIT_API_URL',
          'REMOTEIT_SECRET_ID',
          'REMOTEIT_SIGNATURE_SCHEME',
          'REMOTEIT_TIMEOUT_MS',
          'SECRET_CACHE_SECONDS',
          'SWEEPER_MAX_ATTEMPTS',
        ],
      ],
      [
        'sweeper',
        [
          'CONNECTIONS_TABLE_NAME',
          'DUE_SHARDS',
          'LOCKS_TABLE_NAME',
          'PENDING_GRACE_SECONDS',
          'REMOTEIT_API_URL',
          'REMOTEIT_SECRET_ID',
          'REMOTEIT_SIGNATURE_SCHEME',
          'REMOTEIT_TIMEOUT_MS',
          'SECRET_CACHE_SECONDS',
          'SWEEPER_CONCURRENCY',
          'SWEEPER_MAX_ATTEMPTS',
          'SWEEPER_SAFETY_MARGIN_MS',
        ],
      ],
    ] as const)('parses exactly the variables %s uses', (name, variables) => {
      expect(configKeys(FUNCTION_CONFIG[name]).sort()).toEqual([...variables]);
    });

    it('requires only the variables without a default', () => {
      const policy = ['POLICY_APPCONFIG_APPLICATION', 'POLICY_APPCONFIG_ENVIRONMENT', 'POLICY_APPCONFIG_PROFILE'];
      expect(requiredConfigKeys(readConfigSchema).sort()).toEqual(['CONNECTIONS_TABLE_NAME', ...policy]);
      expect(requiredConfigKeys(openConfigSchema).sort()).toEqual(['CONNECTIONS_TABLE_NAME', 'IDEMPOTENCY_TABLE_NAME', 'LOCKS_TABLE_NAME', ...policy, 'REMOTEIT_SECRET_ID']);
      expect(requiredConfigKeys(sweeperConfigSchema).sort()).toEqual(['CONNECTIONS_TABLE_NAME', 'LOCKS_TABLE_NAME', 'REMOTEIT_SECRET_ID']);
    });

    it('starts the read function without the secret or the idempotency table, and ignores variables it does not use', () => {
      const config = loadConfig(readConfigSchema, { CONNECTIONS_TABLE_NAME: 'connections', ...policyEnv, REMOTEIT_SECRET_ID: 'x' });

      expect(config).toEqual({ CONNECTIONS_TABLE_NAME: 'connections', DUE_SHARDS: 8, ...policyEnv, POLICY_MAX_AGE_SECONDS: 60 });
    });

    it('starts the sweeper without a policy or the idempotency table', () => {
      const config = loadConfig(sweeperConfigSchema, { CONNECTIONS_TABLE_NAME: 'connections', LOCKS_TABLE_NAME: 'locks', REMOTEIT_SECRET_ID: 'remoteit/credentials' });

      expect(config).toMatchObject({ SWEEPER_CONCURRENCY: 16, SWEEPER_MAX_ATTEMPTS: 8, PENDING_GRACE_SECONDS: 120, SWEEPER_SAFETY_MARGIN_MS: 10_000 });
      expect(config).not.toHaveProperty('POLICY_APPCONFIG_PROFILE');
    });

    it('gives the open function and the sweeper the same defaults for the settings they share', () => {
      const open = loadConfig(openConfigSchema, writeEnv);
      const sweeper = loadConfig(sweeperConfigSchema, writeEnv);
      const shared = configKeys(sweeperConfigSchema).filter((key) => key in open);

      expect(shared.length).toBeGreaterThan(0);
      expect(Object.fromEntries(shared.map((key) => [key, open[key as keyof typeof open]]))).toEqual(
        Object.fromEntries(shared.map((key) => [key, sweeper[key]])),
      );
    });
  });

  describe('loadConfig', () => {
    it('applies documented defaults when optional variables are absent', () => {
      const config = loadConfig(openConfigSchema, writeEnv);

      expect(config).toMatchObject({
        REMOTEIT_API_URL: 'https://api.remote.it/apv/v27',
        REMOTEIT_SIGNATURE_SCHEME: 'cavage',
        REMOTEIT_TIMEOUT_MS: 12_000,
        SECRET_CACHE_SECONDS: 300,
        DUE_SHARDS: 8,
        DEFAULT_TTL_SECONDS: 900,
        ALLOW_PRIVATE_CLIENT_IPS: false,
        IDEMPOTENCY_TTL_SECONDS: 3600,
        SWEEPER_MAX_ATTEMPTS: 8,
        PENDING_GRACE_SECONDS: 120,
        POLICY_MAX_AGE_SECONDS: 60,
      });
    });

    it('names every missing variable when required ones are absent', () => {
      const attempt = () => loadConfig(openConfigSchema, { ...policyEnv, LOCKS_TABLE_NAME: 'locks' });

      expect(attempt).toThrow(ConfigError);
      for (const variable of ['CONNECTIONS_TABLE_NAME', 'IDEMPOTENCY_TABLE_NAME', 'REMOTEIT_SECRET_ID']) {
        expect(attempt).toThrow(`${variable}: is required`);
      }
    });

    it('lists the bad variables on the error, never their values', () => {
      let error: unknown;
      try {
        loadConfig(sweeperConfigSchema, { CONNECTIONS_TABLE_NAME: 'connections', LOCKS_TABLE_NAME: 'locks', REMOTEIT_SECRET_ID: 's', SWEEPER_CONCURRENCY: 'very-distinctive-value' });
      } catch (caught) {
        error = caught;
      }

      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).variables).toEqual(['SWEEPER_CONCURRENCY']);
      expect((error as ConfigError).message).not.toContain('very-distinctive-value');
    });

    it('rejects an empty AppConfig identifier of the policy, naming the variable', () => {
      expect(() => loadConfig(readConfigSchema, { ...writeEnv, POLICY_APPCONFIG_PROFILE: '' })).toThrow(/POLICY_APPCONFIG_PROFILE: /);
    });

    it.each(['0', '61', '1.5'])('rejects a policy max age of %s seconds (whole seconds, 1 to 60)', (value) => {
      expect(() => loadConfig(readConfigSchema, { ...writeEnv, POLICY_MAX_AGE_SECONDS: value })).toThrow(/POLICY_MAX_AGE_SECONDS/);
    });

    it.each([['1', 1], ['60', 60]])('accepts a policy max age of %s seconds', (value, seconds) => {
      expect(loadConfig(readConfigSchema, { ...writeEnv, POLICY_MAX_AGE_SECONDS: value }).POLICY_MAX_AGE_SECONDS).toBe(seconds);
    });

    it('says what is wrong with a numeric setting that is present but not a number, not that it is required', () => {
      const attempt = () => loadConfig(sweeperConfigSchema, { ...writeEnv, SWEEPER_CONCURRENCY: 'many' });

      expect(attempt).toThrow(/SWEEPER_CONCURRENCY: /);
      expect(attempt).not.toThrow(/SWEEPER_CONCURRENCY: is required/);
    });

    it('rejects a numeric setting that is not a positive integer', () => {
      expect(() => loadConfig(sweeperConfigSchema, { ...writeEnv, SWEEPER_CONCURRENCY: '0' })).toThrow(/SWEEPER_CONCURRENCY/);
    });

    it.each(['59', '86401', '900.5'])('rejects a default lease of %s seconds (whole seconds, 60 to 86400)', (value) => {
      expect(() => loadConfig(openConfigSchema, { ...writeEnv, DEFAULT_TTL_SECONDS: value })).toThrow(/DEFAULT_TTL_SECONDS/);
    });

    it.each([['60', 60], ['86400', 86_400]])('accepts a default lease of %s seconds', (value, seconds) => {
      expect(loadConfig(openConfigSchema, { ...writeEnv, DEFAULT_TTL_SECONDS: value }).DEFAULT_TTL_SECONDS).toBe(seconds);
    });

    it('ignores a bad value of a variable the function does not parse', () => {
      expect(loadConfig(readConfigSchema, { ...writeEnv, SWEEPER_CONCURRENCY: 'many' }).CONNECTIONS_TABLE_NAME).toBe('connections');
    });
  });
});
