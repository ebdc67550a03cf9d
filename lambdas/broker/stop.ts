/**
 * Stop (DELETE): end a connection now. Idempotent: a finished connection answers as it is. Every claim is
 * a conditional write, so a racing sweeper or second DELETE never reaches remote.it twice.
 */
import { ConnectionNotFoundError, ConnectionOpeningError, StopFailedError } from './errors';
import { applyTransition, lifecycle } from './lifecycle';
import { LIVE_STATUSES, type ConnectionRecord, type StopReason } from './model';
import { isAdmin, type PolicyDocument } from './policy';
import { StaleRecordError } from './ports';
import type { Caller } from './principal';
import { asSeen, visibleTo } from './queries';
import { claimForStop, reportEndedByApi, stopClaimed, type StopContext } from './stopping';
import { epochSeconds } from './time';

export interface StopDeps {
  policy: PolicyDocument;
  stopContext: StopContext;
}

export interface StopConnectionResult {
  connection: ConnectionRecord;
  /** True when the stop is not finished (remote.it could not be reached; the sweeper retries): answer 202. */
  pending: boolean;
}

/** Claim attempts before answering from what was last read (each loss means another writer acted). */
const MAX_STOP_CLAIMS = 3;

const answer = (record: ConnectionRecord): StopConnectionResult => ({ connection: record, pending: record.status === 'stopping' });

/**
 * DELETE's common case, an active connection, in one write instead of a read and a write: claimed for stop
 * on condition that it is the caller's (any owner's for an admin), active and not past its expiry. When
 * the condition fails the store reports the record it found, which `stopConnection` decides from as from a
 * read; a record that is missing or another owner's is not found, as on every route.
 */
async function claimActive(deps: StopDeps, caller: Caller, id: string): Promise<{ claimed: ConnectionRecord } | { found: ConnectionRecord }> {
  const { stopContext } = deps;
  const admin = isAdmin(deps.policy, caller.principal);
  try {
    const transition = lifecycle.claimActive(id, 'requested', stopContext.now(), stopContext.claimSeconds, admin ? undefined : caller.principal, caller.arn);
    return { claimed: await applyTransition(stopContext.store, transition) };
  } catch (error) {
    if (!(error instanceof StaleRecordError)) throw error;
    const found = error.current;
    if (!found || !visibleTo(deps.policy, caller, found)) throw new ConnectionNotFoundError(id);
    return { found };
  }
}

/** Stops a won claim at remote.it and answers; undefined when another writer changed the record meanwhile. */
async function finishStop(stopContext: StopContext, claimed: ConnectionRecord): Promise<StopConnectionResult | undefined> {
  const attempt = await stopClaimed(stopContext, claimed);
  if (!attempt) return undefined;
  reportEndedByApi(stopContext, attempt);
  if (attempt.outcome === 'stop_failed') throw new StopFailedError(claimed.id, attempt.record.stopAttempts);
  return answer(asSeen(attempt.record, stopContext.now()));
}

/** The record another writer just changed (owner already checked: it never changes). */
async function readAgain(stopContext: StopContext, id: string): Promise<ConnectionRecord> {
  const latest = await stopContext.store.get(id);
  if (!latest) throw new ConnectionNotFoundError(id);
  return latest;
}

export async function stopConnection(deps: StopDeps, caller: Caller, id: string): Promise<StopConnectionResult> {
  const { stopContext } = deps;
  const first = await claimActive(deps, caller, id);
  let record: ConnectionRecord;
  // The first claim counts against the budget only if it was won (a found record is as good as a read).
  let claims = 0;
  if ('claimed' in first) {
    claims = 1;
    const done = await finishStop(stopContext, first.claimed);
    if (done) return done;
    record = await readAgain(stopContext, id);
  } else {
    record = first.found;
  }
  for (; claims < MAX_STOP_CLAIMS; claims += 1) {
    const nowMs = stopContext.now();
    const seen = asSeen(record, nowMs);
    // Terminal (or past its expiry), or a stop another writer holds a live claim on: answer as is. Pending
    // before remote.it answered: nothing to stop yet, and answering 200 would hide the proxy about to open.
    if (!LIVE_STATUSES.includes(seen.status) && seen.status !== 'stop_failed') return answer(seen);
    if (seen.status === 'pending' && seen.remoteConnectionId === undefined) throw new ConnectionOpeningError(id);
    if (seen.status === 'stopping' && seen.dueAt !== undefined && seen.dueAt > epochSeconds(nowMs)) return answer(seen);

    // A retry keeps the reason it was first stopped for (lease_ended stays lease_ended).
    const reason: StopReason = record.status === 'stopping' && record.stopReason ? record.stopReason : 'requested';
    const claimed = await claimForStop(stopContext, record, reason, caller.arn);
    const done = claimed && (await finishStop(stopContext, claimed));
    if (done) return done;
    // Another writer changed the record first: decide again from what it wrote.
    record = await readAgain(stopContext, id);
  }
  return answer(asSeen(record, stopContext.now()));
}
