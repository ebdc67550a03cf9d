export default async function globalTeardown(): Promise<void> {
  const dynamoDbLocal = globalThis.__dynamoDbLocal;
  globalThis.__dynamoDbLocal = undefined;
  await dynamoDbLocal?.stop();
}
