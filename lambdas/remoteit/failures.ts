/**
 * The `RemoteitFailure`s this adapter raises, one constructor per way remote.it (or the way to it) fails.
 * Their messages are stored as a record's `failureReason`: change one and the records say something else.
 * `reason` arrives here already scrubbed of credentials (./exchange.ts). See docs/remoteit-api.md.
 */
import { RemoteitFailure } from '../broker/ports';

/**
 * remote.it's `code` of a refusal, kept by the adapter (the port has no field for it): the login needs it
 * to tell an MFA challenge (`SMS_MFA`, ...) from another refusal.
 */
const refusalCodes = new WeakMap<RemoteitFailure, string>();

/** The `code` remote.it gave with this refusal, when it gave one. */
export function refusalCode(failure: unknown): string | undefined {
  return failure instanceof RemoteitFailure ? refusalCodes.get(failure) : undefined;
}

function withCode(failure: RemoteitFailure, code: string | undefined): RemoteitFailure {
  if (code !== undefined) refusalCodes.set(failure, code);
  return failure;
}

/** remote.it answered `status: "false"` (on 200 or 4xx) for a reason that is not auth or not-found. */
export function refused(reason: string, code?: string): RemoteitFailure {
  return withCode(new RemoteitFailure('refused', `remote.it refused the request: ${reason}`, { reason }), code);
}

/** Bad or expired credentials (HTTP 401 auth reasons, `missing api token`, `[0102]`, MFA required). */
export function credentialsRefused(reason: string, code?: string): RemoteitFailure {
  return withCode(new RemoteitFailure('credentials_refused', `remote.it rejected the broker's credentials: ${reason}`, { reason }), code);
}

/** `[0806]` device not found, `[0861]` service not found, `bad device address`. */
export function notFound(reason: string): RemoteitFailure {
  return new RemoteitFailure('not_found', `remote.it does not know this service: ${reason}`, { reason });
}

/**
 * A stop refused because remote.it no longer has that connection (already stopped, expired, overridden):
 * nothing is left to stop. Only reasons that say so become this failure; any other refusal stays retryable.
 */
export function gone(reason: string): RemoteitFailure {
  return new RemoteitFailure('gone', `remote.it no longer has this connection: ${reason}`, { reason });
}

/** HTTP 429. `retryAfterSeconds` from Retry-After when remote.it sent one. */
export function throttled(retryAfterSeconds: number | undefined): RemoteitFailure {
  return new RemoteitFailure('throttled', 'remote.it is throttling the broker', { retryAfterSeconds });
}

/** HTTP 5xx (or any other unexpected status). */
export function upstream(httpStatus: number): RemoteitFailure {
  return new RemoteitFailure('unavailable', `remote.it answered HTTP ${httpStatus}`);
}

/** The connection dropped after the request may have been sent (reset, closed early). */
export function connectionLost(cause: unknown): RemoteitFailure {
  return new RemoteitFailure('unavailable', 'the connection to remote.it failed before it answered', { cause });
}

/** No answer within the per-call deadline. The request may have reached remote.it. */
export function timedOut(timeoutMs: number): RemoteitFailure {
  return new RemoteitFailure('timed_out', `remote.it did not answer within ${timeoutMs} ms`);
}

/** The request never left: connection refused, DNS failure. Safe to retry even for connect. */
export function unreachable(code: string, cause: unknown): RemoteitFailure {
  return new RemoteitFailure('unreachable', `remote.it could not be reached (${code})`, { cause });
}

/**
 * A 200 whose body is not JSON or lacks the fields a success must carry. `remoteConnectionId` when remote.it
 * said yes and named the connection but the rest was unusable: it must be stopped.
 */
export function unusable(message: string, options: { cause?: unknown; remoteConnectionId?: string } = {}): RemoteitFailure {
  return new RemoteitFailure('unusable', message, options);
}
