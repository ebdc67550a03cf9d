/** Fault-matrix rows (faults.test.ts): remote.it faults on stop (DELETE /connections/{id}). */
import { STOP, openConnection, stop, type Row } from './faults-support';

export const STOP_ROWS: Row[] = [
  {
    name: 'stop answered 500 on every attempt: 202 stopping, retried later',
    arrange: async (suite) => [await openConnection(suite)],
    faults: { remoteit: { status: 500, onlyPaths: [STOP] } },
    act: async (suite, [connection]) => ({ answer: await stop(suite, connection?.id ?? '') }),
    status: 202,
    record: { status: 'stopping', stopReason: 'requested', stopAttempts: 1, failureReason: 'remote.it answered HTTP 500' },
    proxy: 'live',
    settled: { status: 'stopped', stopReason: 'requested' },
  },
  {
    name: 'stop hangs past every client attempt: 202 stopping, retried later',
    arrange: async (suite) => [await openConnection(suite)],
    faults: { remoteit: { hang: true, onlyPaths: [STOP] } },
    act: async (suite, [connection]) => ({ answer: await stop(suite, connection?.id ?? '') }),
    status: 202,
    record: { status: 'stopping', stopAttempts: 1 },
    proxy: 'live',
    settled: { status: 'stopped' },
  },
  {
    name: 'stop connection reset: 202 stopping, retried later',
    arrange: async (suite) => [await openConnection(suite)],
    faults: { remoteit: { reset: true, onlyPaths: [STOP] } },
    act: async (suite, [connection]) => ({ answer: await stop(suite, connection?.id ?? '') }),
    status: 202,
    record: { status: 'stopping', stopAttempts: 1 },
    proxy: 'live',
    settled: { status: 'stopped' },
  },
  {
    name: 'stop throttled with Retry-After 30: 202 stopping, next attempt not before Retry-After',
    arrange: async (suite) => [await openConnection(suite)],
    faults: { remoteit: { throttle: { retryAfterSeconds: 30 }, onlyPaths: [STOP] } },
    act: async (suite, [connection]) => {
      const answer = await stop(suite, connection?.id ?? '');
      expect((await suite.store.get(connection?.id ?? ''))?.dueAt).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000) + 28);
      return { answer };
    },
    status: 202,
    record: { status: 'stopping', failureReason: 'remote.it is throttling the broker' },
    proxy: 'live',
    settled: { status: 'stopped' },
  },
  {
    name: 'stop took effect but every answer was lost (500): 202 stopping; the retry finds it gone and settles it expired',
    arrange: async (suite) => [await openConnection(suite)],
    faults: { remoteit: { status: 500, afterEffect: true, onlyPaths: [STOP] } },
    act: async (suite, [connection]) => ({ answer: await stop(suite, connection?.id ?? '') }),
    status: 202,
    record: { status: 'stopping', stopReason: 'requested' },
    proxy: 'ended',
    settled: { status: 'expired', stopReason: 'expired' },
  },
  {
    name: 'stop refused with a reason the broker does not know: 202 stopping, never taken for a stop',
    arrange: async (suite) => [await openConnection(suite)],
    faults: { remoteit: { refuse: { reason: 'stop not permitted right now' }, onlyPaths: [STOP] } },
    act: async (suite, [connection]) => ({ answer: await stop(suite, connection?.id ?? '') }),
    status: 202,
    record: { status: 'stopping', failureReason: 'remote.it refused the request: stop not permitted right now' },
    proxy: 'live',
    settled: { status: 'stopped' },
  },
];
