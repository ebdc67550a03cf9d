/**
 * One DynamoDB Local (in memory) for the whole integration run. Workers start after this and inherit
 * process.env, so the SDK in every test file and in the real handlers finds it through
 * `AWS_ENDPOINT_URL_DYNAMODB`. Each test file makes its own uniquely named tables (support/dynamo.ts).
 */
import { startDynamoDbLocal, type DynamoDbLocal } from '../../dev/dynamodb-local';

declare global {
  // Read back by global-teardown, which Jest runs in this same process.
  var __dynamoDbLocal: DynamoDbLocal | undefined;
}

export default async function globalSetup(): Promise<void> {
  // Workers get this from test/setup-env.ts; this process loads the SDK too (the readiness probe).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const dynamoDbLocal = await startDynamoDbLocal();
  globalThis.__dynamoDbLocal = dynamoDbLocal;
  process.env.AWS_ENDPOINT_URL_DYNAMODB = dynamoDbLocal.endpoint;
}
