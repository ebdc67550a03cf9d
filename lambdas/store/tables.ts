/**
 * The broker's DynamoDB tables, defined once. Infra (CDK), the local stack and the tests all build their
 * tables from these definitions, so the three can never disagree on a key, an index or the TTL attribute.
 */
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

export type AttributeType = 'S' | 'N';

export interface KeyDefinition {
  partitionKey: { name: string; type: AttributeType };
  sortKey?: { name: string; type: AttributeType };
}

/** What a GSI copies besides its keys and the table's: everything (the default), or only these attributes. */
export type IndexProjection = { type: 'ALL' } | { type: 'INCLUDE'; nonKeyAttributes: readonly string[] };

export interface IndexDefinition extends KeyDefinition {
  indexName: string;
  /** Omitted: ALL. */
  projection?: IndexProjection;
}

export interface TableDefinition extends KeyDefinition {
  /** Logical name: CDK construct id, local table name prefix. */
  logicalName: string;
  timeToLiveAttribute: string;
  globalSecondaryIndexes: readonly IndexDefinition[];
  /** The table's change stream, when something consumes it. */
  stream?: 'NEW_AND_OLD_IMAGES';
}

/** Index and attribute names the store uses; exported so nothing else spells them. */
export const CONNECTIONS = {
  dueIndex: 'due',
  ownerIndex: 'by-owner',
  dayIndex: 'by-day',
  liveIndex: 'live-by-owner',
  /** "due#<n>": present only while the sweeper has work on the record (the index is sparse). */
  dueShardAttribute: 'dueShard',
  /** "YYYY-MM-DD" of createdAt: lets admins list every owner's connections newest first without a scan. */
  createdDayAttribute: 'createdDay',
  /**
   * The owner, present only while the record is live (pending, active, stopping): GET /me's live count reads
   * exactly the caller's live records from the sparse "live-by-owner" index, not its whole history.
   */
  liveOwnerAttribute: 'liveOwner',
  /**
   * An owner's quota counter is an item of this table keyed `quota#<owner>` (no record id has a `#`): its
   * `live` attribute counts the slots that owner's records hold. It has no attribute any index is keyed on,
   * and no TTL: it lives as long as the table, one small item per principal that ever opened.
   */
  quotaCounterPrefix: 'quota#',
  quotaLiveAttribute: 'live',
  /**
   * An owner's opens in one clock minute are an item keyed `opens#<owner>#<epoch second the minute starts>`:
   * its `opens` attribute counts them; its TTL (`expiresAt`) deletes it once the minute is over. Like the
   * counter, it has no attribute any index is keyed on, and no status, so neither stream consumer acts on it.
   */
  openRatePrefix: 'opens#',
  openRateAttribute: 'opens',
  /** On a record: true while it holds a quota slot (`ConnectionRecord.quotaSlot`). */
  quotaSlotAttribute: 'quotaSlot',
} as const;

export const connectionsTable: TableDefinition = {
  logicalName: 'Connections',
  partitionKey: { name: 'id', type: 'S' },
  timeToLiveAttribute: 'expiresAt',
  // Read by timer-arm (lease timers) and audit (audit events), AWS's advised most for one stream: both images,
  // to tell a new lease end from the same one and to name the status a change left.
  stream: 'NEW_AND_OLD_IMAGES',
  globalSecondaryIndexes: [
    {
      indexName: CONNECTIONS.dueIndex,
      partitionKey: { name: CONNECTIONS.dueShardAttribute, type: 'S' },
      sortKey: { name: 'dueAt', type: 'N' },
    },
    {
      indexName: CONNECTIONS.ownerIndex,
      partitionKey: { name: 'owner', type: 'S' },
      sortKey: { name: 'createdAt', type: 'S' },
    },
    {
      indexName: CONNECTIONS.dayIndex,
      partitionKey: { name: CONNECTIONS.createdDayAttribute, type: 'S' },
      sortKey: { name: 'createdAt', type: 'S' },
    },
    {
      // Sorted by the TTL attribute, so the key condition itself leaves out live records past their expiry.
      // Status is projected so the count can check it: a record whose liveOwner outlived its status (written
      // by code older or newer than this) is still not counted.
      indexName: CONNECTIONS.liveIndex,
      partitionKey: { name: CONNECTIONS.liveOwnerAttribute, type: 'S' },
      sortKey: { name: 'expiresAt', type: 'N' },
      projection: { type: 'INCLUDE', nonKeyAttributes: ['status'] },
    },
  ],
};

/**
 * Operators' locks (lambdas/broker/locks.ts), all in one partition (`pk` is always LOCKS.partition): the lock
 * check reads every live lock with one bounded query. Lifted locks stay (with who lifted them) until their
 * TTL removes them. The stream feeds the audit function (lock placed, lock lifted).
 */
export const LOCKS = {
  partitionKey: 'pk',
  partition: 'lock',
} as const;

// Built in a call marked pure: a bundle that only reads locks (LOCKS) leaves the definition out.
export const locksTable: TableDefinition = /* @__PURE__ */ (() => ({
  logicalName: 'Locks',
  partitionKey: { name: LOCKS.partitionKey, type: 'S' as const },
  sortKey: { name: 'id', type: 'S' as const },
  timeToLiveAttribute: 'expiresAt',
  stream: 'NEW_AND_OLD_IMAGES' as const,
  globalSecondaryIndexes: [],
}))();

/** Powertools idempotency's DynamoDB persistence layer with its default attribute names. */
export const idempotencyTable: TableDefinition = {
  logicalName: 'Idempotency',
  partitionKey: { name: 'id', type: 'S' },
  timeToLiveAttribute: 'expiration',
  globalSecondaryIndexes: [],
};

/** CreateTable input for DynamoDB Local and tests (on-demand, each index projecting what its definition says). */
export function createTableInput(definition: TableDefinition, tableName: string): CreateTableCommandInput {
  const attributes = new Map<string, AttributeType>();
  const keys = [definition, ...definition.globalSecondaryIndexes];
  for (const key of keys) {
    attributes.set(key.partitionKey.name, key.partitionKey.type);
    if (key.sortKey) attributes.set(key.sortKey.name, key.sortKey.type);
  }
  const keySchema = (key: KeyDefinition) => [
    { AttributeName: key.partitionKey.name, KeyType: 'HASH' as const },
    ...(key.sortKey ? [{ AttributeName: key.sortKey.name, KeyType: 'RANGE' as const }] : []),
  ];
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [...attributes].map(([AttributeName, AttributeType]) => ({ AttributeName, AttributeType })),
    KeySchema: keySchema(definition),
    ...(definition.stream && { StreamSpecification: { StreamEnabled: true, StreamViewType: definition.stream } }),
    ...(definition.globalSecondaryIndexes.length > 0 && {
      GlobalSecondaryIndexes: definition.globalSecondaryIndexes.map((index) => ({
        IndexName: index.indexName,
        KeySchema: keySchema(index),
        Projection: projectionOf(index),
      })),
    }),
  };
}

/** A definition's projection in DynamoDB's (and CloudFormation's) shape. */
export function projectionOf(index: IndexDefinition): { ProjectionType: 'ALL' } | { ProjectionType: 'INCLUDE'; NonKeyAttributes: string[] } {
  const projection = index.projection ?? { type: 'ALL' };
  return projection.type === 'ALL'
    ? { ProjectionType: 'ALL' }
    : { ProjectionType: 'INCLUDE', NonKeyAttributes: [...projection.nonKeyAttributes] };
}
