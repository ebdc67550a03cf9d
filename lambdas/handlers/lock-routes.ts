/**
 * POST /locks, GET /locks, DELETE /locks/{id}: the operators' locks (lambdas/broker/locks.ts), served by the
 * write function, which already holds what enforcing a new lock needs (the stop path). Every route checks that
 * the caller is an admin before it reads the body, the path or the store. Built from their deps by
 * `lockRoutes`, so the function's entry point wires them with a few lines.
 */
import type { LockEnforcement } from '../broker/lock-enforcement';
import { liftLock, listLocks, placeLock, requireAdmin, type LockAdminDeps } from '../broker/lock-admin';
import { lapsesAt, type Lock } from '../broker/locks';
import type { PolicyDocument } from '../broker/policy';
import { toCaller } from '../broker/principal';
import { InvalidRequestError } from '../broker/errors';
import type { RouteHandler } from './http/api';
import type { LockListView, LockView, PlacedLockView } from './http/lock-responses';
import { lockIdSchema, placeLockRequestSchema } from './http/lock-schemas';
import { fieldErrors } from './http/problem';
import { identityOf, parseBody, type ApiEvent } from './http/request';
import { jsonResponse } from './http/view';

export interface LockRouteDeps extends LockAdminDeps {
  /** The policy in force for this request (who the admins are). */
  policy: () => PolicyDocument | Promise<PolicyDocument>;
  /** Stops every live connection `lock` covers, at once (lambdas/broker/lock-enforcement.ts). */
  enforce: (lock: Lock) => Promise<Pick<LockEnforcement, 'stopped' | 'remaining' | 'unreadParts'>>;
  /** Where a failed enforcement is reported: the lock is placed, so the answer is still 201. */
  onEnforcementFailed: (lock: Lock, error: unknown) => void;
}

/** A lock as callers see it: ISO-8601 UTC times, no table bookkeeping. */
export function toLockView(lock: Lock): LockView {
  const lapses = lapsesAt(lock);
  return {
    id: lock.id,
    ...(lock.principal !== undefined && { principal: lock.principal }),
    ...(lock.serviceId !== undefined && { serviceId: lock.serviceId }),
    reason: lock.reason,
    createdAt: lock.createdAt,
    createdBy: lock.createdBy,
    ...(lapses !== undefined && { expiresAt: new Date(lapses * 1000).toISOString() }),
    ...(lock.liftedAt !== undefined && { liftedAt: lock.liftedAt }),
    ...(lock.liftedBy !== undefined && { liftedBy: lock.liftedBy }),
  };
}

function lockIdOf(event: ApiEvent): string {
  const raw = event.pathParameters?.id;
  const result = lockIdSchema.safeParse(raw);
  if (!result.success) throw new InvalidRequestError(fieldErrors(result.error, raw, 'id'));
  return result.data;
}

/** The route handlers by route key (lambdas/handlers/routes.ts). */
export function lockRoutes(deps: LockRouteDeps): Record<string, RouteHandler> {
  /** The caller, once the policy says it is an admin: the first thing every lock route does. */
  const admin = async (event: ApiEvent) => {
    const caller = toCaller(identityOf(event));
    const policy = await deps.policy();
    requireAdmin(policy, caller);
    return { caller, policy };
  };

  const placeRoute: RouteHandler = async (event) => {
    const { caller, policy } = await admin(event);
    const request = parseBody(event, placeLockRequestSchema);
    const lock = await placeLock(deps, policy, caller, request);
    // The lock is written: from here on it refuses opens, and the sweeper enforces it whatever happens below.
    // A failure now must not answer 5xx, or a caller would place it again.
    let enforcement: PlacedLockView['enforcement'];
    try {
      const result = await deps.enforce(lock);
      enforcement = { stopped: result.stopped, remaining: result.remaining, complete: result.unreadParts === 0 };
    } catch (error) {
      deps.onEnforcementFailed(lock, error);
      enforcement = { stopped: 0, remaining: 0, complete: false };
    }
    const body: PlacedLockView = { ...toLockView(lock), enforcement };
    return jsonResponse(201, body);
  };

  const listRoute: RouteHandler = async (event) => {
    const { caller, policy } = await admin(event);
    const body: LockListView = { items: (await listLocks(deps, policy, caller)).map(toLockView) };
    return jsonResponse(200, body);
  };

  const liftRoute: RouteHandler = async (event) => {
    const { caller, policy } = await admin(event);
    const lock = await liftLock(deps, policy, caller, lockIdOf(event));
    return jsonResponse(200, toLockView(lock));
  };

  return {
    'POST /locks': placeRoute,
    'GET /locks': listRoute,
    'DELETE /locks/{id}': liftRoute,
  };
}
