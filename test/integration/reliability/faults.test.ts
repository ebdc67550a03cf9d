/**
 * The fault matrix: each row is one fault injected into a real part (the remote.it emulator, DynamoDB Local
 * behind a fault proxy, the Secrets Manager stub, a sweeper process killed mid-run), one request through the
 * real handlers or one sweep, the answer the API must give, the state the record and the proxy must be left
 * in, and then the invariant (support/invariant.ts) with every fault lifted: nothing live is unrecorded,
 * nothing recorded is left running, no lease outlives one sweep. Every row also runs under the suite-wide
 * log capture, which must never see a secret value.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { startDynamoFaults, type DynamoFaultRule, type DynamoFaults } from '../../../dev/dynamo-faults';
import type { ProxySnapshot } from '../../../dev/emulator';
import type { ConnectionRecord, ConnectionStatus, ConnectionStore } from '../../../lambdas/broker/model';
import type { SweepSummary } from '../../../lambdas/broker/sweeper';
import { createDynamoConnectionStore } from '../../../lambdas/store/dynamo-store';
import { SERVICES, startBroker, type ApiAnswer, type Broker } from '../support/broker';
import { dynamoEndpoint } from '../support/dynamo';
import { brokerTarget, expectInvariant, scanAll } from '../support/invariant';
import { captureOutput, secretLeaks, type OutputCapture } from '../support/log-capture';

const DUE_SHARDS = 4;
const TIMEOUT_MS = 900;
/** Bound of one row: the slowest (a stop hanging through every client attempt) takes a few seconds. */
const ROW_TIMEOUT_MS = 20_000;
const MAX_ATTEMPTS = 2;
const CONNECT = '/device/connect';
const STOP = '/device/connect/stop';
const NO_PROXY_FIELDS = ['proxy', 'proxyURL', 'proxyserver', 'proxyport', 'proxyServerPort'];

interface Suite {
  broker: Broker;
  dynamo: DynamoFaults;
  store: ConnectionStore;
  /** Leftovers of earlier rows (orphans idle out only after 15 minutes), not counted again. */
  seen: Set<string>;
  /** Every credential the suite handed out, for the log scan. */
  secrets: Record<string, string>;
  /** The captured log lines of the suite (this process and the sweeper processes). */
  logLines: string[];
  /** A good secret value held back by a row that put a malformed one, for its cleanup. */
  heldBackSecret?: string;
}

interface Connection {
  id: string;
  remoteConnectionId: string;
}

interface Outcome {
  answer?: ApiAnswer;
  summary?: SweepSummary;
}

type ProxyState = 'none' | 'live' | 'ended' | 'orphan';

interface Row {
  name: string;
  /** Work done before the faults are set: connections to stop, leases to end. */
  arrange?(suite: Suite): Promise<Connection[]>;
  faults?: { remoteit?: object; dynamo?: DynamoFaultRule[] };
  act(suite: Suite, connections: Connection[]): Promise<Outcome>;
  /** Waits for what the act set off but did not wait for (a connect remote.it finishes after the broker gave up). */
  settle?(suite: Suite): Promise<void>;
  /** Undoes what the row changed outside the emulator and DynamoDB faults (secrets, accounts). */
  cleanup?(suite: Suite): Promise<void> | void;
  status?: number;
  title?: string;
  retryAfter?: string;
  summary?: Partial<SweepSummary>;
  /** The row's record(s) right after the act; `none`: nothing was written. */
  record: Partial<ConnectionRecord> | 'none';
  /** The row's proxy (or proxies) at the emulator right after the act. */
  proxy: ProxyState;
  /** The record after the invariant's sweep, when it differs from `record`. */
  settled?: Partial<ConnectionRecord>;
  allow?: { orphans?: number; stopFailed?: number };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function eventually(condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(25);
  }
}

const open = (suite: Suite, body: object = { serviceId: SERVICES.echo, ttlSeconds: 300 }) =>
  suite.broker.call({ routeKey: 'POST /connections', body });
const stop = (suite: Suite, id: string) => suite.broker.call({ routeKey: 'DELETE /connections/{id}', pathParameters: { id } });

async function openConnection(suite: Suite): Promise<Connection> {
  const answer = await open(suite);
  if (answer.status !== 201) throw new Error(`arrange: open answered ${answer.status} ${JSON.stringify(answer.body)}`);
  return { id: answer.body.id, remoteConnectionId: answer.body.remoteConnectionId };
}

