/**
 * What every function builds once per cold start, at module scope: config (fails fast), logger, metrics,
 * the DynamoDB client and the connection store, and the factory of the connection service. The functions
 * that talk to remote.it add ./remoteit-runtime (secret, remote.it client, stop context); the read function
 * does not load it, so its bundle carries neither the remote.it client nor the Secrets Manager client.
 *
 * No Powertools Tracer: its aws-xray-sdk-core was 108 KB of every 200 KB bundle and ~40 ms of every cold
 * start (docs/PERFORMANCE.md) for one thing, X-Ray subsegments of the SDK calls. Lambda's active tracing
 * still traces every invocation; wrap a client in `tracer.captureAWSv3Client` to get the subsegments back.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { monotonicFactory } from 'ulid';
import { createConnectionService, type ConnectionService } from '../broker/connections';
import type { StopContext, StopEvents } from '../broker/stopping';
import { loadConfig } from '../config';
import type { RemoteitApi } from '../remoteit/types';
import { createDynamoConnectionStore } from '../store/dynamo-store';

export const config = loadConfig();

export const logger = new Logger();
export const metrics = new Metrics();

export const dynamodb = new DynamoDBClient({});
const documents = DynamoDBDocumentClient.from(dynamodb, { marshallOptions: { removeUndefinedValues: true } });

export const store = createDynamoConnectionStore({
  client: documents,
  tableName: config.CONNECTIONS_TABLE_NAME,
  dueShardCount: config.DUE_SHARDS,
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

/** Everything a stop needs but the remote.it client. */
export const stopSettings: Omit<StopContext, 'remoteit'> = {
  store,
  now: Date.now,
  random: Math.random,
  maxAttempts: config.SWEEPER_MAX_ATTEMPTS,
  // Longer than the slowest stop (3 attempts of REMOTEIT_TIMEOUT_MS plus backoff), so a claim never lapses
  // while its stop is still in flight; a crash between claim and record delays that stop by this much.
  claimSeconds: Math.max(60, Math.ceil((3 * config.REMOTEIT_TIMEOUT_MS + 5_000) / 1000) * 2),
  events: stopEvents,
};

/** The connection service on this function's store, metrics and logger, talking to remote.it through `remoteit`. */
export function createConnections(remoteit: RemoteitApi): ConnectionService {
  return createConnectionService({
    store,
    remoteit,
    policy: config.BROKER_POLICY,
    now: Date.now,
    newId: monotonicFactory(),
    defaultTtlSeconds: config.DEFAULT_TTL_SECONDS,
    pendingGraceSeconds: config.PENDING_GRACE_SECONDS,
    allowPrivateClientIps: config.ALLOW_PRIVATE_CLIENT_IPS,
    stop: stopSettings,
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
}
