/**
 * A lease that follows the work: `LeaseKeeper` renews a connection while its user says the work goes on, and
 * watches for its end, saying why it ended (the API's stop reason). It never renews work that has stopped, so
 * an idle connection ends with its lease. Used by `rbroker connect --exec` and `rbroker forward`
 * (client/forward.ts), and by any app that holds a connection for as long as it works.
 */
import type { BrokerClient } from './client';
import { BrokerApiError } from './errors';
import { CONNECTION_STATUSES, type Connection } from './types';

/** What the work needs now: whether to renew, and when the proxy was last used (lets a renew pass the idle window). */
export interface Usage {
  busy: boolean;
  /** When a connection through the proxy was last open (now, if one is); undefined: never, or unknown. */
  usedAt?: Date | undefined;
}

export type LeaseEvent =
  | { type: 'renewed'; connection: Connection }
  /** A renew was refused: the lease ends at `connection.leaseExpiresAt` unless something changes. */
  | { type: 'renew_refused'; connection: Connection; error: BrokerApiError }
  /** The lease could not be moved as far as asked: it ends at `connection.leaseExpiresAt`, which `by` caps. */
  | { type: 'capped'; connection: Connection; by: 'expiry' | 'policy' }
  /** A renew did not get an answer (unreachable, 5xx, throttled): it is tried again while there is time. */
  | { type: 'renew_failed'; connection: Connection; error: Error; retryInMs: number }
  /** The connection is no longer live (stopped, expired, failed): `connection` as the API last answered it. */
  | { type: 'ended'; connection: Connection };

export interface LeaseKeeperOptions {
  client: Pick<BrokerClient, 'renew' | 'get'>;
  connection: Connection;
  /** The lease each renew asks for (the broker caps it by policy and by remote.it's expiry). */
  ttlSeconds: number;
  /** Asked at each renew point: is the work going on since `sinceMs` (the open or the last renew)? */
  usage: (sinceMs: number) => Usage;
  onEvent: (event: LeaseEvent) => void;
  /** The share of the lease that passes before a renew (0..1). Default 0.5: half the lease is left to retry in. */
  renewAfter?: number;
  now?: () => number;
}

const LIVE: readonly string[] = CONNECTION_STATUSES.slice(0, 3);
/** Without `usedAt` a renew must come this long before the first idle window closes. */
const IDLE_WINDOW_MARGIN_MS = 30_000;
/** After the lease end, how soon the keeper asks how the connection ended, and how often again while it is live. */
const END_CHECK_DELAY_MS = 1_500;
const END_RECHECK_MS = 5_000;
const MAX_RENEW_RETRY_MS = 30_000;
/** A renewed lease this much short of what was asked counts as capped. */
const CAP_TOLERANCE_MS = 5_000;

/** The lease a connection was opened with, in whole minutes (never above what was asked), for its renews. */
export function leaseSecondsOf(connection: Connection): number {
  const seconds = (Date.parse(connection.leaseExpiresAt) - Date.parse(connection.createdAt)) / 1000;
  return Math.max(60, Math.floor(seconds / 60) * 60);
}

export const isLive = (connection: Connection): boolean => LIVE.includes(connection.status);

export class LeaseKeeper {
  private current: Connection;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private renewing = false;
  /** When the lease was last set (open, renew): the work since then decides the next renew. */
  private lastRenewMs: number;
  /** No renew moves the lease any more (refused, or at remote.it's expiry): only the end is watched. */
  private final = false;
  private readonly now: () => number;
  private readonly renewAfter: number;

  constructor(private readonly options: LeaseKeeperOptions) {
    this.current = options.connection;
    this.now = options.now ?? Date.now;
    this.lastRenewMs = this.now();
    this.renewAfter = Math.min(Math.max(options.renewAfter ?? 0.5, 0), 1);
  }

  get connection(): Connection {
    return this.current;
  }

  start(): void {
    this.schedule(this.now());
  }

  /** No more renews or checks (the connection was stopped, or its user is leaving). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** Asks the API now whether the connection still lives (a proxy that refused a dial, say); reports an end. */
  async check(): Promise<Connection> {
    const latest = await this.options.client.get(this.current.id);
    this.adopt(latest);
    return latest;
  }

