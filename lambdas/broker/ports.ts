/**
 * The ports the domain speaks through, and the types they speak. They belong to the domain: adapters
 * implement them (`lambdas/store/` on DynamoDB, `lambdas/remoteit/` on remote.it's REST API, `lambdas/timers/`
 * on SQS), tests implement them with plain fakes, and nothing here knows about AWS or HTTP.
 */
import type { ConnectionRecord, ConnectionStatus } from './model';

// ---- the store -----------------------------------------------------------------------------------------

/**
 * Fields an update may set; `null` removes the attribute. Identity, creation, `version` and `updatedAt`
 * are the store's: it never lets an update change the first three and stamps the last itself.
 */
export type ConnectionChanges = {
  [K in Exclude<keyof ConnectionRecord, 'id' | 'version' | 'owner' | 'callerArn' | 'createdAt' | 'updatedAt' | 'quotaSlot'>]?:
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

/** One read of due work: what it found, what it cost, and the parts of the due work it could not read. */
export interface DueBatch {
  items: ConnectionRecord[];
  /** Items the store read to produce this batch (DynamoDB's ScannedCount), for cost accounting. */
  scanned: number;
  /** Parts of the due work that could not be read (e.g. one shard of the index); the rest is still served. */
  failures: DueReadFailure[];
}

export interface DueReadFailure {
  /** Which part, in the store's words (e.g. `due#3`), for the log. */
  part: string;
  error: unknown;
}

/**
 * A record as the domain creates it: the store sets `version` (0) and `updatedAt` (its `createdAt`), and
 * `quotaSlot` when the record is created under a quota.
 */
export type NewConnectionRecord = Omit<ConnectionRecord, 'version' | 'updatedAt' | 'quotaSlot'>;

/**
 * The per-owner limits a new record is created under: its owner may hold at most `maxActive` slots, and may
 * create at most `opensPerMinute` records per clock minute (OPEN_RATE_WINDOW_SECONDS, by the store's clock).
 */
export interface QuotaClaim {
  maxActive: number;
  opensPerMinute: number;
}

/** The open rate's fixed window: a clock minute. */
export const OPEN_RATE_WINDOW_SECONDS = 60;

/** When the open rate's window holding `nowSeconds` ends (epoch seconds): it started OPEN_RATE_WINDOW_SECONDS before. */
export const openRateWindowEnd = (nowSeconds: number): number => nowSeconds - (nowSeconds % OPEN_RATE_WINDOW_SECONDS) + OPEN_RATE_WINDOW_SECONDS;

/**
 * What opening, stopping and settling records need of the store (the open function builds only this): the
 * quota is part of these writes, so it holds under any number of concurrent opens.
 */
export interface RecordStore {
  /**
   * Writes a new record and returns it as stored. Throws `ConnectionExistsError` when the id is taken.
   * With `quota`, the record takes one of its owner's slots in the same atomic write (a per-owner counter,
   * conditioned on being below `quota.maxActive`) and is stored with `quotaSlot`, and it is counted in its
   * owner's opens of this minute (conditioned on being below `quota.opensPerMinute`). When every slot is held,
   * nothing is written and it throws `QuotaExceededError`; else when the minute's opens are used up,
   * `OpenRateExceededError` (./errors).
   */
  create(record: NewConnectionRecord, quota?: QuotaClaim): Promise<ConnectionRecord>;
  /** Strongly consistent read; undefined when absent. */
  get(id: string): Promise<ConnectionRecord | undefined>;
  /**
   * Conditional update: applies only in the expected state, increments `version`, stamps `updatedAt` with
   * the store's clock, keeps its indexes in step (the due index with `dueAt`). Returns the new record.
   * Throws `StaleRecordError` when the record is missing or not in the expected state, with the record as
   * it was then (`current`; absent when it does not exist), so a caller can decide without reading again.
   *
   * A change into a terminal status (`TERMINAL_STATUSES`) must name `from`, the record it was decided on
   * (the lifecycle's transitions do). When `from` holds a quota slot, the slot is given back to its owner in
   * the same atomic write that removes `quotaSlot` from the record, so a slot is released exactly once
   * whichever writer ends the connection; the record returned is then `from` with the changes applied.
   */
  update(id: string, expected: ExpectedState, changes: ConnectionChanges, from?: ConnectionRecord): Promise<ConnectionRecord>;
  /** Newest first. Filters are applied server-side; a page may hold fewer than `limit` items. */
  list(query: ListQuery): Promise<Page<ConnectionRecord>>;
}

/** Every function but open: the records, plus the live count (GET /me) and the due work (the sweeper, lock enforcement). */
export interface ConnectionStore extends RecordStore {
  /**
   * How many of the owner's connections hold a remote.it proxy or may soon (`LIVE_STATUSES`) and whose
   * `expiresAt` has not passed (a live record past it is expired, whatever it still says).
   */
  countLive(owner: string): Promise<number>;
  /**
   * Records with `dueAt <= nowSeconds`, in batches read only as the consumer asks for them: oldest due first
   * within each part of the store, parts interleaved so that no busy part starves the others. Each batch
   * holds at most `pageSize` items per part. Reading never fails the iteration: a part that cannot be read
   * is reported in `failures` and left for the next run.
   */
  due(nowSeconds: number, options: { pageSize: number }): AsyncIterable<DueBatch>;
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

// ---- remote.it -----------------------------------------------------------------------------------------

export type ProxyKind = 'port' | 'reverse';

export interface ProxyAddress {
  /** `port`: a TCP port proxy (host + port). `reverse`: an https reverse proxy, always public. */
  kind: ProxyKind;
  /** `tcp://host:port` for port proxies; the reverse proxy's https URL otherwise. */
  url: string;
  host: string;
  /** Present for port proxies; 443 for https reverse proxies, 80 for http ones. */
  port: number;
}

/** remote.it's answer to a connect, normalised. */
export interface RemoteConnection {
  /** remote.it's `connectionid`. */
  remoteConnectionId: string;
  proxy: ProxyAddress;
  /** Absolute remote.it expiry, epoch seconds: request time + `expirationsec`. */
  expiresAt: number;
  /**
   * How long remote.it keeps the proxy open with no TCP connection through it, seconds: its `idleLeft` at
   * open, else remote.it's documented 15 minutes. The proxy closes this long after it opened if nobody
   * connects, and this long after its last connection ends otherwise.
   */
  idleSeconds: number;
  /** True when remote.it says this connect replaced an earlier one (`connectionOverridden`). */
  overridden: boolean;
  /** remote.it's `previousConnection` id, when it gave one. */
  previousConnectionId?: string;
}

export interface RemoteitApi {
  /** Opens a proxy to `serviceId` (upper-case `XX:..:XX`) for `hostIp` (0.0.0.0, 255.255.255.255 or one IPv4). */
  connect(serviceId: string, hostIp: string): Promise<RemoteConnection>;
  /** Stops a proxy. Resolves when remote.it confirmed the stop. */
  stop(serviceId: string, remoteConnectionId: string): Promise<void>;
}

/** Every way a remote.it call can fail, as the domain decides on it. */
export const REMOTEIT_FAILURE_KINDS = [
  /** A stop refused because remote.it no longer has the connection: nothing is left to stop. */
  'gone',
  /** remote.it does not know the device or service. */
  'not_found',
  /** remote.it said no, for a reason of its own (`reason`). */
  'refused',
  /** remote.it rejected the broker's credentials. */
  'credentials_refused',
  /** remote.it asked the broker to slow down (`retryAfterSeconds` when it said how long). */
  'throttled',
  /** remote.it failed (5xx), the connection dropped mid-call, or the call could not be made (credentials unloadable). */
  'unavailable',
  /** The request provably never left (connection refused, DNS). */
  'unreachable',
  /** No answer within the deadline; the request may have reached remote.it. */
  'timed_out',
  /** A success answer the broker cannot use (`remoteConnectionId` when it named a connection that must be stopped). */
  'unusable',
] as const;
export type RemoteitFailureKind = (typeof REMOTEIT_FAILURE_KINDS)[number];

/**
 * The one failure the remote.it port raises. `message` is written for logs and records (never a secret);
 * `reason` is remote.it's own words, already scrubbed of credentials by the adapter.
 */
export class RemoteitFailure extends Error {
  readonly reason: string | undefined;
  readonly retryAfterSeconds: number | undefined;
  readonly remoteConnectionId: string | undefined;
  constructor(
    readonly kind: RemoteitFailureKind,
    message: string,
    options: { cause?: unknown; reason?: string; retryAfterSeconds?: number; remoteConnectionId?: string } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RemoteitFailure';
    this.reason = options.reason;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.remoteConnectionId = options.remoteConnectionId;
  }
}

/**
 * Any error of a remote.it call as a RemoteitFailure. One that is not (the credentials could not be loaded,
 * a bug) counts as `unavailable`: a stop that can never be made then still spends its retry budget and ends
 * as stop_failed (alarmed) instead of being retried silently forever.
 */
export function asRemoteitFailure(error: unknown, operation: 'connect' | 'stop'): RemoteitFailure {
  if (error instanceof RemoteitFailure) return error;
  const name = error instanceof Error ? error.name : 'unknown error';
  return new RemoteitFailure('unavailable', `the ${operation} could not be sent: ${name}`, { cause: error });
}

// ---- lease timers ---------------------------------------------------------------------------------------

/** A timer for one lease end: it fires at (never before) `leaseExpiresAt`, or earlier when that is too far to wait for at once. */
export interface LeaseTimer {
  id: string;
  /** The lease end it was armed for, as recorded (ISO 8601): a renew records another, and this timer is then stale. */
  leaseExpiresAt: string;
}

/**
 * A stop owed to a lock: a connection made active while a lock covering it was live is stopped at once, through
 * the same queue and function as lease timers (lambdas/broker/lock-enforcement.ts).
 */
export interface LockStopTimer {
  id: string;
  lockId: string;
  /** The full principal ARN of the admin who placed the lock: the stop is recorded as theirs. */
  lockedBy: string;
}

export type Timer = LeaseTimer | LockStopTimer;

export interface LeaseTimers {
  /**
   * Arms a timer: it is delivered at least once, at its lease end (a lock stop: at once) or after the longest
   * delay the timer service allows, whichever comes first. Throws when it could not be armed.
   */
  arm(timer: Timer): Promise<void>;
}
