/** What the integration tests of the AWS stand-ins need to look at an AWS SDK client's failures. */

/** An SDK client's error, with the HTTP details the SDK attaches to it. */
export interface SdkError extends Error {
  $metadata?: { httpStatusCode?: number; requestId?: string };
  $response?: { statusCode: number; headers: Record<string, string> };
}

/** The shape of the SDK's finalizeRequest handlers, without importing @smithy/types (not a dependency). */
export type FinalizeHandler = (args: { input: object; request: unknown }) => Promise<{ output: object & { $metadata: object }; response: unknown }>;

/** The error `call` rejects with; fails the test when it succeeds. */
export async function failureOf(call: Promise<unknown>): Promise<SdkError> {
  try {
    await call;
  } catch (error) {
    return error as SdkError;
  }
  throw new Error('expected the call to fail');
}
