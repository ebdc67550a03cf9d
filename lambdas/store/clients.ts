import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * The one way lambdas/ builds a DynamoDB document client. The endpoint comes from the SDK's own
 * `AWS_ENDPOINT_URL_DYNAMODB` handling, so DynamoDB Local needs no code path of its own.
 */
export function createDocumentClient(config: DynamoDBClientConfig = {}): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(new DynamoDBClient(config), {
    // Optional record fields are `undefined` when unset: drop them rather than fail marshalling.
    marshallOptions: { removeUndefinedValues: true },
  });
}
