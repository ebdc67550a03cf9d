/**
 * One sweep: read the work the store says is due, and settle each item within the time budget. Reads only
 * due work (the store's due batches, paged), so cost grows with due items, never with the table. Every item
 * is claimed with a version check first, so concurrent sweepers and a racing DELETE stop each connection
 * exactly once; a lost claim is counted as skipped, not as an error.
 */
import { lifecycle } from './lifecycle';
import type { ConnectionRecord, StopReason } from './model';
import type { ConnectionStore, DueBatch, DueReadFailure } from './ports';
import { applyUnlessStale, claimForStop, stopClaimed, type StopContext, type StopOutcome } from './stopping';
import { epochSeconds } from './time';

export const ABANDONED_PENDING_REASON = 'abandoned: the API invocation ended before remote.it answered';

export interface SweepDeps {
  /** The store, remote.it, the clock and the events the sweep works with. */
  stopContext: StopContext;
  /** Items worked on at once (SWEEPER_CONCURRENCY). */
  concurrency?: number;
  /** Items per part of the due work per read. */
  pageSize?: number;
  /** A pending record younger than this may still be mid-connect: never touched. */
  pendingGraceSeconds: number;
  /**
   * Time one item may take (claim, remote.it stop, record), at least; the longest item seen in this sweep
   * raises it. No new claim starts unless this much budget is left beyond the safety margin.
   */
  itemEstimateMs?: number;
}

export interface SweepBudget {
  remainingMs(): number;
  safetyMarginMs: number;
}

export interface SweepSummary {
  /** Items the store read (sum of its batches' `scanned`): the cost of the sweep. */
  scanned: number;
  /** Due items seen. */
  due: number;
  /** Stopped at remote.it. */
  swept: number;
  /** Found gone or past remote.it's expiry. */
  expired: number;
  /** Stop failed; retry scheduled with backoff. */
  retried: number;
  /** Retry budget spent. */
  stopFailed: number;
  /** Stale pending records settled (failed without a remote id, or claimed and stopped with one). */
  settledPending: number;
  /** Lost claims, index lag (terminal or no longer due), pending still within its grace. */
  skipped: number;
  /** Items that failed for another reason (store errors); they are due again once their claim lapses. */
  errors: number;
  /** Due items read but left for the next tick when the budget ended (a lower bound: unread pages not counted). */
  backlog: number;
  /** now - the oldest dueAt seen; 0 when nothing was due. */
  lagSeconds: number;
  budgetExhausted: boolean;
}

const DEFAULT_CONCURRENCY = 16;
const DEFAULT_PAGE_SIZE = 100;
const DEFAULT_ITEM_ESTIMATE_MS = 2_000;

/**
 * Hands the store's due batches to the workers one item at a time. A batch is read only when the workers
 * need more, so an exhausted budget leaves later pages unread; workers that find the buffer empty together
 * wait on the same read instead of each starting one.
 */
class DueFeed {
  private buffer: ConnectionRecord[] = [];
  private position = 0;
  private readonly batches: AsyncIterator<DueBatch>;
  private exhausted = false;
  private fetching: Promise<void> | undefined;
  scanned = 0;
  seen = 0;
  oldestDueAt: number | undefined;

  constructor(
    store: ConnectionStore,
    nowSeconds: number,
    pageSize: number,
    private readonly onReadFailed: (failure: DueReadFailure) => void,
  ) {
    this.batches = store.due(nowSeconds, { pageSize })[Symbol.asyncIterator]();
  }

  get buffered(): number {
    return this.buffer.length - this.position;
  }

  async next(): Promise<ConnectionRecord | undefined> {
    while (this.buffered === 0) {
      if (this.exhausted) return undefined;
      this.fetching ??= this.read().finally(() => {
        this.fetching = undefined;
      });
      await this.fetching;
    }
    const record = this.buffer[this.position];
    this.position += 1;
    return record;
  }

  /** Reads one batch without handing it out: what is due, for the summary only. */
  async peek(): Promise<void> {
    if (!this.exhausted) await this.read();
  }

  private async read(): Promise<void> {
    const result = await this.batches.next();
    if (result.done) {
      this.exhausted = true;
      return;
    }
    const batch = result.value;
    this.scanned += batch.scanned;
    for (const failure of batch.failures) this.onReadFailed(failure);
    for (const record of batch.items) {
      if (record.dueAt !== undefined && (this.oldestDueAt === undefined || record.dueAt < this.oldestDueAt)) {
        this.oldestDueAt = record.dueAt;
      }
    }
    this.seen += batch.items.length;
    this.buffer = batch.items;
    this.position = 0;
  }
}

