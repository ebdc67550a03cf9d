/**
 * The one backoff of lambdas/: exponential with full jitter (AWS Architecture Blog, "Exponential Backoff
 * And Jitter"): the delay before attempt `failures + 1` is uniform in [0, min(cap, base * 2^(failures-1))].
 * In whatever unit `base` and `cap` are given; callers round to theirs. The stop retries (seconds, between
 * sweeps) and the remote.it client (milliseconds, within one call) both draw from it.
 */
export function fullJitterDelay(failures: number, random: () => number, limits: { base: number; cap: number }): number {
  const exponent = Math.max(0, Math.floor(failures) - 1);
  // 2^exponent overflows to Infinity for large attempts; min() then takes the cap, which is what we want.
  const ceiling = Math.min(limits.cap, limits.base * 2 ** exponent);
  const draw = Math.min(Math.max(random(), 0), 1);
  return draw * ceiling;
}
