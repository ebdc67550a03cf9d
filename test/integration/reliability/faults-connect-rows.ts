/** Fault-matrix rows (faults.test.ts): remote.it faults on connect (POST /connections). */
import { CONNECT, NO_PROXY_FIELDS, TIMEOUT_MS, eventually, open, type Row } from './faults-support';

export const CONNECT_ROWS: Row[] = [
  {
    name: 'connect slower than REMOTEIT_TIMEOUT_MS: 504, failed; the proxy remote.it opens afterwards is an orphan',
    faults: { remoteit: { latencyMs: TIMEOUT_MS + 250, onlyPaths: [CONNECT] } },
    act: async (suite) => ({ answer: await open(suite) }),
    settle: (suite) => eventually(() => suite.broker.emulator.calls().records.some((call) => call.path === CONNECT && call.outcome === 'ok'), 5_000),
    status: 504,
    title: 'remote.it timed out',
    record: { status: 'failed', failureReason: 'remote.it did not answer in time' },
    proxy: 'orphan',
    allow: { orphans: 1 },
  },
  {
    name: 'connect hangs: 504, failed, nothing opened',
    faults: { remoteit: { hang: true, onlyPaths: [CONNECT] } },
    act: async (suite) => ({ answer: await open(suite) }),
    status: 504,
    record: { status: 'failed' },
    proxy: 'none',
  },
  {
    name: 'connect hangs after remote.it opened the proxy: 504, failed, an orphan',
    faults: { remoteit: { hang: true, afterEffect: true, onlyPaths: [CONNECT] } },
    act: async (suite) => ({ answer: await open(suite) }),
    status: 504,
    record: { status: 'failed' },
    proxy: 'orphan',
    allow: { orphans: 1 },
  },
  {
    name: 'connection reset before remote.it acted: 503, failed, nothing opened, not retried',
    faults: { remoteit: { reset: true, onlyPaths: [CONNECT] } },
    act: async (suite) => ({ answer: await open(suite) }),
    status: 503,
    title: 'remote.it unavailable',
    record: { status: 'failed' },
    proxy: 'none',
  },
  {
    name: 'connection reset after remote.it opened the proxy: 503, failed, an orphan (never a second connect)',
    faults: { remoteit: { reset: true, afterEffect: true, onlyPaths: [CONNECT] } },
    act: async (suite) => ({ answer: await open(suite) }),
    status: 503,
    record: { status: 'failed' },
    proxy: 'orphan',
    allow: { orphans: 1 },
  },
  ...[500, 502, 503].map(
    (httpStatus): Row => ({
      name: `connect answered HTTP ${httpStatus}: 503 without internals, failed, nothing opened`,
      faults: { remoteit: { status: httpStatus, onlyPaths: [CONNECT] } },
      act: async (suite) => ({ answer: await open(suite) }),
      status: 503,
      title: 'remote.it unavailable',
      record: { status: 'failed', failureReason: `remote.it answered HTTP ${httpStatus}` },
      proxy: 'none',
    }),
  ),
  {
    name: 'connect answered HTTP 500 after remote.it opened the proxy: 503, failed, an orphan',
    faults: { remoteit: { status: 500, afterEffect: true, onlyPaths: [CONNECT] } },
    act: async (suite) => ({ answer: await open(suite) }),
    status: 503,
    record: { status: 'failed' },
    proxy: 'orphan',
    allow: { orphans: 1 },
  },
  {
    name: 'connect throttled (429, Retry-After 7): 503 passing Retry-After on, failed',
    faults: { remoteit: { throttle: { retryAfterSeconds: 7 }, onlyPaths: [CONNECT] } },
    act: async (suite) => ({ answer: await open(suite) }),
    status: 503,
    retryAfter: '7',
    record: { status: 'failed', failureReason: 'remote.it is throttling the broker' },
    proxy: 'none',
  },
  ...['[0806] device not found', '[0861] service not found for UID 80:00:00:00:01:00:00:01', 'bad device address'].map(
    (reason): Row => ({
      name: `connect refused (200, status "false") "${reason}": 404, failed`,
      faults: { remoteit: { refuse: { reason }, onlyPaths: [CONNECT] } },
      act: async (suite) => ({ answer: await open(suite) }),
      status: 404,
      title: 'Service not found',
      record: { status: 'failed', failureReason: reason },
      proxy: 'none',
    }),
  ),
  ...['missing api token', '[0102] The username or password is invalid'].map(
    (reason): Row => ({
      name: `connect refused for the broker's credentials "${reason}": secret re-read once, then 503, failed`,
      faults: { remoteit: { refuse: { reason }, onlyPaths: [CONNECT] } },
      act: async (suite) => {
        const reads = suite.broker.secrets.calls()[suite.broker.secretId] ?? 0;
        const answer = await open(suite);
        expect((suite.broker.secrets.calls()[suite.broker.secretId] ?? 0) - reads).toBe(1);
        expect(suite.broker.emulator.calls().byPath[CONNECT]).toBe(2);
        return { answer };
      },
      status: 503,
      record: { status: 'failed' },
      proxy: 'none',
    }),
  ),
  {
    name: 'connect refused with a reason the broker does not know: 502 naming it, failed',
    faults: { remoteit: { refuse: { reason: 'device is offline' }, onlyPaths: [CONNECT] } },
    act: async (suite) => ({ answer: await open(suite) }),
    status: 502,
    title: 'remote.it refused the connection',
    record: { status: 'failed', failureReason: 'device is offline' },
    proxy: 'none',
  },
  {
    name: 'connect answered 401 invalid signature every time: secret re-read once, then 503, failed',
    faults: { remoteit: { refuse: { reason: 'invalid signature', httpStatus: 401 }, onlyPaths: [CONNECT] } },
    act: async (suite) => ({ answer: await open(suite) }),
    status: 503,
    record: { status: 'failed' },
    proxy: 'none',
  },
  {
    name: 'connect answered 200 with malformed JSON: 503, failed, nothing opened',
    faults: { remoteit: { malformed: true, onlyPaths: [CONNECT] } },
    act: async (suite) => ({ answer: await open(suite) }),
    status: 503,
    record: { status: 'failed' },
    proxy: 'none',
  },
  {
    name: 'connect answered malformed JSON after remote.it opened the proxy: 503, failed, an orphan',
    faults: { remoteit: { malformed: true, afterEffect: true, onlyPaths: [CONNECT] } },
    act: async (suite) => ({ answer: await open(suite) }),
    status: 503,
    record: { status: 'failed' },
    proxy: 'orphan',
    allow: { orphans: 1 },
  },
  {
    name: 'connect success without any proxy address: the named connection is stopped at once (compensation), 503',
    faults: { remoteit: { missingFields: NO_PROXY_FIELDS, onlyPaths: [CONNECT] } },
    act: async (suite) => ({ answer: await open(suite) }),
    status: 503,
    record: { status: 'stopped', stopReason: 'compensation' },
    proxy: 'ended',
  },
  {
    name: 'connect success without a connection id: 503, failed, an orphan the broker cannot name',
    faults: { remoteit: { missingFields: ['connectionid'], onlyPaths: [CONNECT] } },
    act: async (suite) => ({ answer: await open(suite) }),
    status: 503,
    record: { status: 'failed' },
    proxy: 'orphan',
    allow: { orphans: 1 },
  },
  {
    name: 'connect success without expirationsec: 201 with remote.it\'s documented 8 hours',
    faults: { remoteit: { missingFields: ['expirationsec', 'proxyExpirationSec'], onlyPaths: [CONNECT] } },
    act: async (suite) => {
      const answer = await open(suite);
      expect(Date.parse(answer.body.expiresAt)).toBeGreaterThan(Date.now() + 7.9 * 3_600_000);
      return { answer };
    },
    status: 201,
    record: { status: 'active' },
    proxy: 'live',
  },
];
