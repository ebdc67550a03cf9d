/**
 * Errors to HTTP, in ONE place: every named error's stable `code` maps to a status and a title here.
 * 4xx answers show the error's message (it was written for the caller); 5xx answers show a generic
 * detail and the cause goes to the log only, so internals and secrets never reach a caller.
 */
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { BrokerErrorCode, FieldError } from '../../broker/errors';
import type { RemoteitSecretUnavailableError } from '../../remoteit/credentials';
import type { InvalidCursorError, StoreUnavailableError } from '../../store/errors';
import * as z from '../../zod';
import type { RouteNotFoundError } from './api';
import type { IdempotencyInProgressError, IdempotencyKeyReusedError } from '../idempotency';
import type { Problem } from './schemas';

/** The call carried no IAM identity (API Gateway always sends one; only a misrouted call lacks it). */
export class MissingIdentityError extends Error {
  readonly code = 'missing_identity';
  constructor() {
    super('the request is not signed with AWS credentials (SigV4)');
    this.name = 'MissingIdentityError';
  }
}

/** A request body above MAX_BODY_BYTES: refused before it is parsed. */
export class PayloadTooLargeError extends Error {
  readonly code = 'payload_too_large';
  readonly field = 'body';
  constructor(bytes: number, limit: number) {
    super(`the body is ${bytes} bytes; at most ${limit} are accepted`);
    this.name = 'PayloadTooLargeError';
  }
}

interface ProblemType {
  status: number;
  title: string;
  /** A 5xx's detail when the status's generic one would mislead (the cause is never shown). */
  detail?: string;
}

/** Every code an error may carry to the caller: a code added without a row below fails `tsc`. */
export type ProblemCode =
  | BrokerErrorCode
  | InvalidCursorError['code']
  | MissingIdentityError['code']
  | PayloadTooLargeError['code']
  | RouteNotFoundError['code']
  | IdempotencyInProgressError['code']
  | IdempotencyKeyReusedError['code']
  | StoreUnavailableError['code']
  | RemoteitSecretUnavailableError['code'];

const PROBLEM_TYPES: Record<ProblemCode, ProblemType> = {
  invalid_request: { status: 400, title: 'Invalid request' },
  invalid_cursor: { status: 400, title: 'Invalid request' },
  missing_identity: { status: 403, title: 'Forbidden' },
  payload_too_large: { status: 413, title: 'Request body too large' },
  policy_denied: { status: 403, title: 'Denied by policy' },
  connection_not_found: { status: 404, title: 'Connection not found' },
  service_not_found: { status: 404, title: 'Service not found' },
  route_not_found: { status: 404, title: 'Not found' },
  connection_not_active: { status: 409, title: 'Connection not active' },
  connection_ended: { status: 409, title: 'Connection ended' },
  connection_may_be_idle: { status: 409, title: 'Connection may have idled out' },
  connection_opening: { status: 409, title: 'Connection still opening' },
  idempotency_in_progress: { status: 409, title: 'Request in progress' },
  idempotency_mismatch: { status: 422, title: 'Idempotency key reused' },
  quota_exceeded: { status: 429, title: 'Too many connections' },
  open_rate_exceeded: { status: 429, title: 'Too many opens' },
  locked: { status: 403, title: 'Locked by an operator' },
  lock_not_found: { status: 404, title: 'Lock not found' },
  admin_required: { status: 403, title: 'Admins only' },
  too_many_locks: { status: 409, title: 'Too many locks' },
  upstream_refused: { status: 502, title: 'remote.it refused the connection' },
  stop_failed: { status: 502, title: 'remote.it did not confirm the stop' },
  upstream_unavailable: { status: 503, title: 'remote.it unavailable' },
  upstream_timeout: { status: 504, title: 'remote.it timed out' },
  store_unavailable: { status: 503, title: 'Service busy', detail: 'The broker\'s database is busy. Retry later.' },
  secret_unavailable: {
    status: 503,
    title: 'Service unavailable',
    detail: 'The broker could not read its remote.it credentials. Retry later.',
  },
};

const INTERNAL: ProblemType = { status: 500, title: 'Internal error' };

/**
 * 5xx answers that speak for remote.it, not the broker: a caller can cause them at will (a device that is
 * offline), so they count as `ApiUpstreamFailures`; every other 5xx is the broker's own (`ApiFaults`, alarmed).
 */
const UPSTREAM_PROBLEMS: ReadonlySet<string> = new Set<ProblemCode>(['upstream_refused', 'upstream_unavailable', 'upstream_timeout', 'stop_failed']);

/** Whether a 5xx answer with this code is the broker's own fault (what operators are paged for). */
export const isBrokerFault = (status: number, code: string): boolean => status >= 500 && !UPSTREAM_PROBLEMS.has(code);

const GENERIC_DETAIL: Record<number, string> = {
  500: 'The broker failed to handle this request. It has been logged; retrying may help.',
  503: 'remote.it could not be reached or is throttling the broker. Retry later.',
  504: 'remote.it did not answer in time. The connection was not opened; retry later.',
};

interface CodedError extends Error {
  code: string;
  errors?: FieldError[];
  /** A single bad field (e.g. the store's InvalidCursorError). */
  field?: string;
  retryAfterSeconds?: number;
}

function isCoded(error: unknown): error is CodedError {
  return error instanceof Error && typeof (error as { code?: unknown }).code === 'string';
}

export function problemTypeOf(error: unknown): ProblemType & { code: string } {
  if (isCoded(error)) {
    const known = Object.hasOwn(PROBLEM_TYPES, error.code) ? PROBLEM_TYPES[error.code as ProblemCode] : undefined;
    if (known) return { ...known, code: error.code };
  }
  return { ...INTERNAL, code: 'internal' };
}

export function problemResponse(
  problem: Problem,
  headers: Record<string, string> = {},
): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: problem.status,
    headers: { 'content-type': 'application/problem+json', ...headers },
    body: JSON.stringify(problem),
  };
}

/** The answer for a thrown error. `instance` is the request id, so a caller can quote it to operators. */
export function errorResponse(error: unknown, requestId: string): APIGatewayProxyStructuredResultV2 {
  const type = problemTypeOf(error);
  const coded = isCoded(error) ? error : undefined;
  const detail = type.status >= 500 && type.status !== 502
    ? (type.detail ?? GENERIC_DETAIL[type.status] ?? GENERIC_DETAIL[500] ?? '')
    : (coded?.message ?? '');
  const errors = coded?.errors ?? (coded?.field ? [{ field: coded.field, message: coded.message }] : undefined);
  const headers: Record<string, string> = {};
  if (coded?.retryAfterSeconds !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(coded.retryAfterSeconds)));
  return problemResponse(
    {
      type: `urn:remoteit-broker:problem:${type.code}`,
      title: type.title,
      status: type.status,
      detail,
      instance: requestId,
      ...(errors && errors.length > 0 && { errors }),
    },
    headers,
  );
}

/** zod issues to `{field, message}`, one per bad field, unknown keys each named; `input` is what was parsed. */
export function fieldErrors(error: z.core.$ZodError, input: unknown, prefix?: string): FieldError[] {
  return error.issues.flatMap((issue) => {
    const path = [prefix, ...issue.path.map(String)].filter((part) => part !== undefined && part !== '');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ field: [...path, key].join('.'), message: 'is not a known field' }));
    }
    return [{ field: path.join('.') || (prefix ?? 'body'), message: z.isMissingValue(issue, input) ? 'is required' : issue.message }];
  });
}
