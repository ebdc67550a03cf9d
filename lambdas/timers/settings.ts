/**
 * How the timers are wired, in one place: the CDK construct deploys these settings and the local stack
 * (dev/stack.ts) copies them, so the two cannot drift apart. Nothing here runs in a function.
 */
import type { ConnectionStatus } from '../broker/model';

/** timer-fire's timeout (seconds): the slowest stop it may make (infra/connection-broker.ts explains the sum). */
export const TIMER_FIRE_TIMEOUT_SECONDS = 60;
/** A timer in flight stays hidden six of timer-fire's timeouts: Lambda's advice for a queue a function reads. */
export const TIMER_QUEUE_VISIBILITY_SECONDS = 6 * TIMER_FIRE_TIMEOUT_SECONDS;
/** Receives of a timer before the timer dead-letter queue (Lambda's advice: at least 5). */
export const TIMER_QUEUE_MAX_RECEIVES = 5;
/** Retries of a failed stream batch before the timer-arm mapping gives up on it (the sweeper ends those leases). */
export const TIMER_ARM_RETRY_ATTEMPTS = 10;

/**
 * The timer-arm mapping's filter, in Lambda's FilterCriteria pattern syntax: changes that leave a record
 * active (an activation, a renew). Creates (a record is created pending), claims, stops and TTL deletions
 * never invoke the function.
 */
export const TIMER_ARM_FILTER_PATTERN = {
  eventName: ['MODIFY'],
  dynamodb: { NewImage: { status: { S: ['active' satisfies ConnectionStatus] } } },
};
