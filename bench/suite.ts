/**
 * The benchmarks of `npm run bench`, in one place with their sizes: the full run (the figures) and
 * the smoke run the test suite uses to keep them working (tiny sizes, seconds; its timings mean nothing).
 */
import { cpus, loadavg, totalmem } from 'node:os';
import { runColdStart, type ColdStartOptions, type ColdStartResult } from './cold-start';
import { runLeaseOverrun, type LeaseOverrunOptions, type LeaseOverrunResult } from './lease-overrun';
import { runOverhead, type OverheadOptions, type OverheadResult } from './overhead';
import { runQuotaBurst, type QuotaBurstOptions, type QuotaBurstResult } from './quota-burst';
import { runRoundTrips, type RoundTripOptions, type RoundTripResult } from './round-trips';
import { runSoak, type SoakOptions, type SoakResult } from './soak';
import type { GoalCheck } from './support/report';
import { round } from './support/stats';
import { startBenchStack } from './support/stack';
import { runSweepCost, type SweepCostOptions, type SweepCostResult } from './sweep-cost';
import { runSweepThroughput, type SweepThroughputOptions, type SweepThroughputResult } from './sweep-throughput';

export interface SuiteSizes {
  overhead: OverheadOptions;
  roundTrips: RoundTripOptions;
  quotaBurst: QuotaBurstOptions;
  sweepCost: SweepCostOptions;
  sweepThroughput: SweepThroughputOptions;
  coldStart: ColdStartOptions;
  soak: SoakOptions;
  leaseOverrun: LeaseOverrunOptions;
}

export const FULL: SuiteSizes = {
  overhead: { cycles: 300, latencyMs: 100, timeoutMs: 240_000 },
  roundTrips: { samples: 20 },
  quotaBurst: { opens: 100 },
  sweepCost: { sizes: [1_000, 10_000, 50_000], dueFraction: 0.01 },
  sweepThroughput: { leases: 2_000, concurrencies: [1, 8, 32], stopLatencyMs: 50, sweepBudgetMs: 90_000, writeSamples: 2_000 },
  coldStart: { runs: 20 },
  soak: { clients: 20, cycles: 500, warmupCycles: 40, timeoutMs: 180_000 },
  leaseOverrun: { leases: 1_000, leaseSeconds: 60, spreadSeconds: 60, sweepPeriodSeconds: 60, concurrency: 8 },
};

export const SMOKE: SuiteSizes = {
  overhead: { cycles: 4, latencyMs: 5, timeoutMs: 20_000 },
  roundTrips: { samples: 2 },
  quotaBurst: { opens: 20 },
  sweepCost: { sizes: [100, 300], dueFraction: 0.05 },
  sweepThroughput: { leases: 16, concurrencies: [1, 4], stopLatencyMs: 5, sweepBudgetMs: 20_000, writeSamples: 40 },
  coldStart: { runs: 1 },
  soak: { clients: 3, cycles: 9, warmupCycles: 3, timeoutMs: 20_000 },
  leaseOverrun: { leases: 4, leaseSeconds: 3, spreadSeconds: 2, sweepPeriodSeconds: 4, concurrency: 2 },
};

export interface SuiteResults {
  overhead: OverheadResult;
  roundTrips: RoundTripResult;
  quotaBurst: QuotaBurstResult;
  sweepCost: SweepCostResult;
  sweepThroughput: SweepThroughputResult;
  coldStart: ColdStartResult;
  soak: SoakResult;
  leaseOverrun: LeaseOverrunResult;
}

export interface SuiteReport {
  date: string;
  command: string;
  machine: { cpus: number; cpuModel: string; memoryGb: number; node: string; platform: string };
  /** 1-minute load average before and after: other work on the machine while the bench ran. */
  loadAverage: { start: number; end: number };
  durationSeconds: number;
  /** Per benchmark, seconds. */
  timings: Record<keyof SuiteResults, number>;
  results: SuiteResults;
  goals: Array<GoalCheck & { benchmark: keyof SuiteResults }>;
}

export interface SuiteOptions {
  sizes: SuiteSizes;
  command: string;
  /** A running DynamoDB Local to use instead of starting one. */
  dynamoDbEndpoint?: string;
  /** Progress lines (the CLI prints them; the smoke test drops them). */
  progress?: (line: string) => void;
}

export async function runSuite(options: SuiteOptions): Promise<SuiteReport> {
  const { sizes } = options;
  const progress = options.progress ?? (() => undefined);
  const started = Date.now();
  const loadStart = loadavg()[0] ?? 0;
  const timings: Partial<Record<keyof SuiteResults, number>> = {};
  const step = async <K extends keyof SuiteResults>(name: K, action: () => Promise<SuiteResults[K]>): Promise<SuiteResults[K]> => {
    progress(`${name}...`);
    const stepStarted = Date.now();
    const result = await action();
    timings[name] = round((Date.now() - stepStarted) / 1000, 1);
    progress(`${name}: ${timings[name]} s`);
    return result;
  };

  // Cold start first: fresh processes, before DynamoDB Local's JVM shares the cores.
  const coldStart = await step('coldStart', () => runColdStart(sizes.coldStart));
  const bench = await startBenchStack(options.dynamoDbEndpoint ? { dynamoDbEndpoint: options.dynamoDbEndpoint } : {});
  let results: SuiteResults;
  try {
    const overhead = await step('overhead', () => runOverhead(bench, sizes.overhead));
    const roundTrips = await step('roundTrips', () => runRoundTrips(bench, sizes.roundTrips));
    const quotaBurst = await step('quotaBurst', () => runQuotaBurst(bench, sizes.quotaBurst));
    const soak = await step('soak', () => runSoak(bench, sizes.soak));
    const sweepCost = await step('sweepCost', () => runSweepCost(bench, sizes.sweepCost));
    const sweepThroughput = await step('sweepThroughput', () => runSweepThroughput(bench, sizes.sweepThroughput));
    const leaseOverrun = await step('leaseOverrun', () => runLeaseOverrun(bench, sizes.leaseOverrun));
    results = { overhead, roundTrips, quotaBurst, sweepCost, sweepThroughput, coldStart, soak, leaseOverrun };
  } finally {
    await bench.stop();
  }
  const cpuList = cpus();
  return {
    date: new Date(started).toISOString(),
    command: options.command,
    machine: {
      cpus: cpuList.length,
      cpuModel: cpuList[0]?.model ?? 'unknown',
      memoryGb: round(totalmem() / 1024 ** 3, 1),
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
    },
    loadAverage: { start: round(loadStart, 2), end: round(loadavg()[0] ?? 0, 2) },
    durationSeconds: round((Date.now() - started) / 1000, 1),
    timings: timings as Record<keyof SuiteResults, number>,
    results,
    goals: (Object.keys(results) as Array<keyof SuiteResults>).flatMap((benchmark) =>
      results[benchmark].goals.map((check) => ({ benchmark, ...check })),
    ),
  };
}
