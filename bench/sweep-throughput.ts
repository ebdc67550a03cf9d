/**
 * 4. How fast the sweeper stops a backlog: N due leases whose proxies really exist in the emulator, remote.it's
 * stop answering after 50 ms, swept at concurrency 1, 8 and 32. The bound it is held to is
 * min(concurrency / stop latency, DynamoDB Local's write rate / writes per stop): the write rate is measured
 * in the same run with the store's own conditional update at the same concurrency, and the writes per stop
 * are counted during the sweep.
 */
import { startCpuMeter, type CpuFigures } from './support/cpu';
import { goal, type GoalCheck } from './support/report';
import { pool, round } from './support/stats';
import { SERVICE_ID, type BenchStack } from './support/stack';
import { countedStore, runSweep } from './support/sweeper';
import { connectionRecord, createBenchTable, dueRecord, loadRecords, nowSeconds } from './support/tables';

export interface SweepThroughputOptions {
  leases: number;
  concurrencies: number[];
  stopLatencyMs: number;
  /** Budget of one sweep; a slow one is cut there and its rate taken from what it did. */
  sweepBudgetMs: number;
  /** Conditional updates timed per concurrency for the write rate. */
  writeSamples: number;
}

export interface SweepThroughputRow {
  concurrency: number;
  stopped: number;
  ms: number;
  stopsPerSecond: number;
  writesPerStop: number;
  dynamodbWritesPerSecond: number;
  latencyBound: number;
  writeBound: number;
  bound: number;
  ofBound: number;
  /**
   * The bound when every worker does its writes in series with its stop (claim, stop, record: what the
   * sweeper does): each stop takes latency + writes / write rate, so the two limits add as rates in series,
   * 1 / (1 / latency bound + 1 / write bound). The min() bound assumes the writes overlap the stops.
   */
  serialBound: number;
  ofSerialBound: number;
  /** CPU during the sweep: one Node.js thread at 1.0 or a machine at 1.0 is a bound of its own. */
  cpu: CpuFigures;
}

export interface SweepThroughputResult {
  leases: number;
  stopLatencyMs: number;
  rows: SweepThroughputRow[];
  goals: GoalCheck[];
}

export const THROUGHPUT_GOAL = 0.8;
const STOP_PATH = '/device/connect/stop';

export async function runSweepThroughput(bench: BenchStack, options: SweepThroughputOptions): Promise<SweepThroughputResult> {
  const rows: SweepThroughputRow[] = [];
  for (const concurrency of options.concurrencies) {
    const writeRate = await measureWriteRate(bench, concurrency, options.writeSamples);
    const table = await createBenchTable(bench.dynamodb, `throughput-${concurrency}`);
    const { store, calls, close } = countedStore(bench, table.name);
    try {
      const remoteIds = await openProxies(bench, options.leases);
      await loadRecords(bench.documents, table.name, remoteIds.map((id, index) => dueRecord(id, index)));
      bench.emulator.setFaults({ latencyMs: options.stopLatencyMs, onlyPaths: [STOP_PATH] });
      calls.reset();
      const started = performance.now();
      const cpu = startCpuMeter();
      const summary = await runSweep(bench, store, concurrency, options.sweepBudgetMs);
      const ms = performance.now() - started;
      const cpuFigures = cpu();
      bench.emulator.setFaults({});
      if (summary.errors > 0 || summary.retried > 0 || summary.expired > 0) {
        throw new Error(`concurrency ${concurrency}: ${summary.errors} errors, ${summary.retried} retried, ${summary.expired} expired`);
      }
      const writes = calls.byCommand().UpdateItemCommand ?? 0;
      const writesPerStop = summary.swept > 0 ? writes / summary.swept : 0;
      const stopsPerSecond = (summary.swept * 1000) / ms;
      const latencyBound = (concurrency * 1000) / options.stopLatencyMs;
      const writeBound = writesPerStop > 0 ? writeRate / writesPerStop : Infinity;
      const bound = Math.min(latencyBound, writeBound);
      const serialBound = 1 / (1 / latencyBound + 1 / writeBound);
      rows.push({
        concurrency,
        stopped: summary.swept,
        ms: round(ms, 0),
        stopsPerSecond: round(stopsPerSecond, 1),
        writesPerStop: round(writesPerStop, 2),
        dynamodbWritesPerSecond: round(writeRate, 0),
        latencyBound: round(latencyBound, 1),
        writeBound: round(writeBound, 1),
        bound: round(bound, 1),
        ofBound: round(stopsPerSecond / bound, 3),
        serialBound: round(serialBound, 1),
        ofSerialBound: round(stopsPerSecond / serialBound, 3),
        cpu: cpuFigures,
      });
      await closeLeftovers(bench, remoteIds);
    } finally {
      bench.emulator.setFaults({});
      close();
      await table.drop();
    }
  }
  const top = rows.find((row) => row.concurrency === Math.max(...options.concurrencies));
  return {
    leases: options.leases,
    stopLatencyMs: options.stopLatencyMs,
    rows,
    goals: top
      ? [goal(`>= ${THROUGHPUT_GOAL * 100}% of the bound at concurrency ${top.concurrency}`, `${round(top.ofBound * 100, 1)}% (${top.stopsPerSecond} of ${top.bound} stops/s)`, top.ofBound >= THROUGHPUT_GOAL)]
      : [],
  };
}

/** Real proxies in the emulator, opened straight through the remote.it client (no latency), 32 at a time. */
async function openProxies(bench: BenchStack, count: number): Promise<string[]> {
  const ids: string[] = [];
  const started = await pool(count, 32, Date.now() + 120_000, async () => {
    const connection = await bench.remoteit.connect(SERVICE_ID, '255.255.255.255');
    ids.push(connection.remoteConnectionId);
  });
  if (started < count) throw new Error(`opened only ${started} of ${count} proxies within 120 s`);
  return ids;
}

/** A sweep cut by its budget leaves live proxies: stop them, so later benchmarks start clean. */
async function closeLeftovers(bench: BenchStack, remoteIds: string[]): Promise<void> {
  const wanted = new Set(remoteIds);
  const live = bench.emulator.connections().filter((proxy) => proxy.state === 'active' && wanted.has(proxy.connectionId));
  await pool(live.length, 32, Date.now() + 60_000, async (index) => {
    const proxy = live[index];
    if (proxy) await bench.remoteit.stop(SERVICE_ID, proxy.connectionId);
  });
}

/**
 * DynamoDB Local's rate of the sweeper's kind of write (the store's version-checked update, ALL_NEW) at
 * `concurrency`, on records of a scratch table: each record is updated once.
 */
async function measureWriteRate(bench: BenchStack, concurrency: number, samples: number): Promise<number> {
  const table = await createBenchTable(bench.dynamodb, `writes-${concurrency}`);
  const { store, close } = countedStore(bench, table.name);
  try {
    const records = Array.from({ length: samples }, () => connectionRecord({ dueAt: nowSeconds() + 3_600 }));
    await loadRecords(bench.documents, table.name, records);
    const started = performance.now();
    const done = await pool(records.length, concurrency, Date.now() + 60_000, async (index) => {
      const record = records[index];
      if (!record) return;
      await store.update(
        record.id,
        { status: ['active'], version: record.version },
        { status: 'stopping', stopReason: 'lease_ended', dueAt: nowSeconds() + 120 },
      );
    });
    return (done * 1000) / (performance.now() - started);
  } finally {
    close();
    await table.drop();
  }
}
