/**
 * A connection record as the table's stream carries it: a `NewImage` or `OldImage` of Lambda's DynamoDB
 * stream event, in DynamoDB's attribute-value JSON. The stream consumers (timer-arm, audit) read both images
 * of a change through this one decoding, the same the store applies to an item it reads.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { ConnectionRecord } from '../broker/model';
import { toRecord } from './codec';

/** The record in `image`; undefined when the change has no such image (an INSERT's old one, a REMOVE's new one). */
export function recordOfImage(image: Record<string, unknown> | undefined): ConnectionRecord | undefined {
  return image && toRecord(unmarshall(image as Record<string, AttributeValue>));
}
