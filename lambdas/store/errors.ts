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
