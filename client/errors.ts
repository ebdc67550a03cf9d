/**
 * The client's named errors. `BrokerApiError` is any non-2xx answer, with the problem+json fields (RFC 9457)
 * the broker sends; API Gateway's own answers (`{"message": "Forbidden"}`) are read into the same fields.
 */
import type { FieldProblem, ProblemDetails } from './types';

const PROBLEM_PREFIX = 'urn:remoteit-broker:problem:';

export interface ApiErrorInit {
  status: number;
  method: string;
  path: string;
  problem: Partial<ProblemDetails> & { message?: unknown };
  retryAfterSeconds: number | undefined;
  requestId: string | undefined;
}

export class BrokerApiError extends Error {
  readonly status: number;
  /** The problem type URI (`urn:remoteit-broker:problem:policy_denied`); `about:blank` for API Gateway's answers. */
  readonly type: string;
  /** The type's last segment (`policy_denied`), or `http_<status>` when the answer carried no broker problem. */
  readonly code: string;
  readonly title: string;
  readonly detail: string;
  /** Every bad field, on 400 (and the Idempotency-Key on 422). */
  readonly errors: FieldProblem[];
  /** From the `Retry-After` header (409 in flight, 503). */
  readonly retryAfterSeconds: number | undefined;
  /** The broker's request id (problem `instance` or `apigw-requestid`), for operators. */
  readonly requestId: string | undefined;
  readonly method: string;
  readonly path: string;

  constructor(init: ApiErrorInit) {
    const { problem } = init;
    const gatewayMessage = typeof problem.message === 'string' ? problem.message : undefined;
    const title = typeof problem.title === 'string' ? problem.title : (gatewayMessage ?? `HTTP ${init.status}`);
    const detail = typeof problem.detail === 'string' ? problem.detail : (gatewayMessage ?? '');
    super(`${init.method} ${init.path}: ${init.status} ${title}${detail && detail !== title ? `: ${detail}` : ''}`);
    this.name = 'BrokerApiError';
    this.status = init.status;
    this.type = typeof problem.type === 'string' ? problem.type : 'about:blank';
    this.code = this.type.startsWith(PROBLEM_PREFIX) ? this.type.slice(PROBLEM_PREFIX.length) : `http_${init.status}`;
    this.title = title;
    this.detail = detail;
    this.errors = Array.isArray(problem.errors) ? problem.errors.filter(isFieldProblem) : [];
    this.retryAfterSeconds = init.retryAfterSeconds;
    this.requestId = (typeof problem.instance === 'string' ? problem.instance : undefined) ?? init.requestId;
    this.method = init.method;
    this.path = init.path;
  }

  /** True when the broker itself answered (problem+json), false for API Gateway's or a proxy's own answers. */
  get fromBroker(): boolean {
    return this.type.startsWith(PROBLEM_PREFIX);
  }
}

function isFieldProblem(value: unknown): value is FieldProblem {
  const candidate = value as Partial<FieldProblem> | null;
  return typeof candidate?.field === 'string' && typeof candidate.message === 'string';
}

/** No answer: the connection failed, or the attempt ran past its timeout. */
export class BrokerUnreachableError extends Error {
  readonly code: 'unreachable' | 'timeout';
  constructor(
    readonly url: string,
    reason: 'unreachable' | 'timeout',
    options?: { cause?: unknown },
  ) {
    const why = reason === 'timeout' ? 'did not answer in time' : `could not be reached${causeText(options?.cause)}`;
    super(`${url} ${why}`, options);
    this.name = 'BrokerUnreachableError';
    this.code = reason;
  }
}

/** A 2xx answer that is not the JSON the API documents (a proxy or a wrong endpoint in between). */
export class UnexpectedResponseError extends Error {
  readonly code = 'unexpected_response';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'UnexpectedResponseError';
  }
}

/** No AWS credentials could be found or read (the default chain, or the local stack's identities). */
export class CredentialsError extends Error {
  readonly code = 'credentials';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CredentialsError';
  }
}

/** The client cannot tell where or how to call (endpoint, region, stack file). */
export class ClientConfigError extends Error {
  readonly code = 'client_config';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ClientConfigError';
  }
}

function causeText(cause: unknown): string {
  if (!(cause instanceof Error)) return '';
  // fetch wraps the socket error: its code (ECONNREFUSED) is what a user can act on.
  const inner = (cause as { cause?: { code?: unknown; message?: unknown } }).cause;
  const code = typeof inner?.code === 'string' ? inner.code : undefined;
  return `: ${code ?? (typeof inner?.message === 'string' ? inner.message : cause.message)}`;
}
