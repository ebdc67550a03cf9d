/**
 * DynamoDB Local for integration tests: clients on the run's endpoint (set by global-setup) and uniquely
 * named tables per test file, so files run in parallel against one DynamoDB Local without seeing each other.
 * Clients sign with the environment's AWS credentials: the run's access key id (global-setup), whose
 * namespace holds the tables. DynamoDB Local keys its databases by access key id and region too: a table is
 * found with the region it was created in (the environment's here, the stack's region for a stack's tables).
 */
import { randomUUID } from 'node:crypto';
import { DeleteTableCommand, DynamoDBClient, ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createTables } from '../../../dev/dynamodb-local';
import { createDocumentClient } from '../../../lambdas/store/clients';

export function dynamoEndpoint(): string {
  const endpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB;
  if (!endpoint) throw new Error('AWS_ENDPOINT_URL_DYNAMODB is not set (see test/integration/global-setup.ts)');
  return endpoint;
}

export function createTestDynamoClient(): DynamoDBClient {
  return new DynamoDBClient({ endpoint: dynamoEndpoint() });
}

/** The same document client the lambdas use, aimed at DynamoDB Local. */
export function createTestDocumentClient(): DynamoDBDocumentClient {
  return createDocumentClient(createTestDynamoClient());
}

export interface TestTables {
  connections: string;
  idempotency: string;
  locks: string;
  /** A document client on the run's DynamoDB Local. */
  documentClient: DynamoDBDocumentClient;
  /** Deletes the tables and closes the clients; call it in afterAll. */
  drop(): Promise<void>;
}

/** Creates the broker's tables under names unique to this call: `<prefix>-<random>-connections`, ... */
export async function createTestTables(prefix = 'test', options: { streams?: boolean } = {}): Promise<TestTables> {
  const base = `${prefix}-${randomUUID().slice(0, 8)}`;
  const names = { connections: `${base}-connections`, idempotency: `${base}-idempotency`, locks: `${base}-locks` };
  const client = createTestDynamoClient();
  const documentClient = createTestDocumentClient();
  // Without a stream unless the test reads it: DynamoDB Local slows down as stream records pile up, and the
  // test files share one DynamoDB Local (dev/dynamodb-local.ts).
  await createTables(client, names, { streams: options.streams ?? false });
  return {
    ...names,
    documentClient,
    async drop() {
      try {
        await Promise.all(Object.values(names).map((TableName) => deleteTable(client, TableName)));
      } finally {
        documentClient.destroy();
        client.destroy();
      }
    },
  };
}

async function deleteTable(client: DynamoDBClient, TableName: string): Promise<void> {
  try {
    await client.send(new DeleteTableCommand({ TableName }));
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
  }
}
