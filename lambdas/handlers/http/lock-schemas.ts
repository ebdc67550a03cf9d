/**
 * The HTTP contract of the lock routes (POST /locks, GET /locks, DELETE /locks/{id}), as ./schemas.ts is of the
 * connection routes: zod schemas that validate requests, type the handler and generate docs/openapi.yaml. A
 * module of their own so that only the function serving the lock routes (connections-write) bundles them.
 * The answers' schemas are in ./lock-responses.
 */
import * as z from '../../zod';

/** Crockford base32 ULID, the shape of every lock id. */
const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/** Whole seconds a lock may lapse after: a minute to 30 days. */
export const MIN_LOCK_TTL_SECONDS = 60;
export const MAX_LOCK_TTL_SECONDS = 2_592_000;

export const placeLockRequestSchema = z
  .strictObject({
    principal: z
      .optional(z.string().check(z.minLength(1, 'must not be empty'), z.maxLength(2048, 'must be at most 2048 characters')))
      .register(z.globalRegistry, {
        description:
          'role ARN glob, as in the policy (`*` any run of characters), matched against the caller\'s role ARN (an assumed-role session counts as its role)',
        example: 'arn:aws:iam::123456789012:role/ci-*',
      }),
    serviceId: z
      .optional(
        z.pipe(
          z.string().check(z.regex(/^[0-9A-Fa-f:*]{1,64}$/, 'must be a service id glob: hex digits, colons and *, at most 64 characters')),
          z.transform((value: string) => value.toUpperCase()),
        ),
      )
      .register(z.globalRegistry, { description: 'service id glob (case-insensitive, answered upper-case)', example: '80:00:00:00:01:*' }),
    reason: z
      .string()
      .check(
        z.minLength(1, 'must not be empty'),
        z.maxLength(500, 'must be at most 500 characters'),
        z.regex(/^[^\p{Cc}]*$/u, 'must be printable text (no control characters)'),
      )
      .register(z.globalRegistry, { description: 'why: shown to every caller the lock refuses', example: 'credentials leaked, rotating' }),
    ttlSeconds: z
      .optional(
        z
          .number()
          .check(
            z.int('must be a whole number of seconds'),
            z.minimum(MIN_LOCK_TTL_SECONDS, `must be at least ${MIN_LOCK_TTL_SECONDS} seconds`),
            z.maximum(MAX_LOCK_TTL_SECONDS, `must be at most ${MAX_LOCK_TTL_SECONDS} seconds (30 days)`),
          ),
      )
      .register(z.globalRegistry, { description: 'the lock lapses by itself this many seconds from now; absent: until lifted' }),
  })
  .register(z.globalRegistry, {
    id: 'PlaceLockRequest',
    description: 'At least one of principal and serviceId; when both are given, the lock covers only that principal on those services.',
  });
export type PlaceLockRequestBody = z.output<typeof placeLockRequestSchema>;

export const lockIdSchema = z.string().check(z.regex(ULID, 'is not a lock id'));
