import { startSweepTimer } from '../../../dev/sweep-timer';

describe('sweep timer', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  /** A sweep that takes `durationMs` of (fake) time and records when it ran and how many ran at once. */
  function slowSweep(durationMs: number) {
    const starts: number[] = [];
    let running = 0;
    let maxRunning = 0;
    const sweep = async () => {
      starts.push(Date.now());
      running += 1;
      maxRunning = Math.max(maxRunning, running);
      await new Promise((resolve) => setTimeout(resolve, durationMs));
      running -= 1;
    };
    return { sweep, starts, maxRunning: () => maxRunning };
  }

  describe('startSweepTimer', () => {
    it('runs the sweep once per period when each sweep is quick', async () => {
      const sweep = jest.fn(async () => undefined);
      const timer = startSweepTimer(sweep, 1_000, jest.fn());

      await jest.advanceTimersByTimeAsync(3_500);
      await timer.stop();

      expect(sweep).toHaveBeenCalledTimes(3);
    });

    it('never overlaps two sweeps when a sweep outlasts the period', async () => {
      const slow = slowSweep(2_500);
      const start = Date.now();
      const timer = startSweepTimer(slow.sweep, 1_000, jest.fn());

      await jest.advanceTimersByTimeAsync(8_500);
      const stopping = timer.stop();
      await jest.advanceTimersByTimeAsync(3_000);
      await stopping;

      expect(slow.maxRunning()).toBe(1);
      // Period counted from the end of the previous run: 1 s, then 1 + 2.5 + 1, then 4.5 + 2.5 + 1.
      expect(slow.starts.map((at) => at - start)).toEqual([1_000, 4_500, 8_000]);
    });

    it('runs a manual sweep after the one in flight when asked during a sweep', async () => {
      const slow = slowSweep(2_000);
      const start = Date.now();
      const timer = startSweepTimer(slow.sweep, 1_000, jest.fn());
      await jest.advanceTimersByTimeAsync(1_500);

      const manual = timer.runNow();
      await jest.advanceTimersByTimeAsync(4_000);
      await manual;
      const stopping = timer.stop();
      await jest.advanceTimersByTimeAsync(3_000);
      await stopping;

      expect(slow.maxRunning()).toBe(1);
      // The manual run at 3 s (after the first), the timer's next one (due at 4 s) only after it, at 5 s.
      expect(slow.starts.map((at) => at - start)).toEqual([1_000, 3_000, 5_000]);
    });

    it('waits for the sweep in flight and starts no other when stopped', async () => {
      const slow = slowSweep(2_000);
      const timer = startSweepTimer(slow.sweep, 1_000, jest.fn());
      await jest.advanceTimersByTimeAsync(1_100);
      let stopped = false;

      const stopping = timer.stop().then(() => {
        stopped = true;
      });
      await jest.advanceTimersByTimeAsync(1_000);
      const stoppedBeforeSweepEnded = stopped;
      await jest.advanceTimersByTimeAsync(5_000);
      await stopping;

      expect(stoppedBeforeSweepEnded).toBe(false);
      expect(stopped).toBe(true);
      expect(slow.starts).toHaveLength(1);
      expect(jest.getTimerCount()).toBe(0);
    });

    it('reports a failed sweep and keeps sweeping when a sweep throws', async () => {
      const failure = new Error('DynamoDB is down');
      const sweep = jest.fn().mockRejectedValueOnce(failure).mockResolvedValue(undefined);
      const onError = jest.fn();
      const timer = startSweepTimer(sweep, 1_000, onError);

      await jest.advanceTimersByTimeAsync(2_500);
      await timer.stop();

      expect(onError).toHaveBeenCalledWith(failure);
      expect(sweep).toHaveBeenCalledTimes(2);
    });

    it('refuses a period that is not positive', () => {
      expect(() => startSweepTimer(async () => undefined, 0, jest.fn())).toThrow(RangeError);
    });
  });
});
