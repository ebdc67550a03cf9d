/**
 * Audit events: who opened, renewed and stopped what, and how each connection ended. Each is derived from one
 * change of a record (its image before and after, as the table's stream carries them), so an event exists
 * for every change that was written, whichever function wrote it and whether or not that function lived to
 * answer. Pure: the stream consumer (lambdas/handlers/audit.ts) publishes what this returns.
 *
 * An event carries ids, principals, the service, the mode, times and reasons: never a proxy address (a
 * latching proxy's address is a capability) and never a secret (none is in a record).
 */
import { lapsesAt, type Lock } from './locks';
import type { ConnectionMode, ConnectionRecord, ConnectionStatus, StopReason } from './model';

/** The EventBridge `source` of every audit event. */
export const AUDIT_SOURCE = 'remoteit-broker';

/** EventBridge `detail-type`s, one per kind of change. */
export const AUDIT_EVENT_TYPES = {
  opened: 'Connection Opened',
  renewed: 'Connection Renewed',
  stopped: 'Connection Stopped',
  expired: 'Connection Expired',
  failed: 'Connection Failed',
  stopFailed: 'Connection Stop Failed',
} as const;

/** EventBridge `detail-type`s of operators' locks (lambdas/broker/locks.ts), from the locks table's stream. */
export const LOCK_AUDIT_EVENT_TYPES = {
  placed: 'Lock Placed',
  lifted: 'Lock Lifted',
} as const;

export type ConnectionAuditEventType = (typeof AUDIT_EVENT_TYPES)[keyof typeof AUDIT_EVENT_TYPES];
export type LockAuditEventType = (typeof LOCK_AUDIT_EVENT_TYPES)[keyof typeof LOCK_AUDIT_EVENT_TYPES];
export type AuditEventType = ConnectionAuditEventType | LockAuditEventType;

export interface AuditDetail {
  connectionId: string;
  /** The owner's principal (a role ARN) and the full ARN of the caller who opened it. */
  owner: string;
  callerArn: string;
  /**
   * Who made this change, as a full caller ARN: the opener (Opened), the renewer (Renewed), the caller of the
   * DELETE behind a stop and its outcome (an ending with `stopReason` `requested`, or what that stop came
   * to), the admin whose lock stopped it (`stopReason` `locked`). Absent when nobody asked: a lease end
   * (timer or sweeper), a failed connect, an override.
   */
  actor?: string;
  serviceId: string;
  mode: ConnectionMode;
  /** What was asked, when remote.it's proxy differs (an http service's reverse proxy is public). */
  requestedMode?: ConnectionMode;
  hostIp: string;
  status: ConnectionStatus;
  /** The status before this change; absent for a record first seen in this state. */
  previousStatus?: ConnectionStatus;
  createdAt: string;
  leaseExpiresAt: string;
  /** The lease end before a renew. */
  previousLeaseExpiresAt?: string;
  stoppedAt?: string;
  stopReason?: StopReason;
  /** The lock that stopped it (`stopReason` `locked`): its Lock Placed event says who placed it and why. */
  lockId?: string;
  failureReason?: string;
  stopAttempts: number;
  remoteConnectionId?: string;
  /** When the change was written (the record's `updatedAt`). */
  at: string;
  /** The record's version after the change: with `connectionId`, a consumer's deduplication key. */
  version: number;
}

/** A lock placed or lifted: who placed it, what it covers, why; and, once lifted, who lifted it. */
export interface LockAuditDetail {
  lockId: string;
  /** Role ARN glob the lock covers, when it names one. */
  principal?: string;
  /** Service id glob the lock covers, when it names one. */
  serviceId?: string;
  reason: string;
  createdAt: string;
  /** The admin who placed it (full caller ARN). */
  createdBy: string;
  /** When it lapses by itself, for a lock placed with a ttl. */
  expiresAt?: string;
  liftedAt?: string;
  liftedBy?: string;
  /** Who made this change: the placer (Lock Placed) or the lifter (Lock Lifted). */
  actor: string;
  /** When the change was made. With `lockId` and the detail-type, a consumer's deduplication key. */
  at: string;
}

export type AuditEvent =
  | {
      detailType: ConnectionAuditEventType;
      /** When it happened: the change's `updatedAt`. */
      time: string;
      detail: AuditDetail;
    }
  | { detailType: LockAuditEventType; time: string; detail: LockAuditDetail };

/**
 * The event a change of lock is, if any: a new lock is placed, a lock that gains `liftedAt` is lifted. A lock
 * that lapses (its ttl) or that TTL deletes is none: its Lock Placed event already said when it lapses.
 */
