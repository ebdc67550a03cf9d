/**
 * GET /connections and GET /connections/{id}: read-only, no secret, no write access, and no remote.it client
 * in its bundle (./runtime only).
 */
import { toCaller } from '../broker/principal';
import type { RemoteitApi } from '../remoteit/types';
import { apiHandler, type RouteHandler } from './http/api';
import { connectionIdOf, identityOf, parseQuery } from './http/request';
import { listConnectionsQuerySchema } from './http/schemas';
import { jsonResponse, toView } from './http/view';
import { createConnections, logger, metrics } from './runtime';

/** Reads never call remote.it; this function holds no credentials for it. A call would be a bug: refused loudly. */
const noRemoteit: RemoteitApi = {
  connect: () => Promise.reject(new Error('the read function does not open connections')),
  stop: () => Promise.reject(new Error('the read function does not stop connections')),
};

const connections = createConnections(noRemoteit);

const getConnection: RouteHandler = async (event) => {
  const caller = toCaller(identityOf(event));
  return jsonResponse(200, toView(await connections.get(caller, connectionIdOf(event))));
};

const listConnections: RouteHandler = async (event) => {
  const caller = toCaller(identityOf(event));
  const page = await connections.list(caller, parseQuery(event, listConnectionsQuerySchema));
  return jsonResponse(200, { items: page.items.map(toView), ...(page.cursor && { nextCursor: page.cursor }) });
};

/** Route keys (lambdas/handlers/routes.ts) this function serves. */
export const routes: Record<string, RouteHandler> = {
  'GET /connections': listConnections,
  'GET /connections/{id}': getConnection,
};

export const handler = apiHandler(routes, { logger, metrics });
