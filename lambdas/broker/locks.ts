/**
 * Locks: an operator's emergency stop. A lock names a principal (a role ARN glob, as in the policy), a
 * service (a service id glob), or both; while it is live, every open and renew it matches is refused, and every
 * live connection it matches is stopped. Locks are data (a table of their own), placed and lifted by admins.
 */
import { BrokerError } from './errors';
import { matchesGlob } from './policy';

/** Most live locks the broker keeps: the lock check reads them all in one bounded query. */
export const MAX_LIVE_LOCKS = 100;

export interface Lock {
  /** ULID. */
  id: string;
  /** Role ARN glob (`*` any run of characters), matched against the caller's normalised principal. */
  principal?: string;
  /** Service id glob, case-insensitive. */
  serviceId?: string;
  /** Why, shown to every caller the lock refuses. */
  reason: string;
  /** ISO-8601 UTC. */
  createdAt: string;
  /** The admin's full principal ARN. */
  createdBy: string;
  /** Epoch seconds when the lock lapses by itself (the table's TTL attribute); absent: until lifted. */
  expiresAt?: number;
  /** ISO-8601 UTC, once lifted. */
  liftedAt?: string;
  /** The admin's full principal ARN, once lifted. */
  liftedBy?: string;
}

/** Where locks live. Implemented on DynamoDB by lambdas/store/lock-store.ts. */
export interface LockStore {
  /** Writes a new lock; returns it as stored. */
  place(lock: Lock): Promise<Lock>;
  /** A strongly consistent read; undefined when absent. */
  get(id: string): Promise<Lock | undefined>;
  /**
   * Every lock that is live at `nowSeconds` (not lifted, not lapsed), oldest first, at most MAX_LIVE_LOCKS:
   * one bounded, strongly consistent read.
   */
  live(nowSeconds: number): Promise<Lock[]>;
  /** Marks a live lock lifted by `by` at `atIso`; returns it. Throws `LockNotFoundError` when absent or not live. */
  lift(id: string, by: string, atIso: string, nowSeconds: number): Promise<Lock>;
}

/** What a lock is matched against: the caller's normalised principal and the (upper-case) service id. */
export interface LockTarget {
  principal: string;
  serviceId: string;
}

/** Whether `lock` covers `target`: every part it names must match. */
export function lockMatches(lock: Pick<Lock, 'principal' | 'serviceId'>, target: LockTarget): boolean {
  if (lock.principal === undefined && lock.serviceId === undefined) return false;
  if (lock.principal !== undefined && !matchesGlob(lock.principal, target.principal)) return false;
  if (lock.serviceId !== undefined && !matchesGlob(lock.serviceId, target.serviceId, { caseInsensitive: true })) return false;
  return true;
}

/**
 * When `lock` lapses by itself, epoch seconds: its `expiresAt`, unless it was lifted. Lifting sets the TTL
 * attribute to the lift time so that DynamoDB removes the item; that is bookkeeping, not a lapse time.
 */
export function lapsesAt(lock: Pick<Lock, 'expiresAt' | 'liftedAt'>): number | undefined {
  return lock.liftedAt === undefined ? lock.expiresAt : undefined;
}

/** The first of `locks` (oldest first) that covers `target`. */
export function lockFor(locks: readonly Lock[], target: LockTarget): Lock | undefined {
  return locks.find((lock) => lockMatches(lock, target));
}

/** An operator's lock refuses this open or renew. The message names the lock's reason, never other locks. */
export class LockedError extends BrokerError {
  readonly code = 'locked';
  constructor(readonly lock: Pick<Lock, 'id' | 'reason'>) {
    super(`refused by lock ${lock.id}: ${lock.reason}`);
  }
}

/** Unknown lock id, or one already lifted. */
export class LockNotFoundError extends BrokerError {
  readonly code = 'lock_not_found';
  constructor(readonly id: string) {
    super(`lock ${id} not found`);
  }
}
