/** Percentiles and medians of timing samples (nearest-rank, the convention of latency SLOs). */

export interface Percentiles {
  count: number;
  p50: number;
  p95: number;
  p99: number;
}

/** Nearest-rank percentile `p` (0..100) of `samples`; 0 for no samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return 0;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? 0;
}

export function median(samples: readonly number[]): number {
  return percentile(samples, 50);
}

export function percentiles(samples: readonly number[]): Percentiles {
  return { count: samples.length, p50: percentile(samples, 50), p95: percentile(samples, 95), p99: percentile(samples, 99) };
}

/** Rounded for the report: figures carry the precision the measurement has, not float noise. */
export function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

export async function timed<T>(action: () => Promise<T>): Promise<{ result: T; ms: number }> {
  const started = performance.now();
  const result = await action();
  return { result, ms: performance.now() - started };
}

/**
 * Runs `task(index)` for index 0..count-1 on `concurrency` workers, stopping early at `deadline` (epoch ms).
 * Resolves the number of tasks started (all of them finished).
 */
export async function pool(count: number, concurrency: number, deadline: number, task: (index: number) => Promise<void>): Promise<number> {
  let next = 0;
  const worker = async () => {
    while (next < count && Date.now() < deadline) {
      const index = next;
      next += 1;
      await task(index);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, worker));
  return next;
}
