/**
 * Lease timers: a lease ends within seconds of its end, not at the next sweep. A timer is armed for every
 * lease end the store records (a connection made active, a renew), and when it fires it stops the connection
 * through the sweeper's own stop path (a version-checked claim, remote.it's stop, the outcome recorded), so
 * a timer delivered twice, or racing a DELETE or a sweep, still stops the connection once. Timers are an
 * optimisation of when, never of whether: the sweeper still ends every lease whose timer was lost.
 */
import { lockCovering, stopForLock } from './lock-enforcement';
import type { Lock } from './locks';
import type { ConnectionRecord } from './model';
import type { LeaseTimer, LeaseTimers, LockStopTimer, Timer } from './ports';
import { claimForStop, stopClaimed, type StopContext, type StopOutcome } from './stopping';

/**
 * The timer a change of record calls for: one for every lease end a record newly holds while active (made
 * active, or renewed to another end), none for any other change (a claim, a stop, the same lease written again).
 */
export function timerFor(before: ConnectionRecord | undefined, after: ConnectionRecord): LeaseTimer | undefined {
  if (after.status !== 'active') return undefined;
  if (before?.status === 'active' && before.leaseExpiresAt === after.leaseExpiresAt) return undefined;
  return { id: after.id, leaseExpiresAt: after.leaseExpiresAt };
}

/** Whether a change made the record active (an open completed), as opposed to renewing an active one. */
export function isActivation(before: ConnectionRecord | undefined, after: ConnectionRecord): boolean {
  return after.status === 'active' && before?.status !== 'active';
}

/**
 * The stop a lock owes a connection just made active: the open checked the locks before it connected, so only
 * a lock placed while it was opening can cover it, and that lock's own enforcement may have found it pending.
 */
export function lockStopFor(after: ConnectionRecord, locks: readonly Lock[]): LockStopTimer | undefined {
  const lock = lockCovering(locks, after);
  return lock && { id: after.id, lockId: lock.id, lockedBy: lock.createdBy };
}

/**
 * What a fired timer came to: `gone` (no such record), `settled` (no longer active: stopped, failed, or
 * claimed by DELETE or a sweep), `superseded` (renewed since: the renew armed its own timer), `rearmed`
 * (the lease ends later than the timer service could wait), `skipped` (another stopper won the claim), or
 * the outcome of the stop it made.
 */
export type TimerOutcome = 'gone' | 'settled' | 'superseded' | 'rearmed' | 'skipped' | StopOutcome;

export interface TimerDeps {
  stopContext: StopContext;
  timers: LeaseTimers;
  /** Waits `ms` (a timer that arrives just before its lease end waits it out rather than going round again). */
  sleep: (ms: number) => Promise<void>;
  /**
   * A timer this close to its lease end waits; one further off is armed again for the rest. SQS delays are
   * whole seconds: the adapter rounds down, so a timer arrives up to a second early and waits.
   */
  maxWaitMs?: number;
}

export interface TimerResult {
  outcome: TimerOutcome;
  /** For a stop the timer made: milliseconds from the lease end to the recorded outcome. */
  overrunMs?: number;
}

export const DEFAULT_MAX_WAIT_MS = 1_500;

/**
 * Acts on a fired timer. Store failures propagate (the timer is delivered again); a remote.it failure is
 * recorded on the connection by the stop path (retried by the sweeper), never thrown.
 */
export async function fireTimer(deps: TimerDeps, timer: Timer): Promise<TimerResult> {
  const result = 'lockId' in timer ? await settleLockStop(deps.stopContext, timer) : await settleTimer(deps, timer);
  deps.stopContext.events({ type: 'timer_fired', connectionId: timer.id, ...result });
  return result;
}

/** A lock stop: the connection is stopped now, as the lock's, unless it already ended or is being stopped. */
async function settleLockStop(stopContext: StopContext, timer: LockStopTimer): Promise<TimerResult> {
  const record = await stopContext.store.get(timer.id);
  if (!record) return { outcome: 'gone' };
  if (record.status !== 'active') return { outcome: 'settled' };
  const lock = { id: timer.lockId, createdBy: timer.lockedBy };
  return { outcome: await stopForLock(stopContext, record, lock) };
}

async function settleTimer(deps: TimerDeps, timer: LeaseTimer): Promise<TimerResult> {
  const { stopContext } = deps;
  const record = await stopContext.store.get(timer.id);
  if (!record) return { outcome: 'gone' };
  if (record.status !== 'active') return { outcome: 'settled' };
  if (record.leaseExpiresAt !== timer.leaseExpiresAt) return { outcome: 'superseded' };

  const leaseEndMs = Date.parse(record.leaseExpiresAt);
  const remainingMs = leaseEndMs - stopContext.now();
  if (remainingMs > (deps.maxWaitMs ?? DEFAULT_MAX_WAIT_MS)) {
    await deps.timers.arm(timer);
    return { outcome: 'rearmed' };
  }
  // Never before the lease end: the caller was promised every second of it.
  if (remainingMs > 0) await deps.sleep(remainingMs);

  const claimed = await claimForStop(stopContext, record, 'lease_ended');
  if (!claimed) return { outcome: 'skipped' };
  const attempt = await stopClaimed(stopContext, claimed);
  if (!attempt) return { outcome: 'skipped' };
  return { outcome: attempt.outcome, overrunMs: Math.max(0, Date.parse(attempt.record.updatedAt) - leaseEndMs) };
}
