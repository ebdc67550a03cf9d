/**
 * When the client repeats a request, and how long it waits. Hand-written: the SDK's retry strategies are
 * bound to its own clients and error shapes, and this policy depends on the broker's problem codes.
 *
 * Every request the client sends is safe to repeat: GET reads; DELETE is idempotent; POST /connections
 * always carries an Idempotency-Key (a repeat replays the first answer, or runs again only when the first
 * failed without opening anything); renew sets the lease from now, so a repeat moves it by the delay at most.
 * What decides is therefore the answer, not the method: a repeat is sent only when the answer may change.
 */
import { BrokerApiError, BrokerUnreachableError } from './errors';

export interface RetryOptions {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  /** The first backoff's ceiling; doubled each attempt up to `maxDelayMs` (full jitter picks in [0, ceiling)). */
  baseDelayMs: number;
  maxDelayMs: number;
  /** No attempt starts later than this after the first one; a Retry-After beyond it ends the retries. */
  totalTimeMs: number;
}

export const DEFAULT_RETRY: RetryOptions = { maxAttempts: 5, baseDelayMs: 250, maxDelayMs: 5_000, totalTimeMs: 60_000 };

/** 409s that clear by themselves: the same key still in flight, a stop while remote.it is still opening. */
const TRANSIENT_CONFLICTS = new Set(['idempotency_in_progress', 'connection_opening']);

/**
 * Whether the answer may differ if asked again. Not retried: 4xx that say what is wrong with the request
 * (quota 429 included: it clears only when the caller stops a connection; the open rate's 429 does clear, at
 * the next minute its Retry-After names), 502 from the broker (remote.it refused, or a stop the broker already
 * retried up to its budget: definite answers).
 */
export function isRetryable(error: unknown): boolean {
  if (error instanceof BrokerUnreachableError) return true;
  if (!(error instanceof BrokerApiError)) return false;
  switch (error.status) {
    case 409:
      return TRANSIENT_CONFLICTS.has(error.code);
    case 429:
      // API Gateway's throttling answers 429 too, without a broker problem.
      return error.code !== 'quota_exceeded';
    case 500:
    case 503:
    case 504:
      return true;
    case 502:
      // A gateway's 502 (the function failed to answer) is not the broker's verdict.
      return !error.fromBroker;
    default:
      return false;
  }
}

/** Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"): uniform in [0, min(cap, base * 2^(retry-1))). */
export function backoffDelayMs(retry: number, options: Pick<RetryOptions, 'baseDelayMs' | 'maxDelayMs'>, random: () => number = Math.random): number {
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.floor(random() * ceiling);
}

/** `Retry-After` as seconds (delta-seconds or an HTTP date); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value === null || value === undefined || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

/**
 * How long to wait after `attemptsMade` attempts before the next, or undefined to give up: the error is
 * final, the attempts are spent, or the wait would end past the time budget. A Retry-After is honoured as a
 * floor, so the server's pacing wins over a shorter backoff.
 */
export function nextDelayMs(
  error: unknown,
  attemptsMade: number,
  elapsedMs: number,
  options: RetryOptions,
  random: () => number = Math.random,
): number | undefined {
  if (attemptsMade >= options.maxAttempts || !isRetryable(error)) return undefined;
  const backoff = backoffDelayMs(attemptsMade, options, random);
  const retryAfterSeconds = error instanceof BrokerApiError ? error.retryAfterSeconds : undefined;
  const delay = retryAfterSeconds === undefined ? backoff : Math.max(backoff, retryAfterSeconds * 1000);
  return elapsedMs + delay > options.totalTimeMs ? undefined : delay;
}
