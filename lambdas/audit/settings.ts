/**
 * How the audit function is wired, in one place: the CDK construct deploys these settings and the local
 * stack (dev/stack.ts) copies them, so the two cannot drift apart. Nothing here runs in a function.
 */
import { CONNECTION_STATUSES } from '../broker/model';

/**
 * The audit mapping's filter, in Lambda's FilterCriteria pattern syntax: MODIFY events of connection records
 * only. A record is created `pending` (lifecycle.ts's INITIAL_STATUS), which is no event, and a TTL deletion
 * is none either: neither invokes the function. Every change that is an event (lambdas/broker/audit.ts)
 * rewrites a record, whose image has a `status`; the table's other items (owners' quota counters, their
 * opens of a minute: lambdas/store/tables.ts) have none, so their changes, one or two per open and per end,
 * never invoke it. Exact values, not `exists`, so the local stack's poller applies the same pattern.
 */
export const AUDIT_FILTER_PATTERN = {
  eventName: ['MODIFY'],
  dynamodb: { NewImage: { status: { S: [...CONNECTION_STATUSES] } } },
};

/**
 * The audit mapping of the locks table's stream: a lock is placed (INSERT) or lifted (MODIFY); a REMOVE is
 * the TTL deleting a lock lifted or lapsed long ago, no event.
 */
export const AUDIT_LOCKS_FILTER_PATTERN = {
  eventName: ['INSERT', 'MODIFY'],
};

/**
 * Retries of a failed batch: -1, no count (Lambda documents no interval between retries, so no count
 * stands for a time). A failure is EventBridge's (throttling, an outage), which passes; the record's age
 * bounds the retrying instead (AUDIT_MAX_RECORD_AGE_SECONDS). Its cost is that a shard's later events wait
 * behind it: alarmed on the mapping's IteratorAge.
 */
export const AUDIT_RETRY_ATTEMPTS = -1;

/**
 * A change still not published after this long is given up and recorded in the audit dead-letter queue:
 * half the stream's 24-hour retention, so an operator has the other half to re-read it from the stream by
 * the sequence numbers that record names (docs/OPERATIONS.md).
 */
export const AUDIT_MAX_RECORD_AGE_SECONDS = 12 * 60 * 60;
