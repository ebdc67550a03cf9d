/**
 * Lease timers on SQS: one message per timer, delayed until the lease end (DelaySeconds, at most 900 s: SQS's
 * limit). A lease further off than that is armed again when the message arrives (lambdas/broker/timers.ts).
 * The message carries the connection id and the lease end it was armed for, nothing else: no owner, no
 * address, no secret.
 */
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { LeaseTimers, Timer } from '../broker/ports';
import type { Clock } from '../broker/time';
import * as z from '../zod';

/** SQS's largest DelaySeconds (SendMessage API reference). */
export const MAX_DELAY_SECONDS = 900;

/**
 * The delay of a timer: whole seconds, rounded down, within SQS's bounds. Rounded down, the timer arrives
 * up to a second before its lease end and waits out the rest (lambdas/broker/timers.ts): the stop then
 * follows the lease end by the time it takes, not by up to a second of rounding.
 */
export function delaySecondsFor(leaseExpiresAt: string, nowMs: number): number {
  const seconds = Math.floor((Date.parse(leaseExpiresAt) - nowMs) / 1000);
  return Math.min(MAX_DELAY_SECONDS, Math.max(0, seconds));
}

const connectionId = z.string().check(z.minLength(1), z.maxLength(64));

/** The message bodies, versioned so a later format can tell old timers from new: a lease timer, or a lock stop. */
const leaseTimerSchema = z.strictObject({ v: z.literal(1), id: connectionId, leaseExpiresAt: z.iso.datetime() });
const lockStopSchema = z.strictObject({
  v: z.literal(1),
  id: connectionId,
  lockId: z.string().check(z.minLength(1), z.maxLength(64)),
  lockedBy: z.string().check(z.minLength(1), z.maxLength(2048)),
});

export function timerMessage(timer: Timer): string {
  return 'lockId' in timer
    ? JSON.stringify({ v: 1, id: timer.id, lockId: timer.lockId, lockedBy: timer.lockedBy })
    : JSON.stringify({ v: 1, id: timer.id, leaseExpiresAt: timer.leaseExpiresAt });
}

export class InvalidTimerMessageError extends Error {
  readonly code = 'invalid_timer_message';
  constructor(detail: string) {
    super(`not a lease timer: ${detail}`);
    this.name = 'InvalidTimerMessageError';
  }
}

/** A message body as a timer; InvalidTimerMessageError (naming the field, never echoing the body) otherwise. */
export function parseTimerMessage(body: string): Timer {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new InvalidTimerMessageError('the body is not JSON');
  }
  // A body naming a lock is a lock stop; any other is read as a lease timer, so errors name the missing field.
  const isLockStop = typeof parsed === 'object' && parsed !== null && Object.hasOwn(parsed, 'lockId');
  const result = (isLockStop ? lockStopSchema : leaseTimerSchema).safeParse(parsed);
  if (!result.success) throw new InvalidTimerMessageError(result.error.issues.map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`).join('; '));
  const { v: _version, ...timer } = result.data;
  return timer;
}

export function createSqsLeaseTimers(options: { client: SQSClient; queueUrl: string; now: Clock }): LeaseTimers {
  return {
    async arm(timer) {
      await options.client.send(
        new SendMessageCommand({
          QueueUrl: options.queueUrl,
          MessageBody: timerMessage(timer),
          DelaySeconds: 'lockId' in timer ? 0 : delaySecondsFor(timer.leaseExpiresAt, options.now()),
        }),
      );
    },
  };
}
