// Runs in every integration worker after test/setup-env.ts.
if (!process.env.AWS_ENDPOINT_URL_DYNAMODB) {
  // Without it the SDK would aim at real AWS with fake credentials: fail loudly instead.
  throw new Error('AWS_ENDPOINT_URL_DYNAMODB is not set: run integration tests through jest (its globalSetup starts DynamoDB Local)');
}
// DynamoDB Local answers UnrecognizedClientException to an access key id with anything but letters and
// digits (test/setup-env.ts's default has hyphens). It checks nothing else: any such value works.
if (!/^[A-Za-z0-9]+$/.test(process.env.AWS_ACCESS_KEY_ID ?? '')) {
  process.env.AWS_ACCESS_KEY_ID = 'LOCALTESTACCESSKEY';
}
