/**
 * The API's shapes as the client sees them. Type-only imports of the zod schemas the handlers validate with
 * (erased at run time: no schema, zod or domain code is loaded), so these types cannot drift from the API.
 */
import type { z } from 'zod';
import type {
  ConnectionView,
  connectionPageSchema,
  openConnectionRequestSchema,
  Problem,
} from '../lambdas/handlers/http/schemas';
import type { LockListView, LockView, PlacedLockView } from '../lambdas/handlers/http/lock-responses';
import type { placeLockRequestSchema } from '../lambdas/handlers/http/lock-schemas';

/** A connection as the API answers it (`Connection` in docs/openapi.yaml). */
export type Connection = ConnectionView;
export type ConnectionStatus = Connection['status'];
export type ConnectionMode = Connection['mode'];

/** The body of POST /connections as the API accepts it. */
export type OpenConnectionInput = z.input<typeof openConnectionRequestSchema>;

/** One page of GET /connections. */
export type ConnectionPage = z.output<typeof connectionPageSchema>;

/** GET /connections query; `limit` is the page size (1..100), `cursor` a previous page's `nextCursor`. */
export interface ListConnectionsQuery {
  status?: ConnectionStatus;
  serviceId?: string;
  limit?: number;
  cursor?: string;
}

/** An operator's lock as the API answers it (`Lock` in docs/openapi.yaml). */
export type Lock = LockView;

/** The body of POST /locks: at least one of principal and serviceId, a reason, optionally ttlSeconds. */
export type PlaceLockInput = z.input<typeof placeLockRequestSchema>;

/** POST /locks's answer: the lock, and how many live connections placing it stopped at once. */
export type PlacedLock = PlacedLockView;

/** GET /locks's answer: every live lock, oldest first. */
export type LockList = LockListView;

export type ProblemDetails = Problem;
export type FieldProblem = NonNullable<Problem['errors']>[number];
