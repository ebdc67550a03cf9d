/**
 * The local stand-in for the sweeper's EventBridge schedule: runs `sweep` every `periodMs`, counted from
 * the end of the previous run, so two sweeps never overlap (EventBridge can overlap them; the sweeper's
 * conditional claims make that safe, but locally one at a time keeps the logs readable).
 */
export interface SweepTimer {
  /** Runs a sweep now, after the one in flight (if any); resolves when it has finished. */
  runNow(): Promise<void>;
  /** Clears the timer and waits for the sweep in flight. Idempotent. */
  stop(): Promise<void>;
}

export function startSweepTimer(sweep: () => Promise<void>, periodMs: number, onError: (error: unknown) => void): SweepTimer {
  if (!(periodMs > 0)) throw new RangeError(`sweep period must be positive, got ${periodMs} ms`);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  // Every run is chained on the previous one: the one place that serialises timer and manual runs.
  let chain: Promise<void> = Promise.resolve();

  const enqueue = (): Promise<void> => {
    chain = chain.then(() => (stopped ? undefined : sweep().catch(onError)));
    return chain;
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      void enqueue().then(schedule);
    }, periodMs);
    // The local stack's servers keep the process alive; a pending sweep alone must not.
    timer.unref();
  };
  schedule();

  let stopping: Promise<void> | undefined;
  return {
    runNow: () => enqueue(),
    stop: () => {
      stopping ??= (async () => {
        stopped = true;
        clearTimeout(timer);
        await chain;
      })();
      return stopping;
    },
  };
}
