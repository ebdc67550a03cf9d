/**
 * The connection lifecycle, in one place: every move a record may make between statuses, by name, and the
 * conditional write that makes it. Every state change in the domain is built here and applied with
 * `applyTransition`; the table below is the whole state machine (docs/ARCHITECTURE.md draws it, and a test
 * holds the drawing to the table).
 *
 * A transition's `expected` state is its write condition: the store applies it only while the record is in
 * one of the `from` statuses (and at the version read, or the owner and expiry asked for), so two writers
 * can never both win a record. `updatedAt` and `version` are the store's to set.
 *
 * A transition into a terminal status carries the record it was decided on (`record`): the store gives the
 * owner's quota slot back in that same conditional write, so whichever writer wins the record releases the
 * slot, once (ports.ts, `RecordStore.update`).
 */
import { HOST_IP_BY_MODE } from './client-ip';
import type { ConnectionRecord, ConnectionStatus, StopReason } from './model';
import type { ConnectionChanges, ExpectedState, RecordStore, RemoteConnection } from './ports';
import { dueSecondsOf, epochSeconds, toIso } from './time';

interface TransitionRule {
  readonly from: readonly ConnectionStatus[];
  readonly to: ConnectionStatus;
}

export const TRANSITIONS = {
  /** remote.it opened the proxy; the lease starts. */
  activate: { from: ['pending'], to: 'active' },
  /** remote.it refused or failed the connect. */
  fail_connect: { from: ['pending'], to: 'failed' },
  /** The sweeper settles a pending record its invocation left. */
  abandon_pending: { from: ['pending'], to: 'failed' },
  /** An opened proxy that could not be recorded was stopped at once. */
  compensated: { from: ['pending'], to: 'stopped' },
  /** That stop failed too: the sweeper retries it. */
  compensate_later: { from: ['pending'], to: 'stopping' },
  /** remote.it opened a public proxy the policy forbids: claimed for stop. */
  refuse_public: { from: ['pending'], to: 'stopping' },
  /** DELETE or the sweeper claims the record: the winner alone calls remote.it. */
  claim_stop: { from: ['active', 'pending', 'stopping', 'stop_failed'], to: 'stopping' },
  /** Renew moves the lease end. */
  extend_lease: { from: ['active'], to: 'active' },
  /** A later connect replaced this proxy at remote.it. */
  override: { from: ['active'], to: 'stopped' },
  /** remote.it confirmed the stop. */
  stop_confirmed: { from: ['stopping'], to: 'stopped' },
  /** remote.it no longer has the proxy (its words, or a refusal with the credentials proven good), or its expiry passed. */
  stop_gone: { from: ['stopping'], to: 'expired' },
  /** The stop failed; due again after a backoff. */
  stop_retry: { from: ['stopping'], to: 'stopping' },
  /** The stop failed on every attempt (alarmed). */
  stop_given_up: { from: ['stopping'], to: 'stop_failed' },
} as const satisfies Record<string, TransitionRule>;

export type TransitionName = keyof typeof TRANSITIONS;

/** The status a new record is written in (`store.create`, not a transition). */
export const INITIAL_STATUS: ConnectionStatus = 'pending';

export interface Transition {
  name: TransitionName;
  id: string;
  expected: ExpectedState;
  changes: ConnectionChanges;
  /** For a transition into a terminal status: the record it was decided on (its quota slot is released with it). */
  record?: ConnectionRecord;
}

/** A transition asked of a record whose status it does not leave from: a caller bug, never sent to the store. */
export class TransitionNotAllowedError extends Error {
  readonly code = 'transition_not_allowed';
  constructor(
    readonly transition: TransitionName,
    readonly status: ConnectionStatus,
  ) {
    super(`transition ${transition} does not leave from ${status}`);
    this.name = 'TransitionNotAllowedError';
  }
}

/** Whether any named transition moves a record from `from` to `to`. */
export function canTransition(from: ConnectionStatus, to: ConnectionStatus): boolean {
  return Object.values(TRANSITIONS).some((rule) => (rule.from as readonly ConnectionStatus[]).includes(from) && rule.to === to);
}

/**
 * Builds a transition. `from` narrows the table's statuses to what was read (a version-checked write);
 * `status` is set unless the transition stays where it is. `record`: the record it was decided on, which
 * every transition into a terminal status names (its quota slot goes back with it).
 */
