/**
 * docs/openapi.yaml, generated from the zod schemas that validate requests (`npm run openapi`).
 * A unit test fails when the committed document differs from what this produces.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import * as z from 'zod/mini';
// Importing the schemas registers them (by their `id`) in zod's global registry.
import '../lambdas/handlers/http/responses';
import '../lambdas/handlers/http/lock-responses';
import '../lambdas/handlers/http/lock-schemas';
import { listConnectionsQuerySchema } from '../lambdas/handlers/http/schemas';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object) => ({ 'application/json': { schema } });
const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: ref('Problem') } } });
const retryAfter = { 'Retry-After': { description: 'seconds to wait before retrying', schema: { type: 'integer' } } };

const errors = {
  400: problem('Invalid input: every bad field is named in `errors`'),
  403: problem('Unsigned request, or denied by policy'),
  404: problem('Unknown connection id (or another caller\'s), or unknown service'),
  500: problem('Broker failure (generic detail; the cause is logged)'),
  502: problem('remote.it refused: its reason is in `detail`'),
  503: { ...problem('remote.it unreachable or throttling the broker, or the broker\'s database or Secrets Manager busy'), headers: retryAfter },
  504: problem('remote.it timed out'),
};

/** What a route that never calls remote.it may still answer 503 for. */
const busy = { ...problem('The broker\'s database is busy'), headers: retryAfter };

