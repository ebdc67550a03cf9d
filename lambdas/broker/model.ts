/**
 * The connection record and the persistence port the domain speaks through. No AWS, no HTTP here:
 * `lambdas/store/` implements `ConnectionStore` on DynamoDB, tests implement it with plain fakes.
 */
import type { ProxyAddress } from '../remoteit/types';

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

/** Statuses in which a connection holds a remote.it proxy, or may soon: what the per-caller quota counts. */
export const LIVE_STATUSES: readonly ConnectionStatus[] = ['pending', 'active', 'stopping'];

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
  | 'abandoned'; // a pending record whose API invocation died mid-connect

export interface ConnectionRecord {
  /** ULID: sortable by creation. */
  id: string;
  /** The principal used for matching and listing: assumed-role sessions normalised to their role ARN. */
  owner: string;
  /** The caller's full principal ARN, kept for audit. */
  callerArn: string;
  /** Upper-case `XX:XX:XX:XX:XX:XX:XX:XX`. */
  serviceId: string;
  mode: ConnectionMode;
  /** What was sent to remote.it as `hostip`. */
  hostIp: string;
  status: ConnectionStatus;
  /** ISO-8601 UTC. */
  createdAt: string;
  updatedAt: string;
  /** ISO-8601 UTC: when the lease ends (never after `expiresAt`). */
  leaseExpiresAt: string;
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
  /** Stop attempts made so far (sweeper retry budget). */
  stopAttempts: number;
  /** Optimistic concurrency: every update increments it. */
  version: number;
}

/** Fields an update may set; `null` removes the attribute. `id`, `version`, `owner` are never changed. */
export type ConnectionChanges = {
  [K in Exclude<keyof ConnectionRecord, 'id' | 'version' | 'owner' | 'callerArn' | 'createdAt'>]?:
    | ConnectionRecord[K]
    | null;
};

export interface ExpectedState {
  /** The update applies only while the record's status is one of these. */
  status: readonly ConnectionStatus[];
  /** And, when given, only while its version is this one (a claim on what was read). */
  version?: number;
  /** And, when given, only while it belongs to this owner (a claim made without reading the record first). */
  owner?: string;
  /** And, when given, only while its `expiresAt` is after this instant (epoch seconds): not past its expiry. */
  unexpiredAt?: number;
}

export interface ListQuery {
  /** Omitted: every owner's connections (admins). */
  owner?: string;
  status?: ConnectionStatus;
  serviceId?: string;
  limit: number;
  /** Opaque cursor from a previous page. */
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  /** Present when there is more. */
  cursor?: string;
}

export interface DuePage extends Page<ConnectionRecord> {
  /** Items DynamoDB read to produce this page (ScannedCount), for cost accounting. */
  scannedCount: number;
}

export interface ConnectionStore {
  /** Number of shards of the "due" index; the sweeper queries each. */
  readonly dueShardCount: number;
  /** Writes a new record. Throws `ConnectionExistsError` when the id is taken. */
  create(record: ConnectionRecord): Promise<void>;
  /** Strongly consistent read; undefined when absent. */
  get(id: string): Promise<ConnectionRecord | undefined>;
  /**
   * Conditional update: applies only in the expected state, increments `version`, keeps the "due" index
   * in step with `dueAt` (set: indexed on the record's shard; null: removed). Returns the new record.
   * Throws `StaleRecordError` when the record is missing or not in the expected state, with the record as
   * it was then (`current`; absent when it does not exist), so a caller can decide without reading again.
   */
  update(id: string, expected: ExpectedState, changes: ConnectionChanges): Promise<ConnectionRecord>;
  /** Newest first. Filters are applied server-side; a page may hold fewer than `limit` items. */
  list(query: ListQuery): Promise<Page<ConnectionRecord>>;
  /**
   * How many of the owner's connections hold a remote.it proxy or may soon (`LIVE_STATUSES`) and whose
   * `expiresAt` has not passed (a live record past it is expired, whatever it still says).
   */
  countLive(owner: string): Promise<number>;
  /** One shard of the "due" index: records with `dueAt <= now` (epoch s), oldest due first. */
  queryDue(shard: number, now: number, options: { limit: number; cursor?: string }): Promise<DuePage>;
}

/** The record is missing or was changed by another writer: the conditional write lost. */
export class StaleRecordError extends Error {
  readonly code = 'stale_record';
  /** The record the write found instead (from the same atomic check); undefined when it does not exist. */
  readonly current: ConnectionRecord | undefined;
  constructor(
    readonly id: string,
    options?: { cause?: unknown; current?: ConnectionRecord },
  ) {
    super(`connection ${id} is missing or was changed by another writer`, options);
    this.name = 'StaleRecordError';
    this.current = options?.current;
  }
}

export class ConnectionExistsError extends Error {
  readonly code = 'connection_exists';
  constructor(readonly id: string) {
    super(`connection ${id} already exists`);
    this.name = 'ConnectionExistsError';
  }
}
