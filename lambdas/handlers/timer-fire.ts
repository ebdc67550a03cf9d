/**
 * Where lease timers fire: SQS delivers each timer at its lease end, and the connection is stopped through
 * the sweeper's stop path (lambdas/broker/timers.ts). Delivery is at least once: a duplicate finds the record
 * settled, or loses the version-checked claim, and stops nothing. A timer that fails (a store error) comes
 * back as a batch item failure: SQS delivers it again after the visibility timeout, then to the dead-letter
 * queue; the sweeper ends that lease meanwhile.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { DomainEvent } from '../broker/events';
import type { StopContext } from '../broker/stopping';
import { fireTimer, type TimerDeps } from '../broker/timers';
import { loadConfig, timerFireConfigSchema } from '../config';
import { createSqsLeaseTimers, InvalidTimerMessageError, parseTimerMessage } from '../timers/sqs-timers';
import { createStopContext } from './remoteit-runtime';
import { clock, createStore, events, logger, metrics } from './runtime';

const config = loadConfig(timerFireConfigSchema);

/** The runtime's sink, plus what only this function reports: each timer's outcome, and the overrun of the stops it made. */
function timerEvents(event: DomainEvent): void {
  if (event.type !== 'timer_fired') {
    events(event);
    return;
  }
  const single = metrics.singleMetric();
  single.addDimension('outcome', event.outcome);
  single.addMetric('LeaseTimers', MetricUnit.Count, 1);
  if (event.overrunMs !== undefined) metrics.addMetric('LeaseOverrun', MetricUnit.Milliseconds, event.overrunMs);
}

const stopContext: StopContext = { ...createStopContext(config, createStore(config)), events: timerEvents };
const deps: TimerDeps = {
  stopContext,
  timers: createSqsLeaseTimers({ client: new SQSClient({}), queueUrl: config.TIMER_QUEUE_URL, now: clock }),
  sleep: (ms) => sleep(ms),
};
const processor = new BatchProcessor(EventType.SQS);

async function fire(message: SQSRecord): Promise<void> {
  let timer;
  try {
    timer = parseTimerMessage(message.body);
  } catch (error) {
    if (!(error instanceof InvalidTimerMessageError)) throw error;
    // Never valid on a later delivery either: logged and dropped rather than cycled into the dead-letter queue.
    metrics.addMetric('LeaseTimerInvalid', MetricUnit.Count, 1);
    logger.error('dropped a message that is not a lease timer', { messageId: message.messageId, error: error.message });
    return;
  }
  try {
    await fireTimer(deps, timer);
  } catch (error) {
    logger.error('lease timer failed; SQS delivers it again', { connectionId: timer.id, messageId: message.messageId, error });
    throw error;
  }
}

export async function handler(event: SQSEvent, context: Context): Promise<SQSBatchResponse> {
  logger.addContext(context);
  try {
    return await processPartialResponse(event, fire, processor, { context, throwOnFullBatchFailure: false });
  } finally {
    // A batch of timers that only found their work done has nothing to publish: no warning line for it.
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  }
}
