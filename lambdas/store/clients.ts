import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * The one way lambdas/ (and the tests) build the DynamoDB document client the store speaks through. The
 * endpoint comes from the SDK's own `AWS_ENDPOINT_URL_DYNAMODB` handling, so DynamoDB Local needs no code
 * path of its own.
 */
export function createDocumentClient(client: DynamoDBClient = new DynamoDBClient({})): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, {
    // Optional record fields are `undefined` when unset: drop them rather than fail marshalling.
    marshallOptions: { removeUndefinedValues: true },
  });
}
