/**
 * The connection lifecycle: open (write-ahead), read, list, renew, stop. It speaks only through the
 * `ConnectionStore` and `RemoteitApi` ports; every state change is a conditional `store.update` on the status
 * (and version where a read decided it), so the API and the sweeper never both win a record.
 */
import { BlockList, isIPv4 } from 'node:net';
import {
  ConnectionNotActiveError,
  ConnectionNotFoundError,
  ConnectionOpeningError,
  StopFailedError,
  InvalidRequestError,
  PolicyDeniedError,
  QuotaExceededError,
  ServiceNotFoundError,
  UpstreamRefusedError,
  UpstreamTimeoutError,
  UpstreamUnavailableError,
  type FieldError,
  type PolicyDenialReason,
} from './errors';
import {
  CONNECTION_MODES,
  CONNECTION_STATUSES,
  LIVE_STATUSES,
  StaleRecordError,
  type ConnectionMode,
  type ConnectionRecord,
  type ConnectionStatus,
  type ConnectionStore,
  type Page,
  type StopReason,
} from './model';
import { evaluatePolicy, isAdmin, type PolicyDocument } from './policy';
import type { Caller } from './principal';
import { claimChanges, claimForStop, epochSeconds, stopClaimed, type StopContext } from './stopping';
import {
  RemoteitError,
  RemoteitMalformedError,
  RemoteitNotFoundError,
  RemoteitRefusedError,
  RemoteitThrottledError,
  RemoteitTimeoutError,
  type RemoteConnection,
  type RemoteitApi,
  type RemoteitErrorKind,
} from '../remoteit/types';

/** remote.it service address: 8 hex bytes, colon-separated (case-insensitive; stored upper-case). */
export const SERVICE_ID_PATTERN = /^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){7}$/;
export const MIN_TTL_SECONDS = 60;
/** Field messages shared with the HTTP schemas, so a bad field reads the same whichever layer caught it. */
export const SERVICE_ID_MESSAGE = 'must be a remote.it service address: 8 hex bytes like 80:00:00:00:01:02:03:04';
export const TTL_MESSAGE = `must be a whole number of at least ${MIN_TTL_SECONDS} seconds`;
export const MAX_LIST_LIMIT = 100;
/** Short TTL horizon of records that hold no remote.it expiry yet (pending) or never will (failed). */
const SHORT_HORIZON_SECONDS = 86_400;
/** Pages read when looking for a reusable or overridden record: bounded, these lists are short in practice. */
const MAX_SCAN_PAGES = 5;
const SCAN_PAGE_SIZE = 50;
/** Claim attempts in `stop` before answering from what was last read (each loss means another writer acted). */
const MAX_STOP_CLAIMS = 3;

const HOST_IP_BY_MODE = { latching: '255.255.255.255', public: '0.0.0.0' } as const;

export const PUBLIC_NOT_ALLOWED_DETAIL =
  'remote.it opened a public reverse proxy for this http service and your policy does not allow public connections; it was stopped';

/** Metrics hooks; the handler layer binds them to Powertools metrics. */
export interface BrokerEvents {
  opened(record: ConnectionRecord, reused: boolean): void;
  /** A connection the API ended: DELETE, an overridden record, a public proxy the policy forbids. */
  stopped(record: ConnectionRecord): void;
  remoteitError(kind: RemoteitErrorKind, operation: 'connect' | 'stop'): void;
  policyDenied(reason: PolicyDenialReason): void;
}

/** The slice of a logger the domain uses (Powertools' Logger fits). Never give it secrets: none pass here. */
export interface BrokerLogger {
  warn(message: string, attributes: Record<string, unknown>): void;
  error(message: string, attributes: Record<string, unknown>): void;
}

