/**
 * The pure half of the DynamoDB store: how a record becomes an item and back, how an update becomes one
 * UpdateExpression, which shard of the "due" index a record lives on, and the opaque page cursors.
 * No I/O here, so all of it is unit-tested without DynamoDB.
 */
import { createHash } from 'node:crypto';
import * as z from '../zod';
import { LIVE_STATUSES, type ConnectionRecord } from '../broker/model';
import type { ConnectionChanges, ExpectedState } from '../broker/ports';
import { withoutUndefined } from '../broker/values';
import { InvalidCursorError } from './errors';
import { CONNECTIONS, connectionsTable, type IndexDefinition } from './tables';

/** The record's attributes the store derives and owns; they never leave the store. */
const INTERNAL_ATTRIBUTES: readonly string[] = [
  CONNECTIONS.dueShardAttribute,
  CONNECTIONS.createdDayAttribute,
  CONNECTIONS.liveOwnerAttribute,
];
/**
 * What a change set may never name: the key, identity, creation, and what the store itself manages (the
 * version, `updatedAt` from its clock, the derived attributes).
 */
const IMMUTABLE_ATTRIBUTES: readonly string[] = [
  'id',
  'version',
  'owner',
  'callerArn',
  'createdAt',
  'updatedAt',
  CONNECTIONS.quotaSlotAttribute,
  ...INTERNAL_ATTRIBUTES,
];

export type Item = Record<string, unknown>;

/**
 * `due#<n>`: a stable function of the id alone, so every update of a record lands on the same shard.
 * SHA-256 rather than the id's own characters: ULIDs share their time prefix, so a prefix would pile a
 * burst of connections onto one shard.
 */
export function dueShardOf(id: string, shardCount: number): string {
  return dueShardKey(createHash('sha256').update(id).digest().readUInt32BE(0) % shardCount);
}

export function dueShardKey(shard: number): string {
  return `due#${shard}`;
}

/** The id of `owner`'s quota counter item (in the connections table). */
export function quotaCounterKey(owner: string): string {
  return `${CONNECTIONS.quotaCounterPrefix}${owner}`;
}

/** The id of `owner`'s opens item for the clock minute that starts at `windowStart` (epoch seconds). */
export function openRateKey(owner: string, windowStart: number): string {
  return `${CONNECTIONS.openRatePrefix}${owner}#${windowStart}`;
}

/** `YYYY-MM-DD` (UTC) of an ISO-8601 instant: the partition of the "by-day" index. */
export function createdDayOf(createdAt: string): string {
  const instant = new Date(createdAt);
  if (Number.isNaN(instant.getTime())) throw new TypeError(`createdAt is not an ISO-8601 instant: ${createdAt}`);
  return instant.toISOString().slice(0, 10);
}

/** The item `create` writes: the record without undefined fields, plus the derived index attributes. */
export function toItem(record: ConnectionRecord, shardCount: number): Item {
  const item: Item = withoutUndefined({ ...record });
  item[CONNECTIONS.createdDayAttribute] = createdDayOf(record.createdAt);
  if (record.dueAt !== undefined) item[CONNECTIONS.dueShardAttribute] = dueShardOf(record.id, shardCount);
  if (LIVE_STATUSES.includes(record.status)) item[CONNECTIONS.liveOwnerAttribute] = record.owner;
  return item;
}

export function toRecord(item: Item): ConnectionRecord {
  const record = { ...item };
  for (const name of INTERNAL_ATTRIBUTES) delete record[name];
  // The store is the only writer of these items, so their shape is the record's.
  return record as unknown as ConnectionRecord;
}

export interface UpdateParts {
  UpdateExpression: string;
  ConditionExpression: string;
  ExpressionAttributeNames: Record<string, string>;
  ExpressionAttributeValues: Record<string, unknown>;
}

/**
 * One UpdateItem for a change set: SET for values, REMOVE for nulls, `version + 1`, `updatedAt`, the "due"
 * shard kept in step with `dueAt`, the "live-by-owner" key in step with `status`; conditioned on the record
 * existing in an expected status (and version, owner, unexpired, when given). With `releaseSlot`, also
 * conditioned on the record holding its quota slot, which it removes (the slot goes back in the same
 * transaction). Undefined values are left alone, as if absent.
 */
