/**
 * `LockStore` on DynamoDB: every lock is an item in ONE partition (`pk` = LOCKS.partition, sort key the ULID
 * id), so the lock check reads all live locks with one strongly consistent Query, oldest first. Lifting keeps
 * the item (who lifted it, when) and sets its TTL attribute to now, so DynamoDB's TTL removes it later; until
 * then the query's filter leaves it out, as it leaves out a lock whose own `expiresAt` has passed (TTL
 * deletion is lazy: an expired item still shows in reads until it is deleted, docs/ARCHITECTURE.md "Locks").
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LockNotFoundError, type Lock, type LockStore } from '../broker/locks';
import { asStoreError, StoreUnavailableError } from './errors';
import { toLock } from './lock-codec';
import { LOCKS } from './tables';

/**
 * Items one `live` query reads at most, live or not. Lifted and lapsed locks stay in the partition until TTL
 * deletes them (typically within two days), so this is well above MAX_LIVE_LOCKS: a busy day of placing and
 * lifting locks must not trip the fail-closed check below.
 */
export const LOCK_READ_LIMIT = 1000;

export interface DynamoLockStoreOptions {
  client: DynamoDBDocumentClient;
  tableName: string;
  /** Items one `live` query may read (tests lower it to reach the bound). Default LOCK_READ_LIMIT. */
  readLimit?: number;
}

/** The cause logged when the lock partition outgrows one query page (see `live`). */
export const LOCK_PARTITION_OVERFLOW = 'the locks partition holds more than one query page: the lock check fails closed';

/** The document client with DynamoDB's throttling (past the SDK's retries) as one domain-neutral 503, as in dynamo-store.ts. */
function guarded(documentClient: DynamoDBDocumentClient): Pick<DynamoDBDocumentClient, 'send'> {
  return {
    send: (async (command: Parameters<DynamoDBDocumentClient['send']>[0]) => {
      try {
        return await documentClient.send(command);
      } catch (error) {
        throw asStoreError(error);
      }
    }) as DynamoDBDocumentClient['send'],
  };
}

/**
 * The lock check's read alone (`live`): what the functions that only check locks (open, renew, timer-arm,
 * sweeper) need, so their bundles carry no code for placing or lifting locks.
 */
export function createDynamoLockReader(options: DynamoLockStoreOptions): Pick<LockStore, 'live'> {
  const { tableName } = options;
  const readLimit = options.readLimit ?? LOCK_READ_LIMIT;
  const client = guarded(options.client);

  async function live(nowSeconds: number): Promise<Lock[]> {
    const result = await client.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: '#pk = :pk',
        // Lapsed (expiresAt at or before now) and lifted locks are left out; TTL deletes them later.
        FilterExpression: 'attribute_not_exists(#liftedAt) AND (attribute_not_exists(#expiresAt) OR #expiresAt > :now)',
        ExpressionAttributeNames: { '#pk': LOCKS.partitionKey, '#liftedAt': 'liftedAt', '#expiresAt': 'expiresAt' },
        ExpressionAttributeValues: { ':pk': LOCKS.partition, ':now': nowSeconds },
        // A lock placed a moment ago must refuse the next open: never an eventually consistent read.
        ConsistentRead: true,
        // Limit bounds the items read BEFORE the filter, and a page ends at 1 MB read whatever the Limit.
        Limit: readLimit,
      }),
    );
    // Fail closed: a second page could hold a live lock this read did not see, and answering from the first
    // page alone would let a locked caller through. An open or renew is refused with a 503 instead, and the
    // cause is logged (operators lift locks, or TTL removes the dead ones). Placing refuses past
    // MAX_LIVE_LOCKS live locks, so only piles of lifted or lapsed locks can get here.
    if (result.LastEvaluatedKey) {
      throw new StoreUnavailableError({ cause: new Error(`${LOCK_PARTITION_OVERFLOW} (${tableName}, Limit ${readLimit})`) });
    }
    return (result.Items ?? []).map(toLock);
  }

  return { live };
}

export function createDynamoLockStore(options: DynamoLockStoreOptions): LockStore {
  const { tableName } = options;
  const client = guarded(options.client);
  const { live } = createDynamoLockReader(options);
  const key = (id: string) => ({ [LOCKS.partitionKey]: LOCKS.partition, id });

  async function place(lock: Lock): Promise<Lock> {
    await client.send(
      new PutCommand({
        TableName: tableName,
        Item: { ...lock, [LOCKS.partitionKey]: LOCKS.partition },
        // A ULID never repeats; the condition makes sure a bug can never overwrite (and so unlift) a lock.
        ConditionExpression: 'attribute_not_exists(#id)',
        ExpressionAttributeNames: { '#id': 'id' },
      }),
    );
    return lock;
  }

  async function get(id: string): Promise<Lock | undefined> {
    const result = await client.send(new GetCommand({ TableName: tableName, Key: key(id), ConsistentRead: true }));
    return result.Item ? toLock(result.Item) : undefined;
  }

  async function lift(id: string, by: string, atIso: string, nowSeconds: number): Promise<Lock> {
    try {
      const result = await client.send(
        new UpdateCommand({
          TableName: tableName,
          Key: key(id),
          // expiresAt = now: the item is TTL-expired from now on, and deleted by TTL later.
          UpdateExpression: 'SET #liftedAt = :at, #liftedBy = :by, #expiresAt = :now',
          ConditionExpression: 'attribute_exists(#id) AND attribute_not_exists(#liftedAt) AND (attribute_not_exists(#expiresAt) OR #expiresAt > :now)',
          ExpressionAttributeNames: { '#id': 'id', '#liftedAt': 'liftedAt', '#liftedBy': 'liftedBy', '#expiresAt': 'expiresAt' },
          ExpressionAttributeValues: { ':at': atIso, ':by': by, ':now': nowSeconds },
          ReturnValues: 'ALL_NEW',
        }),
      );
      if (!result.Attributes) throw new Error(`UpdateItem on lock ${id} returned no attributes`);
      return toLock(result.Attributes);
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw new LockNotFoundError(id);
      throw error;
    }
  }

  return { place, get, live, lift };
}
