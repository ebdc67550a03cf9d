/**
 * Stop primitives shared by DELETE and the sweeper. Stopping is two version-checked writes around one
 * remote.it call: a claim (`stopping`, due again when the claim lapses) and the outcome. Whoever wins the
 * claim is the only caller of remote.it; a crash after the claim leaves the record due again after
 * `claimSeconds`, so a later sweep finishes the job.
 */
import { fullJitterDelay } from './backoff';
import type { EventSink } from './events';
// The builders one by one (not the `lifecycle` object), so the open function's bundle leaves out those it never calls.
import * as lifecycle from './lifecycle';
import { applyTransition, type Transition } from './lifecycle';
import type { ConnectionRecord, StopReason } from './model';
import { asRemoteitFailure, StaleRecordError, type ConnectionStore, type RecordStore, type RemoteitApi, type RemoteitFailure } from './ports';
import { epochSeconds, type Clock } from './time';

/**
 * Everything a stop needs: the one stop context of the domain, built once per function by the runtime. Its
 * store is the whole `ConnectionStore` except in the open function, which builds only the `RecordStore` its
 * code needs (`StopContext<RecordStore>`, what the stop primitives below take).
 */
export interface StopContext<Store extends RecordStore = ConnectionStore> {
  store: Store;
  remoteit: RemoteitApi;
  now: Clock;
  /** [0,1), jitter. */
  random: () => number;
  /** Stop retry budget (SWEEPER_MAX_ATTEMPTS). */
  maxAttempts: number;
  /** A claim holds this long; a crash leaves the record due again after it. */
  claimSeconds: number;
  events: EventSink;
}

export type StopOutcome = 'stopped' | 'expired' | 'retry' | 'stop_failed';

