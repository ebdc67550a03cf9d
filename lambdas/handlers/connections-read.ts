/**
 * GET /connections, GET /connections/{id} and GET /me: read-only, no secret, no write access, and no remote.it client
 * in its bundle (./runtime only): the queries need the store, the policy and the clock. The policy is read per
 * request from its source (./policy-source); with none loaded nobody is an admin, and owners still see their own.
 */
import { describeCaller } from '../broker/me';
import { toCaller } from '../broker/principal';
import { getConnection, listConnections, type QueryDeps } from '../broker/queries';
import { loadConfig, readConfigSchema } from '../config';
import { apiHandler, type RouteHandler } from './http/api';
import { connectionIdOf, identityOf, parseQuery } from './http/request';
import { listConnectionsQuerySchema } from './http/schemas';
import type { CallerView } from './http/responses';
import { jsonResponse, toView } from './http/view';
import { createPolicySource, NO_POLICY } from './policy-source';
import { clock, createStore, events, logger, metrics } from './runtime';

const config = loadConfig(readConfigSchema);
const store = createStore(config);
const policySource = createPolicySource(config, { events, logger, now: clock });

const queryDeps = async (): Promise<QueryDeps> => ({ store, policy: (await policySource.current()) ?? NO_POLICY, now: clock });

const getRoute: RouteHandler = async (event) => {
  const caller = toCaller(identityOf(event));
  return jsonResponse(200, toView(await getConnection(await queryDeps(), caller, connectionIdOf(event))));
};

const listRoute: RouteHandler = async (event) => {
  const caller = toCaller(identityOf(event));
  const query = parseQuery(event, listConnectionsQuerySchema);
  const page = await listConnections(await queryDeps(), caller, query);
  return jsonResponse(200, { items: page.items.map(toView), ...(page.cursor && { nextCursor: page.cursor }) });
};

/** Who the caller is to the broker; with no policy loaded, no rules and no admin (never a 5xx). */
const meRoute: RouteHandler = async (event) => {
  const caller = toCaller(identityOf(event));
  const body: CallerView = await describeCaller({ store, policy: await policySource.current() }, caller);
  return jsonResponse(200, body);
};

/** Route keys (lambdas/handlers/routes.ts) this function serves. */
export const routes: Record<string, RouteHandler> = {
  'GET /connections': listRoute,
  'GET /connections/{id}': getRoute,
  'GET /me': meRoute,
};

export const handler = apiHandler(routes, { logger, metrics });
