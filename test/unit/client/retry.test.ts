import fc from 'fast-check';
import { BrokerApiError, BrokerUnreachableError } from '../../../client/errors';
import { backoffDelayMs, isRetryable, nextDelayMs, parseRetryAfter, type RetryOptions } from '../../../client/retry';

const OPTIONS: RetryOptions = { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 2_000, totalTimeMs: 30_000 };

function apiError(status: number, code?: string, retryAfterSeconds?: number): BrokerApiError {
  return new BrokerApiError({
    status,
    method: 'GET',
    path: '/connections',
    problem: code ? { type: `urn:remoteit-broker:problem:${code}`, title: code, status, detail: code } : { message: 'Gateway says' },
    retryAfterSeconds,
    requestId: undefined,
  });
}

describe('retry policy', () => {
  describe('isRetryable', () => {
    it.each([
      ['409 idempotency key in flight', apiError(409, 'idempotency_in_progress'), true],
      ['409 stop while remote.it is opening', apiError(409, 'connection_opening'), true],
      ['409 connection not active', apiError(409, 'connection_not_active'), false],
      ['429 API Gateway throttling', apiError(429), true],
      ['429 quota exceeded', apiError(429, 'quota_exceeded'), false],
      ['429 open rate exceeded (clears at the next minute, after Retry-After)', apiError(429, 'open_rate_exceeded'), true],
      ['500 internal', apiError(500, 'internal'), true],
      ['502 remote.it refused', apiError(502, 'upstream_refused'), false],
      ['502 stop failed', apiError(502, 'stop_failed'), false],
      ['502 from API Gateway', apiError(502), true],
      ['503 remote.it unavailable', apiError(503, 'upstream_unavailable'), true],
      ['504 remote.it timed out', apiError(504, 'upstream_timeout'), true],
      ['400 invalid', apiError(400, 'invalid_request'), false],
      ['403 denied', apiError(403, 'policy_denied'), false],
      ['404 not found', apiError(404, 'connection_not_found'), false],
      ['422 key reused', apiError(422, 'idempotency_mismatch'), false],
      ['no answer', new BrokerUnreachableError('http://x', 'unreachable'), true],
      ['a timeout', new BrokerUnreachableError('http://x', 'timeout'), true],
      ['anything else', new Error('bug'), false],
    ])('answers for %s', (_, error, expected) => {
      expect(isRetryable(error)).toBe(expected);
    });
  });

  describe('backoffDelayMs', () => {
    it('stays within [0, min(max, base * 2^(retry-1))) for any retry and random draw', () => {
      const inBounds = fc.property(fc.integer({ min: 1, max: 60 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (retry, draw) => {
          const delay = backoffDelayMs(retry, OPTIONS, () => draw);
          const ceiling = Math.min(OPTIONS.maxDelayMs, OPTIONS.baseDelayMs * 2 ** (retry - 1));
          return delay >= 0 && delay < Math.max(1, ceiling) && Number.isInteger(delay);
        });

      expect(() => fc.assert(inBounds)).not.toThrow();
    });
  });

  describe('parseRetryAfter', () => {
    it('reads delta-seconds and HTTP dates, and nothing else', () => {
      const now = Date.parse('2026-11-26T14:00:00Z');
      expect(parseRetryAfter('2', now)).toBe(2);
      expect(parseRetryAfter(' 0 ', now)).toBe(0);
      expect(parseRetryAfter('Thu, 26 Nov 2026 14:00:05 GMT', now)).toBe(5);
      expect(parseRetryAfter('Thu, 26 Nov 2026 13:00:00 GMT', now)).toBe(0);
      expect(parseRetryAfter('soon', now)).toBeUndefined();
      expect(parseRetryAfter(null, now)).toBeUndefined();
    });
  });

  describe('nextDelayMs', () => {
    it('gives up once maxAttempts attempts were made', () => {
      expect(nextDelayMs(apiError(503, 'upstream_unavailable'), 4, 0, OPTIONS, () => 0.5)).toBe(400);
      expect(nextDelayMs(apiError(503, 'upstream_unavailable'), 5, 0, OPTIONS, () => 0.5)).toBeUndefined();
    });

    it('waits at least Retry-After, and gives up when that ends past the time budget', () => {
      expect(nextDelayMs(apiError(409, 'idempotency_in_progress', 2), 1, 0, OPTIONS, () => 0.5)).toBe(2_000);
      expect(nextDelayMs(apiError(409, 'idempotency_in_progress', 2), 1, 29_000, OPTIONS, () => 0.5)).toBeUndefined();
    });

    it('never repeats a final answer', () => {
      expect(nextDelayMs(apiError(502, 'upstream_refused'), 1, 0, OPTIONS)).toBeUndefined();
    });
  });
});