  private adopt(latest: Connection): void {
    if (this.stopped) return;
    const moved = latest.leaseExpiresAt !== this.current.leaseExpiresAt;
    this.current = latest;
    if (!isLive(latest)) {
      this.stop();
      this.options.onEvent({ type: 'ended', connection: latest });
      return;
    }
    if (moved) {
      // Renewed by someone else (another tool, an admin): follow it.
      this.final = false;
      this.options.onEvent({ type: 'renewed', connection: latest });
      this.schedule(this.now());
    }
  }

  private schedule(fromMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const nowMs = this.now();
    const leaseEndMs = Date.parse(this.current.leaseExpiresAt);
    let atMs: number;
    if (this.final || leaseEndMs <= nowMs) {
      atMs = leaseEndMs + END_CHECK_DELAY_MS;
    } else {
      atMs = fromMs + (leaseEndMs - fromMs) * this.renewAfter;
      // Without a use to name, the last renew that can pass is the one before the first idle window closes.
      const idleDeadlineMs = this.current.idleClosesAt === undefined ? undefined : Date.parse(this.current.idleClosesAt) - IDLE_WINDOW_MARGIN_MS;
      if (idleDeadlineMs !== undefined && idleDeadlineMs > nowMs + 1_000 && this.options.usage(this.lastRenewMs).usedAt === undefined) atMs = Math.min(atMs, idleDeadlineMs);
    }
    this.arm(Math.max(atMs - nowMs, 1_000));
  }

  private arm(delayMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), delayMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (this.stopped || this.renewing) return;
    const nowMs = this.now();
    const leaseEndMs = Date.parse(this.current.leaseExpiresAt);
    if (this.final || leaseEndMs <= nowMs) {
      await this.watchEnd(leaseEndMs, nowMs);
      return;
    }
    if (!this.options.usage(this.lastRenewMs).busy) {
      // Past the renew point with no work: renew as soon as work shows again (looked at every few seconds),
      // else let the lease end and say how.
      this.arm(Math.min(END_RECHECK_MS, leaseEndMs + END_CHECK_DELAY_MS - nowMs));
      return;
    }
    this.renewing = true;
    try {
      await this.renew(nowMs);
    } finally {
      this.renewing = false;
    }
  }

  /** Once the lease has ended: how did the connection end? (Before its end nothing is asked: it may be renewed.) */
  private async watchEnd(leaseEndMs: number, nowMs: number): Promise<void> {
    if (leaseEndMs + END_CHECK_DELAY_MS > nowMs) {
      this.arm(leaseEndMs + END_CHECK_DELAY_MS - nowMs);
      return;
    }
    try {
      const latest = await this.options.client.get(this.current.id);
      this.adopt(latest);
    } catch {
      // Unreachable for now: the next look says.
    }
    if (!this.stopped && isLive(this.current) && Date.parse(this.current.leaseExpiresAt) <= this.now()) this.arm(END_RECHECK_MS);
  }

  private async renew(nowMs: number): Promise<void> {
    const { client, ttlSeconds, usage, onEvent } = this.options;
    const before = this.current;
    try {
      const usedAt = usage(this.lastRenewMs).usedAt;
      const renewed = await client.renew(before.id, ttlSeconds, usedAt ? { usedAt } : {});
      if (this.stopped) return;
      this.current = renewed;
      this.lastRenewMs = nowMs;
      onEvent({ type: 'renewed', connection: renewed });
      const endMs = Date.parse(renewed.leaseExpiresAt);
      if (endMs < nowMs + ttlSeconds * 1000 - CAP_TOLERANCE_MS) {
        const atExpiry = endMs >= Date.parse(renewed.expiresAt) - 1_000;
        onEvent({ type: 'capped', connection: renewed, by: atExpiry ? 'expiry' : 'policy' });
        if (atExpiry) this.final = true;
      }
      this.schedule(this.now());
    } catch (error) {
      if (this.stopped) return;
      if (error instanceof BrokerApiError && error.status >= 400 && error.status < 500 && error.status !== 429) {
        if (error.code === 'connection_not_active') {
          // It ended already: say how.
          await this.watchEnd(0, this.now());
          return;
        }
        this.final = true;
        onEvent({ type: 'renew_refused', connection: before, error });
        this.schedule(this.now());
        return;
      }
      const leftMs = Date.parse(before.leaseExpiresAt) - this.now();
      const retryInMs = Math.min(MAX_RENEW_RETRY_MS, Math.max(1_000, leftMs / 3));
      onEvent({ type: 'renew_failed', connection: before, error: error instanceof Error ? error : new Error(String(error)), retryInMs });
      this.arm(retryInMs);
    }
  }
}