export function lockAuditEventFor(before: Lock | undefined, after: Lock | undefined): AuditEvent | undefined {
  if (!after) return undefined;
  const placed = !before;
  const lifted = before !== undefined && before.liftedAt === undefined && after.liftedAt !== undefined;
  if (!placed && !lifted) return undefined;
  const actor = lifted ? after.liftedBy ?? '' : after.createdBy;
  const at = lifted ? after.liftedAt ?? after.createdAt : after.createdAt;
  const lapses = lapsesAt(after);
  const detail: LockAuditDetail = {
    lockId: after.id,
    ...(after.principal !== undefined && { principal: after.principal }),
    ...(after.serviceId !== undefined && { serviceId: after.serviceId }),
    reason: after.reason,
    createdAt: after.createdAt,
    createdBy: after.createdBy,
    ...(lapses !== undefined && { expiresAt: new Date(lapses * 1000).toISOString() }),
    ...(after.liftedAt !== undefined && { liftedAt: after.liftedAt }),
    ...(after.liftedBy !== undefined && { liftedBy: after.liftedBy }),
    actor,
    at,
  };
  return { detailType: lifted ? LOCK_AUDIT_EVENT_TYPES.lifted : LOCK_AUDIT_EVENT_TYPES.placed, time: at, detail };
}

/** The event a change of record is, if any: claims, retries and writes that change no outcome are none. */
export function auditEventFor(before: ConnectionRecord | undefined, after: ConnectionRecord | undefined): AuditEvent | undefined {
  if (!after) return undefined;
  const detailType = typeOf(before, after);
  if (!detailType) return undefined;
  const actor = actorOf(detailType, before, after);
  const detail: AuditDetail = {
    connectionId: after.id,
    owner: after.owner,
    callerArn: after.callerArn,
    ...(actor !== undefined && { actor }),
    serviceId: after.serviceId,
    mode: after.mode,
    ...(after.requestedMode !== undefined && { requestedMode: after.requestedMode }),
    hostIp: after.hostIp,
    status: after.status,
    ...(before && { previousStatus: before.status }),
    createdAt: after.createdAt,
    leaseExpiresAt: after.leaseExpiresAt,
    ...(detailType === AUDIT_EVENT_TYPES.renewed && before && { previousLeaseExpiresAt: before.leaseExpiresAt }),
    ...(after.stoppedAt !== undefined && { stoppedAt: after.stoppedAt }),
    ...(after.stopReason !== undefined && { stopReason: after.stopReason }),
    ...(after.lockId !== undefined && { lockId: after.lockId }),
    ...(after.failureReason !== undefined && { failureReason: after.failureReason }),
    stopAttempts: after.stopAttempts,
    ...(after.remoteConnectionId !== undefined && { remoteConnectionId: after.remoteConnectionId }),
    at: after.updatedAt,
    version: after.version,
  };
  return { detailType, time: after.updatedAt, detail };
}

const ENDINGS: Partial<Record<ConnectionStatus, ConnectionAuditEventType>> = {
  stopped: AUDIT_EVENT_TYPES.stopped,
  expired: AUDIT_EVENT_TYPES.expired,
  failed: AUDIT_EVENT_TYPES.failed,
  stop_failed: AUDIT_EVENT_TYPES.stopFailed,
};

/**
 * Opened: the opener. Renewed: the renewer (`changedBy`, which the renew wrote). An ending: `changedBy` only
 * when it ends a stop (the record was `stopping`): the claim that began that stop wrote or removed it, so an
 * earlier renewer is never reported as the stopper (an override ends an active record directly).
 */
function actorOf(detailType: ConnectionAuditEventType, before: ConnectionRecord | undefined, after: ConnectionRecord): string | undefined {
  if (detailType === AUDIT_EVENT_TYPES.opened) return after.callerArn;
  if (detailType === AUDIT_EVENT_TYPES.renewed || before?.status === 'stopping') return after.changedBy;
  return undefined;
}

function typeOf(before: ConnectionRecord | undefined, after: ConnectionRecord): ConnectionAuditEventType | undefined {
  if (after.status === 'active') {
    if (before?.status !== 'active') return AUDIT_EVENT_TYPES.opened;
    return before.leaseExpiresAt === after.leaseExpiresAt ? undefined : AUDIT_EVENT_TYPES.renewed;
  }
  if (before?.status === after.status) return undefined;
  return ENDINGS[after.status];
}
