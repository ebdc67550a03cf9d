/**
 * The admin use cases of locks (./locks.ts): place one, list the live ones, lift one. Admins only, checked
 * first on every one, before anything is read. Stopping what a new lock covers is ./lock-enforcement.ts's
 * job; the handler runs it after `placeLock` (lambdas/handlers/lock-routes.ts).
 */
import { BrokerError, InvalidRequestError } from './errors';
import { MAX_LIVE_LOCKS, type Lock, type LockStore } from './locks';
import { isAdmin, type PolicyDocument } from './policy';
import type { Caller } from './principal';
import { epochSeconds, toIso, type Clock } from './time';

/** A lock route called by someone the policy does not name as an admin. */
export class AdminRequiredError extends BrokerError {
  readonly code = 'admin_required';
  constructor() {
    super('only the broker\'s admins may place, list or lift locks');
  }
}

/** MAX_LIVE_LOCKS are live already: the lock check reads them all at every open, so their number is bounded. */
export class TooManyLocksError extends BrokerError {
  readonly code = 'too_many_locks';
  constructor(readonly maxLiveLocks: number) {
    super(`${maxLiveLocks} locks are live, the most the broker keeps; lift one (or widen one lock's glob) first`);
  }
}

export interface LockAdminDeps {
  locks: LockStore;
  now: Clock;
  /** A new ULID. */
  newId: () => string;
}

/** What the edge has validated (lambdas/handlers/lock-routes.ts): globs within bounds, a reason, whole seconds. */
export interface PlaceLockRequest {
  principal?: string;
  serviceId?: string;
  reason: string;
  ttlSeconds?: number;
}

/** Throws AdminRequiredError unless the policy names `caller` (its normalised principal) an admin. */
export function requireAdmin(policy: PolicyDocument, caller: Caller): void {
  if (!isAdmin(policy, caller.principal)) throw new AdminRequiredError();
}

/**
 * Places a lock: at least one of principal and serviceId (the service glob upper-cased, as service ids are
 * stored), created by the caller's full ARN, lapsing `ttlSeconds` from now when given. Refused while
 * MAX_LIVE_LOCKS are live. Two admins placing the last free one at the same moment may both succeed; the
 * bound is for the cost of the lock check, and one lock past it costs nothing.
 */
export async function placeLock(deps: LockAdminDeps, policy: PolicyDocument, caller: Caller, request: PlaceLockRequest): Promise<Lock> {
  requireAdmin(policy, caller);
  if (request.principal === undefined && request.serviceId === undefined) {
    throw new InvalidRequestError([{ field: 'principal', message: 'or serviceId is required: a lock names a principal, a service, or both' }]);
  }
  const nowMs = deps.now();
  const live = await deps.locks.live(epochSeconds(nowMs));
  if (live.length >= MAX_LIVE_LOCKS) throw new TooManyLocksError(MAX_LIVE_LOCKS);
  const lock: Lock = {
    id: deps.newId(),
    ...(request.principal !== undefined && { principal: request.principal }),
    ...(request.serviceId !== undefined && { serviceId: request.serviceId.toUpperCase() }),
    reason: request.reason,
    createdAt: toIso(nowMs),
    createdBy: caller.arn,
    ...(request.ttlSeconds !== undefined && { expiresAt: epochSeconds(nowMs) + request.ttlSeconds }),
  };
  return deps.locks.place(lock);
}

/** Every live lock, oldest first: the order the lock check matches them in (the first match refuses). */
export async function listLocks(deps: Omit<LockAdminDeps, 'newId'>, policy: PolicyDocument, caller: Caller): Promise<Lock[]> {
  requireAdmin(policy, caller);
  return deps.locks.live(epochSeconds(deps.now()));
}

/** Lifts a live lock; an unknown, lapsed or already lifted id is LockNotFoundError (404). */
export async function liftLock(deps: Omit<LockAdminDeps, 'newId'>, policy: PolicyDocument, caller: Caller, id: string): Promise<Lock> {
  requireAdmin(policy, caller);
  const nowMs = deps.now();
  return deps.locks.lift(id, caller.arn, toIso(nowMs), epochSeconds(nowMs));
}
