/**
 * `ConnectionStore` on DynamoDB: one table keyed by `id`, a sparse sharded "due" index for the sweeper,
 * "by-owner" / "by-day" indexes for listing, and a sparse "live-by-owner" index for the live count. Every
 * read is a GetItem or a Query; nothing here scans.
 *
 * The per-owner quota lives in the same table: one counter item per owner (`quota#<owner>`, attribute
 * `live`) counts the slots its records hold. An open takes a slot and writes its record in one
 * TransactWriteItems (the counter's condition is `live < maxActive`), and the write that ends a record that
 * holds one gives it back in one TransactWriteItems with that conditional change, so the count is exact
 * under any concurrency and no path releases a slot twice (docs/ARCHITECTURE.md, "The quota").
 *
 * `createDynamoRecordStore` builds only what opening needs (create, get, update, list): the open function's
 * bundle then carries neither the due reader nor the live count (docs/PERFORMANCE.md).
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { OpenRateExceededError, QuotaExceededError } from '../broker/errors';
import { LIVE_STATUSES, TERMINAL_STATUSES, type ConnectionRecord } from '../broker/model';
import {
  ConnectionExistsError,
  StaleRecordError,
  type ConnectionChanges,
  type ConnectionStore,
  type DueBatch,
  type ExpectedState,
  type ListQuery,
  type NewConnectionRecord,
  OPEN_RATE_WINDOW_SECONDS,
  openRateWindowEnd,
  type Page,
  type QuotaClaim,
  type RecordStore,
} from '../broker/ports';
import { epochSeconds, toIso, type Clock } from '../broker/time';
import {
  applyChanges,
  buildUpdate,
  decodeCursor,
  dueShardKey,
  encodeCursor,
  indexKeyOf,
  openRateKey,
  quotaCounterKey,
  toItem,
  toRecord,
  type Cursor,
  type Item,
} from './codec';
import { dueRounds, type ShardPage } from './due-rounds';
import { cancellationReasons, CONDITION_FAILED, InvalidCursorError, StoreUnavailableError, withConflictRetries } from './errors';
import { CONNECTIONS, connectionsTable } from './tables';

type DueKey = Record<string, unknown>;

/** Queries one `list` call may make while filling a page (filters and the day walk can return short pages). */
const MAX_LIST_QUERIES = 10;
/** Items read per list query at least: a filtered page then takes few round trips, at a few extra reads. */
const MIN_LIST_READ = 25;
/** Pages `countLive` may read: a page holds thousands of these small index items, far past any quota. */
const MAX_COUNT_PAGES = 5;
const DAY_MS = 86_400_000;

export interface DynamoConnectionStoreOptions {
  client: DynamoDBDocumentClient;
  tableName: string;
  /** Shards of the "due" index; changing it strands due records on old shards, so it is fixed per table. */
  dueShardCount: number;
  /** The clock the domain uses too (epoch ms): stamps `updatedAt`, and decides what has expired. */
  now?: Clock;
  /**
   * Days the admin listing walks back from today. Records are logically gone once `expiresAt` passes
   * (remote.it proxies live about 8 hours), so a few days covers every visible record.
   */
  adminListDays?: number;
}

/** What every part of the store shares: the guarded client, the table, the shards, the clock. */
interface StoreContext {
  send: DynamoDBDocumentClient['send'];
  tableName: string;
  dueShardCount: number;
  now: Clock;
}

function storeContext(options: DynamoConnectionStoreOptions): StoreContext {
  const { tableName, dueShardCount } = options;
  if (!Number.isInteger(dueShardCount) || dueShardCount < 1) throw new RangeError('dueShardCount must be a positive integer');
  return {
    // Every call goes through here: a write refused for another transaction on its item is tried again, and
    // throttling past the SDK's retries surfaces as one domain-neutral error.
    send: ((command: Parameters<DynamoDBDocumentClient['send']>[0]) =>
      withConflictRetries(() => options.client.send(command))) as DynamoDBDocumentClient['send'],
    tableName,
    dueShardCount,
    now: options.now ?? Date.now,
  };
}

/** The whole store: the records, the live count (GET /me) and the due work (the sweeper, lock enforcement). */
export function createDynamoConnectionStore(options: DynamoConnectionStoreOptions): ConnectionStore {
  const context = storeContext(options);
  return {
    ...recordStore(context, options.adminListDays ?? 4),
    countLive: (owner) => countLive(context, owner),
    due: (dueBy, dueOptions) => due(context, dueBy, dueOptions),
  };
}

/** The records alone (create, get, update, list): what the open function builds. */
export function createDynamoRecordStore(options: DynamoConnectionStoreOptions): RecordStore {
  return recordStore(storeContext(options), options.adminListDays ?? 4);
}

