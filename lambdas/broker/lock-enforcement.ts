/**
 * Enforcing locks: every live connection a lock covers is stopped through the stop path (a version-checked
 * claim with reason `locked`, remote.it's stop, the outcome recorded), so enforcement racing a DELETE, a
 * timer or a sweep still stops each connection once. Live connections are read from the store's due work
 * with no time bound: every live record has sweeper work pending (a lease end, a pending grace, a claim), so
 * the due index holds them all; the cost is one read of the live records, paid only while a lock is live.
 *
 * Who enforces: placing a lock (POST /locks) at once; the sweeper on every run while a lock is live (the
 * net for a connection that was still opening when the lock was placed, or when timers are off); and
 * timer-arm for each connection made active while a lock covering it is live (lambdas/broker/timers.ts).
 */
import { lockFor, type Lock } from './locks';
import type { ConnectionRecord } from './model';
import { claimForStop, stopClaimed, type StopContext, type StopOutcome } from './stopping';

export interface LockEnforcement {
  /** Connections this enforcement stopped (or found already gone at remote.it). */
  stopped: number;
  /**
   * Covered connections it could not stop now: still opening (stopped once active), a stop remote.it did not
   * confirm (retried by the sweeper), a claim lost to another stopper, or left when the deadline came.
   */
  remaining: number;
  /** Parts of the live records that could not be read (reported as `due_read_failed`): the sweeper's next pass covers them. */
  unreadParts: number;
}

export interface EnforceOptions {
  /** Stops made at once. */
  concurrency?: number;
  /** Epoch ms after which no new stop starts (an API call must answer within API Gateway's 30 s). */
  deadlineMs?: number;
  pageSize?: number;
}

const DEFAULT_CONCURRENCY = 8;
const DEFAULT_PAGE_SIZE = 100;
const NO_TIME_BOUND = Number.MAX_SAFE_INTEGER;

/** The lock that covers `record`, if any: matched on its owner (the normalised principal) and its service. */
export function lockCovering(locks: readonly Lock[], record: Pick<ConnectionRecord, 'owner' | 'serviceId'>): Lock | undefined {
  return lockFor(locks, { principal: record.owner, serviceId: record.serviceId });
}

/**
 * Stops one connection because of `lock`: what the stop came to (`stopped`, `expired` when remote.it no
 * longer had it, `retry` / `stop_failed` when remote.it did not confirm), or `skipped` when it could not be
 * claimed now (another stopper has it). The claim names the admin who placed the lock.
 */
export async function stopForLock(
  stopContext: StopContext,
  record: ConnectionRecord,
  lock: Pick<Lock, 'id' | 'createdBy'>,
): Promise<StopOutcome | 'skipped'> {
  const claimed = await claimForStop(stopContext, record, 'locked', lock.createdBy, lock.id);
  if (!claimed) return 'skipped';
  const attempt = await stopClaimed(stopContext, claimed);
  if (!attempt) return 'skipped';
  if (attempt.outcome === 'stopped' || attempt.outcome === 'expired') stopContext.events({ type: 'lock_stopped', record: attempt.record, lockId: lock.id });
  return attempt.outcome;
}

/**
 * Stops every live connection one of `locks` covers. A part of the store that cannot be read is reported and
 * left to the next pass; other store failures propagate; remote.it failures are recorded on the connection.
 */
export async function enforceLocks(stopContext: StopContext, locks: readonly Lock[], options: EnforceOptions = {}): Promise<LockEnforcement> {
  const result: LockEnforcement = { stopped: 0, remaining: 0, unreadParts: 0 };
  if (locks.length === 0) return result;
  const concurrency = Math.max(1, options.concurrency ?? DEFAULT_CONCURRENCY);
  const deadlineMs = options.deadlineMs ?? Number.POSITIVE_INFINITY;
  for await (const batch of stopContext.store.due(NO_TIME_BOUND, { pageSize: options.pageSize ?? DEFAULT_PAGE_SIZE })) {
    const covered = batch.items.flatMap((record) => {
      const lock = record.status === 'active' || record.status === 'pending' ? lockCovering(locks, record) : undefined;
      return lock ? [{ record, lock }] : [];
    });
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < covered.length) {
        const item = covered[next];
        next += 1;
        if (!item) return;
        // Still opening: there is no proxy to stop yet; it is stopped once active.
        if (item.record.status === 'pending' || stopContext.now() >= deadlineMs) {
          result.remaining += 1;
          continue;
        }
        const outcome = await stopForLock(stopContext, item.record, item.lock);
        if (outcome === 'stopped' || outcome === 'expired') result.stopped += 1;
        else result.remaining += 1;
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, covered.length) }, worker));
    for (const failure of batch.failures) {
      result.unreadParts += 1;
      stopContext.events({ type: 'due_read_failed', part: failure.part, error: failure.error });
    }
  }
  return result;
}
