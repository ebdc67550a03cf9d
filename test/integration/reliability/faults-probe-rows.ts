/**
 * Fault-matrix rows (faults.test.ts): a stop remote.it refuses with words the broker does not know. remote.it
 * documents a refused stop only as HTTP 401 with a reason; the broker then checks its own credentials with one
 * GraphQL `login` call (lambdas/remoteit/probe.ts) and decides from that evidence: credentials good, the
 * connection is gone (expired, no retry, no alarm); credentials refused, the credential path; no verdict,
 * retried later and never taken for a stop.
 *
 * Order matters: a good verdict is cached for a minute in the function that made it, so the row that earns one
 * runs last, after the rows whose check must really be made.
 */
import { DEFAULT_STOP_REFUSAL_REASON, GRAPHQL_PATH } from '../../../dev/emulator';
import { createRemoteitClient } from '../../../lambdas/remoteit/client';
import { SERVICES } from '../support/broker';
import { STOP, openConnection, stop, type Connection, type Row, type Suite } from './faults-support';

/** Stops the proxy at remote.it behind the broker's back, as remote.it's idle close would. */
async function closedBehindTheBroker(suite: Suite): Promise<Connection> {
  const connection = await openConnection(suite);
  const secret = suite.broker.secret;
  const direct = createRemoteitClient({
    apiUrl: suite.broker.emulator.url,
    credentials: { get: async () => ({ kind: 'access_key', ...secret }), refresh: async () => ({ kind: 'access_key', ...secret }) },
    signatureScheme: 'cavage',
    timeoutMs: 5_000,
  });
  await direct.stop(SERVICES.echo, connection.remoteConnectionId);
  return connection;
}

const callsTo = (suite: Suite, path: string) => suite.broker.emulator.calls().byPath[path] ?? 0;

export const PROBE_ROWS: Row[] = [
  {
    name: 'stop refused 401 with unknown words while remote.it refuses the credentials too: the credential path, 202, never expired',
    arrange: async (suite) => {
      const connection = await openConnection(suite);
      // The emulator now holds other keys: the check is refused, as a stop signed with the old keys would be.
      const { broker } = suite;
      broker.emulator.setAccounts([{ ...broker.secret, accessKeyId: 'AKOTHERKEYS0', secretAccessKey: Buffer.alloc(32, 7).toString('base64'), ...broker.login }]);
      return [connection];
    },
    faults: { remoteit: { refuse: { reason: DEFAULT_STOP_REFUSAL_REASON, httpStatus: 401 }, onlyPaths: [STOP] } },
    act: async (suite, [connection]) => {
      const reads = suite.broker.secrets.calls()[suite.broker.secretId] ?? 0;
      const answer = await stop(suite, connection?.id ?? '');
      // The secret re-read once, the stop repeated once with it, each refusal checked.
      expect((suite.broker.secrets.calls()[suite.broker.secretId] ?? 0) - reads).toBe(1);
      expect({ stops: callsTo(suite, STOP), checks: callsTo(suite, GRAPHQL_PATH) }).toEqual({ stops: 2, checks: 2 });
      return { answer };
    },
    cleanup: (suite) => suite.broker.emulator.setAccounts([{ ...suite.broker.secret, ...suite.broker.login }]),
    status: 202,
    record: { status: 'stopping', stopAttempts: 1, failureReason: `remote.it rejected the broker's credentials: ${DEFAULT_STOP_REFUSAL_REASON}` },
    proxy: 'live',
    settled: { status: 'stopped' },
  },
  {
    name: 'stop refused 401 with unknown words while the credential check is throttled: 202, one stop, settled expired later',
    arrange: async (suite) => [await closedBehindTheBroker(suite)],
    faults: { remoteit: { throttle: { retryAfterSeconds: 1 }, onlyPaths: [GRAPHQL_PATH] } },
    act: async (suite, [connection]) => {
      const answer = await stop(suite, connection?.id ?? '');
      expect({ stops: callsTo(suite, STOP), checks: callsTo(suite, GRAPHQL_PATH) }).toEqual({ stops: 1, checks: 1 });
      return { answer };
    },
    status: 202,
    record: { status: 'stopping', stopAttempts: 1, failureReason: expect.stringContaining("the broker's credentials could not be checked") },
    proxy: 'ended',
    settled: { status: 'expired', stopReason: 'expired' },
  },
  {
    name: 'stop refused 401 with unknown words while the credential check does not answer: 202, one stop, never expired on no evidence',
    arrange: async (suite) => [await closedBehindTheBroker(suite)],
    faults: { remoteit: { hang: true, onlyPaths: [GRAPHQL_PATH] } },
    act: async (suite, [connection]) => {
      const answer = await stop(suite, connection?.id ?? '');
      expect(callsTo(suite, STOP)).toBe(1);
      return { answer };
    },
    status: 202,
    record: { status: 'stopping', stopAttempts: 1 },
    proxy: 'ended',
    settled: { status: 'expired', stopReason: 'expired' },
  },
  {
    name: 'stop refused 401 with unknown words, credentials good (remote.it had closed it): expired after one stop and one check',
    arrange: async (suite) => [await closedBehindTheBroker(suite)],
    act: async (suite, [connection]) => {
      const answer = await stop(suite, connection?.id ?? '');
      expect({ stops: callsTo(suite, STOP), checks: callsTo(suite, GRAPHQL_PATH) }).toEqual({ stops: 1, checks: 1 });
      return { answer };
    },
    status: 200,
    record: {
      status: 'expired',
      stopReason: 'expired',
      stopAttempts: 1,
      failureReason: `remote.it no longer has this connection: ${DEFAULT_STOP_REFUSAL_REASON}`,
    },
    proxy: 'ended',
  },
];
