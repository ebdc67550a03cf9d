/**
 * The lock routes' answers as zod schemas, as ./responses.ts is for connections: the handler's and the
 * client's types, and the answers in docs/openapi.yaml. lambdas/ imports only types from here.
 */
import * as z from '../../zod';

const isoTime = z.iso.datetime();

export const lockViewSchema = z
  .object({
    id: z.string(),
    principal: z.optional(z.string()).register(z.globalRegistry, { description: 'role ARN glob; absent: every principal' }),
    serviceId: z.optional(z.string()).register(z.globalRegistry, { description: 'service id glob, upper-case; absent: every service' }),
    reason: z.string(),
    createdAt: isoTime,
    createdBy: z.string().register(z.globalRegistry, { description: 'the admin\'s full principal ARN' }),
    expiresAt: z.optional(isoTime).register(z.globalRegistry, { description: 'when the lock lapses by itself; absent: until lifted' }),
    liftedAt: z.optional(isoTime),
    liftedBy: z.optional(z.string()),
  })
  .register(z.globalRegistry, { id: 'Lock' });
export type LockView = z.infer<typeof lockViewSchema>;

export const lockEnforcementSchema = z
  .object({
    stopped: z.number().check(z.int()).register(z.globalRegistry, { description: 'live connections the lock covered that were stopped at once' }),
    remaining: z.number().check(z.int()).register(z.globalRegistry, {
      description: 'covered connections not stopped yet (still opening, or remote.it did not confirm): stopped by the sweeper or when they become active',
    }),
    complete: z.boolean().register(z.globalRegistry, {
      description:
        'false when this request could not look at every live connection (a read failed, or the lock was placed but its enforcement failed): the lock is in force all the same, and the sweeper stops what it covers on its next run',
    }),
  })
  .register(z.globalRegistry, { id: 'LockEnforcement' });

export const placedLockSchema = z
  .extend(lockViewSchema, { enforcement: lockEnforcementSchema })
  .register(z.globalRegistry, { id: 'PlacedLock', description: 'The new lock, and what placing it stopped' });
export type PlacedLockView = z.infer<typeof placedLockSchema>;

export const lockListSchema = z
  .object({ items: z.array(lockViewSchema).register(z.globalRegistry, { description: 'every live lock, oldest first' }) })
  .register(z.globalRegistry, { id: 'LockList' });
export type LockListView = z.infer<typeof lockListSchema>;
