/**
 * What the domain reports, through one sink. The runtime binds the sink once to metrics and log lines
 * (lambdas/handlers/runtime.ts), so an event is counted the same whichever use case or function raised it:
 * a remote.it refusal of a stop is one `remoteit_failed` whether DELETE or the sweeper stopped.
 * Events carry records and failures, never a secret (none reaches the domain).
 */
import type { PolicyDenialReason } from './errors';
import type { ConnectionRecord } from './model';
import type { RemoteitFailure } from './ports';
import type { TimerOutcome } from './timers';

export type DomainEvent =
  /** A connection was handed out: newly opened, or an existing one reused. */
  | { type: 'opened'; record: ConnectionRecord; reused: boolean }
  /** The API ended a connection: DELETE, an overridden record, a public proxy the policy forbids. */
  | { type: 'stopped'; record: ConnectionRecord }
  | { type: 'policy_denied'; reason: PolicyDenialReason }
  /** An open was refused at the caller's limit: its live connections (`maxActive`) or its opens this minute (`opensPerMinute`). */
  | { type: 'limit_reached'; limit: 'quota_exceeded' | 'open_rate_exceeded' }
  /** The policy could not be loaded from its source (the last good one stays in force; with none, all is refused). */
  | { type: 'policy_load_failed'; reason: 'unreachable' | 'invalid' | 'empty' }
  /** A remote.it call failed (after the adapter's own retries). */
  | { type: 'remoteit_failed'; operation: 'connect' | 'stop'; failure: RemoteitFailure }
  /** A stop failed and is due again after a backoff. */
  | { type: 'stop_retry'; record: ConnectionRecord; failure: RemoteitFailure }
  /** A stop failed on its last attempt: the connection may still be live (alarmed). */
  | { type: 'stop_failed'; record: ConnectionRecord; failure: RemoteitFailure }
  /**
   * Best-effort work failed and something else will finish it (the sweeper, a lapsing claim, remote.it's
   * idle close); `message` says what, for the log. `error` is logged: never a secret, by the rule above.
   */
  | { type: 'recovery'; severity: 'warn' | 'error'; message: string; connectionId: string; error: unknown; details?: Record<string, unknown> }
  /** A sweep item failed for a reason other than a lost race; its claim lapses and a later sweep retries. */
  | { type: 'sweep_item_failed'; record: ConnectionRecord; error: unknown }
  /** A lease timer fired; `overrunMs` when it stopped the connection (lease end to recorded outcome). */
  | { type: 'timer_fired'; connectionId: string; outcome: TimerOutcome; overrunMs?: number }
  /** Part of the due work could not be read; the rest was swept. */
  | { type: 'due_read_failed'; part: string; error: unknown }
  /** An open or renew was refused because an operator's lock covers it. */
  | { type: 'lock_refused'; lockId: string }
  /** A connection was stopped because an operator's lock covers it (it ended: stopped, or gone at remote.it). */
  | { type: 'lock_stopped'; record: ConnectionRecord; lockId: string };

export type EventSink = (event: DomainEvent) => void;

/** A sink that drops everything (tests that do not look at events). */
export const ignoreEvents: EventSink = () => undefined;