function build(
  name: TransitionName,
  id: string,
  changes: ConnectionChanges,
  condition: Omit<ExpectedState, 'status'> & { from?: ConnectionStatus },
  record?: ConnectionRecord,
): Transition {
  const rule: TransitionRule = TRANSITIONS[name];
  const { from, ...rest } = condition;
  if (from !== undefined && !rule.from.includes(from)) throw new TransitionNotAllowedError(name, from);
  const stays = rule.from.length === 1 && rule.from[0] === rule.to;
  return {
    name,
    id,
    expected: { status: from === undefined ? rule.from : [from], ...rest },
    changes: stays ? changes : { status: rule.to, ...changes },
    ...(record && { record }),
  };
}

/** Applies a transition: the store's conditional update (StaleRecordError when the condition fails). */
export function applyTransition(store: RecordStore, transition: Transition): Promise<ConnectionRecord> {
  return store.update(transition.id, transition.expected, transition.changes, transition.record);
}

/** Short TTL horizon of records that hold no remote.it expiry yet (pending) or never will (failed): a day. */
export const SHORT_HORIZON_SECONDS = 24 * 60 * 60;

// The transitions, each built from what its caller knows. `record` arguments are the record as read. Each is a
// function of its own, so a bundle carries only the builders its code calls (the open function: none of the
// claims, renew or abandon); `lifecycle` gathers them for the callers that name them through it.

/**
 * The proxy as remote.it made it: an http service's reverse proxy is public whatever `hostip` asked for,
 * so the record says `public` / `0.0.0.0` and keeps what was requested beside it.
 */
export function activate(pending: ConnectionRecord, remote: RemoteConnection, leaseEndMs: number, connectSentMs: number): Transition {
  const madePublic = remote.proxy.kind === 'reverse' && pending.mode !== 'public';
  return build(
    'activate',
    pending.id,
    {
      ...(madePublic && { mode: 'public', hostIp: HOST_IP_BY_MODE.public, requestedMode: pending.mode, requestedHostIp: pending.hostIp }),
      remoteConnectionId: remote.remoteConnectionId,
      proxy: remote.proxy,
      expiresAt: remote.expiresAt,
      leaseExpiresAt: toIso(leaseEndMs),
      // Counted from before the connect was sent, so it is never later than remote.it's own idle close.
      idleClosesAt: toIso(connectSentMs + remote.idleSeconds * 1000),
      idleSeconds: remote.idleSeconds,
      dueAt: dueSecondsOf(leaseEndMs),
    },
    { from: pending.status, version: pending.version },
  );
}

export function failConnect(pending: ConnectionRecord, failureReason: string, nowMs: number): Transition {
  return build(
    'fail_connect',
    pending.id,
    { failureReason, dueAt: null, expiresAt: epochSeconds(nowMs) + SHORT_HORIZON_SECONDS },
    { from: pending.status, version: pending.version },
    pending,
  );
}

export function abandonPending(pending: ConnectionRecord, failureReason: string): Transition {
  return build(
    'abandon_pending',
    pending.id,
    { stopReason: 'abandoned', failureReason, dueAt: null },
    { from: pending.status, version: pending.version },
    pending,
  );
}

/** Not version-checked: the record may be what failed to be written, so any pending state will do. */
export function compensated(pending: ConnectionRecord, remoteConnectionId: string, nowMs: number): Transition {
  return build('compensated', pending.id, { stopReason: 'compensation', remoteConnectionId, stoppedAt: toIso(nowMs), dueAt: null }, {}, pending);
}

/** The compensating stop failed: counted as the first attempt and due at once, so the sweeper retries it. */
export function compensateLater(id: string, remoteConnectionId: string, failureReason: string, nowMs: number): Transition {
  return build(
    'compensate_later',
    id,
    { stopReason: 'compensation', remoteConnectionId, stopAttempts: 1, failureReason, dueAt: epochSeconds(nowMs) },
    {},
  );
}

/**
 * Claimed for stop in the same write that records the remote id: if the invocation dies before the stop,
 * the sweeper finds it due after the claim. The proxy is not recorded: the caller may not have it.
 */
export function refusePublic(pending: ConnectionRecord, remote: RemoteConnection, nowMs: number, claimSeconds: number): Transition {
  return build(
    'refuse_public',
    pending.id,
    {
      stopReason: 'public_not_allowed',
      remoteConnectionId: remote.remoteConnectionId,
      expiresAt: remote.expiresAt,
      leaseExpiresAt: toIso(nowMs),
      dueAt: epochSeconds(nowMs) + claimSeconds,
    },
    { from: pending.status, version: pending.version },
  );
}

