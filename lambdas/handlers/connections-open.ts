/**
 * POST /connections: opens a connection. Its own function because it alone needs Powertools idempotency
 * (and its table) and PutItem on the connections table; renew and stop (./connections-write.ts) need neither,
 * and each function's bundle stays within its budget (docs/PERFORMANCE.md). A replayed Idempotency-Key is
 * answered from the connection as it is now (`replayOpen`), never from the stored first answer alone.
 */
import type { Context } from 'aws-lambda';
import { openConnection, replayOpen, type OpenDeps } from '../broker/open';
import { toCaller, type Caller } from '../broker/principal';
import { loadConfig, openConfigSchema } from '../config';
import { monotonicUlid } from '../ulid';
import { apiHandler, type RouteHandler } from './http/api';
import { idempotencyKeyOf, identityOf, parseBody, type ApiEvent } from './http/request';
import { openConnectionRequestSchema, type OpenConnectionRequest } from './http/schemas';
import { jsonResponse, toView } from './http/view';
import { idempotentOperation, type IdempotentInput } from './idempotency';
import { createPolicySource, requirePolicy } from './policy-source';
import { createDocumentClient } from '../store/clients';
import { createDynamoLockReader } from '../store/lock-store';
import { createStopContext } from './remoteit-runtime';
import { clock, createRecordStore, dynamodb, events, logger, metrics } from './runtime';

const config = loadConfig(openConfigSchema);
const store = createRecordStore(config);
const stopContext = createStopContext(config, store);
const policySource = createPolicySource(config, { events, logger, now: clock });

const baseDeps: Omit<OpenDeps, 'policy'> = {
  locks: createDynamoLockReader({ client: createDocumentClient(dynamodb), tableName: config.LOCKS_TABLE_NAME }),
  newId: monotonicUlid(),
  defaultTtlSeconds: config.DEFAULT_TTL_SECONDS,
  pendingGraceSeconds: config.PENDING_GRACE_SECONDS,
  allowPrivateClientIps: config.ALLOW_PRIVATE_CLIENT_IPS,
  stopContext,
};

/** Opens under the policy in force now; with none loaded, refused (`policy_unavailable`). */
const open = async (caller: Caller, request: OpenConnectionRequest) =>
  openConnection({ ...baseDeps, policy: await requirePolicy(policySource, events) }, caller, request);

const openOnce = idempotentOperation(
  (input: IdempotentInput<OpenConnectionRequest>, caller: Caller) => open(caller, input.request),
  { tableName: config.IDEMPOTENCY_TABLE_NAME, client: dynamodb, expiresAfterSeconds: config.IDEMPOTENCY_TTL_SECONDS },
);

const openRoute: RouteHandler = async (event: ApiEvent, context: Context) => {
  const caller = toCaller(identityOf(event));
  const request = parseBody(event, openConnectionRequestSchema);
  const key = idempotencyKeyOf(event);
  const outcome = key ? await openOnce(context, { principal: caller.principal, key, request }, caller) : { result: await open(caller, request), replayed: false };
  // A replay answers what is true now: the first answer's proxy may be someone else's once the connection ended.
  const { connection, reused } = outcome.replayed ? await replayOpen(stopContext, outcome.result) : outcome.result;
  if (reused) return jsonResponse(200, toView(connection));
  // Relative to the request's URL, so it resolves under any stage name or custom domain mapping.
  return jsonResponse(201, toView(connection), { location: `connections/${connection.id}` });
};

/** Route keys (lambdas/handlers/routes.ts) this function serves. */
export const routes: Record<string, RouteHandler> = {
  'POST /connections': openRoute,
};

export const handler = apiHandler(routes, { logger, metrics });