const idParameter = { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^[0-9A-HJKMNP-TV-Z]{26}$' } };

/** Every lock route answers a caller the policy does not name as an admin with this, before reading anything. */
const adminOnly = problem('Not an admin (`admin_required`), or an unsigned request');
const LOCK_ROUTES_NOTE = 'Admins only (the policy\'s `admins`); anyone else gets 403 `admin_required`.';
const lockExample = {
  id: '01JDQ7M2ZC3V9K8R4T6W5X1Y2Z',
  principal: 'arn:aws:iam::123456789012:role/ci-*',
  reason: 'credentials leaked, rotating',
  createdAt: '2026-11-26T14:00:00.000Z',
  createdBy: 'arn:aws:sts::123456789012:assumed-role/ops-admin/alice',
  expiresAt: '2026-11-26T16:00:00.000Z',
};

/** Every schema registered with an `id`, as OpenAPI components; requests as accepted, responses as sent. */
function componentSchemas(io: 'input' | 'output'): Record<string, object> {
  const { schemas } = z.toJSONSchema(z.globalRegistry, {
    io,
    target: 'draft-2020-12',
    unrepresentable: 'any',
    uri: (id) => `#/components/schemas/${id}`,
  });
  return Object.fromEntries(Object.entries(schemas).map(([id, { $schema: _dialect, ...schema }]) => [id, schema]));
}

function schemaOf(schema: z.ZodMiniType, io: 'input' | 'output') {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, target: 'draft-2020-12', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

function queryParameters(schema: typeof listConnectionsQuerySchema) {
  const properties = (schemaOf(schema, 'input').properties ?? {}) as Record<string, object>;
  return Object.entries(properties).map(([name, property]) => ({ name, in: 'query', required: false, schema: property }));
}

export function openApiDocument(): object {
  const requests = componentSchemas('input');
  const responses = componentSchemas('output');
  return {
    openapi: '3.1.0',
    info: {
      title: 'remoteit-broker',
      version: '1.0.0',
      description:
        'Short-lived remote.it proxy connections for internal apps. Every route requires AWS SigV4 (IAM) signing.',
    },
    security: [{ sigv4: [] }],
    paths: {
      '/connections': {
        post: {
          operationId: 'openConnection',
          summary: 'Open a connection to a device service',
          parameters: [
            { name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 256 } },
          ],
          requestBody: { required: true, content: json(ref('OpenConnectionRequest')) },
          responses: {
            201: { description: 'Opened', headers: { Location: { schema: { type: 'string' } } }, content: json(ref('Connection')) },
            200: { description: 'reuse: the caller\'s live connection', content: json(ref('Connection')) },
            ...errors,
            403: problem('Unsigned request, denied by policy (`policy_denied`), or refused by an operator\'s lock (`locked`: its reason in `detail`)'),
            409: { ...problem('The same Idempotency-Key is still in flight'), headers: retryAfter },
            422: problem('The Idempotency-Key was used with another body'),
            429: problem('The caller holds the most live connections its policy allows'),
          },
        },
        get: {
          operationId: 'listConnections',
          summary: 'The caller\'s connections, newest first (admins: everyone\'s)',
          parameters: queryParameters(listConnectionsQuerySchema),
          responses: { 200: { description: 'A page', content: json(ref('ConnectionPage')) }, 400: errors[400], 403: errors[403], 500: errors[500], 503: busy },
        },
      },
      '/connections/{id}': {
        get: {
          operationId: 'getConnection',
          parameters: [idParameter],
          responses: { 200: { description: 'The connection', content: json(ref('Connection')) }, 400: errors[400], 403: errors[403], 404: errors[404], 500: errors[500], 503: busy },
        },
        delete: {
          operationId: 'stopConnection',
          summary: 'Stop it (idempotent)',
          parameters: [idParameter],
          responses: {
            200: { description: 'Stopped (or already ended)', content: json(ref('Connection')) },
            202: { description: 'remote.it could not be reached: status `stopping`, the sweeper retries', content: json(ref('Connection')) },
            400: errors[400],
            403: errors[403],
            404: errors[404],
            409: { ...problem('remote.it is still opening the connection: stop it again after Retry-After'), headers: retryAfter },
            502: problem('The stop was given up (status stop_failed) and one more attempt failed too: the connection may be open'),
            500: errors[500],
            503: busy,
          },
        },
      },
      '/connections/{id}/renew': {
        post: {
          operationId: 'renewConnection',
          summary: 'Extend the lease, never past the remote.it expiry',
          parameters: [idParameter],
          requestBody: { required: true, content: json(ref('RenewConnectionRequest')) },
          responses: {
            200: { description: 'Renewed', content: json(ref('Connection')) },
            ...errors,
            403: problem('Unsigned request, denied by policy (`policy_denied`), or refused by an operator\'s lock (`locked`: its reason in `detail`)'),
            409: problem(
              'The connection is not active (`connection_not_active`), or remote.it may already have closed it: its first idle window (`idleClosesAt`) has passed and the broker cannot see whether anyone is connected (`connection_may_be_idle`: open a new connection)',
            ),
          },
        },
      },
      '/locks': {
        post: {
          operationId: 'placeLock',
          summary: 'Place an operator\'s lock: refuse every open and renew it covers, and stop its live connections now',
          description: `${LOCK_ROUTES_NOTE} A lock covers a principal (role ARN glob), services (service id glob), or only both together. While it is live, opens and renews it covers answer 403 \`locked\` naming its reason, and every live connection it covers is stopped (at once here; the sweeper and the lease timers stop any that were still opening). At most 100 locks are live at once (409 \`too_many_locks\`). Not idempotent: a repeat places a second lock.`,
          requestBody: {
            required: true,
            content: { 'application/json': { schema: ref('PlaceLockRequest'), example: { principal: 'arn:aws:iam::123456789012:role/ci-*', reason: 'credentials leaked, rotating', ttlSeconds: 7200 } } },
          },
          responses: {
            201: { description: 'Placed', content: { 'application/json': { schema: ref('PlacedLock'), example: { ...lockExample, enforcement: { stopped: 3, remaining: 0 } } } } },
            400: errors[400],
            403: adminOnly,
            409: problem('100 locks are live already (`too_many_locks`): lift one first'),
            500: errors[500],
            503: busy,
          },
        },
        get: {
          operationId: 'listLocks',
          summary: 'The live locks, oldest first',
          description: LOCK_ROUTES_NOTE,
          responses: {
            200: { description: 'Every live lock', content: { 'application/json': { schema: ref('LockList'), example: { items: [lockExample] } } } },
            403: adminOnly,
            500: errors[500],
            503: busy,
          },
        },
      },
      '/locks/{id}': {
        delete: {
          operationId: 'liftLock',
          summary: 'Lift a lock',
          description: `${LOCK_ROUTES_NOTE} Opens it covered are allowed again at once; connections it stopped stay stopped.`,
          parameters: [idParameter],
          responses: {
            200: {
              description: 'Lifted',
              content: {
                'application/json': {
                  schema: ref('Lock'),
                  example: { ...lockExample, expiresAt: '2026-11-26T14:30:00.000Z', liftedAt: '2026-11-26T14:30:00.000Z', liftedBy: 'arn:aws:sts::123456789012:assumed-role/ops-admin/alice' },
                },
              },
            },
            400: errors[400],
            403: adminOnly,
            404: problem('Unknown lock id, or one already lifted or lapsed (`lock_not_found`)'),
            500: errors[500],
            503: busy,
          },
        },
      },
    },
    components: {
      securitySchemes: {
        sigv4: { type: 'apiKey', name: 'Authorization', in: 'header', description: 'AWS Signature Version 4, service execute-api' },
      },
      schemas: {
        OpenConnectionRequest: requests.OpenConnectionRequest,
        RenewConnectionRequest: requests.RenewConnectionRequest,
        PlaceLockRequest: requests.PlaceLockRequest,
        Lock: responses.Lock,
        PlacedLock: responses.PlacedLock,
        LockEnforcement: responses.LockEnforcement,
        LockList: responses.LockList,
        Connection: responses.Connection,
        ConnectionPage: responses.ConnectionPage,
        Problem: responses.Problem,
      },
    },
  };
}

export const OPENAPI_PATH = join(__dirname, '..', 'docs', 'openapi.yaml');

export function renderOpenApi(): string {
  return `# Generated by \`npm run openapi\` from lambdas/handlers/http/schemas.ts. Do not edit by hand.\n${stringify(openApiDocument(), { aliasDuplicateObjects: false, lineWidth: 0 })}`;
}

if (require.main === module) {
  writeFileSync(OPENAPI_PATH, renderOpenApi());
  process.stdout.write(`wrote ${OPENAPI_PATH}\n`);
}
