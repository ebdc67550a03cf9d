/**
 * Open: the policy, a write-ahead `pending` record that takes one of the caller's quota slots in the same
 * write, remote.it's connect, and the record made active, so that a crash anywhere leaves a trace the
 * sweeper settles (and its slot with it). What happens when the connect does not simply succeed is in
 * ./open-recovery. A replayed open (the same Idempotency-Key) answers the connection as it is now.
 */
import { ConnectionEndedError, OpenRateExceededError, QuotaExceededError } from './errors';
import { hostIpFor } from './client-ip';
import { lockFor, LockedError, type Lock, type LockStore } from './locks';
// The builders one by one (not the `lifecycle` object), so the open function's bundle leaves out those it never calls.
import * as lifecycle from './lifecycle';
import { applyTransition, INITIAL_STATUS, SHORT_HORIZON_SECONDS } from './lifecycle';
import { MIN_TTL_SECONDS, type ConnectionMode, type ConnectionRecord } from './model';
import { compensate, failPending, markOverridden, MAX_SCAN_PAGES, refusePublic, SCAN_PAGE_SIZE } from './open-recovery';
import { denyByPolicy, evaluatePolicy, type PolicyDocument } from './policy';
import { RemoteitFailure, type RecordStore, type RemoteConnection } from './ports';
import type { Caller } from './principal';
import { asSeen } from './queries';
import type { StopContext as FullStopContext } from './stopping';
import { epochSeconds, toIso } from './time';

/** Open's stop context: its store is the records alone (the open function builds no due reader, no live count). */
type StopContext = FullStopContext<RecordStore>;

export interface OpenDeps {
  policy: PolicyDocument;
  /** Operators' locks: read once per open, before the write-ahead record (alongside a reuse lookup). */
  locks: Pick<LockStore, 'live'>;
  /** A new ULID. */
  newId: () => string;
  defaultTtlSeconds: number;
  /** A pending record becomes due for the sweeper after this long (an invocation that died mid-connect). */
  pendingGraceSeconds: number;
  /** The local stack admits private and loopback client IPs: loopback addresses stand in for the internet there. */
  allowPrivateClientIps: boolean;
  /** The store, remote.it, the clock and the events, and what a stop of a refused proxy needs. */
  stopContext: StopContext;
}

/** What the edge has validated: an upper-case service id, a known mode, a ttl within the request bounds. */
export interface OpenRequest {
  serviceId: string;
  mode?: ConnectionMode;
  /** mode `ip` only; defaults to the caller's source IP. */
  clientIp?: string;
  ttlSeconds?: number;
  reuse?: boolean;
}

export interface OpenResult {
  connection: ConnectionRecord;
  /** True when an existing live connection was returned and remote.it was not called. */
  reused: boolean;
}

interface Target {
  serviceId: string;
  mode: ConnectionMode;
  hostIp: string;
  ttlSeconds: number;
}

/** A reused connection must leave the caller this long to connect before remote.it's first idle close. */
export const REUSE_IDLE_MARGIN_SECONDS = 60;

/**
 * The caller's newest active connection to the same target whose lease already covers `ttlSeconds` and that
 * remote.it cannot have closed for idleness: at least REUSE_IDLE_MARGIN_SECONDS left of its first idle window
 * (after it, remote.it may have closed it whenever nobody was connected; a record without the window, from
 * before the broker kept it, is never reused).
 */
async function findReusable(stopContext: StopContext, caller: Caller, target: Target, nowMs: number): Promise<ConnectionRecord | undefined> {
  const covers = (record: ConnectionRecord) =>
    record.status === 'active' &&
    record.expiresAt > epochSeconds(nowMs) &&
    Date.parse(record.leaseExpiresAt) >= nowMs + target.ttlSeconds * 1000 &&
    record.idleClosesAt !== undefined &&
    Date.parse(record.idleClosesAt) - REUSE_IDLE_MARGIN_SECONDS * 1000 > nowMs;
  let cursor: string | undefined;
  for (let page = 0; page < MAX_SCAN_PAGES; page += 1) {
    const result = await stopContext.store.list({ owner: caller.principal, serviceId: target.serviceId, status: 'active', limit: SCAN_PAGE_SIZE, cursor });
    // Matched on what was asked: a reverse proxy opened for a latching request is recorded public.
    const found = result.items.find(
      (record) => (record.requestedMode ?? record.mode) === target.mode && (record.requestedHostIp ?? record.hostIp) === target.hostIp && covers(record),
    );
    // The list comes from an eventually consistent index: confirm on the table before handing it out.
    if (found) {
      const fresh = await stopContext.store.get(found.id);
      return fresh && covers(fresh) ? fresh : undefined;
    }
    if (!result.cursor) return undefined;
    cursor = result.cursor;
  }
  return undefined;
}

