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

/**
 * Stop refusals ./exchange.ts could not read: not a known not-found, auth or gone phrase. remote.it documents
 * one refusal for a bad developer key, connection id or device address alike, and nothing for a connection
 * already closed, so the words cannot tell "gone" from "bad credentials": the session asks the credentials
 * probe (./probe.ts) before one of these leaves the adapter.
 */
const undecidedStopRefusals = new WeakSet<RemoteitFailure>();

/** A `refused` stop whose meaning the credentials probe decides. */
export function undecidedStopRefusal(reason: string, code?: string): RemoteitFailure {
  const failure = refused(reason, code);
  undecidedStopRefusals.add(failure);
  return failure;
}

export function isUndecidedStopRefusal(error: unknown): error is RemoteitFailure {
  return error instanceof RemoteitFailure && undecidedStopRefusals.has(error);
}

/**
 * Failures the client's in-call retry loop (`withRetries`, ./client.ts) must pass on untried even when their
 * kind is transient: the stop they answer DID reach remote.it and was refused, so trying the call again would
 * send that stop twice because of the probe. The broker's own retry (the sweeper) tries it later.
 */
const notRetriedInCall = new WeakSet<RemoteitFailure>();

export function isNotRetriedInCall(error: unknown): boolean {
  return error instanceof RemoteitFailure && notRetriedInCall.has(error);
}

/**
 * remote.it refused a stop and the credentials probe failed (throttled, timed out, unreachable, 5xx, an
 * answer it cannot read): the probe's kind (so the sweeper backs off as for it, Retry-After kept), the stop's
 * reason, and never retried within the call.
 */
export function probeFailed(stopRefusal: RemoteitFailure, probeError: unknown): RemoteitFailure {
  const probe = probeError instanceof RemoteitFailure ? probeError : undefined;
  const detail = probe?.message ?? `the check could not be made (${probeError instanceof Error ? probeError.name : 'unknown error'})`;
  const failure = new RemoteitFailure(
    probe?.kind ?? 'unavailable',
    `remote.it refused the stop (${stopRefusal.reason ?? 'no reason given'}) and the broker's credentials could not be checked: ${detail}`,
    { reason: stopRefusal.reason, retryAfterSeconds: probe?.retryAfterSeconds, cause: probeError },
  );
  notRetriedInCall.add(failure);
  return failure;
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
 * A stop refused because remote.it no longer has that connection (already stopped, expired, idle-closed,
 * overridden): nothing is left to stop. Raised for a known "gone" phrase, or for an undecided stop refusal
 * once the credentials probe said the broker's credentials work (./session.ts). Nothing else makes it.
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
