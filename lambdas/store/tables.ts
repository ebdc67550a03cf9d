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

export interface IndexDefinition extends KeyDefinition {
  indexName: string;
}

export interface TableDefinition extends KeyDefinition {
  /** Logical name: CDK construct id, local table name prefix. */
  logicalName: string;
  timeToLiveAttribute: string;
  globalSecondaryIndexes: readonly IndexDefinition[];
}

/** Index and attribute names the store uses; exported so nothing else spells them. */
export const CONNECTIONS = {
  dueIndex: 'due',
  ownerIndex: 'by-owner',
  dayIndex: 'by-day',
  /** "due#<n>": present only while the sweeper has work on the record (the index is sparse). */
  dueShardAttribute: 'dueShard',
  /** "YYYY-MM-DD" of createdAt: lets admins list every owner's connections newest first without a scan. */
  createdDayAttribute: 'createdDay',
} as const;

export const connectionsTable: TableDefinition = {
  logicalName: 'Connections',
  partitionKey: { name: 'id', type: 'S' },
  timeToLiveAttribute: 'expiresAt',
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
  ],
};

/** Powertools idempotency's DynamoDB persistence layer with its default attribute names. */
export const idempotencyTable: TableDefinition = {
  logicalName: 'Idempotency',
  partitionKey: { name: 'id', type: 'S' },
  timeToLiveAttribute: 'expiration',
  globalSecondaryIndexes: [],
};

/** CreateTable input for DynamoDB Local and tests (on-demand, every index projecting all attributes). */
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
    ...(definition.globalSecondaryIndexes.length > 0 && {
      GlobalSecondaryIndexes: definition.globalSecondaryIndexes.map((index) => ({
        IndexName: index.indexName,
        KeySchema: keySchema(index),
        Projection: { ProjectionType: 'ALL' as const },
      })),
    }),
  };
}
