/**
 * Everything a function needs, built once per cold start at module scope: config (fails fast), logger,
 * metrics, tracer, AWS clients, the store, the remote.it client and the domain services. The handlers
 * import what they use; nothing here runs per request.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { monotonicFactory } from 'ulid';
import { createConnectionService } from '../broker/connections';
import type { StopContext, StopEvents } from '../broker/stopping';
import { loadConfig } from '../config';
import { createRemoteitClient } from '../remoteit/client';
import { createSecretCredentials } from '../remoteit/credentials';
import { createDynamoConnectionStore } from '../store/dynamo-store';

export const config = loadConfig();

export const logger = new Logger();
export const metrics = new Metrics();
export const tracer = new Tracer();

export const dynamodb = tracer.captureAWSv3Client(new DynamoDBClient({}));
const documents = DynamoDBDocumentClient.from(dynamodb, { marshallOptions: { removeUndefinedValues: true } });

export const store = createDynamoConnectionStore({
  client: documents,
  tableName: config.CONNECTIONS_TABLE_NAME,
  dueShardCount: config.DUE_SHARDS,
});

export const credentials = createSecretCredentials({
  secretId: config.REMOTEIT_SECRET_ID,
  maxAgeSeconds: config.SECRET_CACHE_SECONDS,
  provider: new SecretsProvider({ awsSdkV3Client: tracer.captureAWSv3Client(new SecretsManagerClient({})) }),
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

const count = (name: string) => metrics.addMetric(name, MetricUnit.Count, 1);

// StopFailed is counted here, for DELETE and sweeper alike: a stop given up on pages someone whoever gave up.
// Other stop outcomes are counted by the service's events (API) or the sweeper's run summary.
const stopEvents: StopEvents = {
  retried: (record, error) =>
    logger.warn('stop failed, will retry', { connectionId: record.id, attempts: record.stopAttempts, error: error.kind }),
  stopFailed: (record, error) => {
    count('StopFailed');
    logger.error('stop failed for good', { connectionId: record.id, attempts: record.stopAttempts, error: error.kind });
  },
};

export const stopContext: StopContext = {
  store,
  remoteit,
  now: Date.now,
  random: Math.random,
  maxAttempts: config.SWEEPER_MAX_ATTEMPTS,
  // Longer than the slowest stop (3 attempts of REMOTEIT_TIMEOUT_MS plus backoff), so a claim never lapses
  // while its stop is still in flight; a crash between claim and record delays that stop by this much.
  claimSeconds: Math.max(60, Math.ceil((3 * config.REMOTEIT_TIMEOUT_MS + 5_000) / 1000) * 2),
  events: stopEvents,
};

export const connections = createConnectionService({
  store,
  remoteit,
  policy: config.BROKER_POLICY,
  now: Date.now,
  newId: monotonicFactory(),
  defaultTtlSeconds: config.DEFAULT_TTL_SECONDS,
  pendingGraceSeconds: config.PENDING_GRACE_SECONDS,
  allowPrivateClientIps: config.ALLOW_PRIVATE_CLIENT_IPS,
  stop: stopContext,
  logger,
  events: {
    opened: (_record, reused) => {
      if (!reused) count('ConnectionsOpened');
    },
    stopped: () => count('ConnectionsStopped'),
    remoteitError: (kind: string) => {
      const single = metrics.singleMetric();
      single.addDimension('kind', kind);
      single.addMetric('RemoteitErrors', MetricUnit.Count, 1);
    },
    policyDenied: () => count('PolicyDenied'),
  },
});
