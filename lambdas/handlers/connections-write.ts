/**
 * POST /connections, POST /connections/{id}/renew, DELETE /connections/{id}: the routes that change
 * connections. This function holds the secret and write access; the read function holds neither.
 */
import type { Context } from 'aws-lambda';
import { monotonicFactory } from 'ulid';
import { openConnection, type OpenDeps } from '../broker/open';
import { toCaller, type Caller } from '../broker/principal';
import { renewConnection, type RenewDeps } from '../broker/renew';
import { stopConnection, type StopDeps } from '../broker/stop';
import { loadConfig, writeConfigSchema } from '../config';
import { apiHandler, type RouteHandler } from './http/api';
import { connectionIdOf, idempotencyKeyOf, identityOf, parseBody, type ApiEvent } from './http/request';
import { openConnectionRequestSchema, renewConnectionRequestSchema, type OpenConnectionRequest } from './http/schemas';
import { jsonResponse, toView } from './http/view';
import { idempotentOperation, type IdempotentInput } from './idempotency';
import { createStopContext } from './remoteit-runtime';
import { clock, createStore, dynamodb, events, logger, metrics } from './runtime';

const config = loadConfig(writeConfigSchema);
const store = createStore(config);
const stopContext = createStopContext(config, store);
const policy = config.BROKER_POLICY;

const openDeps: OpenDeps = {
  policy,
  newId: monotonicFactory(),
  defaultTtlSeconds: config.DEFAULT_TTL_SECONDS,
  pendingGraceSeconds: config.PENDING_GRACE_SECONDS,
  allowPrivateClientIps: config.ALLOW_PRIVATE_CLIENT_IPS,
  stopContext,
};
const renewDeps: RenewDeps = { store, policy, now: clock, events };
const stopDeps: StopDeps = { policy, stopContext };

const openOnce = idempotentOperation(
  (input: IdempotentInput<OpenConnectionRequest>, caller: Caller) => openConnection(openDeps, caller, input.request),
  { tableName: config.IDEMPOTENCY_TABLE_NAME, client: dynamodb, expiresAfterSeconds: config.IDEMPOTENCY_TTL_SECONDS },
);

const openRoute: RouteHandler = async (event: ApiEvent, context: Context) => {
  const caller = toCaller(identityOf(event));
  const request = parseBody(event, openConnectionRequestSchema);
  const key = idempotencyKeyOf(event);
  const { connection, reused } = key
    ? await openOnce(context, { principal: caller.principal, key, request }, caller)
    : await openConnection(openDeps, caller, request);
  if (reused) return jsonResponse(200, toView(connection));
  return jsonResponse(201, toView(connection), { location: `/connections/${connection.id}` });
};

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
  'POST /connections': openRoute,
  'POST /connections/{id}/renew': renewRoute,
  'DELETE /connections/{id}': stopRoute,
};

export const handler = apiHandler(routes, { logger, metrics });