/** What one stop attempt on a claimed record came to. */
export interface StopAttempt {
  record: ConnectionRecord;
  outcome: StopOutcome;
  /** The remote.it failure behind `expired` (when remote.it said the connection is gone), `retry`, `stop_failed`. */
  failure?: RemoteitFailure;
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

/** Delay before stop attempt `attempt + 1`, after `attempt` (1-based) failures: full jitter, whole seconds, never below the floor. */
export function backoffSeconds(
  attempt: number,
  random: () => number,
  { baseSeconds = 30, maxSeconds = 900, minSeconds = 5 }: BackoffOptions = {},
): number {
  return Math.max(minSeconds, Math.ceil(fullJitterDelay(attempt, random, { base: baseSeconds, cap: maxSeconds })));
}

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
 * Applies `transition`, resolving undefined when another writer changed the record first (the caller then
 * decides again from what that writer left). Other store failures propagate.
 */
export async function applyUnlessStale(stopContext: Pick<StopContext<RecordStore>, 'store'>, transition: Transition): Promise<ConnectionRecord | undefined> {
  try {
    return await applyTransition(stopContext.store, transition);
  } catch (error) {
    if (error instanceof StaleRecordError) return undefined;
    throw error;
  }
}

/**
 * Claims `record` (as read) for stop with `stopReason`. Allowed from active, stopping (a retry or lapsed
 * claim that is due), pending with a remoteConnectionId, and stop_failed when the reason is `requested` (a
 * DELETE asking for one more attempt). Resolves undefined when the record cannot be claimed or another
 * writer changed it first: the caller re-reads and answers from the record. `actor`: the caller of a DELETE, or
 * the admin who placed the lock behind a `locked` stop (`lockId`).
 */
export async function claimForStop(
  stopContext: StopContext<RecordStore>,
  record: ConnectionRecord,
  reason: StopReason,
  actor?: string,
  lockId?: string,
): Promise<ConnectionRecord | undefined> {
  const nowMs = stopContext.now();
  if (!claimable(record, epochSeconds(nowMs), reason)) return undefined;
  return applyUnlessStale(stopContext, lifecycle.claimStop(record, reason, nowMs, stopContext.claimSeconds, actor, lockId));
}

/** A stop the API made that ended the connection (stopped, or found gone) is reported once, as the API's. */
export function reportEndedByApi(stopContext: Pick<StopContext, 'events'>, attempt: StopAttempt | undefined): void {
  if (attempt && (attempt.outcome === 'stopped' || attempt.outcome === 'expired')) stopContext.events({ type: 'stopped', record: attempt.record });
}

/**
 * remote.it no longer has the connection, or the device or service behind it: nothing left to stop. Any
 * other refusal is retried (and alarmed as stop_failed when it persists), never taken for a stop.
 */
const connectionGone = (failure: RemoteitFailure): boolean => failure.kind === 'gone' || failure.kind === 'not_found';
/** A Retry-After never delays a stop longer than the longest backoff: the lease must still end. */
const MAX_RETRY_DELAY_SECONDS = 900;

/**
 * Calls remote.it stop for a claimed (`stopping`) record and records the outcome with a version-checked
 * update: success -> stopped; connection gone at remote.it, or its expiry already passed (no call made) ->
 * expired; another failure -> stays stopping with stopAttempts+1, failureReason and a backoff dueAt, or
 * stop_failed once the budget is spent. Never throws a remote.it failure; resolves undefined if another
 * writer won the record meanwhile. Store failures other than a lost race propagate (the claim then lapses
 * and a later sweep retries).
 */
export async function stopClaimed(stopContext: StopContext<RecordStore>, claimed: ConnectionRecord): Promise<StopAttempt | undefined> {
  if (claimed.status !== 'stopping') throw new CannotStopError(claimed.id, `status is ${claimed.status}, not stopping`);
  const { remoteConnectionId } = claimed;
  if (remoteConnectionId === undefined) throw new CannotStopError(claimed.id, 'no remote.it connection id');

  let failure: RemoteitFailure | undefined;
  let called = false;
  if (claimed.expiresAt > epochSeconds(stopContext.now())) {
    called = true;
    try {
      await stopContext.remoteit.stop(claimed.serviceId, remoteConnectionId);
    } catch (caught) {
      failure = asRemoteitFailure(caught, 'stop');
      stopContext.events({ type: 'remoteit_failed', operation: 'stop', failure });
    }
  }

  const nowMs = stopContext.now();
  const stopAttempts = claimed.stopAttempts + (called ? 1 : 0);
  let outcome: StopOutcome;
  let transition: Transition;
  if (!failure) {
    outcome = called ? 'stopped' : 'expired';
    transition = called ? lifecycle.stopConfirmed(claimed, stopAttempts, nowMs) : lifecycle.stopGone(claimed, stopAttempts, nowMs, null);
  } else if (connectionGone(failure)) {
    outcome = 'expired';
    // remote.it's answer is kept: "gone" is our reading of an undocumented refusal, operators may want it.
    transition = lifecycle.stopGone(claimed, stopAttempts, nowMs, failure.message);
  } else if (stopAttempts >= stopContext.maxAttempts) {
    outcome = 'stop_failed';
    transition = lifecycle.stopGivenUp(claimed, stopAttempts, failure.message);
  } else {
    outcome = 'retry';
    const retryAfter = failure.kind === 'throttled' ? Math.min(failure.retryAfterSeconds ?? 0, MAX_RETRY_DELAY_SECONDS) : 0;
    const dueAt = epochSeconds(nowMs) + Math.max(retryAfter, backoffSeconds(stopAttempts, stopContext.random));
    transition = lifecycle.stopRetry(claimed, stopAttempts, failure.message, dueAt);
  }
  const record = await applyUnlessStale(stopContext, transition);
  if (!record) return undefined;
  if (failure && outcome === 'retry') stopContext.events({ type: 'stop_retry', record, failure });
  if (failure && outcome === 'stop_failed') stopContext.events({ type: 'stop_failed', record, failure });
  return failure ? { record, outcome, failure } : { record, outcome };
}
