/**
 * What every function builds once per cold start, at module scope: logger, metrics, the DynamoDB client,
 * the clock, and the one events sink that turns what the domain reports into metrics and log lines. Each
 * handler file parses its own config (lambdas/config.ts) and builds its store with `createStore`; the
 * functions that talk to remote.it add ./remoteit-runtime, which the read function does not load, so its
 * bundle carries neither the remote.it client nor the Secrets Manager client.
 *
 * No Powertools Tracer: its aws-xray-sdk-core was 108 KB of every 200 KB bundle and ~40 ms of every cold
 * start (docs/PERFORMANCE.md) for one thing, X-Ray subsegments of the SDK calls. Lambda's active tracing
 * still traces every invocation; wrap a client in `tracer.captureAWSv3Client` to get the subsegments back.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DomainEvent, EventSink } from '../broker/events';
import type { ConnectionStore, RecordStore } from '../broker/ports';
import { createDocumentClient } from '../store/clients';
import { createDynamoConnectionStore, createDynamoRecordStore, type DynamoConnectionStoreOptions } from '../store/dynamo-store';
import { clock, logger, metrics } from './telemetry';

export { clock, logger, metrics };

export const dynamodb = new DynamoDBClient({});

type StoreConfig = { CONNECTIONS_TABLE_NAME: string; DUE_SHARDS: number };

const storeOptions = (config: StoreConfig): DynamoConnectionStoreOptions => ({
  client: createDocumentClient(dynamodb),
  tableName: config.CONNECTIONS_TABLE_NAME,
  dueShardCount: config.DUE_SHARDS,
  now: clock,
});

/** The connection store on this function's table. */
export function createStore(config: StoreConfig): ConnectionStore {
  return createDynamoConnectionStore(storeOptions(config));
}

/** The records alone (the open function): no due reader, no live count in its bundle. */
export function createRecordStore(config: StoreConfig): RecordStore {
  return createDynamoRecordStore(storeOptions(config));
}

const count = (name: string) => metrics.addMetric(name, MetricUnit.Count, 1);

/**
 * The domain's events as metrics and log lines, the same in every function: a remote.it failure is one
 * `RemoteitErrors` (by `kind`) whoever made the call, and a stop given up pages through `StopFailed` whether
 * DELETE or the sweeper gave up. The sweeper's per-run counts come from its summary (handlers/sweeper.ts).
 */
export const events: EventSink = (event: DomainEvent) => {
  switch (event.type) {
    case 'opened':
      if (!event.reused) count('ConnectionsOpened');
      return;
    case 'stopped':
      count('ConnectionsStopped');
      return;
    case 'policy_denied':
      count('PolicyDenied');
      return;
    case 'limit_reached':
      count(event.limit === 'quota_exceeded' ? 'QuotaRefusals' : 'OpenRateRefusals');
      return;
    case 'policy_load_failed': {
      const single = metrics.singleMetric();
      single.addDimension('reason', event.reason);
      single.addMetric('PolicyLoadFailures', MetricUnit.Count, 1);
      return;
    }
    case 'remoteit_failed': {
      const single = metrics.singleMetric();
      single.addDimension('kind', event.failure.kind);
      single.addMetric('RemoteitErrors', MetricUnit.Count, 1);
      return;
    }
    case 'stop_retry':
      logger.warn('stop failed, will retry', { connectionId: event.record.id, attempts: event.record.stopAttempts, error: event.failure.kind });
      return;
    case 'stop_failed':
      count('StopFailed');
      logger.error('stop failed for good', { connectionId: event.record.id, attempts: event.record.stopAttempts, error: event.failure.kind });
      return;
    case 'recovery':
      logger[event.severity](event.message, { connectionId: event.connectionId, ...event.details, error: event.error });
      return;
    case 'sweep_item_failed':
      logger.error('sweep item failed; its claim will lapse', { connectionId: event.record.id, error: event.error });
      return;
    case 'due_read_failed':
      logger.error('due shard query failed', { part: event.part, error: event.error });
      return;
    case 'lock_refused':
      count('LockRefusals');
      logger.info('refused by a lock', { lockId: event.lockId });
      return;
    case 'lock_stopped':
      count('LockStops');
      logger.info('stopped by a lock', { connectionId: event.record.id, lockId: event.lockId });
      return;
  }
};
