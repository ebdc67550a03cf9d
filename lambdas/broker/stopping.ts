/**
 * Stop primitives shared by DELETE and the sweeper. Stopping is two version-checked writes around one
 * remote.it call: a claim (`stopping`, due again when the claim lapses) and the outcome. Whoever wins the
 * claim is the only caller of remote.it; a crash after the claim leaves the record due again after
 * `claimSeconds`, so a later sweep finishes the job.
 */
import {
  StaleRecordError,
  type ConnectionChanges,
  type ConnectionRecord,
  type ConnectionStore,
  type StopReason,
} from './model';
import {
  RemoteitCallFailedError,
  RemoteitConnectionGoneError,
  RemoteitError,
  RemoteitNotFoundError,
  RemoteitThrottledError,
  type RemoteitApi,
} from '../remoteit/types';

/** Optional hooks for metrics and logs; called after the outcome is recorded. */
export interface StopEvents {
  stopped?(record: ConnectionRecord): void;
  expired?(record: ConnectionRecord): void;
  retried?(record: ConnectionRecord, error: RemoteitError): void;
  stopFailed?(record: ConnectionRecord, error: RemoteitError): void;
}

export interface StopContext {
  store: ConnectionStore;
  remoteit: RemoteitApi;
  /** Epoch milliseconds. */
  now: () => number;
  /** [0,1), jitter. */
  random: () => number;
  /** Stop retry budget (SWEEPER_MAX_ATTEMPTS). */
  maxAttempts: number;
  /** A claim holds this long; a crash leaves the record due again after it. */
  claimSeconds: number;
  events?: StopEvents;
}

export type StopOutcome = 'stopped' | 'expired' | 'retry' | 'stop_failed';

export interface StopResult {
  record: ConnectionRecord;
  outcome: StopOutcome;
  /** The remote.it error behind `expired` (when remote.it said the connection is gone), `retry`, `stop_failed`. */
  error?: RemoteitError;
}

/** stopClaimed was given a record that is not a claim it can act on: a caller bug, not a runtime condition. */
export class CannotStopError extends Error {
  readonly code = 'cannot_stop';
  constructor(
    readonly id: string,
    detail: string,
  ) {
    super(`connection ${id} cannot be stopped: ${detail}`);
    this.name = 'CannotStopError';
  }
}

export interface BackoffOptions {
  baseSeconds?: number;
  maxSeconds?: number;
  /** Floor, so an unlucky jitter draw does not retry a failing stop at once. */
  minSeconds?: number;
}

/**
 * Delay before stop attempt `attempt + 1`, after `attempt` (1-based) failures: exponential with full jitter
 * (uniform in [0, min(max, base * 2^(attempt-1))]), rounded up to whole seconds, never below the floor.
 */
export function backoffSeconds(
  attempt: number,
  random: () => number,
  { baseSeconds = 30, maxSeconds = 900, minSeconds = 5 }: BackoffOptions = {},
): number {
  const exponent = Math.max(0, Math.floor(attempt) - 1);
  // 2^exponent overflows to Infinity for large attempts; min() then takes the cap, which is what we want.
  const ceiling = Math.min(maxSeconds, baseSeconds * 2 ** exponent);
  const draw = Math.min(Math.max(random(), 0), 1);
  return Math.max(minSeconds, Math.ceil(draw * ceiling));
}

export const epochSeconds = (ms: number): number => Math.floor(ms / 1000);

/** Whether `record`, as read, may be claimed now; a `stopping` one only once its claim or retry is due. */
function claimable(record: ConnectionRecord, nowSeconds: number, reason: StopReason): boolean {
  switch (record.status) {
    case 'active':
      return true;
    case 'stopping':
      return record.dueAt !== undefined && record.dueAt <= nowSeconds;
    case 'pending':
      return record.remoteConnectionId !== undefined;
    case 'stop_failed':
      // The sweeper gave up; an explicit DELETE (reason `requested`) may ask for one more attempt.
      return reason === 'requested' && record.remoteConnectionId !== undefined;
    default:
      return false;
  }
}

/**
 * Version-checked transition of `record` (as read) to `stopping` with `stopReason`, dueAt = now + claimSeconds.
 * Allowed from active, stopping (a retry or lapsed claim that is due), pending with a remoteConnectionId, and
 * stop_failed when the reason is `requested` (a DELETE asking for one more attempt).
 * Resolves undefined when the record cannot be claimed (terminal, pending without a remote id, a stopping
 * one whose claim is still held) or another writer changed it first (StaleRecordError swallowed): the caller
 * re-reads and answers from the record.
 */
export async function claimForStop(
  ctx: StopContext,
  record: ConnectionRecord,
  reason: StopReason,
): Promise<ConnectionRecord | undefined> {
  const nowMs = ctx.now();
  const nowSeconds = epochSeconds(nowMs);
  if (!claimable(record, nowSeconds, reason)) return undefined;
  try {
    return await ctx.store.update(record.id, { status: [record.status], version: record.version }, claimChanges(ctx, reason, nowMs));
  } catch (error) {
    if (error instanceof StaleRecordError) return undefined;
    throw error;
  }
}