export async function openConnection(deps: OpenDeps, caller: Caller, request: OpenRequest): Promise<OpenResult> {
  const { stopContext } = deps;
  const { serviceId } = request;
  const mode = request.mode ?? 'latching';
  const hostIp = hostIpFor({ mode, clientIp: request.clientIp }, caller.sourceIp, deps.allowPrivateClientIps);
  // A caller who names no lease gets the default, capped by its policy: only an explicit ttl is denied.
  const explicitTtl = request.ttlSeconds !== undefined;
  const asked = request.ttlSeconds ?? deps.defaultTtlSeconds;
  const decision = evaluatePolicy(deps.policy, {
    principal: caller.principal,
    serviceId,
    mode,
    ttlSeconds: explicitTtl ? asked : MIN_TTL_SECONDS,
    ...(mode === 'ip' && { clientIp: hostIp }),
  });
  if (!decision.allowed) return denyByPolicy(stopContext.events, decision.reason, decision.detail);
  const ttlSeconds = explicitTtl ? asked : Math.min(asked, decision.maxTtlSeconds);

  const startMs = stopContext.now();
  // The lock check is one bounded read made alongside the others, so a warm open waits for no extra round
  // trip. A lock placed after this read is enforced on the connection once it is active (lock-enforcement.ts).
  const locks = deps.locks.live(epochSeconds(startMs));
  // Settled here too, so a rejection is never unhandled while reuse is still being looked up.
  locks.catch(() => undefined);
  const refuseIfLocked = (live: readonly Lock[]): void => {
    const lock = lockFor(live, { principal: caller.principal, serviceId });
    if (!lock) return;
    stopContext.events({ type: 'lock_refused', lockId: lock.id });
    throw new LockedError(lock);
  };
  if (request.reuse) {
    const existing = await findReusable(stopContext, caller, { serviceId, mode, hostIp, ttlSeconds }, startMs);
    if (existing) {
      refuseIfLocked(await locks);
      stopContext.events({ type: 'opened', record: existing, reused: true });
      return { connection: existing, reused: true };
    }
  }
  refuseIfLocked(await locks);

  const startSeconds = epochSeconds(startMs);
  // Write-ahead: the record exists before remote.it is asked, so a crash mid-connect leaves a trace. The
  // quota is part of this write (a slot taken from the caller's counter, below maxActive, and one of this
  // minute's opens, below opensPerMinute, in the same transaction), so both hold however many opens arrive
  // at once: QuotaExceededError when no slot is free, OpenRateExceededError when the minute's opens are used.
  const pending = await stopContext.store.create({
    id: deps.newId(),
    owner: caller.principal,
    callerArn: caller.arn,
    serviceId,
    mode,
    hostIp,
    status: INITIAL_STATUS,
    createdAt: toIso(startMs),
    leaseExpiresAt: toIso(startMs + ttlSeconds * 1000),
    expiresAt: startSeconds + SHORT_HORIZON_SECONDS,
    dueAt: startSeconds + deps.pendingGraceSeconds,
    stopAttempts: 0,
  }, { maxActive: decision.maxActive, opensPerMinute: decision.opensPerMinute }).catch((error: unknown) => {
    // Counted, so operators see callers at their limits (and whether the policy's limits fit their work).
    if (error instanceof QuotaExceededError || error instanceof OpenRateExceededError) stopContext.events({ type: 'limit_reached', limit: error.code });
    throw error;
  });

  let remote: RemoteConnection;
  try {
    remote = await stopContext.remoteit.connect(serviceId, hostIp);
  } catch (error) {
    if (error instanceof RemoteitFailure && error.kind === 'unusable' && error.remoteConnectionId !== undefined) {
      stopContext.events({ type: 'remoteit_failed', operation: 'connect', failure: error });
      throw await compensate(stopContext, pending, error.remoteConnectionId, error);
    }
    throw await failPending(stopContext, pending, error);
  }
  if (remote.proxy.kind === 'reverse' && !decision.publicAllowed) return refusePublic(stopContext, pending, remote);

  const leaseEndMs = Math.min(stopContext.now() + ttlSeconds * 1000, remote.expiresAt * 1000);
  let active: ConnectionRecord;
  try {
    active = await applyTransition(stopContext.store, lifecycle.activate(pending, remote, leaseEndMs, startMs));
  } catch (error) {
    throw await compensate(stopContext, pending, remote.remoteConnectionId, error);
  }
  await markOverridden(stopContext, remote, serviceId, active.id);
  stopContext.events({ type: 'opened', record: active, reused: false });
  return { connection: active, reused: false };
}

/**
 * The answer to a replayed open (an Idempotency-Key already answered): the connection as it is now, never the
 * stored first answer. remote.it reuses proxy ports, so the first answer's address may belong to someone
 * else's proxy once this connection ended. Still active: its record now, as GET /connections/{id} shows it (a
 * renewed lease shows, and `idleClosesAt`). Stopped, stopping, failed, past its expiry, or gone:
 * `ConnectionEndedError` (409, no proxy).
 */
export async function replayOpen(stopContext: Pick<StopContext, 'store' | 'now'>, first: OpenResult): Promise<OpenResult> {
  const { id } = first.connection;
  const stored = await stopContext.store.get(id);
  const current = stored && asSeen(stored, stopContext.now());
  if (current?.status !== 'active') throw new ConnectionEndedError(id, current?.status ?? 'expired');
  return { connection: current, reused: first.reused };
}
