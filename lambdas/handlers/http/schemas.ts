/**
 * The HTTP contract of the broker API, as zod schemas: they validate requests, type the handlers, and
 * generate docs/openapi.yaml (`npm run openapi`), so the document cannot drift from what is enforced.
 * What the document says besides the types (ids, descriptions) is registered in zod's global registry.
 * The answers' schemas are in ./responses.
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
  )
  .register(z.globalRegistry, { description: 'remote.it service address (case-insensitive, answered upper-case)', example: '80:00:00:00:01:02:03:04' });

export const ttlSecondsSchema = z
  .number()
  .check(
    z.int('must be a whole number of seconds'),
    z.minimum(MIN_TTL_SECONDS, `must be at least ${MIN_TTL_SECONDS} seconds`),
    z.maximum(MAX_TTL_SECONDS, `must be at most ${MAX_TTL_SECONDS} seconds`),
  )
  .register(z.globalRegistry, { description: 'Lease length in seconds (capped by policy and by the remote.it expiry)' });

export const openConnectionRequestSchema = z
  .strictObject({
    serviceId: serviceIdSchema,
    mode: z.optional(z.enum(CONNECTION_MODES)).register(z.globalRegistry, {
      description: 'latching (default): the first IP to connect owns the proxy; ip: only clientIp; public: anyone (policy permitting)',
    }),
    clientIp: z.optional(z.ipv4('must be an IPv4 address')).register(z.globalRegistry, {
      description: 'mode ip only: the public IPv4 allowed to connect (default: the caller\'s source IP)',
    }),
    ttlSeconds: z.optional(ttlSecondsSchema),
    reuse: z.optional(z.boolean()).register(z.globalRegistry, {
      description: 'answer 200 with the caller\'s live connection to the same service, mode and IP when its lease covers ttlSeconds',
    }),
  })
  .register(z.globalRegistry, { id: 'OpenConnectionRequest' });
export type OpenConnectionRequest = z.infer<typeof openConnectionRequestSchema>;

// Built in calls marked pure, like the config schemas (lambdas/config.ts): esbuild leaves a schema out of the
// bundles of the functions that do not use it (the open function uses neither of these two).
export const renewConnectionRequestSchema = /* @__PURE__ */ (() => z
  .strictObject({
    ttlSeconds: ttlSecondsSchema,
    usedAt: z.optional(z.iso.datetime('must be an ISO 8601 UTC time such as 2026-01-01T00:00:00Z')).register(z.globalRegistry, {
      description:
        'when the caller last had a TCP connection open through the proxy (or a request through a reverse proxy): remote.it closes a proxy only its idle window after its last connection ends, so this lets a renew pass the first idle window (`idleClosesAt` moves to usedAt + the window). At most a few seconds in the future',
    }),
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
  cursor: z
    .optional(z.string().check(z.minLength(1), z.maxLength(2048)))
    .register(z.globalRegistry, { description: 'opaque, from the previous page\'s nextCursor' }),
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
