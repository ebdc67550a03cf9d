/**
 * The sweeper, invoked by an EventBridge schedule every minute: stops every connection whose lease ended,
 * retries failed stops, settles pending records left by dead invocations, within this invocation's budget.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MetricUnit as MetricUnitValue } from '@aws-lambda-powertools/metrics/types';
import type { Context } from 'aws-lambda';
import { sweep, type SweepSummary } from '../broker/sweeper';
import { loadConfig, sweeperConfigSchema } from '../config';
import { createStopContext } from './remoteit-runtime';
import { createStore, logger, metrics } from './runtime';

const config = loadConfig(sweeperConfigSchema);
const stopContext = createStopContext(config, createStore(config));

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
