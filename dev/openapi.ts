/**
 * docs/openapi.yaml, generated from the zod schemas that validate requests (`npm run openapi`). Its problem
 * examples are what the API's error mapping (lambdas/handlers/http/problem.ts) answers for the broker's own
 * errors, so their `type`s, titles and statuses are the ones sent. A unit test fails when the committed
 * document differs from what this produces, or when a response has no example.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import * as z from 'zod/mini';
// Importing the schemas registers them (by their `id`) in zod's global registry.
import '../lambdas/handlers/http/responses';
import '../lambdas/handlers/http/lock-responses';
import type { PlacedLockView } from '../lambdas/handlers/http/lock-responses';
import '../lambdas/handlers/http/lock-schemas';
import { describeRequestSchemas, listConnectionsQuerySchema } from '../lambdas/handlers/http/schemas';
import {
  ConnectionEndedError,
  ConnectionMayBeIdleError,
  ConnectionNotActiveError,
  ConnectionNotFoundError,
  ConnectionOpeningError,
  InvalidRequestError,
  PolicyDeniedError,
  OpenRateExceededError,
  QuotaExceededError,
  ServiceNotFoundError,
  StopFailedError,
  UpstreamRefusedError,
  UpstreamTimeoutError,
  UpstreamUnavailableError,
} from '../lambdas/broker/errors';
import { AdminRequiredError, TooManyLocksError } from '../lambdas/broker/lock-admin';
import { LockedError, LockNotFoundError } from '../lambdas/broker/locks';
import { RouteNotFoundError } from '../lambdas/handlers/http/api';
import { errorResponse, MissingIdentityError, PayloadTooLargeError, type ProblemCode } from '../lambdas/handlers/http/problem';
import { MAX_BODY_BYTES } from '../lambdas/handlers/http/request';
import { InvalidCursorError, StoreUnavailableError } from '../lambdas/store/errors';

describeRequestSchemas();

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object, example?: unknown) => ({ 'application/json': { schema, ...(example !== undefined && { example }) } });
const retryAfter = { 'Retry-After': { description: 'seconds to wait before retrying', schema: { type: 'integer', minimum: 1 } } };

/** Every problem `type` is this prefix and the error's stable code (lambdas/handlers/http/problem.ts). */
const PROBLEM_TYPE_PREFIX = 'urn:remoteit-broker:problem:';
const EXAMPLE_REQUEST_ID = 'c8f7a7e2-5d1b-4b8e-9d0a-2f3c4e5a6b7c';
const EXAMPLE_CONNECTION_ID = '01JDQ7M2ZC3V9K8R4T6W5X1Y2Z';
const EXAMPLE_SERVICE_ID = '80:00:00:00:01:02:03:04';

/** An error the way its class builds it, for the classes whose modules load Powertools (idempotency, Secrets Manager). */
const coded = (code: ProblemCode, message: string, extra: object = {}) => Object.assign(new Error(message), { code }, extra);

/**
 * One error per code a caller may see, built as the broker builds it: the examples below are what
 * `errorResponse` answers for them (5xx details generic, as sent). A code added to problem.ts's table
 * without an entry here fails `tsc`; `internal` is any other error (500).
 */
