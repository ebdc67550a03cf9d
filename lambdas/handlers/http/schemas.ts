/**
 * The HTTP contract of the broker API, as zod schemas: they validate requests, type the handlers, and
 * generate docs/openapi.yaml (`npm run openapi`), so the document cannot drift from what is enforced.
 */
import * as z from 'zod';
import { MAX_LIST_LIMIT, MIN_TTL_SECONDS, SERVICE_ID_MESSAGE, SERVICE_ID_PATTERN } from '../../broker/connections';
import { CONNECTION_MODES, CONNECTION_STATUSES } from '../../broker/model';

/** Crockford base32 ULID, the shape of every connection id. */
const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

export const serviceIdSchema = z
  .string()
  .regex(SERVICE_ID_PATTERN, SERVICE_ID_MESSAGE)
  .transform((value) => value.toUpperCase())
  .meta({ description: 'remote.it service address (case-insensitive, answered upper-case)', example: '80:00:00:00:01:02:03:04' });

export const ttlSecondsSchema = z
  .number()
  .int('must be a whole number of seconds')
  .min(MIN_TTL_SECONDS, `must be at least ${MIN_TTL_SECONDS} seconds`)
  .max(86_400, 'must be at most 86400 seconds')
  .meta({ description: 'Lease length in seconds (capped by policy and by the remote.it expiry)' });

export const openConnectionRequestSchema = z
  .strictObject({
    serviceId: serviceIdSchema,
    mode: z.enum(CONNECTION_MODES).optional().meta({
      description: 'latching (default): the first IP to connect owns the proxy; ip: only clientIp; public: anyone (policy permitting)',
    }),
    clientIp: z.ipv4('must be an IPv4 address').optional().meta({
      description: 'mode ip only: the public IPv4 allowed to connect (default: the caller\'s source IP)',
    }),
    ttlSeconds: ttlSecondsSchema.optional(),
    reuse: z.boolean().optional().meta({
      description: 'answer 200 with the caller\'s live connection to the same service, mode and IP when its lease covers ttlSeconds',
    }),
  })
  .meta({ id: 'OpenConnectionRequest' });
export type OpenConnectionRequest = z.infer<typeof openConnectionRequestSchema>;

export const renewConnectionRequestSchema = z.strictObject({ ttlSeconds: ttlSecondsSchema }).meta({ id: 'RenewConnectionRequest' });

export const listConnectionsQuerySchema = z.strictObject({
  status: z.enum(CONNECTION_STATUSES).optional(),
  serviceId: serviceIdSchema.optional(),
  limit: z.coerce
    .number()
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(MAX_LIST_LIMIT, `must be at most ${MAX_LIST_LIMIT}`)
    .default(50),
  cursor: z.string().min(1).max(2048).optional().meta({ description: 'opaque, from the previous page\'s nextCursor' }),
});
export type ListConnectionsQuery = z.infer<typeof listConnectionsQuerySchema>;

export const connectionIdSchema = z.string().regex(ULID, 'is not a connection id');

export const idempotencyKeySchema = z
  .string()
  .min(1, 'must not be empty')
  .max(256, 'must be at most 256 characters')
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

const isoTime = z.iso.datetime();

export const connectionViewSchema = z
  .object({
    id: z.string(),
    serviceId: z.string(),
    mode: z.enum(CONNECTION_MODES),
    hostIp: z.string().meta({ description: 'what remote.it was asked to admit: 255.255.255.255 latching, 0.0.0.0 public, or one IPv4' }),
    status: z.enum(CONNECTION_STATUSES),
    proxy: z
      .object({
        kind: z.enum(['port', 'reverse']),
        url: z.string(),
        host: z.string(),
        port: z.number().int(),
      })
      .optional()
      .meta({ description: 'absent until remote.it has opened the proxy' }),
    owner: z.string(),
    createdAt: isoTime,
    leaseExpiresAt: isoTime,
    expiresAt: isoTime.meta({ description: 'remote.it\'s own expiry of the proxy' }),
    stoppedAt: isoTime.optional(),
    stopReason: z.string().optional(),
    failureReason: z.string().optional(),
    remoteConnectionId: z.string().optional(),
  })
  .meta({ id: 'Connection' });
export type ConnectionView = z.infer<typeof connectionViewSchema>;

export const connectionPageSchema = z
  .object({ items: z.array(connectionViewSchema), nextCursor: z.string().optional() })
  .meta({ id: 'ConnectionPage' });

export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string().optional(),
    errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details' });
export type Problem = z.infer<typeof problemSchema>;
