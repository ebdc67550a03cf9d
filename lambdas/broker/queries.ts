/**
 * The read use cases, get and list: they need only the store, the policy and the clock, so the read
 * function builds no remote.it port and holds no secret.
 */
import { ConnectionNotFoundError } from './errors';
import { TERMINAL_STATUSES, type ConnectionRecord, type ConnectionStatus } from './model';
import { isAdmin, type PolicyDocument } from './policy';
import type { ConnectionStore, Page } from './ports';
import type { Caller } from './principal';
import { epochSeconds, type Clock } from './time';

export interface QueryDeps {
  store: ConnectionStore;
  policy: PolicyDocument;
  now: Clock;
}

/** What the edge has validated: a known status, an upper-case service id, a limit within bounds. */
export interface ListRequest {
  status?: ConnectionStatus;
  serviceId?: string;
  limit: number;
  cursor?: string;
}

/**
 * The record as callers see it. TTL deletion is lazy, so a live record whose `expiresAt` has passed reads as
 * `expired`: remote.it has closed that proxy whatever the record says. Terminal records keep their status.
 */
export function asSeen(record: ConnectionRecord, nowMs: number): ConnectionRecord {
  if (!TERMINAL_STATUSES.includes(record.status) && record.expiresAt <= epochSeconds(nowMs)) return { ...record, status: 'expired' };
  return record;
}

/** Whether `caller` may see `record`: its owner, or an admin. */
export function visibleTo(policy: PolicyDocument, caller: Caller, record: ConnectionRecord): boolean {
  return record.owner === caller.principal || isAdmin(policy, caller.principal);
}

/** The record when the caller owns it or is an admin; anyone else gets the same answer as for an unknown id. */
export async function readVisible(deps: Omit<QueryDeps, 'now'>, caller: Caller, id: string): Promise<ConnectionRecord> {
  const record = await deps.store.get(id);
  if (!record || !visibleTo(deps.policy, caller, record)) throw new ConnectionNotFoundError(id);
  return record;
}

export async function getConnection(deps: QueryDeps, caller: Caller, id: string): Promise<ConnectionRecord> {
  return asSeen(await readVisible(deps, caller, id), deps.now());
}

/** The caller's connections, newest first (an admin's: everyone's). */
export async function listConnections(deps: QueryDeps, caller: Caller, request: ListRequest): Promise<Page<ConnectionRecord>> {
  const owner = isAdmin(deps.policy, caller.principal) ? undefined : caller.principal;
  const page = await deps.store.list({ owner, status: request.status, serviceId: request.serviceId, limit: request.limit, cursor: request.cursor });
  const nowMs = deps.now();
  // A record stored live but past its expiry reads as expired, so it no longer matches a live status filter.
  const items = page.items
    .map((record) => asSeen(record, nowMs))
    .filter((record) => request.status === undefined || record.status === request.status);
  return page.cursor === undefined ? { items } : { items, cursor: page.cursor };
}