const PROBLEM_ERRORS: Record<ProblemCode | 'internal', Error> = {
  invalid_request: new InvalidRequestError([
    { field: 'serviceId', message: 'must be a remote.it service address (8 hex bytes separated by colons)' },
    { field: 'colour', message: 'is not a known field' },
  ]),
  invalid_cursor: new InvalidCursorError('not a cursor this API issued'),
  missing_identity: new MissingIdentityError(),
  payload_too_large: new PayloadTooLargeError(1_090_000, MAX_BODY_BYTES),
  policy_denied: new PolicyDeniedError('mode_not_allowed', `your policy does not allow mode 'public' for service ${EXAMPLE_SERVICE_ID} (allowed: latching, ip)`),
  connection_not_found: new ConnectionNotFoundError(EXAMPLE_CONNECTION_ID),
  service_not_found: new ServiceNotFoundError(EXAMPLE_SERVICE_ID, 'bad device address'),
  route_not_found: new RouteNotFoundError('GET /connection'),
  connection_not_active: new ConnectionNotActiveError(EXAMPLE_CONNECTION_ID, 'stopped'),
  connection_ended: new ConnectionEndedError(EXAMPLE_CONNECTION_ID, 'stopped'),
  connection_may_be_idle: new ConnectionMayBeIdleError(EXAMPLE_CONNECTION_ID, '2026-11-26T14:15:00.000Z'),
  connection_opening: new ConnectionOpeningError(EXAMPLE_CONNECTION_ID),
  idempotency_in_progress: coded('idempotency_in_progress', 'a request with this Idempotency-Key is still in progress; retry after it completes', { retryAfterSeconds: 2 }),
  idempotency_mismatch: coded('idempotency_mismatch', 'this Idempotency-Key was already used with a different request body', { field: 'Idempotency-Key' }),
  quota_exceeded: new QuotaExceededError(3),
  open_rate_exceeded: new OpenRateExceededError(60, 23),
  locked: new LockedError({ id: '01JDQ7KZ3M4N5P6Q7R8S9T0V1W', reason: 'credentials leaked, rotating' }),
  lock_not_found: new LockNotFoundError('01JDQ7KZ3M4N5P6Q7R8S9T0V1W'),
  admin_required: new AdminRequiredError(),
  too_many_locks: new TooManyLocksError(100),
  upstream_refused: new UpstreamRefusedError('device is offline'),
  stop_failed: new StopFailedError(EXAMPLE_CONNECTION_ID, 2),
  upstream_unavailable: new UpstreamUnavailableError({ retryAfterSeconds: 1 }),
  upstream_timeout: new UpstreamTimeoutError(),
  store_unavailable: new StoreUnavailableError(),
  secret_unavailable: coded('secret_unavailable', 'remote.it secret could not be read', { retryAfterSeconds: 1 }),
  internal: new Error('an unexpected failure (its cause is logged, never sent)'),
};

type ExampleCode = keyof typeof PROBLEM_ERRORS;

/** The problem+json body the API answers for `code`, exactly as errorResponse renders it. */
function problemExample(code: ExampleCode): { status: number; body: Record<string, unknown> } {
  const answer = errorResponse(PROBLEM_ERRORS[code], EXAMPLE_REQUEST_ID);
  return { status: answer.statusCode ?? 500, body: JSON.parse(String(answer.body)) as Record<string, unknown> };
}

/** Every `type` the API may answer, for the Problem schema's description. */
export const PROBLEM_TYPES = (Object.keys(PROBLEM_ERRORS) as ExampleCode[]).map((code) => `${PROBLEM_TYPE_PREFIX}${code}`);

/** One example per problem type, in `components.examples` under its code. */
function problemExamples(): Record<string, object> {
  return Object.fromEntries(
    (Object.keys(PROBLEM_ERRORS) as ExampleCode[]).map((code) => [code, { summary: `${PROBLEM_TYPE_PREFIX}${code}`, value: problemExample(code).body }]),
  );
}

/**
 * A problem+json response referring to the example of each code it may carry (the examples' statuses must
 * match the response's: the unit test checks).
 */
const problem = (description: string, codes: readonly ExampleCode[]) => ({
  description,
  content: {
    'application/problem+json': {
      schema: ref('Problem'),
      examples: Object.fromEntries(codes.map((code) => [code, { $ref: `#/components/examples/${code}` }])),
    },
  },
});

