/**
 * Arms lease timers from the connections table's stream: every change that leaves a record active with a
 * lease end it did not hold before (an activate, a renew) arms one timer for that end. Arming here rather
 * than in the write function keeps the API's answers free of any SQS call, and arms even when the write
 * function dies between its write and its answer: the stream holds every change for 24 hours.
 *
 * The event source mapping filters to MODIFY events whose new image is active; records whose timer could not
 * be armed come back as batch item failures (retried, then left to the sweeper when retries run out).
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { timerFor } from '../broker/timers';
import { loadConfig, timerArmConfigSchema } from '../config';
import { recordOfImage } from '../store/stream-images';
import { createSqsLeaseTimers } from '../timers/sqs-timers';
import { clock, logger, metrics } from './telemetry';

const config = loadConfig(timerArmConfigSchema);
const timers = createSqsLeaseTimers({ client: new SQSClient({}), queueUrl: config.TIMER_QUEUE_URL, now: clock });
const processor = new BatchProcessor(EventType.DynamoDBStreams);


async function armFor(change: DynamoDBRecord): Promise<void> {
  const after = recordOfImage(change.dynamodb?.NewImage);
  if (!after) return;
  const timer = timerFor(recordOfImage(change.dynamodb?.OldImage), after);
  if (!timer) return;
  try {
    await timers.arm(timer);
    metrics.addMetric('LeaseTimersArmed', MetricUnit.Count, 1);
  } catch (error) {
    metrics.addMetric('LeaseTimerArmFailed', MetricUnit.Count, 1);
    logger.warn('lease timer not armed; the stream delivers the change again, and the sweeper ends the lease if it never is', {
      connectionId: timer.id,
      error,
    });
    throw error;
  }
}

export async function handler(event: DynamoDBStreamEvent, context: Context): Promise<DynamoDBBatchResponse> {
  logger.addContext(context);
  try {
    // Item failures, not a thrown error, for a batch that failed whole: the mapping retries exactly those.
    return await processPartialResponse(event, armFor, processor, { context, throwOnFullBatchFailure: false });
  } finally {
    // A batch of timers that only found their work done has nothing to publish: no warning line for it.
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  }
}
