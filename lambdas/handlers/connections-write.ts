/**
 * POST /connections/{id}/renew, DELETE /connections/{id}: the routes that change existing connections. This
 * function holds the secret (a stop calls remote.it) and updates records; it creates none (./connections-open.ts
 * does) and reads no idempotency record.
 */
import { toCaller } from '../broker/principal';
import { renewConnection, type RenewDeps } from '../broker/renew';
import { stopConnection, type StopDeps } from '../broker/stop';
import { loadConfig, writeConfigSchema } from '../config';
import { apiHandler, type RouteHandler } from './http/api';
import { connectionIdOf, identityOf, parseBody } from './http/request';
import { renewConnectionRequestSchema } from './http/schemas';
import { jsonResponse, toView } from './http/view';
import { createStopContext } from './remoteit-runtime';
import { clock, createStore, events, logger, metrics } from './runtime';

const config = loadConfig(writeConfigSchema);
const store = createStore(config);
const stopContext = createStopContext(config, store);
const policy = config.BROKER_POLICY;

const renewDeps: RenewDeps = { store, policy, now: clock, events };
const stopDeps: StopDeps = { policy, stopContext };

const renewRoute: RouteHandler = async (event) => {
  const caller = toCaller(identityOf(event));
  const id = connectionIdOf(event);
  const { ttlSeconds } = parseBody(event, renewConnectionRequestSchema);
  return jsonResponse(200, toView(await renewConnection(renewDeps, caller, id, ttlSeconds)));
};

const stopRoute: RouteHandler = async (event) => {
  const caller = toCaller(identityOf(event));
  const { connection, pending } = await stopConnection(stopDeps, caller, connectionIdOf(event));
  return jsonResponse(pending ? 202 : 200, toView(connection));
};

/** Route keys (lambdas/handlers/routes.ts) this function serves. */
export const routes: Record<string, RouteHandler> = {
  'POST /connections/{id}/renew': renewRoute,
  'DELETE /connections/{id}': stopRoute,
};

export const handler = apiHandler(routes, { logger, metrics });