/** A stop claim: `stopping` for `reason`, due again when the claim lapses (a crash after it is retried). */
export function claimChanges(ctx: Pick<StopContext, 'claimSeconds'>, reason: StopReason, nowMs: number): ConnectionChanges {
  return { status: 'stopping', stopReason: reason, dueAt: epochSeconds(nowMs) + ctx.claimSeconds, updatedAt: new Date(nowMs).toISOString() };
}

/**
 * remote.it no longer has the connection, or the device or service behind it: nothing left to stop. Any
 * other refusal is retried (and alarmed as stop_failed when it persists), never taken for a stop.
 */
const connectionGone = (error: RemoteitError): boolean =>
  error instanceof RemoteitConnectionGoneError || error instanceof RemoteitNotFoundError;
/** A Retry-After never delays a stop longer than the longest backoff: the lease must still end. */
const MAX_RETRY_DELAY_SECONDS = 900;

/**
 * Calls remote.it stop for a claimed (`stopping`) record and records the outcome with a version-checked
 * update: success -> stopped; connection gone at remote.it, or its expiry already passed (no call made) ->
 * expired; other RemoteitError -> stays stopping with stopAttempts+1, failureReason and a backoff dueAt, or
 * stop_failed once the budget is spent. Never throws a RemoteitError; resolves undefined if another writer
 * won the record meanwhile. Store failures other than a lost race propagate (the claim then lapses and a
 * later sweep retries).
 */
export async function stopClaimed(ctx: StopContext, claimed: ConnectionRecord): Promise<StopResult | undefined> {
  if (claimed.status !== 'stopping') throw new CannotStopError(claimed.id, `status is ${claimed.status}, not stopping`);
  const { remoteConnectionId } = claimed;
  if (remoteConnectionId === undefined) throw new CannotStopError(claimed.id, 'no remote.it connection id');

  let error: RemoteitError | undefined;
  let called = false;
  if (claimed.expiresAt > epochSeconds(ctx.now())) {
    called = true;
    try {
      await ctx.remoteit.stop(claimed.serviceId, remoteConnectionId);
    } catch (caught) {
      // A failure of the broker's own (credentials unavailable or invalid) still costs an attempt, so a stop
      // that can never be made ends as stop_failed (alarmed) instead of being retried silently forever.
      error =
        caught instanceof RemoteitError
          ? caught
          : new RemoteitCallFailedError(`the stop could not be sent: ${caught instanceof Error ? caught.name : 'unknown error'}`, { cause: caught });
    }
  }

  const nowMs = ctx.now();
  const nowSeconds = epochSeconds(nowMs);
  const updatedAt = new Date(nowMs).toISOString();
  const stopAttempts = claimed.stopAttempts + (called ? 1 : 0);
  let outcome: StopOutcome;
  let changes: ConnectionChanges;
  if (!error) {
    outcome = called ? 'stopped' : 'expired';
    changes = {
      status: outcome,
      ...(called ? {} : { stopReason: 'expired' as const }),
      stoppedAt: updatedAt,
      failureReason: null,
      dueAt: null,
      stopAttempts,
      updatedAt,
    };
  } else if (connectionGone(error)) {
    outcome = 'expired';
    // remote.it's answer is kept: "gone" is our reading of an undocumented refusal, operators may want it.
    changes = { status: 'expired', stopReason: 'expired', stoppedAt: updatedAt, failureReason: error.message, dueAt: null, stopAttempts, updatedAt };
  } else if (stopAttempts >= ctx.maxAttempts) {
    outcome = 'stop_failed';
    changes = { status: 'stop_failed', failureReason: error.message, dueAt: null, stopAttempts, updatedAt };
  } else {
    outcome = 'retry';
    const retryAfter = error instanceof RemoteitThrottledError ? Math.min(error.retryAfterSeconds ?? 0, MAX_RETRY_DELAY_SECONDS) : 0;
    changes = {
      failureReason: error.message,
      dueAt: nowSeconds + Math.max(retryAfter, backoffSeconds(stopAttempts, ctx.random)),
      stopAttempts,
      updatedAt,
    };
  }
  let record: ConnectionRecord;
  try {
    record = await ctx.store.update(claimed.id, { status: ['stopping'], version: claimed.version }, changes);
  } catch (caught) {
    if (caught instanceof StaleRecordError) return undefined;
    throw caught;
  }
  notify(ctx.events, outcome, record, error);
  return error ? { record, outcome, error } : { record, outcome };
}

function notify(events: StopEvents | undefined, outcome: StopOutcome, record: ConnectionRecord, error?: RemoteitError): void {
  if (!events) return;
  if (outcome === 'stopped') events.stopped?.(record);
  else if (outcome === 'expired') events.expired?.(record);
  else if (outcome === 'retry' && error) events.retried?.(record, error);
  else if (outcome === 'stop_failed' && error) events.stopFailed?.(record, error);
}