/** API Gateway's own 403 for an unsigned or badly signed request (in `components.examples`): not problem+json, the handlers never see it. */
const GATEWAY_FORBIDDEN_EXAMPLES = {
  gatewayUnsigned: { summary: 'API Gateway: no signature', value: { message: 'Forbidden' } },
  gatewaySignatureMismatch: {
    summary: 'API Gateway: a signature that does not match (wrong secret, region or service name)',
    value: { message: 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.' },
  },
};
const gatewayForbidden = {
  'application/json': {
    schema: { type: 'object', properties: { message: { type: 'string' } }, required: ['message'] },
    examples: Object.fromEntries(Object.keys(GATEWAY_FORBIDDEN_EXAMPLES).map((name) => [name, { $ref: `#/components/examples/${name}` }])),
  },
};

/** A 403: API Gateway's refusal of an unsigned call, or the broker's problem for `codes`. */
const forbidden = (description: string, codes: readonly ExampleCode[]) => {
  const answer = problem(description, codes);
  return { ...answer, content: { ...answer.content, ...gatewayForbidden } };
};

/** Every route with a body refuses one above MAX_BODY_BYTES before reading it. */
const tooLarge = problem(`The body is above ${MAX_BODY_BYTES} bytes (16 KiB): refused before it is parsed`, ['payload_too_large']);

const errors = {
  400: problem(
    'Invalid input: the bad fields are named in `errors` (at most 20, names clipped to 64 characters; a last `body` entry counts the rest)',
    ['invalid_request'],
  ),
  403: forbidden('Unsigned request (API Gateway\'s own answer), or denied by policy', ['policy_denied']),
  404: problem('Unknown connection id (or another caller\'s), or unknown service', ['connection_not_found', 'service_not_found']),
  500: problem('Broker failure (generic detail; the cause is logged)', ['internal']),
  502: problem('remote.it refused: its reason is in `detail`', ['upstream_refused']),
  503: {
    ...problem('remote.it unreachable or throttling the broker, or the broker\'s database or Secrets Manager busy', ['upstream_unavailable', 'store_unavailable', 'secret_unavailable']),
    headers: retryAfter,
  },
  504: problem('remote.it timed out', ['upstream_timeout']),
};

/** What a route that never calls remote.it may still answer 503 for. */
const busy = { ...problem('The broker\'s database is busy', ['store_unavailable']), headers: retryAfter };

const connectionExample = {
  id: EXAMPLE_CONNECTION_ID,
  serviceId: EXAMPLE_SERVICE_ID,
  mode: 'latching',
  hostIp: '255.255.255.255',
  status: 'active',
  proxy: { kind: 'port', url: 'tcp://proxy.example.remote.it:33001', host: 'proxy.example.remote.it', port: 33001 },
  owner: 'arn:aws:iam::123456789012:role/billing-app',
  createdAt: '2026-11-26T14:00:00.000Z',
  leaseExpiresAt: '2026-11-26T14:15:00.000Z',
  idleClosesAt: '2026-11-26T14:15:00.000Z',
  expiresAt: '2026-11-26T22:00:00.000Z',
  remoteConnectionId: '9f1c2d3e-4b5a-6789-abcd-ef0123456789',
};
/** An active connection, the answer of an open, a reuse and a read: in `components.examples`. */
const activeConnection = { 'application/json': { schema: ref('Connection'), examples: { active: { $ref: '#/components/examples/activeConnection' } } } };
const stoppedExample = { ...connectionExample, status: 'stopped', stoppedAt: '2026-11-26T14:05:00.000Z', stopReason: 'requested' };

const idParameter = { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^[0-9A-HJKMNP-TV-Z]{26}$' } };

/** Every lock route answers a caller the policy does not name as an admin with this, before reading anything. */
const adminOnly = forbidden('Not an admin (`admin_required`), or an unsigned request (API Gateway\'s own answer)', ['admin_required']);
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

/** remote.it proxies listen on TCP ports: 1..65535 (the answer's zod schema types only an integer). */
function withProxyPortBounds(connection: object | undefined): object | undefined {
  const schema = structuredClone(connection) as { properties?: { proxy?: { properties?: { port?: Record<string, unknown> } } } } | undefined;
  const port = schema?.properties?.proxy?.properties?.port;
  if (!port) throw new Error('the Connection schema has no proxy.port');
  Object.assign(port, { minimum: 1, maximum: 65535 });
  return schema;
}

/** The Problem schema with every `type` the API answers, so a client can switch on them. */
function withProblemTypes(problemSchema: object | undefined): object | undefined {
  const schema = structuredClone(problemSchema) as { properties?: { type?: Record<string, unknown> } } | undefined;
  const type = schema?.properties?.type;
  if (!type) throw new Error('the Problem schema has no type');
  Object.assign(type, {
    description: `\`${PROBLEM_TYPE_PREFIX}<code>\`, the error's stable code (every type is listed in \`examples\`); switch on it, not on \`title\` or \`detail\`, and treat a type you do not know by its \`status\`. The codes: ${PROBLEM_TYPES.map((urn) => urn.slice(PROBLEM_TYPE_PREFIX.length)).join(', ')}.`,
    examples: PROBLEM_TYPES,
  });
  return schema;
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
    servers: [
      {
        url: 'https://{apiId}.execute-api.{region}.amazonaws.com',
        description: 'The deployed HTTP API (its `$default` stage is served from the root; the stack output `ApiUrl`). Sign for this `region`, service `execute-api`.',
        variables: {
          apiId: { default: 'abcdef1234', description: 'the API\'s id, the first label of `ApiUrl`' },
          region: { default: 'us-east-1', description: 'the AWS Region the broker is deployed in' },
        },
      },
      {
        url: 'http://127.0.0.1:{port}',
        description: 'The local stack (`npm start`; `apiUrl` in .local/stack.json). Sign for region `us-east-1`, service `execute-api`, with a local identity\'s keys.',
        variables: { port: { default: '4000', description: '`--api-port`' } },
      },
    ],
    security: [{ sigv4: [] }],
    paths: {
      '/connections': {
        post: {
          operationId: 'openConnection',
          summary: 'Open a connection to a device service',
          parameters: [
            { name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 256 } },
          ],
          requestBody: { required: true, content: json(ref('OpenConnectionRequest'), { serviceId: EXAMPLE_SERVICE_ID, mode: 'latching', ttlSeconds: 900 }) },
          responses: {
            201: {
              description:
                'Opened. A repeat with the same Idempotency-Key (a replay) answers the connection it opened as it is now, while it is still active (its current lease, `idleClosesAt`): never the first answer alone',
              headers: {
                Location: {
                  description: 'the new connection, relative to the request URL (it resolves to `<API>/connections/{id}` under any stage name or custom domain mapping)',
                  schema: { type: 'string' },
                  example: `connections/${EXAMPLE_CONNECTION_ID}`,
                },
              },
              content: activeConnection,
            },
            200: { description: 'reuse: the caller\'s live connection (a replay of such an answer: that connection as it is now, while still active)', content: activeConnection },
            ...errors,
            403: forbidden('Unsigned request (API Gateway\'s own answer), denied by policy (`policy_denied`), or refused by an operator\'s lock (`locked`: its reason in `detail`)', ['policy_denied', 'locked']),
            409: {
              ...problem(
                'The same Idempotency-Key is still in flight (`idempotency_in_progress`, with Retry-After), or a replay of a key whose connection is no longer active (`connection_ended`: stopped, being stopped, failed, expired or gone; no proxy address, since remote.it may have given its port to another proxy; open again with a new key)',
                ['idempotency_in_progress', 'connection_ended'],
              ),
              headers: { 'Retry-After': { ...retryAfter['Retry-After'], description: 'with `idempotency_in_progress` only: seconds to wait before retrying' } },
            },
            413: tooLarge,
            422: problem('The Idempotency-Key was used with another body', ['idempotency_mismatch']),
            429: {
              ...problem(
                'quota_exceeded: the caller holds the most live connections its policy allows (not retryable: stop one first). open_rate_exceeded: the caller opened the most new connections its policy allows this clock minute (`opensPerMinute`): retry after Retry-After',
                ['quota_exceeded', 'open_rate_exceeded'],
              ),
              headers: { 'Retry-After': { ...retryAfter['Retry-After'], description: 'with `open_rate_exceeded` only: seconds until the next clock minute' } },
            },
          },
        },
        get: {
          operationId: 'listConnections',
          summary: 'The caller\'s connections, newest first (admins: everyone\'s)',
          parameters: queryParameters(listConnectionsQuerySchema),
          responses: {
            200: { description: 'A page', content: json(ref('ConnectionPage'), { items: [connectionExample], nextCursor: 'eyJwayI6IjAxSkRRN00yWkMzVjlLOFI0VDZXNVgxWTJaIn0' }) },
            400: problem('Invalid input: every bad field is named in `errors`', ['invalid_request', 'invalid_cursor']),
            403: errors[403],
            500: errors[500],
            503: busy,
          },
        },
      },
      '/connections/{id}': {
        get: {
          operationId: 'getConnection',
          parameters: [idParameter],
          responses: {
            200: { description: 'The connection', content: activeConnection },
            400: errors[400],
            403: errors[403],
            404: problem('Unknown connection id (or another caller\'s)', ['connection_not_found']),
            500: errors[500],
            503: busy,
          },
        },
        delete: {
          operationId: 'stopConnection',
          summary: 'Stop it (idempotent)',
          parameters: [idParameter],
          responses: {
            200: { description: 'Stopped (or already ended)', content: json(ref('Connection'), stoppedExample) },
            202: {
              description: 'remote.it could not be reached: status `stopping`, the sweeper retries',
              content: json(ref('Connection'), { ...connectionExample, status: 'stopping', stopReason: 'requested' }),
            },
            400: errors[400],
            403: errors[403],
            404: problem('Unknown connection id (or another caller\'s)', ['connection_not_found']),
            409: { ...problem('remote.it is still opening the connection: stop it again after Retry-After', ['connection_opening']), headers: retryAfter },
            502: problem('The stop was given up (status stop_failed) and one more attempt failed too: the connection may be open', ['stop_failed']),
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
          requestBody: { required: true, content: json(ref('RenewConnectionRequest'), { ttlSeconds: 1800 }) },
          responses: {
            200: { description: 'Renewed', content: json(ref('Connection'), { ...connectionExample, leaseExpiresAt: '2026-11-26T14:30:00.000Z' }) },
            ...errors,
            403: forbidden('Unsigned request (API Gateway\'s own answer), denied by policy (`policy_denied`), or refused by an operator\'s lock (`locked`: its reason in `detail`)', ['policy_denied', 'locked']),
            404: problem('Unknown connection id (or another caller\'s)', ['connection_not_found']),
            409: problem(
              'The connection is not active (`connection_not_active`), or remote.it may already have closed it: its first idle window (`idleClosesAt`) has passed, the broker cannot see whether anyone is connected, and the request names no later `usedAt` (`connection_may_be_idle`: open a new connection, or renew with `usedAt`)',
              ['connection_not_active', 'connection_may_be_idle'],
            ),
            413: tooLarge,
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
            201: { description: 'Placed', content: { 'application/json': { schema: ref('PlacedLock'), example: { ...lockExample, enforcement: { stopped: 3, remaining: 0, complete: true } } satisfies PlacedLockView } } },
            400: errors[400],
            403: adminOnly,
            409: problem('100 locks are live already (`too_many_locks`): lift one first', ['too_many_locks']),
            413: tooLarge,
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
            404: problem('Unknown lock id, or one already lifted or lapsed (`lock_not_found`)', ['lock_not_found']),
            500: errors[500],
            503: busy,
          },
        },
      },
      '/me': {
        get: {
          operationId: 'describeCaller',
          summary: 'Who the broker sees calling, and what it may reach',
          description:
            'The caller\'s principal as the policy matches it (an assumed-role session counts as its role), whether it is an admin, the policy rules whose principals match it (what each grants: services, modes, max TTL, max active; never another caller\'s rules) and how many live connections it holds. While no policy is loaded: no rules, not an admin.',
          responses: {
            200: {
              description: 'The caller',
              content: {
                'application/json': {
                  schema: ref('Caller'),
                  example: {
                    principal: 'arn:aws:iam::123456789012:role/app',
                    arn: 'arn:aws:sts::123456789012:assumed-role/app/session-1',
                    admin: false,
                    rules: [{ services: ['80:00:00:00:01:*'], modes: ['latching', 'ip'], maxTtlSeconds: 3600, maxActive: 10 }],
                    live: 2,
                  },
                },
              },
            },
            403: { description: 'Unsigned or badly signed request (API Gateway\'s own answer)', content: gatewayForbidden },
            500: errors[500],
            503: busy,
          },
        },
      },
    },
    components: {
      securitySchemes: {
        sigv4: {
          type: 'apiKey',
          name: 'Authorization',
          in: 'header',
          description: 'AWS Signature Version 4 (IAM), service `execute-api`, the region of the server\'s URL',
          // API Gateway's OpenAPI extension for IAM authorization over a shared scheme (README, Other languages, cites it).
          'x-amazon-apigateway-authtype': 'awsSigv4',
        },
      },
      examples: {
        activeConnection: { summary: 'an active connection to a tcp service, latched', value: connectionExample },
        ...GATEWAY_FORBIDDEN_EXAMPLES,
        ...problemExamples(),
      },
      schemas: {
        OpenConnectionRequest: requests.OpenConnectionRequest,
        RenewConnectionRequest: requests.RenewConnectionRequest,
        PlaceLockRequest: requests.PlaceLockRequest,
        Lock: responses.Lock,
        PlacedLock: responses.PlacedLock,
        LockEnforcement: responses.LockEnforcement,
        LockList: responses.LockList,
        Caller: responses.Caller,
        Connection: withProxyPortBounds(responses.Connection),
        ConnectionPage: responses.ConnectionPage,
        Problem: withProblemTypes(responses.Problem),
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
