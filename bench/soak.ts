/**
 * 6. Soak: concurrent clients (each its own source address and kept-alive connection) open and stop
 * connections through the gateway until the cycles are done. Afterwards: no errors, no proxy left open in
 * the emulator, and the process that hosts the gateway and the handlers no bigger than before (measured
 * after a warm-up, after a full GC, at both ends).
 */
import { goal, type GoalCheck } from './support/report';
import { round } from './support/stats';
import { createApiClient } from './support/signed-http';
import { SERVICE_ID, type BenchStack } from './support/stack';

export interface SoakOptions {
  clients: number;
  cycles: number;
  warmupCycles: number;
  timeoutMs: number;
}

export interface MemoryFigures {
  rssMb: number;
  heapUsedMb: number;
}

export interface SoakResult {
  clients: number;
  cycles: number;
  ms: number;
  cyclesPerSecond: number;
  errors: number;
  /** The first few errors, for the reader. */
  errorSamples: string[];
  proxiesLeftOpen: number;
  memory: { start: MemoryFigures; end: MemoryFigures };
  goals: GoalCheck[];
}

/** Flat: after GC the heap is within this much of where it started, and RSS within this fraction. */
export const HEAP_GROWTH_LIMIT_MB = 10;
export const RSS_GROWTH_LIMIT = 0.2;

function memory(): MemoryFigures {
  global.gc?.();
  global.gc?.();
  const usage = process.memoryUsage();
  return { rssMb: round(usage.rss / 1024 / 1024, 1), heapUsedMb: round(usage.heapUsed / 1024 / 1024, 1) };
}

export async function runSoak(bench: BenchStack, options: SoakOptions): Promise<SoakResult> {
  const { stack, identity, emulator } = bench;
  const clients = Array.from({ length: options.clients }, (_, index) =>
    createApiClient({ apiUrl: stack.apiUrl, region: stack.region, credentials: identity, localAddress: `127.0.1.${index + 2}` }),
  );
  const errors: string[] = [];
  const opened = new Set<string>();
  const deadline = Date.now() + options.timeoutMs;

  const cycles = async (total: number): Promise<number> => {
    let next = 0;
    let done = 0;
    await Promise.all(
      clients.map(async (api) => {
        while (next < total && Date.now() < deadline) {
          next += 1;
          try {
            const open = await api.send('POST', '/connections', { serviceId: SERVICE_ID });
            if (open.status !== 201) throw new Error(`open answered ${open.status}: ${JSON.stringify(open.body)}`);
            opened.add(String(open.body.remoteConnectionId));
            const stop = await api.send('DELETE', `/connections/${String(open.body.id)}`);
            if (stop.status !== 200 || stop.body?.status !== 'stopped') throw new Error(`stop answered ${stop.status}: ${JSON.stringify(stop.body)}`);
            done += 1;
          } catch (error) {
            errors.push(error instanceof Error ? error.message : String(error));
          }
        }
      }),
    );
    return done;
  };

  let ms: number;
  let completed: number;
  let start: MemoryFigures;
  let end: MemoryFigures;
  try {
    await cycles(options.warmupCycles);
    errors.length = 0;
    start = memory();
    const started = performance.now();
    completed = await cycles(options.cycles);
    ms = performance.now() - started;
    end = memory();
  } finally {
    for (const api of clients) api.close();
  }
  const proxiesLeftOpen = emulator.connections().filter((proxy) => proxy.state === 'active' && opened.has(proxy.connectionId)).length;
  const heapGrowth = end.heapUsedMb - start.heapUsedMb;
  const rssGrowth = (end.rssMb - start.rssMb) / start.rssMb;
  return {
    clients: options.clients,
    cycles: completed,
    ms: round(ms, 0),
    cyclesPerSecond: round((completed * 1000) / ms, 1),
    errors: errors.length,
    errorSamples: errors.slice(0, 5),
    proxiesLeftOpen,
    memory: { start, end },
    goals: [
      goal(`${options.cycles} cycles, 0 errors`, `${completed} cycles, ${errors.length} errors`, errors.length === 0 && completed === options.cycles),
      goal('0 proxies left open in the emulator', String(proxiesLeftOpen), proxiesLeftOpen === 0),
      goal(
        `memory flat (heap after GC within ${HEAP_GROWTH_LIMIT_MB} MB, RSS within ${RSS_GROWTH_LIMIT * 100}%)`,
        `heap ${start.heapUsedMb} -> ${end.heapUsedMb} MB, RSS ${start.rssMb} -> ${end.rssMb} MB`,
        heapGrowth <= HEAP_GROWTH_LIMIT_MB && rssGrowth <= RSS_GROWTH_LIMIT,
      ),
    ],
  };
}
