/**
 * What the functions that talk to remote.it (write, sweeper) add to ./runtime, once per cold start: the
 * Secrets Manager client, the cached remote.it credentials, the remote.it client and the stop context.
 */
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { StopContext } from '../broker/stopping';
import { createRemoteitClient } from '../remoteit/client';
import { createSecretCredentials } from '../remoteit/credentials';
import { config, logger, stopSettings } from './runtime';

export const secretsManager = new SecretsManagerClient({});

export const credentials = createSecretCredentials({
  secretId: config.REMOTEIT_SECRET_ID,
  maxAgeSeconds: config.SECRET_CACHE_SECONDS,
  provider: new SecretsProvider({ awsSdkV3Client: secretsManager }),
});

export const remoteit = createRemoteitClient({
  apiUrl: config.REMOTEIT_API_URL,
  credentials,
  signatureScheme: config.REMOTEIT_SIGNATURE_SCHEME,
  timeoutMs: config.REMOTEIT_TIMEOUT_MS,
  logger: {
    debug: (message, attributes) => logger.debug(message, attributes ?? {}),
    warn: (message, attributes) => logger.warn(message, attributes ?? {}),
  },
});

export const stopContext: StopContext = { ...stopSettings, remoteit };
