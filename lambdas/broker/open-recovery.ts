/**
 * What open does when the connect did not simply succeed: a refused or failed connect recorded as failed,
 * an opened proxy that could not be recorded stopped at once (compensation), a public proxy the policy
 * forbids taken back, and an earlier connection remote.it replaced marked stopped.
 */
import {
  ServiceNotFoundError,
  UpstreamRefusedError,
  UpstreamTimeoutError,
  UpstreamUnavailableError,
} from './errors';
// The builders one by one (not the `lifecycle` object), so the open function's bundle leaves out those it never calls.
import * as lifecycle from './lifecycle';
import { applyTransition } from './lifecycle';
import type { ConnectionRecord } from './model';
import { denyByPolicy } from './policy';
import { RemoteitFailure, type RecordStore, type RemoteConnection } from './ports';
import { reportEndedByApi, stopClaimed, type StopContext as FullStopContext } from './stopping';

/** Open's stop context: its store is the records alone. */
type StopContext = FullStopContext<RecordStore>;

/** Pages read when looking for an overridden record: bounded, these lists are short in practice. */
export const MAX_SCAN_PAGES = 5;
export const SCAN_PAGE_SIZE = 50;

export const PUBLIC_NOT_ALLOWED_DETAIL =
  'remote.it opened a public reverse proxy for this http service and your policy does not allow public connections; it was stopped';

/** The domain error a failed connect answers with, and the reason its record keeps. */
function connectFailure(pending: ConnectionRecord, error: unknown): { failureReason: string; answer: unknown } {
  if (!(error instanceof RemoteitFailure)) return { failureReason: 'unexpected error while connecting', answer: error };
  const reason = error.reason ?? error.message;
  switch (error.kind) {
    case 'not_found':
      return { failureReason: reason, answer: new ServiceNotFoundError(pending.serviceId, error.reason, { cause: error }) };
    case 'refused':
      return { failureReason: reason, answer: new UpstreamRefusedError(reason, { cause: error }) };
    case 'timed_out':
      // The request may have reached remote.it and opened a proxy whose id we never learned, so nothing can
      // stop it. Nobody holds its address, and remote.it closes a proxy about 15 minutes after its last use:
      // it idles out. Marking the record failed (not leaving it pending) answers the caller truthfully now.
      return { failureReason: 'remote.it did not answer in time', answer: new UpstreamTimeoutError({ cause: error }) };
    default:
      // Throttled, 5xx, unreachable, unusable, the broker's credentials refused: the caller cannot act on
      // which, and an unusable or 5xx answer is the same unidentifiable-proxy case as a timeout.
      return {
        failureReason: error.message,
        answer: new UpstreamUnavailableError({ cause: error, retryAfterSeconds: error.kind === 'throttled' ? error.retryAfterSeconds : undefined }),
      };
  }
}

/** Records why a connect failed and returns the error to throw. */
export async function failPending(stopContext: StopContext, pending: ConnectionRecord, error: unknown): Promise<unknown> {
  if (error instanceof RemoteitFailure) stopContext.events({ type: 'remoteit_failed', operation: 'connect', failure: error });
  const { failureReason, answer } = connectFailure(pending, error);
  try {
    await applyTransition(stopContext.store, lifecycle.failConnect(pending, failureReason, stopContext.now()));
  } catch (recordError) {
    // The pending record stays due; the sweeper settles it after the grace period.
    stopContext.events({ type: 'recovery', severity: 'warn', message: 'could not record a failed connect', connectionId: pending.id, error: recordError });
  }
  return answer;
}

/**
 * remote.it said yes but the answer could not be recorded (or used): stop that proxy now, so no live
 * remote.it connection is ever unrecorded. If this stop fails too, the record becomes `stopping` with the
 * remote id, due now, so the sweeper retries the stop; only if that write fails as well is the proxy left to
 * close at remote.it on its own (15 idle minutes: nobody was given its address).
 */
