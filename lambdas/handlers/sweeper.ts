/**
 * The sweeper, invoked by an EventBridge schedule every minute: stops every connection whose lease ended,
 * retries failed stops, settles pending records left by dead invocations, within this invocation's budget.
 * First, while an operator's lock is live, it stops every live connection a lock covers (within half the
 * budget): the net under the lock's own enforcement, for connections that were still opening then and for a
 * broker without timers.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MetricUnit as MetricUnitValue } from '@aws-lambda-powertools/metrics/types';
import type { Context } from 'aws-lambda';
import { enforceLocks } from '../broker/lock-enforcement';
import { sweep, type SweepSummary } from '../broker/sweeper';
import { epochSeconds } from '../broker/time';
import { loadConfig, sweeperConfigSchema } from '../config';
import { createDocumentClient } from '../store/clients';
import { createDynamoLockReader } from '../store/lock-store';
import { createStopContext } from './remoteit-runtime';
import { createStore, dynamodb, logger, metrics } from './runtime';

const config = loadConfig(sweeperConfigSchema);
const stopContext = createStopContext(config, createStore(config));
const locks = createDynamoLockReader({ client: createDocumentClient(dynamodb), tableName: config.LOCKS_TABLE_NAME });

/** Stops what live locks cover; never fails the sweep (a failure is logged, and the next run tries again). */
async function enforceLiveLocks(context: Context): Promise<void> {
  try {
    const live = await locks.live(epochSeconds(stopContext.now()));
    if (live.length === 0) return;
    const budgetMs = context.getRemainingTimeInMillis() - config.SWEEPER_SAFETY_MARGIN_MS;
    const result = await enforceLocks(stopContext, live, { deadlineMs: stopContext.now() + budgetMs / 2 });
    logger.info('locks enforced', { locks: live.length, ...result });
  } catch (error) {
    logger.error('locks not enforced in this run; the next run tries again', { error });
  }
}

const SUMMARY_METRICS: ReadonlyArray<[string, keyof SweepSummary, MetricUnitValue]> = [
  ['Swept', 'swept', MetricUnit.Count],
  ['Expired', 'expired', MetricUnit.Count],
  ['Retried', 'retried', MetricUnit.Count],
  ['SweepErrors', 'errors', MetricUnit.Count],
  ['SettledPending', 'settledPending', MetricUnit.Count],
  ['DueBacklog', 'backlog', MetricUnit.Count],
  ['LagSeconds', 'lagSeconds', MetricUnit.Seconds],
  ['SweepScanned', 'scanned', MetricUnit.Count],
];

export async function handler(_event: unknown, context: Context): Promise<SweepSummary> {
  logger.addContext(context);
  try {
    await enforceLiveLocks(context);
    const summary = await sweep(
      {
        stopContext,
        concurrency: config.SWEEPER_CONCURRENCY,
        // No item starts unless one full remote.it call still fits in the budget.
        itemEstimateMs: config.REMOTEIT_TIMEOUT_MS + 2_000,
        pendingGraceSeconds: config.PENDING_GRACE_SECONDS,
      },
      { remainingMs: () => context.getRemainingTimeInMillis(), safetyMarginMs: config.SWEEPER_SAFETY_MARGIN_MS },
    );
    for (const [name, field, unit] of SUMMARY_METRICS) metrics.addMetric(name, unit, Number(summary[field]));
    logger.info('sweep finished', { summary });
    return summary;
  } finally {
    metrics.publishStoredMetrics();
  }
}
