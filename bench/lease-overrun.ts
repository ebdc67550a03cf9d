/**
 * 7. How long after its lease end a connection is still open: N leases whose ends fall within one minute,
 * first with the lease timers running, then with the sweeper alone, in the same run and on the same stack,
 * with the sweeper at AWS's one-minute period in both. Overrun = the moment the emulator closed the proxy
 * (its own clock, `endedAt`) minus the lease end the API answered (`leaseExpiresAt`).
 *
 * Leases are opened through the gateway, paced so that their ends spread over `spreadSeconds`. The API's
 * shortest lease is 60 s; the smoke run asks for shorter ones, and gets them by renewing each connection
 * straight in the store to the shorter end (the same `extend_lease` write a renew makes, below the API's
 * floor): the timer is armed from that write like from any renew.
 */
import { applyTransition, lifecycle } from '../lambdas/broker/lifecycle';
import { MIN_TTL_SECONDS } from '../lambdas/broker/model';
import { createDynamoConnectionStore } from '../lambdas/store/dynamo-store';
import { goal, type GoalCheck } from './support/report';
import { createApiClient } from './support/signed-http';
import { percentiles, pool, round, type Percentiles } from './support/stats';
import { SERVICE_ID, type BenchStack } from './support/stack';

export interface LeaseOverrunOptions {
  leases: number;
  /** Each lease's length; below the API's 60 s floor (smoke), shortened in the store after the open. */
  leaseSeconds: number;
  /** The lease ends spread over this long. */
  spreadSeconds: number;
  /** The sweeper's period in both runs: AWS's shortest (one minute) at full size. */
  sweepPeriodSeconds: number;
  /** Opens in flight at once. */
  concurrency: number;
}

export interface OverrunRun {
  leases: number;
  /** Proxies closed before the run's deadline (the last lease end plus two sweep periods). */
  closed: number;
  /** ms after the lease end; over the closed ones. */
  overrunMs: Percentiles & { max: number };
  /** Closed before its lease end (must be 0). */
  early: number;
  /** Stops the timers made (`timer-fire`) vs the sweeper, by the record's final state and the sweep summaries. */
  sweptBySweeper: number;
}

export interface LeaseOverrunResult {
  leases: number;
  leaseSeconds: number;
  sweepPeriodSeconds: number;
  withTimers: OverrunRun;
  sweeperAlone: OverrunRun;
  /**
   * SendMessage calls the SQS stub saw per lease end recorded (an open, and in the smoke run a renew too),
   * with timers: arming costs one call per open and per renew.
   */
  sqsSendsPerLeaseEnd: number;
  goals: GoalCheck[];
}

export const OVERRUN_GOAL_P99_MS = 2_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function runLeaseOverrun(bench: BenchStack, options: LeaseOverrunOptions): Promise<LeaseOverrunResult> {
  const previous = bench.stack.timers.enabled;
  try {
    await bench.stack.timers.setEnabled(true);
    const sendsBefore = bench.stack.sqs.calls().SendMessage ?? 0;
    const withTimers = await runOnce(bench, options, '127.0.0.4');
    const leaseEnds = options.leases * (options.leaseSeconds < MIN_TTL_SECONDS ? 2 : 1);
    const sqsSendsPerLeaseEnd = ((bench.stack.sqs.calls().SendMessage ?? 0) - sendsBefore) / leaseEnds;
    await bench.stack.timers.setEnabled(false);
    const sweeperAlone = await runOnce(bench, options, '127.0.0.5');
    const p99 = withTimers.overrunMs.p99;
    return {
      leases: options.leases,
      leaseSeconds: options.leaseSeconds,
      sweepPeriodSeconds: options.sweepPeriodSeconds,
      withTimers,
      sweeperAlone,
      sqsSendsPerLeaseEnd: round(sqsSendsPerLeaseEnd, 2),
      goals: [
        goal(
          `every connection stops within ${OVERRUN_GOAL_P99_MS / 1000} s of its lease end (p99), ${options.leases} leases ending within ${options.spreadSeconds} s`,
          `p99 ${round(p99 / 1000, 2)} s with timers (sweeper alone at ${options.sweepPeriodSeconds} s: p99 ${round(sweeperAlone.overrunMs.p99 / 1000, 1)} s); ${withTimers.closed}/${withTimers.leases} closed, ${withTimers.early} early`,
          p99 <= OVERRUN_GOAL_P99_MS && withTimers.closed === withTimers.leases && withTimers.early === 0,
        ),
      ],
    };
  } finally {
    await bench.stack.timers.setEnabled(previous);
  }
}

