/**
 * The connection record and the values it may hold, and the limits every layer shares. The ports that
 * read and write it are in ./ports; the moves between statuses in ./lifecycle.
 */
import type { ProxyAddress } from './ports';

/** remote.it service address: 8 hex bytes, colon-separated (case-insensitive; stored upper-case). */
export const SERVICE_ID_PATTERN = /^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){7}$/;
export const SERVICE_ID_MESSAGE = 'must be a remote.it service address: 8 hex bytes like 80:00:00:00:01:02:03:04';
/** Shortest lease a caller may ask for, seconds. */
export const MIN_TTL_SECONDS = 60;
/** Longest lease anything may grant (request, policy rule, default), seconds: remote.it's proxies live about 8 h. */
export const MAX_TTL_SECONDS = 86_400;
/** Largest page a list may ask for. */
export const MAX_LIST_LIMIT = 100;

export const CONNECTION_STATUSES = [
  'pending',
  'active',
  'stopping',
  'stopped',
  'failed',
  'expired',
  'stop_failed',
] as const;
export type ConnectionStatus = (typeof CONNECTION_STATUSES)[number];

/** Statuses in which a connection holds a remote.it proxy, or may soon: a record in one holds its owner's quota slot. */
export const LIVE_STATUSES: readonly ConnectionStatus[] = ['pending', 'active', 'stopping'];
/**
 * Statuses in which the broker's work on a record is over: read past their expiry they keep their status
 * (a `stop_failed` one is picked up again only by an explicit DELETE; lifecycle.ts has every move).
 */
export const TERMINAL_STATUSES: readonly ConnectionStatus[] = ['stopped', 'failed', 'expired', 'stop_failed'];

export const CONNECTION_MODES = ['latching', 'ip', 'public'] as const;
export type ConnectionMode = (typeof CONNECTION_MODES)[number];

/** Why a connection ended. */
export type StopReason =
  | 'requested' // the owner or an admin stopped it
  | 'lease_ended' // the sweeper stopped it at the end of its lease
  | 'expired' // remote.it's own expiry passed, or remote.it no longer knows it
  | 'overridden' // a later connect replaced it at remote.it
  | 'compensation' // remote.it said yes but the result could not be recorded
  | 'public_not_allowed' // remote.it opened a public reverse proxy the caller may not have
  | 'abandoned' // a pending record whose API invocation died mid-connect
  | 'locked'; // an operator's lock covers it (lambdas/broker/locks.ts)

export interface ConnectionRecord {
  /** ULID: sortable by creation. */
  id: string;
  /** The principal used for matching and listing: assumed-role sessions normalised to their role ARN. */
  owner: string;
  /** The caller's full principal ARN, kept for audit. */
  callerArn: string;
  /** Upper-case `XX:XX:XX:XX:XX:XX:XX:XX`. */
  serviceId: string;
  /** The mode the proxy has: what was asked, or `public` once remote.it opened a reverse proxy (always public). */
  mode: ConnectionMode;
  /** Who the proxy admits (as remote.it's `hostip`): what was sent, or `0.0.0.0` for a reverse proxy. */
  hostIp: string;
  /** What the caller asked for, kept only when remote.it's proxy differs from it (a reverse proxy). */
  requestedMode?: ConnectionMode;
  requestedHostIp?: string;
  status: ConnectionStatus;
  /** ISO-8601 UTC. */
  createdAt: string;
  updatedAt: string;
  /** ISO-8601 UTC: when the lease ends (never after `expiresAt`). */
  leaseExpiresAt: string;
  /**
   * ISO-8601 UTC, once active: when remote.it closes the proxy if nobody has connected through it (opened +
   * its idle window). After it, the proxy may have closed at any time (the broker cannot see connections):
   * it is never handed out again by `reuse`, and not renewed.
   */
  idleClosesAt?: string;
  /**
   * Once active: remote.it's idle window in seconds (its `idleLeft`). A renew naming `usedAt` moves
   * `idleClosesAt` to usedAt + this window; records from before it was kept have none and cannot.
   */
  idleSeconds?: number;
  /** Epoch seconds, the table's TTL attribute: remote.it's expiry once active; a short horizon otherwise. */
  expiresAt: number;
  remoteConnectionId?: string;
  proxy?: ProxyAddress;
  stoppedAt?: string;
  stopReason?: StopReason;
  /** remote.it's reason when `failed`; the last stop error when `stop_failed` or retrying. */
  failureReason?: string;
  /**
   * Epoch seconds when the sweeper must look at this record (lease end, next retry, claim expiry).
   * Present only while there is sweeper work: the store keys the sparse "due" index on it.
   */
  dueAt?: number;
  /**
   * The caller's full principal ARN behind the latest change of the lease or the stop, for audit: who
   * renewed, who asked for the stop (DELETE), or the admin whose lock stopped it. A claim for any other
   * reason (a lease end) removes it, so a stop is never put on an earlier renewer; the outcome of a stop keeps it.
   */
  changedBy?: string;
  /** The lock that stopped it, when `stopReason` is `locked` (lambdas/broker/locks.ts), for audit. */
  lockId?: string;
  /**
   * True while the record holds one of its owner's quota slots: set by the open that created it (in the
   * write that took the slot from the owner's counter), removed by the write that ends it (which gives the
   * slot back). Records created before the counter existed never hold one. The store's to set and remove.
   */
  quotaSlot?: boolean;
  /** Stop attempts made so far (sweeper retry budget). */
  stopAttempts: number;
  /** Optimistic concurrency: every update increments it. */
  version: number;
}
