import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import {
  createSecretCredentials,
  parseRemoteitCredentials,
  RemoteitSecretInvalidError,
  RemoteitSecretUnavailableError,
  type SecretCredentialsSource,
} from '../../../lambdas/remoteit/credentials';

const SECRET_ID = 'remoteit/credentials';
const accessKeySecret = {
  developerKey: 'DEVKEY-abc123',
  accessKeyId: 'AKID123',
  secretAccessKey: 'dGVzdHNlY3JldGtleTEyMzQ1Njc4OTA=',
};
const passwordSecret = { developerKey: 'DEVKEY-abc123', username: 'ops@example.com', password: 'hunter2-very-secret' };

const secretsManager = mockClient(SecretsManagerClient);

function answer(secret: unknown) {
  secretsManager.on(GetSecretValueCommand).resolves({ SecretString: typeof secret === 'string' ? secret : JSON.stringify(secret) });
}

async function invalidError(attempt: Promise<unknown>): Promise<RemoteitSecretInvalidError> {
  const error: unknown = await attempt.then(
    () => undefined,
    (rejection: unknown) => rejection,
  );
  expect(error).toBeInstanceOf(RemoteitSecretInvalidError);
  return error as RemoteitSecretInvalidError;
}

describe('credentials', () => {
  let source: SecretCredentialsSource;

  beforeEach(() => {
    secretsManager.reset();
    source = createSecretCredentials({ secretId: SECRET_ID, maxAgeSeconds: 300 });
  });

  afterEach(() => source.clearCache());

  describe('get', () => {
    it('returns access-key credentials when the secret holds access keys', async () => {
      answer(accessKeySecret);

      const credentials = await source.get();

      expect(credentials).toEqual({ kind: 'access_key', ...accessKeySecret });
      expect(secretsManager).toHaveReceivedCommandWith(GetSecretValueCommand, { SecretId: SECRET_ID });
    });

    it('returns password credentials when the secret holds a username and password', async () => {
      answer(passwordSecret);

      const credentials = await source.get();

      expect(credentials).toEqual({ kind: 'password', ...passwordSecret });
    });

    it('reuses the cached secret when called again within maxAge', async () => {
      answer(accessKeySecret);

      await source.get();
      await source.get();

      expect(secretsManager).toHaveReceivedCommandTimes(GetSecretValueCommand, 1);
    });

    it('fetches again when the cache was cleared', async () => {
      answer(accessKeySecret);
      await source.get();

      source.clearCache();
      await source.get();

      expect(secretsManager).toHaveReceivedCommandTimes(GetSecretValueCommand, 2);
    });

    it.each([
      ['developerKey', 'access-key', accessKeySecret],
      ['accessKeyId', 'access-key', accessKeySecret],
      ['secretAccessKey', 'access-key', accessKeySecret],
      ['developerKey', 'password', passwordSecret],
      ['username', 'password', passwordSecret],
      ['password', 'password', passwordSecret],
    ])('names %s and no value when it is missing from a %s secret', async (field, _shapeName, shape) => {
      const { [field as keyof typeof shape]: _removed, ...rest } = shape;
      answer(rest);

      const error = await invalidError(source.get());

      expect(error.code).toBe('secret_invalid');
      expect(error.fields).toEqual([field]);
      expect(error.message).toContain(`${field} is required`);
      for (const value of Object.values(rest)) expect(error.message).not.toContain(value);
    });

    it('names the field without echoing it when secretAccessKey is not base64', async () => {
      answer({ ...accessKeySecret, secretAccessKey: 'not base64 !!' });

      const error = await invalidError(source.get());

      expect(error.fields).toEqual(['secretAccessKey']);
      expect(error.message).toContain('secretAccessKey must be base64');
      expect(error.message).not.toContain('not base64 !!');
      expect(JSON.stringify(error)).not.toContain('not base64 !!');
    });

    it('names the field without echoing it when the developer key holds a control character', async () => {
      answer({ ...accessKeySecret, developerKey: 'dev-key\r\nX-Injected: 1' });

      const error = await invalidError(source.get());

      expect(error.fields).toEqual(['developerKey']);
      expect(JSON.stringify({ message: error.message, error })).not.toContain('X-Injected');
    });

    it('rejects without quoting the secret when the secret is not JSON', async () => {
      answer('password=hunter2-very-secret');

      const error = await invalidError(source.get());

      expect(error.message).toMatch(/is not valid JSON/);
      expect(error.message).not.toContain('hunter2');
    });

    it('asks for both shapes when the secret holds neither', async () => {
      answer({ developerKey: 'DEVKEY-abc123' });

      const error = await invalidError(source.get());

      expect(error.fields).toEqual(['accessKeyId', 'secretAccessKey']);
      expect(error.message).toContain('{developerKey, accessKeyId, secretAccessKey}');
    });
  });

  describe('Secrets Manager failures', () => {
    it('raises a retryable secret_unavailable error naming the secret when Secrets Manager fails', async () => {
      secretsManager.on(GetSecretValueCommand).rejects(Object.assign(new Error('Service unavailable'), { name: 'InternalServiceError' }));

      const error = await source.get().then(
        () => undefined,
        (rejection: unknown) => rejection,
      );

      expect(error).toBeInstanceOf(RemoteitSecretUnavailableError);
      expect(error).toMatchObject({ code: 'secret_unavailable', secretId: SECRET_ID, retryAfterSeconds: 1 });
    });

    it('reads the secret again on the next call after an outage', async () => {
      secretsManager.on(GetSecretValueCommand).rejectsOnce(new Error('throttled')).resolves({ SecretString: JSON.stringify(accessKeySecret) });

      await expect(source.get()).rejects.toBeInstanceOf(RemoteitSecretUnavailableError);
      await expect(source.get()).resolves.toEqual({ kind: 'access_key', ...accessKeySecret });
    });
  });

  describe('refresh', () => {
    it('refetches the secret and returns the rotated value when the cache is still fresh', async () => {
      answer(accessKeySecret);
      await source.get();
      const rotated = { ...accessKeySecret, accessKeyId: 'AKID-ROTATED' };
      answer(rotated);

      const credentials = await source.refresh();
      const afterwards = await source.get();

      expect(credentials.kind === 'access_key' && credentials.accessKeyId).toBe('AKID-ROTATED');
      expect(afterwards).toEqual(credentials);
      expect(secretsManager).toHaveReceivedCommandTimes(GetSecretValueCommand, 2);
    });
  });

  describe('parseRemoteitCredentials', () => {
    it('rejects an array when the secret JSON is not an object', () => {
      expect(() => parseRemoteitCredentials(SECRET_ID, ['x'])).toThrow(/expected a JSON object/);
    });

    it('names a field that is not a string when it has the wrong type', () => {
      expect(() => parseRemoteitCredentials(SECRET_ID, { ...passwordSecret, password: 12345 })).toThrow(/password must be a string/);
    });
  });
});