/** A connection whose lease ended `secondsAgo` ago (time injected through the store, as the sweeper tests do). */
async function endedConnection(suite: Suite, secondsAgo = 5): Promise<Connection> {
  const connection = await openConnection(suite);
  const record = await suite.store.get(connection.id);
  if (!record) throw new Error('arrange: the opened connection is not recorded');
  const ended = Math.floor(Date.now() / 1000) - secondsAgo;
  await suite.store.update(connection.id, { status: ['active'], version: record.version }, { leaseExpiresAt: new Date(ended * 1000).toISOString(), dueAt: ended });
  return connection;
}

async function makeDue(suite: Suite, id: string): Promise<void> {
  const record = await suite.store.get(id);
  if (!record) throw new Error(`${id} is not recorded`);
  await suite.store.update(id, { status: [record.status], version: record.version }, { dueAt: Math.floor(Date.now() / 1000) - 1 });
}

/** Replaces the account's keys at the emulator (the old ones stop working) and returns the new secret. */
function rotateKeys(suite: Suite): { developerKey: string; accessKeyId: string; secretAccessKey: string } {
  const { broker } = suite;
  const rotated = { developerKey: broker.secret.developerKey, accessKeyId: `AK${randomBytes(6).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(32).toString('base64') };
  broker.emulator.setAccounts([{ ...rotated, ...broker.login }]);
  suite.secrets[`rotated secretAccessKey ${Object.keys(suite.secrets).length}`] = rotated.secretAccessKey;
  return rotated;
}

/** Kills a sweeper process (SIGKILL) once the emulator holds `stops` of its stop calls hanging. */
async function killSweeperMidRun(suite: Suite, stops: number): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'sweeper-process.ts')], {
    env: { ...process.env, ...suite.broker.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  // Its log lines join the suite's, so the secret scan covers the killed process too.
  for (const stream of [child.stdout, child.stderr]) {
    stream.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      suite.logLines.push(...chunk.toString().split('\n').filter((line) => line.trim() !== ''));
    });
  }
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  try {
    await eventually(() => (suite.broker.emulator.calls().byOutcome.fault_hang ?? 0) >= stops, 20_000);
  } finally {
    child.kill('SIGKILL');
  }
  expect({ signal: await exited, finished: output.includes('finished') }).toEqual({ signal: 'SIGKILL', finished: false });
}

const ROWS: Row[] = [
  // ---- remote.it faults on connect ------------------------------------------------------------------------
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

  // ---- remote.it faults on stop (DELETE) -------------------------------------------------------------------
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

  // ---- the sweeper under remote.it faults ------------------------------------------------------------------
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

  // ---- DynamoDB faults ----------------------------------------------------------------------------------------
  {
    name: 'write-ahead PutItem throttled once: the SDK retries, 201',
    faults: { dynamo: [{ operations: ['PutItem'], times: 1 }] },
    act: async (suite) => {
      const answer = await open(suite);
      expect(suite.dynamo.calls().PutItem?.failed).toBe(1);
      return { answer };
    },
    status: 201,
    record: { status: 'active' },
    proxy: 'live',
  },
  {
    name: 'write-ahead PutItem throttled past the SDK retries: 503 with Retry-After, nothing written, remote.it never called',
    faults: { dynamo: [{ operations: ['PutItem'], error: 'ThrottlingException' }] },
    act: async (suite) => {
      const answer = await open(suite);
      expect(suite.broker.emulator.calls().byPath[CONNECT]).toBeUndefined();
      return { answer };
    },
    status: 503,
    title: 'Service busy',
    retryAfter: '1',
    record: 'none',
    proxy: 'none',
  },
  {
    name: 'recording an opened connection fails past the SDK retries (InternalServerError): compensation stops it, 503',
    faults: { dynamo: [{ operations: ['UpdateItem'], matching: '"active"', error: 'InternalServerError' }] },
    act: async (suite) => ({ answer: await open(suite) }),
    status: 503,
    record: { status: 'stopped', stopReason: 'compensation' },
    proxy: 'ended',
  },
  {
    name: 'recording fails (InternalServerError) and the compensating stop fails too: handed to the sweeper as stopping',
    faults: { dynamo: [{ operations: ['UpdateItem'], matching: '"active"', error: 'InternalServerError' }], remoteit: { status: 500, onlyPaths: [STOP] } },
    act: async (suite) => ({ answer: await open(suite) }),
    status: 503,
    record: { status: 'stopping', stopReason: 'compensation', stopAttempts: 1 },
    proxy: 'live',
    settled: { status: 'stopped', stopReason: 'compensation' },
  },
  {
    name: 'the sweeper settles the pending record while remote.it is still connecting: the conditional write fails, compensation stops the proxy',
    faults: { remoteit: { latencyMs: TIMEOUT_MS - 100, onlyPaths: [CONNECT] } },
    act: async (suite) => {
      // Start mid-second, then sweep as soon as the record is one (whole) second old: PENDING_GRACE_SECONDS
      // has passed while remote.it is still connecting.
      await sleep((1_450 - (Date.now() % 1_000)) % 1_000);
      const answer = open(suite);
      let createdMs = 0;
      await eventually(async () => {
        const pending = (await scanAll(suite.broker.tables)).find((record) => record.status === 'pending');
        createdMs = pending ? Date.parse(pending.createdAt) : 0;
        return pending !== undefined;
      }, TIMEOUT_MS);
      await sleep((Math.floor(createdMs / 1_000) + 1) * 1_000 + 10 - Date.now());
      const summary = await suite.broker.sweep();
      return { answer: await answer, summary };
    },
    status: 503,
    summary: { settledPending: 1 },
    record: { status: 'failed', stopReason: 'abandoned' },
    proxy: 'ended',
  },
  {
    name: 'GetItem failing past the SDK retries on GET /connections/{id}: 503 with Retry-After, nothing changed',
    arrange: async (suite) => [await openConnection(suite)],
    faults: { dynamo: [{ operations: ['GetItem'], error: 'InternalServerError' }] },
    act: async (suite, [connection]) => ({ answer: await suite.broker.call({ routeKey: 'GET /connections/{id}', pathParameters: { id: connection?.id ?? '' } }) }),
    status: 503,
    title: 'Service busy',
    record: { status: 'active' },
    proxy: 'live',
  },
  {
    name: 'the due-index Query failing: the sweep counts errors and stops nothing, the next sweep stops the ended lease',
    arrange: async (suite) => [await endedConnection(suite)],
    faults: { dynamo: [{ operations: ['Query'], error: 'InternalServerError' }] },
    act: async (suite) => ({ summary: await suite.broker.sweep() }),
    summary: { errors: DUE_SHARDS, swept: 0 },
    record: { status: 'active' },
    proxy: 'live',
    settled: { status: 'stopped', stopReason: 'lease_ended' },
  },
  {
    name: 'recording a DELETE\'s stop fails after remote.it stopped it: 503, the claim lapses, the sweeper settles it expired',
    arrange: async (suite) => [await openConnection(suite)],
    faults: { dynamo: [{ operations: ['UpdateItem'], matching: '"stopped"', error: 'InternalServerError' }] },
    act: async (suite, [connection]) => ({ answer: await stop(suite, connection?.id ?? '') }),
    status: 503,
    record: { status: 'stopping', stopReason: 'requested' },
    proxy: 'ended',
    settled: { status: 'expired' },
  },

  // ---- Secrets Manager ------------------------------------------------------------------------------------------
  {
    name: 'secret rotated to new keys: the rejected signature makes the broker re-read it once, 201',
    arrange: async (suite) => {
      const rotated = rotateKeys(suite);
      suite.broker.secrets.putSecret(suite.broker.secretId, JSON.stringify(rotated));
      return [];
    },
    act: async (suite) => {
      const reads = suite.broker.secrets.calls()[suite.broker.secretId] ?? 0;
      const answer = await open(suite);
      expect((suite.broker.secrets.calls()[suite.broker.secretId] ?? 0) - reads).toBe(1);
      expect(suite.broker.emulator.calls().byOutcome).toEqual({ unauthorized: 1, ok: 1 });
      return { answer };
    },
    status: 201,
    record: { status: 'active' },
    proxy: 'live',
  },
  {
    name: 'Secrets Manager unavailable when the broker must re-read the secret: 503 with Retry-After, failed, nothing opened',
    arrange: async (suite) => {
      const rotated = rotateKeys(suite);
      suite.broker.secrets.putSecret(suite.broker.secretId, JSON.stringify(rotated));
      suite.broker.secrets.setFailure({ status: 500, type: 'InternalServiceError' });
      return [];
    },
    act: async (suite) => ({ answer: await open(suite) }),
    cleanup: (suite) => suite.broker.secrets.setFailure(undefined),
    status: 503,
    title: 'Service unavailable',
    retryAfter: '1',
    record: { status: 'failed' },
    proxy: 'none',
  },
  {
    name: 'secret rotated to malformed JSON: 500 without detail, failed, nothing opened',
    arrange: async (suite) => {
      const rotated = rotateKeys(suite);
      suite.broker.secrets.putSecret(suite.broker.secretId, `{"developerKey":"${rotated.developerKey}","secretAccessKey":"${rotated.secretAccessKey}"`);
      suite.heldBackSecret = JSON.stringify(rotated);
      return [];
    },
    act: async (suite) => ({ answer: await open(suite) }),
    cleanup: (suite) => suite.broker.secrets.putSecret(suite.broker.secretId, suite.heldBackSecret ?? ''),
    status: 500,
    record: { status: 'failed' },
    proxy: 'none',
  },
  {
    name: 'secret fixed after a malformed value: the next request reads it afresh (the bad value was not cached), 201',
    act: async (suite) => {
      const reads = suite.broker.secrets.calls()[suite.broker.secretId] ?? 0;
      const answer = await open(suite);
      expect((suite.broker.secrets.calls()[suite.broker.secretId] ?? 0) - reads).toBe(1);
      return { answer };
    },
    status: 201,
    record: { status: 'active' },
    proxy: 'live',
  },

  // ---- the sweeper killed mid-run ------------------------------------------------------------------------------
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

function proxyStateOf(proxy: ProxySnapshot | undefined): ProxyState {
  if (!proxy) return 'none';
  if (proxy.state === 'ended') return 'ended';
  return proxy.announced ? 'live' : 'orphan';
}

async function runRow(suite: Suite, row: Row): Promise<void> {
  const { broker, dynamo } = suite;
  const connections = (await row.arrange?.(suite)) ?? [];
  const recordsBefore = new Set((await scanAll(broker.tables)).map((record) => record.id));
  const proxiesBefore = new Set(broker.emulator.connections().map((proxy) => proxy.connectionId));
  broker.emulator.resetCalls();
  dynamo.resetCalls();
  if (row.faults?.remoteit) broker.emulator.setFaults(row.faults.remoteit);
  if (row.faults?.dynamo) dynamo.setRules(row.faults.dynamo);
  let outcome: Outcome;
  try {
    outcome = await row.act(suite, connections);
    await row.settle?.(suite);
  } finally {
    broker.emulator.setFaults({});
    dynamo.setRules([]);
    await row.cleanup?.(suite);
  }

  // The answer.
  if (row.status !== undefined) {
    const answer = outcome.answer;
    expect(answer?.status).toBe(row.status);
    if (row.status >= 400) {
      expect(answer?.headers['content-type']).toBe('application/problem+json');
      expect(answer?.body).toMatchObject({ status: row.status, ...(row.title && { title: row.title }) });
    }
    if (row.retryAfter !== undefined) expect(answer?.headers['retry-after']).toBe(row.retryAfter);
  }
  if (row.summary) expect(outcome.summary).toMatchObject(row.summary);

  // The row's records and proxies: the arranged ones, or what the act created.
  const records = await scanAll(broker.tables);
  const mine: ConnectionRecord[] =
    connections.length > 0
      ? connections.map((connection) => records.find((record) => record.id === connection.id) as ConnectionRecord)
      : records.filter((record) => !recordsBefore.has(record.id));
  const proxies = broker.emulator.connections();
  const mineProxies =
    connections.length > 0
      ? connections.map((connection) => proxies.find((proxy) => proxy.connectionId === connection.remoteConnectionId.toUpperCase()))
      : proxies.filter((proxy) => !proxiesBefore.has(proxy.connectionId));
  if (row.record === 'none') {
    expect(mine).toEqual([]);
  } else {
    expect(mine.length).toBe(Math.max(1, connections.length));
    for (const record of mine) expect(record).toMatchObject(row.record);
  }
  if (row.proxy === 'none') expect(mineProxies).toEqual([]);
  else expect(mineProxies.map(proxyStateOf)).toEqual(Array(Math.max(1, connections.length)).fill(row.proxy));

  // The promise, with every fault lifted.
  await expectInvariant(brokerTarget(broker), { ...row.allow, seen: suite.seen });
  if (row.settled) {
    const after = await scanAll(broker.tables);
    for (const record of mine) expect(after.find((candidate) => candidate.id === record.id)).toMatchObject(row.settled);
  }
}

const suite = {} as Suite;
let output: OutputCapture;

beforeAll(async () => {
  output = captureOutput();
  suite.dynamo = await startDynamoFaults({ upstream: dynamoEndpoint() });
  suite.broker = await startBroker({
    env: {
      AWS_ENDPOINT_URL_DYNAMODB: suite.dynamo.endpoint,
      REMOTEIT_TIMEOUT_MS: String(TIMEOUT_MS),
      SWEEPER_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
      PENDING_GRACE_SECONDS: '1',
      DUE_SHARDS: String(DUE_SHARDS),
      POWERTOOLS_LOG_LEVEL: 'DEBUG',
    },
  });
  suite.store = createDynamoConnectionStore({ client: suite.broker.tables.documentClient, tableName: suite.broker.tables.connections, dueShardCount: DUE_SHARDS });
  suite.seen = new Set();
  suite.secrets = { ...suite.broker.secret, ...suite.broker.login };
  suite.logLines = output.lines;
}, 30_000);

afterAll(async () => {
  await suite.broker?.stop();
  await suite.dynamo?.stop();
  output.restore();
});

describe('fault matrix', () => {
  it('has at least 30 rows', () => {
    expect(ROWS.length).toBeGreaterThanOrEqual(30);
  });

  it.each(ROWS.map((row) => [row.name, row] as const))('%s', async (_name, row) => {
    expect.hasAssertions();
    await runRow(suite, row);
  }, ROW_TIMEOUT_MS);

});

describe('fault matrix with password credentials', () => {
  let broker: Broker;
  const seen = new Set<string>();

  beforeAll(async () => {
    broker = await startBroker({ credentials: 'password', env: { REMOTEIT_TIMEOUT_MS: String(TIMEOUT_MS), POWERTOOLS_LOG_LEVEL: 'DEBUG' } });
  }, 30_000);

  afterAll(async () => {
    broker.emulator.tokens().forEach((token, index) => (suite.secrets[`password broker token ${index}`] = token));
    Object.assign(suite.secrets, { passwordBrokerPassword: broker.login.password, passwordBrokerDeveloperKey: broker.secret.developerKey });
    await broker?.stop();
  });

  it('logs in again once when remote.it expired the token (401), and answers 201', async () => {
    const first = await broker.call({ routeKey: 'POST /connections', body: { serviceId: SERVICES.echo } });
    broker.emulator.tokens().forEach((token, index) => (suite.secrets[`expired token ${index}`] = token));
    broker.emulator.expireTokens();
    broker.emulator.resetCalls();

    const second = await broker.call({ routeKey: 'POST /connections', body: { serviceId: SERVICES.echo } });

    expect([first.status, second.status]).toEqual([201, 201]);
    expect(broker.emulator.calls().records.map((call) => `${call.path} ${call.httpStatus}`)).toEqual([`${CONNECT} 401`, '/user/login 200', `${CONNECT} 200`]);
    await expectInvariant(brokerTarget(broker), { seen });
  }, ROW_TIMEOUT_MS);

  it('answers 503 and records the connection failed when the password is no longer accepted ([0102])', async () => {
    broker.emulator.setAccounts([{ ...broker.secret, username: broker.login.username, password: `${broker.login.password}-changed` }]);
    broker.emulator.resetCalls();

    const answer = await broker.call({ routeKey: 'POST /connections', body: { serviceId: SERVICES.echo } });

    expect(answer.status).toBe(503);
    expect(broker.emulator.calls().byOutcome).toMatchObject({ unauthorized: expect.any(Number) });
    expect(broker.emulator.calls().byPath[CONNECT]).toBe(1);
    const failed = (await scanAll(broker.tables)).filter((record) => record.status === ('failed' satisfies ConnectionStatus));
    expect(failed).toHaveLength(1);
    await expectInvariant(brokerTarget(broker), { seen });
  }, ROW_TIMEOUT_MS);
});

describe('logs of the whole matrix', () => {
  it('carry no secret value in any line: keys, passwords, login tokens, rotated and malformed secrets', () => {
    expect(output.lines.length).toBeGreaterThan(100);
    expect(output.lines.some((line) => line.includes('"level":"ERROR"'))).toBe(true);
    expect(Object.keys(suite.secrets).length).toBeGreaterThan(8);
    expect(secretLeaks(output.lines, suite.secrets)).toEqual([]);
  });
});