export interface ConnectionServiceDeps {
  store: ConnectionStore;
  remoteit: RemoteitApi;
  policy: PolicyDocument;
  /** Epoch milliseconds. */
  now: () => number;
  /** A new ULID. */
  newId: () => string;
  defaultTtlSeconds: number;
  /** A pending record becomes due for the sweeper after this long (an invocation that died mid-connect). */
  pendingGraceSeconds: number;
  /** The local stack admits private and loopback client IPs: loopback addresses stand in for the internet there. */
  allowPrivateClientIps: boolean;
  /** What the stop primitives need beyond the store, remote.it and the clock. */
  stop: Pick<StopContext, 'random' | 'maxAttempts' | 'claimSeconds' | 'events'>;
  events?: BrokerEvents;
  logger?: BrokerLogger;
}

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

export interface ListRequest {
  status?: ConnectionStatus;
  serviceId?: string;
  limit?: number;
  cursor?: string;
}

export interface StopResult {
  connection: ConnectionRecord;
  /** True when the stop is not finished (remote.it could not be reached; the sweeper retries): answer 202. */
  pending: boolean;
}

export interface ConnectionService {
  open(caller: Caller, request: OpenRequest): Promise<OpenResult>;
  get(caller: Caller, id: string): Promise<ConnectionRecord>;
  list(caller: Caller, request?: ListRequest): Promise<Page<ConnectionRecord>>;
  renew(caller: Caller, id: string, ttlSeconds: number): Promise<ConnectionRecord>;
  stop(caller: Caller, id: string): Promise<StopResult>;
}

// ---- client IP rules ------------------------------------------------------------------------------------

function blockList(ranges: readonly (readonly [string, number])[]): BlockList {
  const list = new BlockList();
  for (const [network, prefix] of ranges) list.addSubnet(network, prefix, 'ipv4');
  return list;
}

/** Never a client: these would change what `hostip` means (0.0.0.0 = public, 255.255.255.255 = latching). */
const NEVER_CLIENT = blockList([
  ['0.0.0.0', 8], // "this network", including 0.0.0.0
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, including 255.255.255.255 broadcast
]);

/** Not reachable from the internet (IANA special-purpose registry); admitted only when the deployment says so. */
const NOT_PUBLIC = blockList([
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // shared address space (CGNAT)
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.88.99.0', 24], // deprecated 6to4 relay anycast
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
]);

/** Why `ip` cannot be an `ip`-mode client address, or undefined when it can. */
export function clientIpProblem(ip: string, allowPrivate: boolean): string | undefined {
  if (!isIPv4(ip)) return 'must be an IPv4 address in dotted-decimal form';
  if (NEVER_CLIENT.check(ip, 'ipv4')) return 'must be a unicast IPv4 address (not 0.0.0.0/8, multicast, broadcast or reserved)';
  if (!allowPrivate && NOT_PUBLIC.check(ip, 'ipv4')) {
    return 'must be a public IPv4 address (not private, loopback, link-local, shared CGNAT, or documentation space)';
  }
  return undefined;
}

// ---- time -----------------------------------------------------------------------------------------------

const iso = (ms: number): string => new Date(ms).toISOString();
/** A lease end as dueAt: rounded up, so the sweeper never cuts a lease short by a fraction of a second. */
const dueSecondsOf = (ms: number): number => Math.ceil(ms / 1000);

const TERMINAL: readonly ConnectionStatus[] = ['stopped', 'failed', 'expired', 'stop_failed'];

/**
 * The record as callers see it. TTL deletion is lazy, so a live record whose `expiresAt` has passed reads as
 * `expired`: remote.it has closed that proxy whatever the record says. Terminal records keep their status.
 */
function asSeen(record: ConnectionRecord, nowMs: number): ConnectionRecord {
  if (!TERMINAL.includes(record.status) && record.expiresAt <= epochSeconds(nowMs)) return { ...record, status: 'expired' };
  return record;
}

const isTtl = (value: unknown): value is number => Number.isInteger(value) && (value as number) >= MIN_TTL_SECONDS;

