/**
 * Publishes audit events from the connections table's stream and the locks table's: every change of a
 * connection or of a lock that is an event (lambdas/broker/audit.ts) goes to the EventBridge bus AUDIT_BUS_NAME. The stream holds every written
 * change for 24 hours, so an event is published even when the function that made the change died before
 * answering; and since a batch is retried until it is published, at least once (a consumer deduplicates on
 * `detail.connectionId` + `detail.version`, or `detail.lockId` + the detail-type).
 *
 * A shard's order is kept: records are decoded and published in order, and from the first record that
 * could not be decoded or whose entry failed, that record and every later record of the batch are reported
 * as batch item failures. Lambda checkpoints before the lowest failed sequence number and retries from
 * there (Lambda Developer Guide, "Configuring partial batch response with DynamoDB and Lambda"), so nothing
 * after a failure is checkpointed past it. A record that is no event succeeds.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { Context, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { auditEventFor, lockAuditEventFor, type AuditEvent } from '../broker/audit';
import { createEventBridgeAuditPublisher } from '../audit/eventbridge';
import { auditConfigSchema, loadConfig } from '../config';
import { isLockImage, lockOfImage, recordOfImage } from '../store/stream-images';
import { logger, metrics } from './telemetry';

const config = loadConfig(auditConfigSchema);
const publisher = createEventBridgeAuditPublisher({ client: new EventBridgeClient({}), busName: config.AUDIT_BUS_NAME });


/** Both tables' streams reach this function: a lock's image is told apart by its partition key. */
function eventOf(change: DynamoDBRecord): AuditEvent | undefined {
  const { OldImage, NewImage } = change.dynamodb ?? {};
  if (isLockImage(NewImage ?? OldImage)) return lockAuditEventFor(lockOfImage(OldImage), lockOfImage(NewImage));
  return auditEventFor(recordOfImage(OldImage), recordOfImage(NewImage));
}

/** What names an event's subject in a log line. */
const subjectOf = (event: AuditEvent | undefined) =>
  event && ('connectionId' in event.detail ? { connectionId: event.detail.connectionId } : { lockId: event.detail.lockId });

export async function handler(event: DynamoDBStreamEvent, context: Context): Promise<DynamoDBBatchResponse> {
  logger.addContext(context);
  try {
    const records = event.Records;
    // Decoded in order up to the first record that cannot be: it and all after it are retried.
    let failedFrom = records.length;
    const events: AuditEvent[] = [];
    const recordOf: number[] = [];
    for (const [position, record] of records.entries()) {
      let audit: AuditEvent | undefined;
      try {
        audit = eventOf(record);
      } catch (error) {
        logger.error('stream record not decoded; it is retried, and its shard waits for it', { sequenceNumber: record.dynamodb?.SequenceNumber, error });
        failedFrom = position;
        break;
      }
      if (audit) {
        events.push(audit);
        recordOf.push(position);
      }
    }

    const failed = events.length > 0 ? await publisher.publish(events) : [];
    const published = events.length - failed.length;
    if (published > 0) metrics.addMetric('AuditEventsPublished', MetricUnit.Count, published);
    if (failed.length > 0) {
      metrics.addMetric('AuditPublishFailed', MetricUnit.Count, failed.length);
      const first = failed[0];
      const firstEvent = first && events[first.index];
      logger.warn('audit events not published; the stream delivers them again', {
        failed: failed.length,
        errorCode: first?.errorCode,
        errorMessage: first?.errorMessage,
        ...subjectOf(firstEvent),
        detailType: firstEvent?.detailType,
      });
      for (const entry of failed) failedFrom = Math.min(failedFrom, recordOf[entry.index] ?? 0);
    }

    return {
      batchItemFailures: records
        .slice(failedFrom)
        .map((record) => ({ itemIdentifier: record.dynamodb?.SequenceNumber ?? '' })),
    };
  } finally {
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  }
}
