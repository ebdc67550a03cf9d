/**
 * POST /connections/{id}/renew, DELETE /connections/{id}: the routes that change existing connections, and the
 * admins' lock routes (./lock-routes.ts), whose new locks stop connections through the same stop path. This
 * function holds the secret (a stop calls remote.it) and updates records; it creates none (./connections-open.ts
 * does) and reads no idempotency record.
 */
import { enforceLocks } from '../broker/lock-enforcement';
import { toCaller } from '../broker/principal';
import { renewConnection, type RenewDeps } from '../broker/renew';
import { stopConnection, type StopDeps } from '../broker/stop';
import { loadConfig, writeConfigSchema } from '../config';
import { monotonicUlid } from '../ulid';
import { apiHandler, type RouteHandler } from './http/api';
import { connectionIdOf, identityOf, parseBody } from './http/request';
import { renewConnectionRequestSchema } from './http/schemas';
import { jsonResponse, toView } from './http/view';
import { lockRoutes } from './lock-routes';
import { createPolicySource, NO_POLICY, requirePolicy } from './policy-source';
import { createStopContext } from './remoteit-runtime';
import { clock, createStore, dynamodb, events, logger, metrics } from './runtime';
import { createDocumentClient } from '../store/clients';
import { createDynamoLockStore } from '../store/lock-store';

const config = loadConfig(writeConfigSchema);
const store = createStore(config);
const stopContext = createStopContext(config, store);
const policySource = createPolicySource(config, { events, logger, now: clock });
const locks = createDynamoLockStore({ client: createDocumentClient(dynamodb), tableName: config.LOCKS_TABLE_NAME });

/** Renew needs a policy (refused `policy_unavailable` without one); a stop without one leaves owners theirs and nobody admin. */
const renewDeps = async (): Promise<RenewDeps> => ({ store, policy: await requirePolicy(policySource, events), locks, now: clock, events });
const stopDeps = async (): Promise<StopDeps> => ({ policy: (await policySource.current()) ?? NO_POLICY, stopContext });

const renewRoute: RouteHandler = async (event) => {
  const caller = toCaller(identityOf(event));
  const id = connectionIdOf(event);
  const { ttlSeconds, usedAt } = parseBody(event, renewConnectionRequestSchema);
  const usedAtMs = usedAt === undefined ? undefined : Date.parse(usedAt);
  return jsonResponse(200, toView(await renewConnection(await renewDeps(), caller, id, ttlSeconds, usedAtMs)));
};

const stopRoute: RouteHandler = async (event) => {
  const caller = toCaller(identityOf(event));
  const id = connectionIdOf(event);
  const { connection, pending } = await stopConnection(await stopDeps(), caller, id);
  return jsonResponse(pending ? 202 : 200, toView(connection));
};

/** Route keys (lambdas/handlers/routes.ts) this function serves. */
export const routes: Record<string, RouteHandler> = {
  'POST /connections/{id}/renew': renewRoute,
  'DELETE /connections/{id}': stopRoute,
  // POST /locks, GET /locks, DELETE /locks/{id}. A new lock's stops must end before API Gateway's 30 s.
  ...lockRoutes({
    locks,
    now: clock,
    newId: monotonicUlid(),
    policy: () => requirePolicy(policySource, events),
    enforce: (lock) => enforceLocks(stopContext, [lock], { deadlineMs: clock() + 15_000 }),
    onEnforcementFailed: (lock, error) => logger.error('lock placed but not enforced at once; the sweeper enforces it', { lockId: lock.id, error }),
  }),
};

export const handler = apiHandler(routes, { logger, metrics });
