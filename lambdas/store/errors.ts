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

/**
 * DynamoDB's throttling and server-side error names (the SDK already retried them), and a write refused for
 * a transaction in flight on its item after the store's own retries (`withConflictRetries`).
 */
const UNAVAILABLE_ERRORS = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'InternalServerError',
  'ServiceUnavailable',
  'TransactionConflictException',
]);

/** One item's reason in a cancelled transaction: `Code` is `None` for an item that was fine. */
export interface CancellationReason {
  Code?: string;
  /** The item as the condition found it (ReturnValuesOnConditionCheckFailure), in DynamoDB's wire format. */
  Item?: Record<string, unknown>;
}

/** The per-item reasons of a cancelled TransactWriteItems, in the order of its items; undefined for any other error. */
export function cancellationReasons(error: unknown): CancellationReason[] | undefined {
  return error instanceof Error && error.name === 'TransactionCanceledException'
    ? ((error as { CancellationReasons?: CancellationReason[] }).CancellationReasons ?? [])
    : undefined;
}

export const CONDITION_FAILED = 'ConditionalCheckFailed';

/**
 * Another transaction held one of the items: nothing was written, so trying again once it is done is safe
 * (TransactWriteItems API reference: a transaction conflicting with one in progress is cancelled). A
 * single-item write against an item in a transaction is refused as TransactionConflictException; a
 * transaction is cancelled with `TransactionConflict` on that item. A cancellation that also names a failed
 * condition is an answer, not a conflict.
 */
function isConflict(error: unknown): boolean {
  const reasons = cancellationReasons(error);
  if (reasons) return reasons.some((reason) => reason.Code === 'TransactionConflict') && !reasons.some((reason) => reason.Code === CONDITION_FAILED);
  return error instanceof Error && error.name === 'TransactionConflictException';
}

/** Attempts of a write that keeps meeting another transaction on its items (a caller's burst of opens on its counter). */
const CONFLICT_ATTEMPTS = 8;

/**
 * Runs `send` again, after a jittered wait (full jitter, 20 ms doubling to 640 ms), while DynamoDB refuses it
 * for a conflicting transaction; then, or on any other error, throws it as `asStoreError` maps it. The SDK
 * does not retry these itself. Each send serialises its command afresh: a transaction goes with a new client token.
 */
export async function withConflictRetries<T>(send: () => Promise<T>, random: () => number = Math.random): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await send();
    } catch (error) {
      if (attempt >= CONFLICT_ATTEMPTS || !isConflict(error)) throw asStoreError(error);
      await new Promise((resolve) => setTimeout(resolve, random() * 20 * 2 ** Math.min(attempt - 1, 5)));
    }
  }
}

/** `error` as a StoreUnavailableError when DynamoDB was throttling or failing, else unchanged. */
export function asStoreError(error: unknown): unknown {
  return error instanceof Error && UNAVAILABLE_ERRORS.has(error.name) ? new StoreUnavailableError({ cause: error }) : error;
}
