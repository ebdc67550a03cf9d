/** A page cursor that does not decode, or that was issued for another query (another owner, shard or listing). */
export class InvalidCursorError extends Error {
  readonly code = 'invalid_cursor';
  /** The request field to name in a 400. */
  readonly field = 'cursor';
  constructor(detail: string, options?: { cause?: unknown }) {
    super(`invalid cursor: ${detail}`, options);
    this.name = 'InvalidCursorError';
  }
}

/**
 * DynamoDB throttled the request past the SDK's own retries (or answered a server error): the broker could
 * not read or write its records just now. A 503 with Retry-After, not a 500: the caller should come back.
 */
export class StoreUnavailableError extends Error {
  readonly code = 'store_unavailable';
  readonly retryAfterSeconds = 1;
  constructor(options?: { cause?: unknown }) {
    super('the connection store is busy', options);
    this.name = 'StoreUnavailableError';
  }
}

/** DynamoDB's throttling and server-side error names (the SDK already retried them). */
const UNAVAILABLE_ERRORS = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'InternalServerError',
  'ServiceUnavailable',
]);

/** `error` as a StoreUnavailableError when DynamoDB was throttling or failing, else unchanged. */
export function asStoreError(error: unknown): unknown {
  return error instanceof Error && UNAVAILABLE_ERRORS.has(error.name) ? new StoreUnavailableError({ cause: error }) : error;
}