type ItemResult = StopOutcome | 'skipped' | 'settled_failed';

export async function sweep(deps: SweepDeps, budget: SweepBudget): Promise<SweepSummary> {
  const { stopContext, pendingGraceSeconds } = deps;
  const concurrency = Math.max(1, Math.floor(deps.concurrency ?? DEFAULT_CONCURRENCY));
  const nowSeconds = epochSeconds(stopContext.now());
  const summary: SweepSummary = {
    scanned: 0,
    due: 0,
    swept: 0,
    expired: 0,
    retried: 0,
    stopFailed: 0,
    settledPending: 0,
    skipped: 0,
    errors: 0,
    backlog: 0,
    lagSeconds: 0,
    budgetExhausted: false,
  };
  const feed = new DueFeed(stopContext.store, nowSeconds, deps.pageSize ?? DEFAULT_PAGE_SIZE, ({ part, error }) => {
    summary.errors += 1;
    stopContext.events({ type: 'due_read_failed', part, error });
  });
  let itemEstimateMs = deps.itemEstimateMs ?? DEFAULT_ITEM_ESTIMATE_MS;
  const budgetLeft = (): boolean => budget.remainingMs() - budget.safetyMarginMs >= itemEstimateMs;

  const settle = async (record: ConnectionRecord): Promise<ItemResult> => {
    // The index lags the table: what it shows may already be settled or rescheduled.
    if (record.dueAt === undefined || record.dueAt > nowSeconds) return 'skipped';
    switch (record.status) {
      case 'active':
        return claimAndStop(record, 'lease_ended');
      case 'stopping':
        return claimAndStop(record, record.stopReason ?? 'lease_ended');
      case 'pending':
        return settlePending(record);
      default:
        return 'skipped';
    }
  };

  const claimAndStop = async (record: ConnectionRecord, reason: StopReason): Promise<ItemResult> => {
    const claimed = await claimForStop(stopContext, record, reason);
    if (!claimed) return 'skipped';
    const result = await stopClaimed(stopContext, claimed);
    return result ? result.outcome : 'skipped';
  };

  const settlePending = async (record: ConnectionRecord): Promise<ItemResult> => {
    const createdSeconds = epochSeconds(Date.parse(record.createdAt));
    if (!(createdSeconds + pendingGraceSeconds <= nowSeconds)) return 'skipped';
    if (record.remoteConnectionId !== undefined) return claimAndStop(record, 'abandoned');
    // Without remote.it's connection id there is nothing to stop; remote.it expires the proxy on its own.
    const settled = await applyUnlessStale(stopContext, lifecycle.abandonPending(record, ABANDONED_PENDING_REASON));
    return settled ? 'settled_failed' : 'skipped';
  };

  const count = (record: ConnectionRecord, result: ItemResult): void => {
    if (record.status === 'pending' && result !== 'skipped') summary.settledPending += 1;
    switch (result) {
      case 'stopped':
        summary.swept += 1;
        break;
      case 'expired':
        summary.expired += 1;
        break;
      case 'retry':
        summary.retried += 1;
        break;
      case 'stop_failed':
        summary.stopFailed += 1;
        break;
      case 'skipped':
        summary.skipped += 1;
        break;
      case 'settled_failed':
        break;
    }
  };

  // Hand-written pool: p-limit is not a runtime dependency here, and each worker must check the budget
  // before pulling its next item, which a generic limiter does not do.
  const worker = async (): Promise<void> => {
    for (;;) {
      if (!budgetLeft()) {
        summary.budgetExhausted = true;
        return;
      }
      const record = await feed.next();
      if (!record) return;
      // Reading a page takes time too: check again before the claim.
      if (!budgetLeft()) {
        summary.backlog += 1;
        summary.budgetExhausted = true;
        return;
      }
      const started = Date.now();
      try {
        count(record, await settle(record));
      } catch (error) {
        summary.errors += 1;
        stopContext.events({ type: 'sweep_item_failed', record, error });
      }
      itemEstimateMs = Math.max(itemEstimateMs, Date.now() - started);
    }
  };

  await Promise.all(Array.from({ length: concurrency }, worker));
  if (summary.budgetExhausted && feed.seen === 0) {
    // A run started short of time must still report the work it leaves, or a sweeper that never has time
    // would show no backlog and no lag while leases outlive their end: one batch of due work measures it.
    await feed.peek();
  }

  summary.scanned = feed.scanned;
  summary.due = feed.seen;
  summary.backlog += feed.buffered;
  summary.lagSeconds = feed.oldestDueAt === undefined ? 0 : Math.max(0, nowSeconds - feed.oldestDueAt);
  return summary;
}
