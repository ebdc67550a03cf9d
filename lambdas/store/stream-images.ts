/**
 * A connection record as the table's stream carries it: a `NewImage` or `OldImage` of Lambda's DynamoDB
 * stream event, in DynamoDB's attribute-value JSON. The stream consumers (timer-arm, audit) read both images
 * of a change through this one decoding, the same the store applies to an item it reads.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { Lock } from '../broker/locks';
import type { ConnectionRecord } from '../broker/model';
import { toRecord } from './codec';
import { toLock } from './lock-codec';
import { LOCKS } from './tables';

/** The record in `image`; undefined when the change has no such image (an INSERT's old one, a REMOVE's new one). */
export function recordOfImage(image: Record<string, unknown> | undefined): ConnectionRecord | undefined {
  return image && toRecord(unmarshall(image as Record<string, AttributeValue>));
}

/** Whether `image` is a lock's (the locks table's items all carry its one partition key), not a connection's. */
export function isLockImage(image: Record<string, unknown> | undefined): boolean {
  const partition = image?.[LOCKS.partitionKey] as { S?: unknown } | undefined;
  return partition?.S === LOCKS.partition;
}

/** The lock in `image`; undefined when the change has no such image. */
export function lockOfImage(image: Record<string, unknown> | undefined): Lock | undefined {
  return image && toLock(unmarshall(image as Record<string, AttributeValue>));
}
