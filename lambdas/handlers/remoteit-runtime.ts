/**
 * What the functions that talk to remote.it (open, write, sweeper, timer-fire) add to ./runtime, once per cold start: the
 * Secrets Manager client, the cached remote.it credentials, the remote.it client and the stop context.
 */
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { RecordStore } from '../broker/ports';
import type { StopContext } from '../broker/stopping';
import type { SweeperConfig, TimerFireConfig, WriteConfig } from '../config';
import { createRemoteitClient } from '../remoteit/client';
import { createSecretCredentials } from '../remoteit/credentials';
import { clock, events, logger } from './runtime';

type RemoteitConfig = Pick<
  WriteConfig & SweeperConfig & TimerFireConfig,
  'REMOTEIT_SECRET_ID' | 'REMOTEIT_API_URL' | 'REMOTEIT_SIGNATURE_SCHEME' | 'REMOTEIT_TIMEOUT_MS' | 'SECRET_CACHE_SECONDS' | 'SWEEPER_MAX_ATTEMPTS'
>;

export const secretsManager = new SecretsManagerClient({});

/** The stop context of this function: the remote.it client on the secret's credentials, and the stop settings. */
export function createStopContext<Store extends RecordStore>(config: RemoteitConfig, store: Store): StopContext<Store> {
  const credentials = createSecretCredentials({
    secretId: config.REMOTEIT_SECRET_ID,
    maxAgeSeconds: config.SECRET_CACHE_SECONDS,
    provider: new SecretsProvider({ awsSdkV3Client: secretsManager }),
  });
  const remoteit = createRemoteitClient({
    apiUrl: config.REMOTEIT_API_URL,
    credentials,
    signatureScheme: config.REMOTEIT_SIGNATURE_SCHEME,
    timeoutMs: config.REMOTEIT_TIMEOUT_MS,
    now: clock,
    logger: {
      debug: (message, attributes) => logger.debug(message, attributes ?? {}),
      warn: (message, attributes) => logger.warn(message, attributes ?? {}),
    },
  });
  return {
    store,
    remoteit,
    now: clock,
    random: Math.random,
    maxAttempts: config.SWEEPER_MAX_ATTEMPTS,
    // Longer than the slowest stop (3 attempts of REMOTEIT_TIMEOUT_MS plus backoff), so a claim never lapses
    // while its stop is still in flight; a crash between claim and record delays that stop by this much.
    claimSeconds: Math.max(60, Math.ceil((3 * config.REMOTEIT_TIMEOUT_MS + 5_000) / 1000) * 2),
    events,
  };
}
