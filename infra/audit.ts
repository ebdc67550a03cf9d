/**
 * Audit events, the AWS side: every change of a connection that is an event (lambdas/broker/audit.ts) is put on
 * an EventBridge bus by the `audit` function, which reads the connections table's stream, and so is every lock
 * placed or lifted, from the locks table's stream. A stream holds every written change for 24 hours, whichever
 * function wrote it and whether or not that function lived to answer, so delivery is at least once
 * (docs/EVENTS.md). What the construct wires here: the function, its two stream mappings and their dead-letter
 * queue, the settings they follow, and the audit alarms.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
// Shared with the local stack's stream poller (dev/stack.ts), as the timers' settings are.
import { AUDIT_FILTER_PATTERN, AUDIT_LOCKS_FILTER_PATTERN, AUDIT_MAX_RECORD_AGE_SECONDS, AUDIT_RETRY_ATTEMPTS } from '../lambdas/audit/settings';
import { BrokerFunction, type BrokerLogSettings } from './broker-function';

/**
 * How long the mapping keeps retrying a change before it gives up on it (and records it in the audit
 * dead-letter queue). The retry count is left unlimited (AUDIT_RETRY_ATTEMPTS, -1): Lambda does not document
 * how fast it retries a failing stream batch, so no count can be turned into a time, and an EventBridge
 * outage of minutes (or a broken permission waiting for an operator) must not use retries up. The record age
 * bounds them instead: half the stream's 24-hour retention, so the function retries by itself for 12 hours,
 * and an operator still has 12 hours to read the changes it gave up on from the stream, by the sequence
 * numbers the dead-letter record names (docs/OPERATIONS.md, "Audit events"). A record that can never be
 * published (none is known) holds its shard's audit events back for as long, under the iterator-age alarm.
 */
export const AUDIT_MAX_RECORD_AGE = Duration.seconds(AUDIT_MAX_RECORD_AGE_SECONDS);
/**
 * The audit function is further behind the stream than this for 3 minutes: events are late, and it is not a
 * burst catching up (100 records a batch, published 10 a call, take seconds).
 */
export const AUDIT_MAX_ITERATOR_AGE = Duration.minutes(5);

/** A batch of up to 100 changes is published 10 entries a PutEvents call, one call after another. */
const AUDIT_TIMEOUT = Duration.seconds(30);

export interface BrokerAuditProps {
  /** The connections table; it has a stream with new and old images (lambdas/store/tables.ts). */
  readonly connectionsTable: dynamodb.ITableV2;
  /** The locks table; it has a stream with new and old images too. */
  readonly locksTable: dynamodb.ITableV2;
  /** The function's environment: its config schema's variables (FUNCTION_CONFIG `audit`) and Powertools'. */
  readonly environment: Record<string, string>;
  /** Retention, removal and encryption of the function's log group (the construct's). */
  readonly logs: BrokerLogSettings;
  /** @default - unreserved */
  readonly reservedConcurrentExecutions?: number;
}

export interface BrokerAudit {
  readonly auditFunction: BrokerFunction;
  readonly deadLetterQueue: sqs.Queue;
}

/**
 * The audit function on the connections table's stream and the locks table's, and the dead-letter queue its
 * mappings record the changes they gave up on in. Both mappings are retried, halved and bounded alike; each
 * stream's shards keep their own order. Permissions: each mapping grants reading its stream (on the stream's ARN
 * alone) and sending to the dead-letter queue; `events:PutEvents` on the bus is granted with the construct's
 * other grants. The function reads no record and holds no secret.
 *
 * The table's stream then has two readers, timer-arm and audit: AWS advises at most two per stream (more are
 * throttled), so a further consumer must share one of these functions or go through EventBridge (the audit
 * bus carries every change that matters) instead of reading the stream (docs/OPERATIONS.md).
 */