/**
 * A stop claim on the record as read: `stopping` for `reason`, due again when the claim lapses. `actor`:
 * the caller who asked for it (DELETE, reason `requested`).
 */
export function claimStop(record: ConnectionRecord, reason: StopReason, nowMs: number, claimSeconds: number, actor?: string, lockId?: string): Transition {
  return build('claim_stop', record.id, claimChanges(reason, nowMs, claimSeconds, actor, lockId), { from: record.status, version: record.version });
}

/**
 * A stop claim made without reading first (DELETE's common case): only an active record, not past its
 * expiry, and the owner's when `owner` is given.
 */
export function claimActive(id: string, reason: StopReason, nowMs: number, claimSeconds: number, owner?: string, actor?: string): Transition {
  return build('claim_stop', id, claimChanges(reason, nowMs, claimSeconds, actor), {
    from: 'active',
    unexpiredAt: epochSeconds(nowMs),
    ...(owner !== undefined && { owner }),
  });
}

/** `actor`: the caller who renewed (the API always names one). */
/** `idleClosesAtMs`: a later first idle window, when the caller said it used the proxy (renew's `usedAt`). */
export function extendLease(record: ConnectionRecord, leaseEndMs: number, actor?: string, idleClosesAtMs?: number): Transition {
  return build(
    'extend_lease',
    record.id,
    {
      leaseExpiresAt: toIso(leaseEndMs),
      dueAt: dueSecondsOf(leaseEndMs),
      changedBy: actor,
      ...(idleClosesAtMs !== undefined && { idleClosesAt: toIso(idleClosesAtMs) }),
    },
    { from: record.status, version: record.version },
  );
}

/** Not version-checked: whatever else changed on the active record, remote.it has replaced its proxy. */
export function override(active: ConnectionRecord, nowMs: number): Transition {
  return build('override', active.id, { stopReason: 'overridden', stoppedAt: toIso(nowMs), dueAt: null }, {}, active);
}

/** remote.it confirmed the stop made on `claimed`. */
export function stopConfirmed(claimed: ConnectionRecord, stopAttempts: number, nowMs: number): Transition {
  return build(
    'stop_confirmed',
    claimed.id,
    { stoppedAt: toIso(nowMs), failureReason: null, dueAt: null, stopAttempts },
    { from: claimed.status, version: claimed.version },
    claimed,
  );
}

/** Nothing left to stop: remote.it said so (`failureReason` keeps its words) or the expiry passed (no call). */
export function stopGone(claimed: ConnectionRecord, stopAttempts: number, nowMs: number, failureReason: string | null): Transition {
  return build(
    'stop_gone',
    claimed.id,
    { stopReason: 'expired', stoppedAt: toIso(nowMs), failureReason, dueAt: null, stopAttempts },
    { from: claimed.status, version: claimed.version },
    claimed,
  );
}

export function stopRetry(claimed: ConnectionRecord, stopAttempts: number, failureReason: string, dueAt: number): Transition {
  return build('stop_retry', claimed.id, { failureReason, dueAt, stopAttempts }, { from: claimed.status, version: claimed.version });
}

export function stopGivenUp(claimed: ConnectionRecord, stopAttempts: number, failureReason: string): Transition {
  return build(
    'stop_given_up',
    claimed.id,
    { failureReason, dueAt: null, stopAttempts },
    { from: claimed.status, version: claimed.version },
    claimed,
  );
}

/** The transitions by builder name. */
export const lifecycle = { activate, failConnect, abandonPending, compensated, compensateLater, refusePublic, claimStop, claimActive, extendLease, override, stopConfirmed, stopGone, stopRetry, stopGivenUp };

/**
 * A requested stop names who asked (a claim again of it without a caller, the sweeper's retry, keeps the
 * name); a claim for any other reason is nobody's request, so it removes the name an earlier renew left.
 */
function claimChanges(reason: StopReason, nowMs: number, claimSeconds: number, actor: string | undefined, lockId?: string): ConnectionChanges {
  // Only a stop someone asked for names them: a DELETE's caller, or the admin whose lock covers the connection.
  const named = reason === 'requested' || reason === 'locked';
  // A lock's claim names the lock; a retry of it (no lock given) keeps the one the first claim wrote.
  return { stopReason: reason, dueAt: epochSeconds(nowMs) + claimSeconds, changedBy: named ? actor : null, ...(reason === 'locked' && { lockId }) };
}
