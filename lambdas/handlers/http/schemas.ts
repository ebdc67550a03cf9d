/**
 * The HTTP contract of the broker API, as zod schemas: they validate requests, type the handlers, and
 * generate docs/openapi.yaml (`npm run openapi`), so the document cannot drift from what is enforced.
 * What the document says besides the types is registered in zod's global registry: the ids here, the
 * descriptions by `describeRequestSchemas`, which only the generator calls. The answers' schemas are in ./responses.
 */
import * as z from '../../zod';
import {
  CONNECTION_MODES,
  CONNECTION_STATUSES,
  MAX_LIST_LIMIT,
  MAX_TTL_SECONDS,
  MIN_TTL_SECONDS,
  SERVICE_ID_MESSAGE,
  SERVICE_ID_PATTERN,
} from '../../broker/model';

export type { ConnectionView, connectionPageSchema, Problem } from './responses';

/** Crockford base32 ULID, the shape of every connection id. */
const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

export const serviceIdSchema = z
  .pipe(
    z.string().check(z.regex(SERVICE_ID_PATTERN, SERVICE_ID_MESSAGE)),
    z.transform((value: string) => value.toUpperCase()),
  );

export const ttlSecondsSchema = z
  .number()
  .check(
    z.int('must be a whole number of seconds'),
    z.minimum(MIN_TTL_SECONDS, `must be at least ${MIN_TTL_SECONDS} seconds`),
    z.maximum(MAX_TTL_SECONDS, `must be at most ${MAX_TTL_SECONDS} seconds`),
  );

export const openConnectionRequestSchema = z
  .strictObject({
    serviceId: serviceIdSchema,
    mode: z.optional(z.enum(CONNECTION_MODES)),
    clientIp: z.optional(z.ipv4('must be an IPv4 address')),
    ttlSeconds: z.optional(ttlSecondsSchema),
    reuse: z.optional(z.boolean()),
  })
  .register(z.globalRegistry, { id: 'OpenConnectionRequest' });
export type OpenConnectionRequest = z.infer<typeof openConnectionRequestSchema>;

// Built in calls marked pure, like the config schemas (lambdas/config.ts): esbuild leaves a schema out of the
// bundles of the functions that do not use it (the open function uses neither of these two).
export const renewConnectionRequestSchema = /* @__PURE__ */ (() => z
  .strictObject({
    ttlSeconds: ttlSecondsSchema,
    usedAt: z.optional(z.iso.datetime('must be an ISO 8601 UTC time such as 2026-01-01T00:00:00Z')),
  })
  .register(z.globalRegistry, { id: 'RenewConnectionRequest' }))();

export const listConnectionsQuerySchema = /* @__PURE__ */ (() => z.strictObject({
  status: z.optional(z.enum(CONNECTION_STATUSES)),
  serviceId: z.optional(serviceIdSchema),
  limit: z._default(
    z.coerce.number().check(
      z.int('must be a whole number'),
      z.minimum(1, 'must be at least 1'),
      z.maximum(MAX_LIST_LIMIT, `must be at most ${MAX_LIST_LIMIT}`),
    ),
    50,
  ),
  cursor: z.optional(z.string().check(z.minLength(1), z.maxLength(2048))),
}))();
export type ListConnectionsQuery = z.infer<typeof listConnectionsQuerySchema>;

export const connectionIdSchema = z.string().check(z.regex(ULID, 'is not a connection id'));

export const idempotencyKeySchema = z
  .string()
  .check(
    z.minLength(1, 'must not be empty'),
    z.maxLength(256, 'must be at most 256 characters'),
    z.regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces'),
  );

/**
 * The requests' field descriptions in docs/openapi.yaml. Registered by the generator (dev/openapi.ts) alone, so
 * that no Lambda bundle carries the text: the open function's is within a few hundred bytes of its budget.
 */
export function describeRequestSchemas(): void {
  const describe = (schema: z.ZodMiniType, description: string, example?: string) =>
    z.globalRegistry.add(schema, { description, ...(example !== undefined && { example }) });
  const open = openConnectionRequestSchema.shape;
  describe(serviceIdSchema, 'remote.it service address (case-insensitive, answered upper-case)', '80:00:00:00:01:02:03:04');
  describe(ttlSecondsSchema, 'Lease length in seconds (capped by policy and by the remote.it expiry)');
  describe(open.mode, 'latching (default): the first IP to connect owns the proxy; ip: only clientIp; public: anyone (policy permitting)');
  describe(open.clientIp, 'mode ip only: the public IPv4 allowed to connect (default: the caller\'s source IP)');
  describe(open.reuse, 'answer 200 with the caller\'s live connection to the same service, mode and IP when its lease covers ttlSeconds');
  describe(
    renewConnectionRequestSchema.shape.usedAt,
    'when the caller last had a TCP connection open through the proxy (or a request through a reverse proxy): remote.it closes a proxy only its idle window after its last connection ends, so this lets a renew pass the first idle window (`idleClosesAt` moves to usedAt + the window). At most a few seconds in the future',
  );
  describe(listConnectionsQuerySchema.shape.cursor, 'opaque, from the previous page\'s nextCursor');
}