export function createConnectionService(deps: ConnectionServiceDeps): ConnectionService {
  const { store, remoteit, policy, now, events, logger } = deps;
  const stopContext: StopContext = { store, remoteit, now, ...deps.stop };

  function deny(reason: PolicyDenialReason, detail: string): never {
    events?.policyDenied(reason);
    throw new PolicyDeniedError(reason, detail);
  }

  /** Owner or admin; anyone else gets the same answer as for an unknown id. */
  async function readVisible(caller: Caller, id: string): Promise<ConnectionRecord> {
    const record = await store.get(id);
    if (!record || (record.owner !== caller.principal && !isAdmin(policy, caller.principal))) {
      throw new ConnectionNotFoundError(id);
    }
    return record;
  }

  function validateOpen(caller: Caller, request: OpenRequest) {
    const errors: FieldError[] = [];
    const serviceId = typeof request.serviceId === 'string' ? request.serviceId.toUpperCase() : '';
    if (!SERVICE_ID_PATTERN.test(serviceId)) {
      errors.push({ field: 'serviceId', message: SERVICE_ID_MESSAGE });
    }
    const mode = request.mode ?? 'latching';
    if (!CONNECTION_MODES.includes(mode)) errors.push({ field: 'mode', message: `must be one of ${CONNECTION_MODES.join(', ')}` });
    const ttlSeconds = request.ttlSeconds ?? deps.defaultTtlSeconds;
    if (!isTtl(ttlSeconds)) errors.push({ field: 'ttlSeconds', message: TTL_MESSAGE });

    let hostIp: string = mode === 'public' ? HOST_IP_BY_MODE.public : HOST_IP_BY_MODE.latching;
    if (mode === 'ip') {
      hostIp = request.clientIp ?? caller.sourceIp;
      const problem = clientIpProblem(hostIp, deps.allowPrivateClientIps);
      if (problem) {
        errors.push({
          field: 'clientIp',
          message: request.clientIp === undefined ? `your source address ${hostIp} cannot be used: it ${problem}; give clientIp` : problem,
        });
      }
    } else if (request.clientIp !== undefined) {
      errors.push({ field: 'clientIp', message: "is only allowed with mode 'ip'" });
    }
    if (errors.length > 0) throw new InvalidRequestError(errors);
    return { serviceId, mode, hostIp, ttlSeconds };
  }

  /** The caller's newest active connection to the same target whose lease already covers `ttlSeconds`. */
  async function findReusable(
    caller: Caller,
    target: { serviceId: string; mode: ConnectionMode; hostIp: string; ttlSeconds: number },
    nowMs: number,
  ): Promise<ConnectionRecord | undefined> {
    let cursor: string | undefined;
    for (let page = 0; page < MAX_SCAN_PAGES; page += 1) {
      const result = await store.list({ owner: caller.principal, serviceId: target.serviceId, status: 'active', limit: SCAN_PAGE_SIZE, cursor });
      const found = result.items.find(
        (record) =>
          record.status === 'active' &&
          record.mode === target.mode &&
          record.hostIp === target.hostIp &&
          record.expiresAt > epochSeconds(nowMs) &&
          Date.parse(record.leaseExpiresAt) >= nowMs + target.ttlSeconds * 1000,
      );
      // The list comes from an eventually consistent index: confirm on the table before handing it out.
      if (found) {
        const fresh = await store.get(found.id);
        const stillLive = fresh?.status === 'active' && fresh.expiresAt > epochSeconds(nowMs);
        return stillLive && Date.parse(fresh.leaseExpiresAt) >= nowMs + target.ttlSeconds * 1000 ? fresh : undefined;
      }
      if (!result.cursor) return undefined;
      cursor = result.cursor;
    }
    return undefined;
  }

  /** Records why a connect failed and returns the domain error to throw. */
  async function failPending(pending: ConnectionRecord, error: unknown): Promise<unknown> {
    let failureReason: string;
    let domainError: unknown;
    if (error instanceof RemoteitError) events?.remoteitError(error.kind, 'connect');
    if (error instanceof RemoteitNotFoundError) {
      failureReason = error.reason;
      domainError = new ServiceNotFoundError(pending.serviceId, { cause: error });
    } else if (error instanceof RemoteitRefusedError) {
      failureReason = error.reason;
      domainError = new UpstreamRefusedError(error.reason, { cause: error });
    } else if (error instanceof RemoteitTimeoutError) {
      // The request may have reached remote.it and opened a proxy whose id we never learned, so nothing can
      // stop it. Nobody holds its address, and remote.it closes a proxy about 15 minutes after its last use:
      // it idles out. Marking the record failed (not leaving it pending) answers the caller truthfully now.
      failureReason = 'remote.it did not answer in time';
      domainError = new UpstreamTimeoutError({ cause: error });
    } else if (error instanceof RemoteitError) {
      // Throttled, 5xx, unreachable, malformed, the broker's credentials refused: the caller cannot act on
      // which, and a malformed or 5xx answer is the same unidentifiable-proxy case as a timeout.
      failureReason = error.message;
      const retryAfterSeconds = error instanceof RemoteitThrottledError ? error.retryAfterSeconds : undefined;
      domainError = new UpstreamUnavailableError({ cause: error, retryAfterSeconds });
    } else {
      failureReason = 'unexpected error while connecting';
      domainError = error;
    }
    const nowMs = now();
    try {
      await store.update(
        pending.id,
        { status: ['pending'], version: pending.version },
        { status: 'failed', failureReason, dueAt: null, expiresAt: epochSeconds(nowMs) + SHORT_HORIZON_SECONDS, updatedAt: iso(nowMs) },
      );
    } catch (recordError) {
      // The pending record stays due; the sweeper settles it after the grace period.
      logger?.warn('could not record a failed connect', { connectionId: pending.id, error: recordError });
    }
    return domainError;
  }

  /**
   * remote.it said yes but the answer could not be recorded (or used): stop that proxy now, so no live
   * remote.it connection is ever unrecorded. If this stop fails too, the record becomes `stopping` with the
   * remote id, due now, so the sweeper retries the stop; only if that write fails as well is the proxy left to
   * close at remote.it on its own (15 idle minutes: nobody was given its address).
   */
  async function compensate(pending: ConnectionRecord, remoteConnectionId: string, cause: unknown): Promise<UpstreamUnavailableError> {
    const context = { connectionId: pending.id, serviceId: pending.serviceId, remoteConnectionId };
    logger?.error('could not record an opened connection; stopping it at remote.it', { ...context, error: cause });
    try {
      await remoteit.stop(pending.serviceId, remoteConnectionId);
      await store
        .update(pending.id, { status: ['pending'] }, { status: 'stopped', stopReason: 'compensation', remoteConnectionId, stoppedAt: iso(now()), dueAt: null, updatedAt: iso(now()) })
        .catch(() => undefined); // the record may be what failed; the sweeper settles a pending one
    } catch (stopError) {
      if (stopError instanceof RemoteitError) events?.remoteitError(stopError.kind, 'stop');
      const nowMs = now();
      try {
        await store.update(
          pending.id,
          { status: ['pending'] },
          {
            status: 'stopping',
            stopReason: 'compensation',
            remoteConnectionId,
            stopAttempts: 1,
            failureReason: stopError instanceof Error ? stopError.message : 'compensating stop failed',
            dueAt: epochSeconds(nowMs),
            updatedAt: iso(nowMs),
          },
        );
        logger?.error('compensating stop failed; the sweeper retries it', { ...context, error: stopError });
      } catch (recordError) {
        logger?.error('compensating stop failed and could not be recorded; the proxy idles out at remote.it', {
          ...context,
          error: stopError,
          recordError,
        });
      }
    }
    return new UpstreamUnavailableError({ cause });
  }

  /** remote.it replaced an earlier connection of ours: mark its record stopped (best effort). */
  async function markOverridden(remote: RemoteConnection, serviceId: string, newRecordId: string): Promise<void> {
    const previousId = remote.previousConnectionId;
    if (!remote.overridden || previousId === undefined) return;
    try {
      let cursor: string | undefined;
      for (let page = 0; page < MAX_SCAN_PAGES; page += 1) {
        const result = await store.list({ serviceId, status: 'active', limit: SCAN_PAGE_SIZE, cursor });
        const previous = result.items.find((record) => record.remoteConnectionId === previousId && record.id !== newRecordId);
        if (previous) {
          const nowMs = now();
          const stopped = await store.update(
            previous.id,
            { status: ['active'] },
            { status: 'stopped', stopReason: 'overridden', stoppedAt: iso(nowMs), dueAt: null, updatedAt: iso(nowMs) },
          );
          events?.stopped(stopped);
          return;
        }
        if (!result.cursor) return;
        cursor = result.cursor;
      }
    } catch (error) {
      // The sweeper will find that record at its lease end; remote.it then says it is gone and it reads expired.
      logger?.warn('could not mark an overridden connection', { serviceId, remoteConnectionId: previousId, error });
    }
  }

  /** http services get a public reverse proxy whatever hostip said; a caller not allowed public loses it at once. */
  async function refusePublic(pending: ConnectionRecord, remote: RemoteConnection): Promise<never> {
    const nowMs = now();
    let claimed: ConnectionRecord;
    try {
      // Claimed for stop in the same write that records the remote id: if this invocation dies before the
      // stop, the sweeper finds the record due after the claim and stops it. The proxy is not recorded: the
      // caller may not have it.
      claimed = await store.update(
        pending.id,
        { status: ['pending'], version: pending.version },
        {
          status: 'stopping',
          stopReason: 'public_not_allowed',
          remoteConnectionId: remote.remoteConnectionId,
          expiresAt: remote.expiresAt,
          leaseExpiresAt: iso(nowMs),
          dueAt: epochSeconds(nowMs) + deps.stop.claimSeconds,
          updatedAt: iso(nowMs),
        },
      );
    } catch (error) {
      throw await compensate(pending, remote.remoteConnectionId, error);
    }
    await markOverridden(remote, pending.serviceId, pending.id);
    try {
      const result = await stopClaimed(stopContext, claimed);
      if (result?.error) events?.remoteitError(result.error.kind, 'stop');
      if (result && (result.outcome === 'stopped' || result.outcome === 'expired')) events?.stopped(result.record);
    } catch (error) {
      // The claim lapses and the sweeper stops it; the caller's answer is the same either way.
      logger?.warn('could not record the stop of a forbidden public proxy', { connectionId: pending.id, error });
    }
    return deny('public_not_allowed', PUBLIC_NOT_ALLOWED_DETAIL);
  }

  async function open(caller: Caller, request: OpenRequest): Promise<OpenResult> {
    const { serviceId, mode, hostIp, ttlSeconds: asked } = validateOpen(caller, request);
    // A caller who names no lease gets the default, capped by its policy: only an explicit ttl is denied.
    const explicitTtl = request.ttlSeconds !== undefined;
    const decision = evaluatePolicy(policy, {
      principal: caller.principal,
      serviceId,
      mode,
      ttlSeconds: explicitTtl ? asked : MIN_TTL_SECONDS,
    });
    if (!decision.allowed) return deny(decision.reason, decision.detail);
    const ttlSeconds = explicitTtl ? asked : Math.min(asked, decision.maxTtlSeconds);

    const startMs = now();
    if (request.reuse) {
      const existing = await findReusable(caller, { serviceId, mode, hostIp, ttlSeconds }, startMs);
      if (existing) {
        events?.opened(existing, true);
        return { connection: existing, reused: true };
      }
    }
    // Two concurrent opens can both pass this count and exceed the quota by one: an accepted soft limit,
    // since a strict one would need a per-owner counter item written in the same transaction.
    if ((await store.countLive(caller.principal)) >= decision.maxActive) throw new QuotaExceededError(decision.maxActive);

    const startSeconds = epochSeconds(startMs);
    const pending: ConnectionRecord = {
      id: deps.newId(),
      owner: caller.principal,
      callerArn: caller.arn,
      serviceId,
      mode,
      hostIp,
      status: 'pending',
      createdAt: iso(startMs),
      updatedAt: iso(startMs),
      leaseExpiresAt: iso(startMs + ttlSeconds * 1000),
      expiresAt: startSeconds + SHORT_HORIZON_SECONDS,
      dueAt: startSeconds + deps.pendingGraceSeconds,
      stopAttempts: 0,
      version: 0,
    };
    // Write-ahead: the record exists before remote.it is asked, so a crash mid-connect leaves a trace.
    await store.create(pending);

    let remote: RemoteConnection;
    try {
      remote = await remoteit.connect(serviceId, hostIp);
    } catch (error) {
      if (error instanceof RemoteitMalformedError && error.remoteConnectionId !== undefined) {
        events?.remoteitError(error.kind, 'connect');
        throw await compensate(pending, error.remoteConnectionId, error);
      }
      throw await failPending(pending, error);
    }
    if (remote.proxy.kind === 'reverse' && !decision.publicAllowed) return refusePublic(pending, remote);

    const nowMs = now();
    const leaseEndMs = Math.min(nowMs + ttlSeconds * 1000, remote.expiresAt * 1000);
    let active: ConnectionRecord;
    try {
      active = await store.update(
        pending.id,
        { status: ['pending'], version: pending.version },
        {
          status: 'active',
          remoteConnectionId: remote.remoteConnectionId,
          proxy: remote.proxy,
          expiresAt: remote.expiresAt,
          leaseExpiresAt: iso(leaseEndMs),
          dueAt: dueSecondsOf(leaseEndMs),
          updatedAt: iso(nowMs),
        },
      );
    } catch (error) {
      throw await compensate(pending, remote.remoteConnectionId, error);
    }
    await markOverridden(remote, serviceId, active.id);
    events?.opened(active, false);
    return { connection: active, reused: false };
  }

  async function get(caller: Caller, id: string): Promise<ConnectionRecord> {
    return asSeen(await readVisible(caller, id), now());
  }

  async function list(caller: Caller, request: ListRequest = {}): Promise<Page<ConnectionRecord>> {
    const errors: FieldError[] = [];
    const limit = request.limit ?? 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
      errors.push({ field: 'limit', message: `must be a whole number from 1 to ${MAX_LIST_LIMIT}` });
    }
    if (request.status !== undefined && !CONNECTION_STATUSES.includes(request.status)) {
      errors.push({ field: 'status', message: `must be one of ${CONNECTION_STATUSES.join(', ')}` });
    }
    const serviceId = request.serviceId?.toUpperCase();
    if (serviceId !== undefined && !SERVICE_ID_PATTERN.test(serviceId)) {
      errors.push({ field: 'serviceId', message: SERVICE_ID_MESSAGE });
    }
    if (errors.length > 0) throw new InvalidRequestError(errors);

    const owner = isAdmin(policy, caller.principal) ? undefined : caller.principal;
    const page = await store.list({ owner, status: request.status, serviceId, limit, cursor: request.cursor });
    const nowMs = now();
    // A record stored live but past its expiry reads as expired, so it no longer matches a live status filter.
    const items = page.items
      .map((record) => asSeen(record, nowMs))
      .filter((record) => request.status === undefined || record.status === request.status);
    return page.cursor === undefined ? { items } : { items, cursor: page.cursor };
  }

  async function renew(caller: Caller, id: string, ttlSeconds: number): Promise<ConnectionRecord> {
    if (!isTtl(ttlSeconds)) {
      throw new InvalidRequestError([{ field: 'ttlSeconds', message: TTL_MESSAGE }]);
    }
    const record = await readVisible(caller, id);
    const nowMs = now();
    const seen = asSeen(record, nowMs);
    if (seen.status !== 'active') throw new ConnectionNotActiveError(id, seen.status);
    // A lease that has ended is the sweeper's to stop, even if it has not run yet: renewing would revive it.
    if (Date.parse(record.leaseExpiresAt) <= nowMs) throw new ConnectionNotActiveError(id, 'past its lease');
    // The lease is the owner's, so the owner's rules cap it (also when an admin renews).
    const decision = evaluatePolicy(policy, { principal: record.owner, serviceId: record.serviceId, mode: record.mode, ttlSeconds });
    if (!decision.allowed) return deny(decision.reason, decision.detail);

    const leaseEndMs = Math.min(nowMs + ttlSeconds * 1000, record.expiresAt * 1000);
    try {
      // Version-checked: a sweeper claim between the read and this write wins, never the renew.
      return await store.update(
        id,
        { status: ['active'], version: record.version },
        { leaseExpiresAt: iso(leaseEndMs), dueAt: dueSecondsOf(leaseEndMs), updatedAt: iso(nowMs) },
      );
    } catch (error) {
      if (!(error instanceof StaleRecordError)) throw error;
      // Stopped or claimed by the sweeper since the read.
      const latest = await store.get(id);
      if (!latest) throw new ConnectionNotFoundError(id);
      throw new ConnectionNotActiveError(id, asSeen(latest, now()).status);
    }
  }

  const answer = (record: ConnectionRecord): StopResult => ({ connection: record, pending: record.status === 'stopping' });

  /**
   * DELETE's common case, an active connection, in one write instead of a read and a write: claimed for stop
   * on condition that it is the caller's (any owner's for an admin), active and not past its expiry. When
   * the condition fails the store reports the record it found, which `stop` decides from as from a read; a
   * record that is missing or another owner's is not found, as on every route.
   */
  async function claimActive(caller: Caller, id: string): Promise<{ claimed: ConnectionRecord } | { found: ConnectionRecord }> {
    const nowMs = now();
    const admin = isAdmin(policy, caller.principal);
    try {
      const claimed = await store.update(
        id,
        { status: ['active'], unexpiredAt: epochSeconds(nowMs), ...(!admin && { owner: caller.principal }) },
        claimChanges(stopContext, 'requested', nowMs),
      );
      return { claimed };
    } catch (error) {
      if (!(error instanceof StaleRecordError)) throw error;
      const found = error.current;
      if (!found || (found.owner !== caller.principal && !admin)) throw new ConnectionNotFoundError(id);
      return { found };
    }
  }

  /** Stops a won claim at remote.it and answers; undefined when another writer changed the record meanwhile. */
  async function finishStop(claimed: ConnectionRecord): Promise<StopResult | undefined> {
    const result = await stopClaimed(stopContext, claimed);
    if (!result) return undefined;
    if (result.error) events?.remoteitError(result.error.kind, 'stop');
    if (result.outcome === 'stopped' || result.outcome === 'expired') events?.stopped(result.record);
    if (result.outcome === 'stop_failed') throw new StopFailedError(claimed.id, result.record.stopAttempts);
    return answer(asSeen(result.record, now()));
  }

  /** The record another writer just changed (owner already checked: it never changes). */
  async function readAgain(id: string): Promise<ConnectionRecord> {
    const latest = await store.get(id);
    if (!latest) throw new ConnectionNotFoundError(id);
    return latest;
  }

  async function stop(caller: Caller, id: string): Promise<StopResult> {
    const first = await claimActive(caller, id);
    let record: ConnectionRecord;
    // The first claim counts against the budget only if it was won (a found record is as good as a read).
    let claims = 0;
    if ('claimed' in first) {
      claims = 1;
      const done = await finishStop(first.claimed);
      if (done) return done;
      record = await readAgain(id);
    } else {
      record = first.found;
    }
    for (; claims < MAX_STOP_CLAIMS; claims += 1) {
      const nowMs = now();
      const seen = asSeen(record, nowMs);
      // Terminal (or past its expiry), or a stop another writer holds a live claim on: answer as is. Pending
      // before remote.it answered: nothing to stop yet, and answering 200 would hide the proxy about to open.
      if (!LIVE_STATUSES.includes(seen.status) && seen.status !== 'stop_failed') return answer(seen);
      if (seen.status === 'pending' && seen.remoteConnectionId === undefined) throw new ConnectionOpeningError(id);
      if (seen.status === 'stopping' && seen.dueAt !== undefined && seen.dueAt > epochSeconds(nowMs)) return answer(seen);

      // A retry keeps the reason it was first stopped for (lease_ended stays lease_ended).
      const reason: StopReason = record.status === 'stopping' && record.stopReason ? record.stopReason : 'requested';
      const claimed = await claimForStop(stopContext, record, reason);
      const done = claimed && (await finishStop(claimed));
      if (done) return done;
      // Another writer changed the record first: decide again from what it wrote.
      record = await readAgain(id);
    }
    return answer(asSeen(record, now()));
  }

  return { open, get, list, renew, stop };
}