async function runOnce(bench: BenchStack, options: LeaseOverrunOptions, localAddress: string): Promise<OverrunRun> {
  const { stack, identity, emulator } = bench;
  // One keep-alive connection per client: as many clients as opens in flight.
  const clients = Array.from({ length: options.concurrency }, () =>
    createApiClient({ apiUrl: stack.apiUrl, region: stack.region, credentials: identity, localAddress }),
  );
  const store = createDynamoConnectionStore({ client: bench.documents, tableName: stack.tables.connections, dueShardCount: 8 });
  const shorten = options.leaseSeconds < MIN_TTL_SECONDS;
  const leases: Array<{ id: string; leaseEndMs: number }> = [];

  // The sweeper at its period, from the first open on, as EventBridge would run it.
  let sweeping = true;
  let sweptBySweeper = 0;
  const sweeps = (async () => {
    while (sweeping) {
      const started = Date.now();
      const summary = await stack.sweep();
      sweptBySweeper += summary.swept + summary.expired;
      const wait = options.sweepPeriodSeconds * 1000 - (Date.now() - started);
      for (let waited = 0; sweeping && waited < wait; waited += 100) await sleep(Math.min(100, wait - waited));
    }
  })();

  try {
    const startMs = Date.now();
    const intervalMs = (options.spreadSeconds * 1000) / options.leases;
    await pool(options.leases, options.concurrency, Number.POSITIVE_INFINITY, async (index) => {
      const at = startMs + index * intervalMs;
      if (at > Date.now()) await sleep(at - Date.now());
      const api = clients[index % clients.length];
      if (!api) throw new Error('no API client');
      const opened = await api.send('POST', '/connections', { serviceId: SERVICE_ID, ttlSeconds: Math.max(MIN_TTL_SECONDS, options.leaseSeconds) });
      if (opened.status !== 201) throw new Error(`open answered ${opened.status}: ${JSON.stringify(opened.body)}`);
      const id = String(opened.body.id);
      let leaseEndMs = Date.parse(String(opened.body.leaseExpiresAt));
      if (shorten) {
        const record = await store.get(id);
        if (!record) throw new Error(`connection ${id} is not in the store`);
        const renewed = await applyTransition(store, lifecycle.extendLease(record, Date.now() + options.leaseSeconds * 1000));
        leaseEndMs = Date.parse(renewed.leaseExpiresAt);
      }
      leases.push({ id, leaseEndMs });
    });

    // Until every proxy is closed, or the last lease end plus two sweep periods.
    const remoteIds = new Map<string, string>();
    for (const lease of leases) {
      const record = await store.get(lease.id);
      if (record?.remoteConnectionId) remoteIds.set(lease.id, record.remoteConnectionId);
    }
    const lastEnd = Math.max(...leases.map((lease) => lease.leaseEndMs));
    const deadline = lastEnd + 2 * options.sweepPeriodSeconds * 1000 + 5_000;
    const closedAt = () => {
      const ended = new Map<string, number>();
      for (const proxy of emulator.connections()) {
        if (proxy.state === 'ended' && proxy.endedAt) ended.set(proxy.connectionId, Date.parse(proxy.endedAt));
      }
      return ended;
    };
    let ended = closedAt();
    const allClosed = () => leases.every((lease) => ended.has(remoteIds.get(lease.id) ?? ''));
    while (!allClosed() && Date.now() < deadline) {
      await sleep(250);
      ended = closedAt();
    }

    // The sweep in flight (it may have closed the last proxies) is counted before the figures are.
    sweeping = false;
    await sweeps;
    const overruns: number[] = [];
    let early = 0;
    for (const lease of leases) {
      const endedAt = ended.get(remoteIds.get(lease.id) ?? '');
      if (endedAt === undefined) continue;
      if (endedAt < lease.leaseEndMs) early += 1;
      overruns.push(endedAt - lease.leaseEndMs);
    }
    return {
      leases: leases.length,
      closed: overruns.length,
      overrunMs: { ...percentiles(overruns), max: overruns.length > 0 ? Math.max(...overruns) : 0 },
      early,
      sweptBySweeper,
    };
  } finally {
    sweeping = false;
    await sweeps;
    for (const api of clients) api.close();
  }
}
