/** Fault-matrix rows (faults.test.ts): the sweeper under remote.it faults, and a sweeper process killed mid-run. */
import { MAX_ATTEMPTS, STOP, endedConnection, killSweeperMidRun, makeDue, stop, type Row } from './faults-support';

export const SWEEPER_ROWS: Row[] = [
  {
    name: 'sweeper stop answered 503: retry scheduled, the next sweep stops it',
    arrange: async (suite) => [await endedConnection(suite)],
    faults: { remoteit: { status: 503, onlyPaths: [STOP] } },
    act: async (suite) => ({ summary: await suite.broker.sweep() }),
    summary: { retried: 1, swept: 0, errors: 0 },
    record: { status: 'stopping', stopReason: 'lease_ended', stopAttempts: 1 },
    proxy: 'live',
    settled: { status: 'stopped', stopReason: 'lease_ended' },
  },
  {
    name: 'sweeper stops keep failing past SWEEPER_MAX_ATTEMPTS: stop_failed, the proxy left for the alarm',
    arrange: async (suite) => [await endedConnection(suite)],
    faults: { remoteit: { status: 500, onlyPaths: [STOP] } },
    act: async (suite, [connection]) => {
      await suite.broker.sweep();
      await makeDue(suite, connection?.id ?? '');
      return { summary: await suite.broker.sweep() };
    },
    summary: { stopFailed: 1, retried: 0 },
    record: { status: 'stop_failed', stopAttempts: MAX_ATTEMPTS },
    proxy: 'live',
    allow: { stopFailed: 1 },
  },
  {
    name: 'DELETE on a stop_failed connection tries once more and stops it when remote.it answers',
    arrange: async (suite) => {
      const connection = await endedConnection(suite);
      suite.broker.emulator.setFaults({ status: 500, onlyPaths: [STOP] });
      await suite.broker.sweep();
      await makeDue(suite, connection.id);
      await suite.broker.sweep();
      suite.broker.emulator.setFaults({});
      return [connection];
    },
    act: async (suite, [connection]) => ({ answer: await stop(suite, connection?.id ?? '') }),
    status: 200,
    record: { status: 'stopped', stopAttempts: MAX_ATTEMPTS + 1 },
    proxy: 'ended',
  },
];

export const SWEEPER_KILLED_ROWS: Row[] = [
  {
    name: 'sweeper process killed after claiming, its stops hanging: the next sweep stops every claimed connection',
    arrange: async (suite) => [await endedConnection(suite), await endedConnection(suite)],
    faults: { remoteit: { hang: true, onlyPaths: [STOP] } },
    act: async (suite) => {
      await killSweeperMidRun(suite, 2);
      return {};
    },
    record: { status: 'stopping', stopReason: 'lease_ended', stopAttempts: 0 },
    proxy: 'live',
    settled: { status: 'stopped', stopReason: 'lease_ended' },
  },
  {
    name: 'sweeper process killed after remote.it stopped the proxies but before it recorded it: the next sweep settles them expired',
    arrange: async (suite) => [await endedConnection(suite), await endedConnection(suite)],
    faults: { remoteit: { hang: true, afterEffect: true, onlyPaths: [STOP] } },
    act: async (suite) => {
      await killSweeperMidRun(suite, 2);
      return {};
    },
    record: { status: 'stopping', stopReason: 'lease_ended' },
    proxy: 'ended',
    settled: { status: 'expired' },
  },
];
