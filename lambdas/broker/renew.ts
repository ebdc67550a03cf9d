/** Renew: move an active connection's lease end, within the owner's policy and remote.it's own expiry. */
import { ConnectionMayBeIdleError, ConnectionNotActiveError, ConnectionNotFoundError } from './errors';
import type { EventSink } from './events';
import { lockFor, LockedError, type LockStore } from './locks';
import { applyTransition, lifecycle } from './lifecycle';
import type { ConnectionRecord } from './model';
import { denyByPolicy, evaluatePolicy, type PolicyDocument } from './policy';
import { StaleRecordError, type ConnectionStore } from './ports';
import type { Caller } from './principal';
import { asSeen, readVisible } from './queries';
import { epochSeconds, type Clock } from './time';

export interface RenewDeps {
  store: ConnectionStore;
  policy: PolicyDocument;
  /** Operators' locks: a renew a lock covers is refused. */
  locks: Pick<LockStore, 'live'>;
  now: Clock;
  events: EventSink;
}

/** `ttlSeconds` as the edge validated it: a whole number within the request bounds. */
export async function renewConnection(deps: RenewDeps, caller: Caller, id: string, ttlSeconds: number): Promise<ConnectionRecord> {
  const { store, policy } = deps;
  const record = await readVisible(deps, caller, id);
  const nowMs = deps.now();
  const seen = asSeen(record, nowMs);
  if (seen.status !== 'active') throw new ConnectionNotActiveError(id, seen.status);
  // A lease that has ended is the sweeper's to stop, even if it has not run yet: renewing would revive it.
  if (Date.parse(record.leaseExpiresAt) <= nowMs) throw new ConnectionNotActiveError(id, 'past its lease');
  // Past its first idle window remote.it may have closed the proxy (records from before the broker kept the
  // window have none, and renew as they always did).
  if (record.idleClosesAt !== undefined && Date.parse(record.idleClosesAt) <= nowMs) throw new ConnectionMayBeIdleError(id, record.idleClosesAt);
  // The lease is the owner's, so the owner's rules cap it (also when an admin renews).
  // Under the mode that was asked and allowed at open (a reverse proxy's effective `public` passed its own check).
  const mode = record.requestedMode ?? record.mode;
  const decision = evaluatePolicy(policy, { principal: record.owner, serviceId: record.serviceId, mode, ttlSeconds });
  if (!decision.allowed) return denyByPolicy(deps.events, decision.reason, decision.detail);
  const lock = lockFor(await deps.locks.live(epochSeconds(nowMs)), { principal: record.owner, serviceId: record.serviceId });
  if (lock) {
    deps.events({ type: 'lock_refused', lockId: lock.id });
    throw new LockedError(lock);
  }

  const leaseEndMs = Math.min(nowMs + ttlSeconds * 1000, record.expiresAt * 1000);
  try {
    // Version-checked: a sweeper claim between the read and this write wins, never the renew.
    return await applyTransition(store, lifecycle.extendLease(record, leaseEndMs, caller.arn));
  } catch (error) {
    if (!(error instanceof StaleRecordError)) throw error;
    // Stopped or claimed by the sweeper since the read.
    const latest = await store.get(id);
    if (!latest) throw new ConnectionNotFoundError(id);
    throw new ConnectionNotActiveError(id, asSeen(latest, deps.now()).status);
  }
}