export function createBrokerAudit(scope: Construct, props: BrokerAuditProps): BrokerAudit {
  const deadLetterQueue = new sqs.Queue(scope, 'AuditDeadLetterQueue', {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
  const auditFunction = new BrokerFunction(scope, 'AuditFunction', {
    entry: 'lambdas/handlers/audit.ts',
    description: 'remote.it broker: publishes an audit event for every change of a connection or a lock on the connections and locks table streams',
    environment: props.environment,
    timeout: AUDIT_TIMEOUT,
    logs: props.logs,
    reservedConcurrentExecutions: props.reservedConcurrentExecutions,
  });
  const streamSettings = () => ({
    // From the oldest record the stream holds: a change written while the stack deploys is still published.
    // A mapping created again (a new logical id) publishes up to 24 hours of changes again: consumers
    // deduplicate (docs/EVENTS.md).
    startingPosition: lambda.StartingPosition.TRIM_HORIZON,
    batchSize: 100,
    // The handler answers with the first record it could not publish and every later one (a shard's events
    // stay in order); a batch that fails whole is halved, without using up retries, until the failing
    // record is alone.
    reportBatchItemFailures: true,
    bisectBatchOnError: true,
    retryAttempts: AUDIT_RETRY_ATTEMPTS,
    maxRecordAge: AUDIT_MAX_RECORD_AGE,
    onFailure: new SqsDlq(deadLetterQueue),
  });
  auditFunction.addEventSource(
    new DynamoEventSource(props.connectionsTable, {
      ...streamSettings(),
      // MODIFY only: a record is created pending (an INSERT is never an event) and leaves through the TTL (a
      // REMOVE is none either); which changes are events is auditEventFor's to decide.
      filters: [lambda.FilterCriteria.filter(AUDIT_FILTER_PATTERN)],
    }),
  );
  // The locks table's one reader: a lock placed (INSERT) or lifted (MODIFY) is an event.
  auditFunction.addEventSource(
    new DynamoEventSource(props.locksTable, {
      ...streamSettings(),
      filters: [lambda.FilterCriteria.filter(AUDIT_LOCKS_FILTER_PATTERN)],
    }),
  );
  return { auditFunction, deadLetterQueue };
}

/** One alarm of the construct: its id, what to do when it fires, and how it is evaluated. */
export interface AlarmSpec {
  readonly id: string;
  readonly description: string;
  readonly props: Omit<cloudwatch.AlarmProps, 'alarmDescription'>;
}

/**
 * The audit alarms besides the function's errors (alarmed with the other functions'): a change given up on
 * (an event that was never published), and publishing falling behind.
 */
export function auditAlarms(audit: BrokerAudit, period: Duration): AlarmSpec[] {
  const maxAgeMs = AUDIT_MAX_ITERATOR_AGE.toMilliseconds();
  return [
    {
      id: 'AuditDeadLetterQueueAlarm',
      description:
        `Audit events were dropped: the audit stream mapping gave up on changes it could not publish for ${AUDIT_MAX_RECORD_AGE.toHours()} hours and recorded them in the audit dead-letter queue. Find the changes by the sequence numbers in each message and publish them again, or accept the gap (docs/OPERATIONS.md, "Audit events").`,
      props: {
        metric: audit.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
      },
    },
    {
      id: 'AuditIteratorAgeAlarm',
      description: `The audit function is more than ${AUDIT_MAX_ITERATOR_AGE.toMinutes()} minutes behind the connections or locks table's stream for 3 minutes: audit events are late, and after ${AUDIT_MAX_RECORD_AGE.toHours()} hours they are dropped. Check its errors and logs ("audit events not published": EventBridge failing, or its permission on the bus), and the bus.`,
      props: {
        // Lambda publishes IteratorAge in milliseconds.
        metric: audit.auditFunction.metric('IteratorAge', { period, statistic: 'Maximum' }),
        threshold: maxAgeMs,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
      },
    },
  ];
}
