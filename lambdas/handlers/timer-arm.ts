/**
 * Arms lease timers from the connections table's stream: every change that leaves a record active with a
 * lease end it did not hold before (an activate, a renew) arms one timer for that end. Arming here rather
 * than in the write function keeps the API's answers free of any SQS call, and arms even when the write
 * function dies between its write and its answer: the stream holds every change for 24 hours.
 *
 * The event source mapping filters to MODIFY events whose new image is active; records whose timer could not
 * be armed come back as batch item failures (retried, then left to the sweeper when retries run out).
 *
 * A connection made active while an operator's lock covers it (a lock placed while it was opening) gets a
 * lock stop instead: a message on the same queue, delivered at once, that timer-fire turns into a stop. The
 * locks are read once per batch, and only for a batch that holds an activation.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import type { Lock } from '../broker/locks';
import type { Timer } from '../broker/ports';
import { epochSeconds } from '../broker/time';
import { isActivation, lockStopFor, timerFor } from '../broker/timers';
import { loadConfig, timerArmConfigSchema } from '../config';
import { createDocumentClient } from '../store/clients';
import { createDynamoLockReader } from '../store/lock-store';
import { recordOfImage } from '../store/stream-images';
import { createSqsLeaseTimers } from '../timers/sqs-timers';
import { clock, logger, metrics } from './telemetry';

const config = loadConfig(timerArmConfigSchema);
const timers = createSqsLeaseTimers({ client: new SQSClient({}), queueUrl: config.TIMER_QUEUE_URL, now: clock });
const locks = createDynamoLockReader({ client: createDocumentClient(), tableName: config.LOCKS_TABLE_NAME });
const processor = new BatchProcessor(EventType.DynamoDBStreams);

/** The live locks, read at most once per batch and only when the batch makes a connection active. */
let batchLocks: Promise<Lock[]> | undefined;


async function armFor(change: DynamoDBRecord): Promise<void> {
  const after = recordOfImage(change.dynamodb?.NewImage);
  if (!after) return;
  const before = recordOfImage(change.dynamodb?.OldImage);
  const leaseTimer = timerFor(before, after);
  if (!leaseTimer) return;
  let timer: Timer = leaseTimer;
  if (isActivation(before, after)) {
    // A failed read fails this record (retried by the mapping): a lock is never skipped for lack of a read.
    batchLocks ??= locks.live(epochSeconds(clock()));
    timer = lockStopFor(after, await batchLocks) ?? leaseTimer;
  }
  try {
    await timers.arm(timer);
    metrics.addMetric('lockId' in timer ? 'LockStopsArmed' : 'LeaseTimersArmed', MetricUnit.Count, 1);
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
  batchLocks = undefined;
  try {
    // Item failures, not a thrown error, for a batch that failed whole: the mapping retries exactly those.
    return await processPartialResponse(event, armFor, processor, { context, throwOnFullBatchFailure: false });
  } finally {
    // A batch of timers that only found their work done has nothing to publish: no warning line for it.
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  }
}