/** A cancelled transaction that names no failed condition this store answers for: throttled, or failing. */
function unavailable(error: unknown): unknown {
  return cancellationReasons(error) ? new StoreUnavailableError({ cause: error }) : error;
}

function recordStore(context: StoreContext, adminListDays: number): RecordStore {
  const { send, tableName, dueShardCount, now } = context;
  const client = { send };

  /**
   * A count item of this table, `change` more in its `attribute`: taken (+1) only while below `max` (an absent
   * count is 0), given back (-1) unconditionally; with `expiresAt`, the item's TTL is set to it too.
   */
  const countUpdate = (id: string, attribute: string, change: 1 | -1, max?: number, expiresAt?: number) => ({
    TableName: tableName,
    Key: { id },
    UpdateExpression: expiresAt === undefined ? 'ADD #n :change' : 'ADD #n :change SET #ttl = :ttl',
    ExpressionAttributeNames: { '#n': attribute, ...(expiresAt !== undefined && { '#ttl': connectionsTable.timeToLiveAttribute }) },
    ExpressionAttributeValues: { ':change': change, ...(max !== undefined && { ':max': max }), ...(expiresAt !== undefined && { ':ttl': expiresAt }) },
    ...(max !== undefined && { ConditionExpression: 'attribute_not_exists(#n) OR #n < :max' }),
  });
  /** `owner`'s quota counter item, `change` slots more (a slot taken only while below `maxActive`). */
  const counterUpdate = (owner: string, change: 1 | -1, maxActive?: number) => countUpdate(quotaCounterKey(owner), CONNECTIONS.quotaLiveAttribute, change, maxActive);

  async function create(fresh: NewConnectionRecord, quota?: QuotaClaim): Promise<ConnectionRecord> {
    const record: ConnectionRecord = { ...fresh, updatedAt: fresh.createdAt, version: 0, ...(quota && { quotaSlot: true }) };
    const put = {
      TableName: tableName,
      Item: toItem(record, dueShardCount),
      ConditionExpression: 'attribute_not_exists(#id)',
      ExpressionAttributeNames: { '#id': 'id' },
    };
    // The open rate's window: this clock minute, by the store's clock.
    const nowSeconds = epochSeconds(now());
    const windowEnd = openRateWindowEnd(nowSeconds);
    try {
      // With a quota: the slot, the minute's open and the record in one transaction, in that order.
      if (quota) {
        await client.send(
          new TransactWriteCommand({
            TransactItems: [
              { Update: counterUpdate(record.owner, 1, quota.maxActive) },
              // One of the minute's opens, below opensPerMinute; the minute's item expires (TTL) when it ends.
              { Update: countUpdate(openRateKey(record.owner, windowEnd - OPEN_RATE_WINDOW_SECONDS), CONNECTIONS.openRateAttribute, 1, quota.opensPerMinute, windowEnd) },
              { Put: put },
            ],
          }),
        );
      } else await client.send(new PutCommand(put));
    } catch (error) {
      const reasons = cancellationReasons(error);
      // Both refused: the quota's answer, since the next minute would not help.
      if (quota && reasons?.[0]?.Code === CONDITION_FAILED) throw new QuotaExceededError(quota.maxActive);
      if (quota && reasons?.[1]?.Code === CONDITION_FAILED) throw new OpenRateExceededError(quota.opensPerMinute, windowEnd - nowSeconds);
      if (error instanceof ConditionalCheckFailedException || reasons?.[2]?.Code === CONDITION_FAILED) throw new ConnectionExistsError(record.id);
      throw unavailable(error);
    }
    return record;
  }

  // Unlike list and countLive, get returns a record whose expiresAt has passed: the sweeper and the
  // lifecycle still act on it (mark it expired, stop it); whether a caller may see it is theirs to decide.
  async function get(id: string): Promise<ConnectionRecord | undefined> {
    const result = await client.send(new GetCommand({ TableName: tableName, Key: { id }, ConsistentRead: true }));
    return result.Item ? toRecord(result.Item) : undefined;
  }

  async function update(id: string, expected: ExpectedState, changes: ConnectionChanges, from?: ConnectionRecord): Promise<ConnectionRecord> {
    const ending = changes.status != null && TERMINAL_STATUSES.includes(changes.status);
    if (ending && !from) throw new TypeError(`ending ${id} needs the record it was decided on`);
    const updatedAt = toIso(now());
    const release = ending && from?.quotaSlot === true;
    const parts = buildUpdate(id, expected, changes, { shardCount: dueShardCount, updatedAt, releaseSlot: release });
    try {
      if (from && release) {
        // The record's change (conditioned on it still holding the slot) and the slot given back, atomically.
        await client.send(
          new TransactWriteCommand({
            TransactItems: [
              { Update: { TableName: tableName, Key: { id }, ...parts, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' } },
              { Update: counterUpdate(from.owner, -1) },
            ],
          }),
        );
        // A transaction returns no item: the change applied to the record it was decided on is the record now.
        return applyChanges(from, changes, updatedAt);
      }
      const result = await client.send(
        new UpdateCommand({
          TableName: tableName,
          Key: { id },
          ...parts,
          ReturnValues: 'ALL_NEW',
          // What the condition found, in the same atomic check: the caller decides from it without a read.
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      if (!result.Attributes) throw new Error(`UpdateItem on ${id} returned no attributes`);
      return toRecord(result.Attributes);
    } catch (error) {
      // In a transaction the record is its first item; the counter's change has no condition.
      const reason = cancellationReasons(error)?.[0];
      const checked = error instanceof ConditionalCheckFailedException;
      if (checked || reason?.Code === CONDITION_FAILED) {
        // The document client converts results, not errors: this item is still in DynamoDB's wire format.
        const item = (checked ? error.Item : reason?.Item) as Parameters<typeof unmarshall>[0] | undefined;
        throw new StaleRecordError(id, { cause: error, current: item ? toRecord(unmarshall(item)) : undefined });
      }
      throw unavailable(error);
    }
  }

  async function list(query: ListQuery): Promise<Page<ConnectionRecord>> {
    if (!Number.isInteger(query.limit) || query.limit < 1) throw new RangeError('limit must be a positive integer');
    const nowMs = now();
    const filter = listFilter(query, epochSeconds(nowMs));
    const today = toIso(nowMs).slice(0, 10);
    const oldestDay = dayBefore(today, adminListDays - 1);
    let position = query.owner === undefined ? adminStart(query.cursor, today) : ownerStart(query.cursor, query.owner);
    if (query.owner === undefined && (position.day ?? today) < oldestDay) return { items: [] };

    const items: ConnectionRecord[] = [];
    for (let queries = 0; queries < MAX_LIST_QUERIES; queries += 1) {
      const remaining = query.limit - items.length;
      const partition =
        query.owner === undefined
          ? { name: CONNECTIONS.createdDayAttribute, value: position.day ?? today }
          : { name: 'owner', value: query.owner };
      const result = await client
        .send(
          new QueryCommand({
            TableName: tableName,
            IndexName: position.index,
            KeyConditionExpression: '#partition = :partition',
            ...filter,
            ExpressionAttributeNames: { ...filter.ExpressionAttributeNames, '#partition': partition.name },
            ExpressionAttributeValues: { ...filter.ExpressionAttributeValues, ':partition': partition.value },
            ScanIndexForward: false,
            Limit: Math.max(remaining, MIN_LIST_READ),
            ExclusiveStartKey: position.key,
          }),
        )
        .catch((error: unknown) => {
          // The cursor decoded to a well-typed key DynamoDB still refuses (e.g. a forged key over its size
          // limit): that is the caller's cursor at fault, not the broker.
          if (query.cursor !== undefined && error instanceof Error && error.name === 'ValidationException') {
            throw new InvalidCursorError('not a cursor issued by this API', { cause: error });
          }
          throw error;
        });
      const page = result.Items ?? [];
      const taken = page.slice(0, remaining);
      items.push(...taken.map(toRecord));
      const last = taken.at(-1);
      if (taken.length < page.length && last) {
        // The page held more than was wanted: resume right after the last item returned.
        return { items, cursor: encodeCursor({ ...position, key: indexKeyOf(last, position.index) }) };
      }
      if (result.LastEvaluatedKey) {
        position = { ...position, key: result.LastEvaluatedKey as Cursor['key'] };
      } else if (query.owner === undefined && (position.day ?? today) > oldestDay) {
        position = { index: position.index, day: dayBefore(position.day ?? today, 1) };
      } else {
        return { items };
      }
      if (items.length >= query.limit) break;
    }
    return { items, cursor: encodeCursor(position) };
  }

  function ownerStart(cursorText: string | undefined, owner: string): Cursor {
    if (cursorText === undefined) return { index: CONNECTIONS.ownerIndex };
    const cursor = decodeCursor(cursorText, CONNECTIONS.ownerIndex);
    if (cursor.day !== undefined || cursor.key?.owner !== owner) throw new InvalidCursorError('issued for another listing');
    return cursor;
  }

  function adminStart(cursorText: string | undefined, today: string): Cursor {
    if (cursorText === undefined) return { index: CONNECTIONS.dayIndex, day: today };
    const cursor = decodeCursor(cursorText, CONNECTIONS.dayIndex);
    const day = cursor.day;
    // A day after tomorrow cannot have been issued by any clock near this one.
    if (day === undefined || day > dayBefore(today, -1)) throw new InvalidCursorError('issued for another listing');
    if (cursor.key && cursor.key[CONNECTIONS.createdDayAttribute] !== day) throw new InvalidCursorError('malformed position');
    return cursor;
  }

  return { create, get, update, list };
}

/**
 * Reads only the owner's live records whose expiresAt has not passed, from the sparse "live-by-owner"
 * index (the key condition does both), so its cost follows the owner's live connections, not its history.
 * Records written before that index existed lack `liveOwner` until their next status change, so for at
 * most their lifetime (remote.it's 8 hours; docs/OPERATIONS.md) they are not counted. GET /me reports this
 * count; the quota itself is the owner's counter (see above), which equals it but for the records it
 * describes in docs/ARCHITECTURE.md ("The quota").
 */
async function countLive(context: StoreContext, owner: string): Promise<number> {
  const statuses = Object.fromEntries(LIVE_STATUSES.map((status, index) => [`:status${index}`, status]));
  let count = 0;
  let startKey: Record<string, unknown> | undefined;
  for (let pages = 0; pages < MAX_COUNT_PAGES; pages += 1) {
    const result = await context.send(
      new QueryCommand({
        TableName: context.tableName,
        IndexName: CONNECTIONS.liveIndex,
        KeyConditionExpression: '#liveOwner = :owner AND #expiresAt > :now',
        // Normally a no-op: liveOwner follows status. It keeps a stale liveOwner (left by a rollback to code
        // that did not maintain it) from counting a finished record.
        FilterExpression: `#status IN (${Object.keys(statuses).join(', ')})`,
        ExpressionAttributeNames: { '#liveOwner': CONNECTIONS.liveOwnerAttribute, '#status': 'status', '#expiresAt': 'expiresAt' },
        ExpressionAttributeValues: { ':owner': owner, ':now': epochSeconds(context.now()), ...statuses },
        Select: 'COUNT',
        ExclusiveStartKey: startKey,
      }),
    );
    count += result.Count ?? 0;
    startKey = result.LastEvaluatedKey;
    if (!startKey) break;
  }
  return count;
}

/**
 * One page of one shard of the "due" index: records with `dueAt <= nowSeconds`, oldest due first. The
 * position is DynamoDB's own LastEvaluatedKey, kept inside the store's walk: nobody outside can hand one in.
 */
async function queryDueShard(context: StoreContext, shard: number, dueBy: number, limit: number, startKey: DueKey | undefined): Promise<ShardPage<DueKey>> {
  const input: QueryCommandInput = {
    TableName: context.tableName,
    IndexName: CONNECTIONS.dueIndex,
    KeyConditionExpression: '#shard = :shard AND #dueAt <= :now',
    ExpressionAttributeNames: { '#shard': CONNECTIONS.dueShardAttribute, '#dueAt': 'dueAt' },
    ExpressionAttributeValues: { ':shard': dueShardKey(shard), ':now': dueBy },
    ScanIndexForward: true,
    Limit: limit,
    ExclusiveStartKey: startKey,
  };
  const result = await context.send(new QueryCommand(input));
  return {
    items: (result.Items ?? []).map(toRecord),
    scanned: result.ScannedCount ?? 0,
    ...(result.LastEvaluatedKey && { cursor: result.LastEvaluatedKey }),
  };
}

function due(context: StoreContext, dueBy: number, options: { pageSize: number }): AsyncIterable<DueBatch> {
  if (!Number.isInteger(options.pageSize) || options.pageSize < 1) throw new RangeError('pageSize must be a positive integer');
  return dueRounds<DueKey>(context.dueShardCount, (shard, cursor) => queryDueShard(context, shard, dueBy, options.pageSize, cursor), dueShardKey);
}

/** Logically deleted records (TTL passed, deletion pending) and the caller's filters, applied server-side. */
function listFilter(query: ListQuery, now: number) {
  const conditions = ['#expiresAt >= :now'];
  const names: Record<string, string> = { '#expiresAt': 'expiresAt' };
  const values: Item = { ':now': now };
  if (query.status !== undefined) {
    conditions.push('#status = :status');
    names['#status'] = 'status';
    values[':status'] = query.status;
  }
  if (query.serviceId !== undefined) {
    conditions.push('#serviceId = :serviceId');
    names['#serviceId'] = 'serviceId';
    values[':serviceId'] = query.serviceId;
  }
  return { FilterExpression: conditions.join(' AND '), ExpressionAttributeNames: names, ExpressionAttributeValues: values };
}

/** The UTC day `days` before `day` (negative: after). */
function dayBefore(day: string, days: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) - days * DAY_MS).toISOString().slice(0, 10);
}
