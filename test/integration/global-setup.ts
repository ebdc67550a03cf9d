/**
 * One DynamoDB Local (in memory) for the whole integration run. Workers start after this and inherit
 * process.env, so the SDK in every test file and in the real handlers finds it through
 * `AWS_ENDPOINT_URL_DYNAMODB`. Each test file makes its own uniquely named tables (support/dynamo.ts).
 *
 * DynamoDB Local listens on every interface and keeps one database per access key id and region
 * (dev/dynamodb-local.ts): the run's tables are in the namespace of an access key id generated here, and the
 * workers get it (with a secret key of the run) as their AWS credentials, the state every SDK client, stack
 * and stub of the run already shares. A client elsewhere with another key sees none of the run's tables.
 */
import { randomBytes } from 'node:crypto';
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
  // The run's AWS credentials: never a developer's real ones (nor their session token) in a test.
  process.env.AWS_ACCESS_KEY_ID = dynamoDbLocal.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = randomBytes(30).toString('base64url');
  delete process.env.AWS_SESSION_TOKEN;
}
