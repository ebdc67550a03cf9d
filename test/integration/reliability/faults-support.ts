/**
 * The machinery of the fault matrix (faults.test.ts): what a row is, the helpers rows arrange and act with,
 * and runRow, which applies a row's faults, runs it and checks the answer, the record, the proxy and then the
 * invariant with every fault lifted. The rows themselves are in faults-*-rows.ts, one file per faulty part.
 * Not a test file (jest runs only `*.test.ts`).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { DynamoFaultRule, DynamoFaults } from '../../../dev/dynamo-faults';
import type { ProxySnapshot } from '../../../dev/emulator';
import type { ConnectionRecord } from '../../../lambdas/broker/model';
import type { ConnectionStore } from '../../../lambdas/broker/ports';
import type { SweepSummary } from '../../../lambdas/broker/sweeper';
import { SERVICES, type ApiAnswer, type Broker } from '../support/broker';
import { brokerTarget, expectInvariant, scanAll } from '../support/invariant';

export const DUE_SHARDS = 4;
export const TIMEOUT_MS = 900;
/** Bound of one row: the slowest (a stop hanging through every client attempt) takes a few seconds. */
export const ROW_TIMEOUT_MS = 20_000;
export const MAX_ATTEMPTS = 2;
export const CONNECT = '/device/connect';
export const STOP = '/device/connect/stop';
export const NO_PROXY_FIELDS = ['proxy', 'proxyURL', 'proxyserver', 'proxyport', 'proxyServerPort'];

export interface Suite {
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

export interface Connection {
  id: string;
  remoteConnectionId: string;
}

export interface Outcome {
  answer?: ApiAnswer;
  summary?: SweepSummary;
}

export type ProxyState = 'none' | 'live' | 'ended' | 'orphan';

export interface Row {
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

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function eventually(condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(25);
  }
}

export const open = (suite: Suite, body: object = { serviceId: SERVICES.echo, ttlSeconds: 300 }) =>
  suite.broker.call({ routeKey: 'POST /connections', body });
export const stop = (suite: Suite, id: string) => suite.broker.call({ routeKey: 'DELETE /connections/{id}', pathParameters: { id } });

export async function openConnection(suite: Suite): Promise<Connection> {
  const answer = await open(suite);
  if (answer.status !== 201) throw new Error(`arrange: open answered ${answer.status} ${JSON.stringify(answer.body)}`);
  return { id: answer.body.id, remoteConnectionId: answer.body.remoteConnectionId };
}

/** A connection whose lease ended `secondsAgo` ago (time injected through the store, as the sweeper tests do). */
export async function endedConnection(suite: Suite, secondsAgo = 5): Promise<Connection> {
  const connection = await openConnection(suite);
  const record = await suite.store.get(connection.id);
  if (!record) throw new Error('arrange: the opened connection is not recorded');
  const ended = Math.floor(Date.now() / 1000) - secondsAgo;
  await suite.store.update(connection.id, { status: ['active'], version: record.version }, { leaseExpiresAt: new Date(ended * 1000).toISOString(), dueAt: ended });
  return connection;
}

export async function makeDue(suite: Suite, id: string): Promise<void> {
  const record = await suite.store.get(id);
  if (!record) throw new Error(`${id} is not recorded`);
  await suite.store.update(id, { status: [record.status], version: record.version }, { dueAt: Math.floor(Date.now() / 1000) - 1 });
}

/** Replaces the account's keys at the emulator (the old ones stop working) and returns the new secret. */
export function rotateKeys(suite: Suite): { developerKey: string; accessKeyId: string; secretAccessKey: string } {
  const { broker } = suite;
  const rotated = { developerKey: broker.secret.developerKey, accessKeyId: `AK${randomBytes(6).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(32).toString('base64') };
  broker.emulator.setAccounts([{ ...rotated, ...broker.login }]);
  suite.secrets[`rotated secretAccessKey ${Object.keys(suite.secrets).length}`] = rotated.secretAccessKey;
  return rotated;
}

/** Kills a sweeper process (SIGKILL) once the emulator holds `stops` of its stop calls hanging. */
export async function killSweeperMidRun(suite: Suite, stops: number): Promise<void> {
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

function proxyStateOf(proxy: ProxySnapshot | undefined): ProxyState {
  if (!proxy) return 'none';
  if (proxy.state === 'ended') return 'ended';
  return proxy.announced ? 'live' : 'orphan';
}

export async function runRow(suite: Suite, row: Row): Promise<void> {
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