export function buildUpdate(
  id: string,
  expected: ExpectedState,
  changes: ConnectionChanges,
  options: { shardCount: number; updatedAt: string; releaseSlot?: boolean },
): UpdateParts {
  if (expected.status.length === 0) throw new TypeError('expected.status must name at least one status');
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const name = (attribute: string) => {
    const placeholder = `#${attribute.replace(/[^A-Za-z0-9_]/g, '_')}`;
    names[placeholder] = attribute;
    return placeholder;
  };
  let valueCount = 0;
  const value = (content: unknown) => {
    const placeholder = `:v${valueCount++}`;
    values[placeholder] = content;
    return placeholder;
  };

  const sets: string[] = [];
  const removes: string[] = [];
  const given: Record<string, unknown> = withoutUndefined({ ...changes });
  for (const attribute of Object.keys(given)) {
    if (IMMUTABLE_ATTRIBUTES.includes(attribute)) throw new TypeError(`${attribute} cannot be changed by an update`);
  }
  const merged: Record<string, unknown> = { updatedAt: options.updatedAt, ...given };
  for (const [attribute, content] of Object.entries(merged)) {
    if (content === null) removes.push(name(attribute));
    else sets.push(`${name(attribute)} = ${value(content)}`);
  }
  if (merged.dueAt === null) removes.push(name(CONNECTIONS.dueShardAttribute));
  else if (merged.dueAt !== undefined) {
    sets.push(`${name(CONNECTIONS.dueShardAttribute)} = ${value(dueShardOf(id, options.shardCount))}`);
  }
  // Copied from the item's own owner (immutable), so the update needs no read. A status left alone leaves
  // the attribute as it is: it was set or removed by the write that set that status.
  if (merged.status !== undefined) {
    if (LIVE_STATUSES.includes(merged.status as ConnectionRecord['status'])) {
      sets.push(`${name(CONNECTIONS.liveOwnerAttribute)} = ${name('owner')}`);
    } else {
      removes.push(name(CONNECTIONS.liveOwnerAttribute));
    }
  }
  sets.push(`${name('version')} = ${name('version')} + ${value(1)}`);
  if (options.releaseSlot) removes.push(name(CONNECTIONS.quotaSlotAttribute));

  const statuses = expected.status.map((status) => value(status)).join(', ');
  const conditions = [`attribute_exists(${name('id')})`, `${name('status')} IN (${statuses})`];
  if (options.releaseSlot) conditions.push(`attribute_exists(${name(CONNECTIONS.quotaSlotAttribute)})`);
  if (expected.version !== undefined) conditions.push(`${name('version')} = ${value(expected.version)}`);
  if (expected.owner !== undefined) conditions.push(`${name('owner')} = ${value(expected.owner)}`);
  if (expected.unexpiredAt !== undefined) conditions.push(`${name('expiresAt')} > ${value(expected.unexpiredAt)}`);

  return {
    UpdateExpression: `SET ${sets.join(', ')}${removes.length > 0 ? ` REMOVE ${removes.join(', ')}` : ''}`,
    ConditionExpression: conditions.join(' AND '),
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}

/**
 * `from` as a successful `buildUpdate` of `changes` at its version leaves it: what a transactional update
 * (which returns no item) answers. Its quota slot is gone: only the write that ends a record applies this.
 */
export function applyChanges(from: ConnectionRecord, changes: ConnectionChanges, updatedAt: string): ConnectionRecord {
  const next: Record<string, unknown> = { ...from, updatedAt, version: from.version + 1 };
  delete next[CONNECTIONS.quotaSlotAttribute];
  for (const [attribute, content] of Object.entries(changes)) {
    if (content === null) delete next[attribute];
    else if (content !== undefined) next[attribute] = content;
  }
  return next as unknown as ConnectionRecord;
}

// --- Cursors -------------------------------------------------------------------------------------------

/** Where a page stopped: an index, the key to start after, and (for the admin walk) the day partition. */
export interface Cursor {
  index: string;
  key?: Record<string, string | number>;
  day?: string;
}

const MAX_CURSOR_LENGTH = 2_048;
const keyValue = z.union([z.string().check(z.minLength(1), z.maxLength(1_024)), z.number()]);
const cursorSchema = z.strictObject({
  i: z.string(),
  k: z.optional(z.record(z.string(), keyValue)),
  d: z.optional(z.iso.date()),
});

/** base64url JSON: opaque to callers, validated on the way back in (a cursor is user input). */
export function encodeCursor(cursor: Cursor): string {
  const wire: z.infer<typeof cursorSchema> = { i: cursor.index, ...(cursor.key && { k: cursor.key }), ...(cursor.day && { d: cursor.day }) };
  return Buffer.from(JSON.stringify(wire), 'utf8').toString('base64url');
}

/**
 * Decodes a cursor issued for `indexName`. Its key must carry exactly that index's key attributes with
 * their declared types, so what reaches ExclusiveStartKey is always well-formed. Whether the key belongs to
 * this caller (owner, shard, day) is the store's check.
 */
export function decodeCursor(text: string, indexName: string): Cursor {
  if (text.length === 0 || text.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(text)) {
    throw new InvalidCursorError('not a cursor issued by this API');
  }
  let parsed: z.infer<typeof cursorSchema>;
  try {
    parsed = cursorSchema.parse(JSON.parse(Buffer.from(text, 'base64url').toString('utf8')));
  } catch (error) {
    throw new InvalidCursorError('not a cursor issued by this API', { cause: error });
  }
  if (parsed.i !== indexName) throw new InvalidCursorError('issued for another listing');
  if (parsed.k !== undefined) assertIndexKey(parsed.k, indexName);
  return { index: parsed.i, ...(parsed.k && { key: parsed.k }), ...(parsed.d && { day: parsed.d }) };
}

/** The ExclusiveStartKey that resumes a query of `indexName` right after `item`. */
export function indexKeyOf(item: Item, indexName: string): Record<string, string | number> {
  const key: Record<string, string | number> = {};
  for (const { name } of keyAttributes(indexName)) {
    const content = item[name];
    if (typeof content !== 'string' && typeof content !== 'number') throw new TypeError(`item has no ${name} for ${indexName}`);
    key[name] = content;
  }
  return key;
}

function assertIndexKey(key: Record<string, string | number>, indexName: string): void {
  const expected = keyAttributes(indexName);
  const wellFormed =
    Object.keys(key).length === expected.length &&
    expected.every(({ name, type }) => typeof key[name] === (type === 'S' ? 'string' : 'number'));
  if (!wellFormed) throw new InvalidCursorError('malformed position');
}

function keyAttributes(indexName: string): { name: string; type: 'S' | 'N' }[] {
  const index: IndexDefinition | undefined = connectionsTable.globalSecondaryIndexes.find((candidate) => candidate.indexName === indexName);
  if (!index) throw new TypeError(`unknown index ${indexName}`);
  // A GSI's LastEvaluatedKey holds the index key and the table key.
  return [connectionsTable.partitionKey, index.partitionKey, ...(index.sortKey ? [index.sortKey] : [])];
}
