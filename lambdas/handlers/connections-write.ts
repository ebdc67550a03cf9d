/**
 * POST /connections, POST /connections/{id}/renew, DELETE /connections/{id}: the routes that change
 * connections. This function holds the secret and write access; the read function holds neither.
 */
import type { Context } from 'aws-lambda';
import { toCaller, type Caller } from '../broker/principal';
import { apiHandler, type RouteHandler } from './http/api';
import { connectionIdOf, idempotencyKeyOf, identityOf, parseBody, type ApiEvent } from './http/request';
import { openConnectionRequestSchema, renewConnectionRequestSchema, type OpenConnectionRequest } from './http/schemas';
import { jsonResponse, toView } from './http/view';
import { idempotentOperation, type IdempotentInput } from './idempotency';
import { remoteit } from './remoteit-runtime';
import { config, createConnections, dynamodb, logger, metrics } from './runtime';

const connections = createConnections(remoteit);

const openOnce = idempotentOperation(
  (input: IdempotentInput<OpenConnectionRequest>, caller: Caller) => connections.open(caller, input.request),
  { tableName: config.IDEMPOTENCY_TABLE_NAME, client: dynamodb, expiresAfterSeconds: config.IDEMPOTENCY_TTL_SECONDS },
);

const openConnection: RouteHandler = async (event: ApiEvent, context: Context) => {
  const caller = toCaller(identityOf(event));
  const request = parseBody(event, openConnectionRequestSchema);
  const key = idempotencyKeyOf(event);
  const { connection, reused } = key
    ? await openOnce(context, { principal: caller.principal, key, request }, caller)
    : await connections.open(caller, request);
  if (reused) return jsonResponse(200, toView(connection));
  return jsonResponse(201, toView(connection), { location: `/connections/${connection.id}` });
};

const renewConnection: RouteHandler = async (event) => {
  const caller = toCaller(identityOf(event));
  const id = connectionIdOf(event);
  const { ttlSeconds } = parseBody(event, renewConnectionRequestSchema);
  return jsonResponse(200, toView(await connections.renew(caller, id, ttlSeconds)));
};

const stopConnection: RouteHandler = async (event) => {
  const caller = toCaller(identityOf(event));
  const { connection, pending } = await connections.stop(caller, connectionIdOf(event));
  return jsonResponse(pending ? 202 : 200, toView(connection));
};

/** Route keys (lambdas/handlers/routes.ts) this function serves. */
export const routes: Record<string, RouteHandler> = {
  'POST /connections': openConnection,
  'POST /connections/{id}/renew': renewConnection,
  'DELETE /connections/{id}': stopConnection,
};

export const handler = apiHandler(routes, { logger, metrics });