export async function compensate(
  stopContext: StopContext,
  pending: ConnectionRecord,
  remoteConnectionId: string,
  cause: unknown,
): Promise<UpstreamUnavailableError> {
  const details = { serviceId: pending.serviceId, remoteConnectionId };
  const report = (severity: 'warn' | 'error', message: string, error: unknown, extra: Record<string, unknown> = {}) =>
    stopContext.events({ type: 'recovery', severity, message, connectionId: pending.id, error, details: { ...details, ...extra } });
  report('error', 'could not record an opened connection; stopping it at remote.it', cause);
  try {
    await stopContext.remoteit.stop(pending.serviceId, remoteConnectionId);
    // The record may be what failed; the sweeper settles a pending one.
    await applyTransition(stopContext.store, lifecycle.compensated(pending, remoteConnectionId, stopContext.now())).catch(() => undefined);
  } catch (stopError) {
    if (stopError instanceof RemoteitFailure) stopContext.events({ type: 'remoteit_failed', operation: 'stop', failure: stopError });
    const failureReason = stopError instanceof Error ? stopError.message : 'compensating stop failed';
    try {
      await applyTransition(stopContext.store, lifecycle.compensateLater(pending.id, remoteConnectionId, failureReason, stopContext.now()));
      report('error', 'compensating stop failed; the sweeper retries it', stopError);
    } catch (recordError) {
      report('error', 'compensating stop failed and could not be recorded; the proxy idles out at remote.it', stopError, { recordError });
    }
  }
  return new UpstreamUnavailableError({ cause });
}

/** remote.it replaced an earlier connection of ours: mark its record stopped (best effort). */
export async function markOverridden(stopContext: StopContext, remote: RemoteConnection, serviceId: string, newRecordId: string): Promise<void> {
  const previousId = remote.previousConnectionId;
  if (!remote.overridden || previousId === undefined) return;
  try {
    let cursor: string | undefined;
    for (let page = 0; page < MAX_SCAN_PAGES; page += 1) {
      const result = await stopContext.store.list({ serviceId, status: 'active', limit: SCAN_PAGE_SIZE, cursor });
      const previous = result.items.find((record) => record.remoteConnectionId === previousId && record.id !== newRecordId);
      if (previous) {
        const stopped = await applyTransition(stopContext.store, lifecycle.override(previous, stopContext.now()));
        stopContext.events({ type: 'stopped', record: stopped });
        return;
      }
      if (!result.cursor) return;
      cursor = result.cursor;
    }
  } catch (error) {
    // The sweeper will find that record at its lease end; remote.it then says it is gone and it reads expired.
    stopContext.events({
      type: 'recovery',
      severity: 'warn',
      message: 'could not mark an overridden connection',
      connectionId: newRecordId,
      error,
      details: { serviceId, remoteConnectionId: previousId },
    });
  }
}

/** http services get a public reverse proxy whatever hostip said; a caller not allowed public loses it at once. */
export async function refusePublic(stopContext: StopContext, pending: ConnectionRecord, remote: RemoteConnection): Promise<never> {
  let claimed: ConnectionRecord;
  try {
    claimed = await applyTransition(stopContext.store, lifecycle.refusePublic(pending, remote, stopContext.now(), stopContext.claimSeconds));
  } catch (error) {
    throw await compensate(stopContext, pending, remote.remoteConnectionId, error);
  }
  await markOverridden(stopContext, remote, pending.serviceId, pending.id);
  try {
    reportEndedByApi(stopContext, await stopClaimed(stopContext, claimed));
  } catch (error) {
    // The claim lapses and the sweeper stops it; the caller's answer is the same either way.
    stopContext.events({ type: 'recovery', severity: 'warn', message: 'could not record the stop of a forbidden public proxy', connectionId: pending.id, error });
  }
  return denyByPolicy(stopContext.events, 'public_not_allowed', PUBLIC_NOT_ALLOWED_DETAIL);
}
