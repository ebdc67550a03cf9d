/**
 * The domain's named errors. Each carries a stable `code`; the handler layer maps codes to HTTP statuses in
 * one place, so nothing here knows about HTTP. A 4xx-type error's message is written for the caller; the
 * upstream errors keep a generic message and hold remote.it's internals only in `cause`.
 */

export type BrokerErrorCode =
  | 'invalid_request'
  | 'policy_denied'
  | 'connection_not_found'
  | 'connection_not_active'
  | 'connection_ended'
  | 'connection_may_be_idle'
  | 'connection_opening'
  | 'stop_failed'
  | 'service_not_found'
  | 'quota_exceeded'
  | 'open_rate_exceeded'
  | 'locked'
  | 'lock_not_found'
  | 'admin_required'
  | 'too_many_locks'
  | 'upstream_refused'
  | 'upstream_timeout'
  | 'upstream_unavailable';

export abstract class BrokerError extends Error {
  abstract readonly code: BrokerErrorCode;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export interface FieldError {
  /** The request field at fault, as the caller spelled it (`clientIp`, `ttlSeconds`, `body`, `Idempotency-Key`). */
  field: string;
  message: string;
}

/**
 * The request is malformed; every bad field is named. The one invalid-input error: the HTTP layer raises it
 * for what its schemas reject, the domain for the rules a schema cannot express (the client IP).
 */
/** At most this many bad fields are named in one answer; the rest are counted. */
export const MAX_FIELD_ERRORS = 20;
/** A field name (possibly the caller's own unknown key) is echoed at most this long. */
export const MAX_FIELD_NAME_LENGTH = 64;

const clip = (name: string) => (name.length > MAX_FIELD_NAME_LENGTH ? `${name.slice(0, MAX_FIELD_NAME_LENGTH - 1)}…` : name);

/** The first MAX_FIELD_ERRORS problems, names clipped, and one `body` entry counting the rest: an answer stays small. */
function bounded(errors: readonly FieldError[]): FieldError[] {
  const named = errors.slice(0, MAX_FIELD_ERRORS).map((error) => ({ field: clip(error.field), message: error.message }));
  const more = errors.length - named.length;
  return more > 0 ? [...named, { field: 'body', message: `and ${more} more problems (the first ${MAX_FIELD_ERRORS} are named)` }] : named;
}

export class InvalidRequestError extends BrokerError {
  readonly code = 'invalid_request';
  readonly errors: FieldError[];
  constructor(errors: readonly FieldError[]) {
    const shown = bounded(errors);
    super(`invalid request: ${shown.map((error) => `${error.field} ${error.message}`).join('; ')}`);
    this.errors = shown;
  }
}

/** Why a policy said no; also the `reason` dimension of the policyDenied metric. */
export type PolicyDenialReason =
  | 'no_matching_rule'
  | 'mode_not_allowed'
  | 'ttl_above_max'
  | 'client_ip_not_allowed'
  | 'lifetime_reached'
  | 'public_not_allowed'
  | 'policy_unavailable';

/** The policy does not let this caller do this. The message says what was denied (never which rules exist). */
export class PolicyDeniedError extends BrokerError {
  readonly code = 'policy_denied';
  constructor(
    readonly reason: PolicyDenialReason,
    detail: string,
  ) {
    super(detail);
  }
}

/** Unknown id, or one the caller may not see: the two are indistinguishable on purpose. */
export class ConnectionNotFoundError extends BrokerError {
  readonly code = 'connection_not_found';
  constructor(readonly id: string) {
    super(`connection ${id} not found`);
  }
}

/** The connection exists but is not active, so it cannot be renewed. */
export class ConnectionNotActiveError extends BrokerError {
  readonly code = 'connection_not_active';
  constructor(
    readonly id: string,
    readonly status: string,
  ) {
    super(`connection ${id} is ${status}; only an active connection can be renewed`);
  }
}

/**
 * An open replayed with its Idempotency-Key whose connection is no longer active (stopped, failed, expired,
 * being stopped, or gone): its first answer's proxy address is not the caller's any more (remote.it reuses
 * proxy ports), so it is not answered again. The caller opens anew, with a new key.
 */
export class ConnectionEndedError extends BrokerError {
  readonly code = 'connection_ended';
  constructor(
    readonly id: string,
    readonly status: string,
  ) {
    super(`the connection this Idempotency-Key opened, ${id}, is ${status} now; its proxy is no longer yours: open a new connection with a new Idempotency-Key`);
  }
}

/**
 * Renewing would extend a proxy remote.it may already have closed: it closes one its idle window after the
 * last connection through it ends (or after it opened, if nobody connected), and the broker cannot see
 * connections, so past the first window it cannot tell a busy proxy from a closed one. The caller opens anew,
 * or renews with `usedAt` when it knows it used the proxy (the window then runs from that use).
 */
export class ConnectionMayBeIdleError extends BrokerError {
  readonly code = 'connection_may_be_idle';
  constructor(
    readonly id: string,
    idleClosesAt: string,
  ) {
    super(
      `connection ${id} may already be closed at remote.it: remote.it closes an unused proxy after its idle window, which ended at ${idleClosesAt}, and the broker cannot see whether it is in use; renew with usedAt (when you last had a connection open through it) or open a new connection`,
    );
  }
}

/**
 * A stop asked while remote.it is still opening the connection: there is nothing to stop yet, and the
 * open in flight will record a live proxy. The caller retries shortly (or the sweeper settles a dead open).
 */
export class ConnectionOpeningError extends BrokerError {
  readonly code = 'connection_opening';
  /** A connect with `wait` takes a few seconds. */
  readonly retryAfterSeconds = 2;
  constructor(readonly id: string) {
    super(`connection ${id} is still being opened at remote.it; stop it again in a few seconds`);
  }
}

/** The stop was tried and remote.it still did not confirm it: the connection may be live (alarmed). */
export class StopFailedError extends BrokerError {
  readonly code = 'stop_failed';
  constructor(
    readonly id: string,
    attempts: number,
  ) {
    super(
      `remote.it did not confirm the stop of connection ${id} after ${attempts} attempts; it may still be open. Operators are alerted; DELETE again to retry.`,
    );
  }
}

/** remote.it does not know the service (`[0806]`, `[0861]`, `bad device address`); its reason is shown. */
export class ServiceNotFoundError extends BrokerError {
  readonly code = 'service_not_found';
  constructor(
    readonly serviceId: string,
    reason: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(`remote.it does not know service ${serviceId}${reason ? `: ${reason}` : ''}`, options);
  }
}

/** The caller already holds as many live connections as the policy allows. */
export class QuotaExceededError extends BrokerError {
  readonly code = 'quota_exceeded';
  constructor(readonly maxActive: number) {
    super(`you already hold ${maxActive} live connection(s), the most your policy allows; stop one first`);
  }
}

/** The caller opened as many connections this minute as the policy allows: it may open again once the minute is over. */
export class OpenRateExceededError extends BrokerError {
  readonly code = 'open_rate_exceeded';
  constructor(
    opensPerMinute: number,
    /** Until the next minute starts. */
    readonly retryAfterSeconds: number,
  ) {
    super(`you already opened ${opensPerMinute} connection(s) this minute, the most your policy allows; retry in ${retryAfterSeconds} s`);
  }
}

/** remote.it said no; its reason is safe to show and goes into `detail`. */
export class UpstreamRefusedError extends BrokerError {
  readonly code = 'upstream_refused';
  constructor(
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`remote.it refused the connection: ${reason}`, options);
  }
}

export class UpstreamTimeoutError extends BrokerError {
  readonly code = 'upstream_timeout';
  constructor(options?: { cause?: unknown }) {
    super('remote.it did not answer in time', options);
  }
}

/**
 * remote.it could not be used (throttled, 5xx, unreachable, malformed answer, the broker's credentials
 * rejected) or its answer could not be recorded. The message stays generic: details live in `cause` for logs.
 */
export class UpstreamUnavailableError extends BrokerError {
  readonly code = 'upstream_unavailable';
  /** When remote.it said how long to wait (HTTP 429 Retry-After). */
  readonly retryAfterSeconds: number | undefined;
  constructor(options?: { cause?: unknown; retryAfterSeconds?: number }) {
    super('remote.it is unavailable; try again later', options);
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
}
