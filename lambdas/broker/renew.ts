/** Renew: move an active connection's lease end, within the owner's policy (its TTL and lifetime) and remote.it's own expiry. */
import { ConnectionMayBeIdleError, ConnectionNotActiveError, ConnectionNotFoundError, InvalidRequestError } from './errors';
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

/** How far ahead of the broker's clock a caller's `usedAt` may be (clock skew); later ones are refused. */
export const USED_AT_SKEW_SECONDS = 5;

/**
 * When remote.it may close the proxy for idleness, given the caller's word that it used the proxy at
 * `usedAtMs`: remote.it closes a proxy its idle window after the last connection through it ends, so a use at
 * `usedAt` keeps it open at least until usedAt + the window. Undefined: nothing changes (no `usedAt`, a record
 * without a kept window, or a use that moves nothing).
 */
function idleCloseAfterUse(record: ConnectionRecord, usedAtMs: number | undefined, nowMs: number): number | undefined {
  if (usedAtMs === undefined || record.idleSeconds === undefined || record.idleClosesAt === undefined) return undefined;
  if (usedAtMs > nowMs + USED_AT_SKEW_SECONDS * 1000) {
    throw new InvalidRequestError([{ field: 'usedAt', message: `must not be in the future (more than ${USED_AT_SKEW_SECONDS} s ahead of the broker's clock)` }]);
  }
  const closesMs = Math.min(usedAtMs, nowMs) + record.idleSeconds * 1000;
  return closesMs > Date.parse(record.idleClosesAt) ? closesMs : undefined;
}

/**
 * `ttlSeconds` as the edge validated it: a whole number within the request bounds. `usedAtMs`: when the caller
 * last had a connection open through the proxy, if it says so (the owner harms only itself by overstating it:
 * it already holds the proxy's address, and a lease on a proxy remote.it closed ends as `expired`).
 */
export async function renewConnection(deps: RenewDeps, caller: Caller, id: string, ttlSeconds: number, usedAtMs?: number): Promise<ConnectionRecord> {
  const { store, policy } = deps;
  const record = await readVisible(deps, caller, id);
  const nowMs = deps.now();
  const seen = asSeen(record, nowMs);
  if (seen.status !== 'active') throw new ConnectionNotActiveError(id, seen.status);
  // A lease that has ended is the sweeper's to stop, even if it has not run yet: renewing would revive it.
  if (Date.parse(record.leaseExpiresAt) <= nowMs) throw new ConnectionNotActiveError(id, 'past its lease');
  // Past its first idle window remote.it may have closed the proxy, unless the caller used it since (records
  // from before the broker kept the window have none, and renew as they always did).
  const idleClosesAtMs = idleCloseAfterUse(record, usedAtMs, nowMs);
  const idleClosesAt = idleClosesAtMs === undefined ? record.idleClosesAt : new Date(idleClosesAtMs).toISOString();
  if (idleClosesAt !== undefined && Date.parse(idleClosesAt) <= nowMs) throw new ConnectionMayBeIdleError(id, idleClosesAt);
  // The lease is the owner's, so the owner's rules cap it (also when an admin renews).
  // Under the mode that was asked and allowed at open (a reverse proxy's effective `public` passed its own check).
  const mode = record.requestedMode ?? record.mode;
  const clientIp = mode === 'ip' ? (record.requestedHostIp ?? record.hostIp) : undefined;
  const decision = evaluatePolicy(policy, { principal: record.owner, serviceId: record.serviceId, mode, ttlSeconds, ...(clientIp && { clientIp }) });
  if (!decision.allowed) return denyByPolicy(deps.events, decision.reason, decision.detail);
  // The lifetime counts from the open, across every renew: a renew is capped at its end, and refused when
  // the cap would not let it move the lease at all.
  const lifetimeEndMs = decision.maxLifetimeSeconds === undefined ? Infinity : Date.parse(record.createdAt) + decision.maxLifetimeSeconds * 1000;
  if (lifetimeEndMs < nowMs + ttlSeconds * 1000 && lifetimeEndMs <= Date.parse(record.leaseExpiresAt)) {
    return denyByPolicy(
      deps.events,
      'lifetime_reached',
      `connection ${id} has reached your policy's maxLifetimeSeconds of ${decision.maxLifetimeSeconds ?? 0} for service ${record.serviceId} (it ends ${record.leaseExpiresAt}): open a new connection`,
    );
  }
  const lock = lockFor(await deps.locks.live(epochSeconds(nowMs)), { principal: record.owner, serviceId: record.serviceId });
  if (lock) {
    deps.events({ type: 'lock_refused', lockId: lock.id });
    throw new LockedError(lock);
  }

  const leaseEndMs = Math.min(nowMs + ttlSeconds * 1000, record.expiresAt * 1000, lifetimeEndMs);
  try {
    // Version-checked: a sweeper claim between the read and this write wins, never the renew.
    return await applyTransition(store, lifecycle.extendLease(record, leaseEndMs, caller.arn, idleClosesAtMs));
  } catch (error) {
    if (!(error instanceof StaleRecordError)) throw error;
    // Stopped or claimed by the sweeper since the read.
    const latest = await store.get(id);
    if (!latest) throw new ConnectionNotFoundError(id);
    throw new ConnectionNotActiveError(id, asSeen(latest, deps.now()).status);
  }
}
