/**
 * Exactly-once stops under contention: three sweepers, each with its own DynamoDB client, store and
 * remote.it client (as three Lambda instances would have), sweep the same 500 due connections at once.
 * Every connection is a real proxy at the emulator, which counts the stop calls it receives per connection.
 */
import { randomBytes } from 'node:crypto';
import { startEchoServer, startEmulator, type DemoService, type Emulator } from '../../../dev/emulator';
import type { ConnectionRecord } from '../../../lambdas/broker/model';
import { ignoreEvents } from '../../../lambdas/broker/events';
import { sweep, type SweepSummary } from '../../../lambdas/broker/sweeper';
import { connectionRecord } from '../support/records';
import { createTestTables, type TestTables } from '../support/dynamo';
import {
  connectionStore,
  countByStatus,
  dueIds,
  loadRecords,
  nowSeconds,
  openProxies,
  remoteitClient,
  scanRecords,
  stopCallsById,
  STOP_PATH,
  type AccessKeySecret,
} from './helpers';

const CONNECTIONS = 500;
const SWEEPERS = 3;
const DUE_SHARDS = 8;
const SERVICE_ID = '80:00:00:00:01:00:00:01';
/** Remaining time each sweeper is told it has: plenty, so contention (not the budget) decides who stops what. */
const SWEEP_BUDGET_MS = 45_000;

let tables: TestTables;
let echo: DemoService;
let emulator: Emulator;
let secret: AccessKeySecret;

beforeAll(async () => {
  secret = {
    developerKey: `dev-${randomBytes(6).toString('hex')}`,
    accessKeyId: `AK${randomBytes(6).toString('hex').toUpperCase()}`,
    secretAccessKey: randomBytes(32).toString('base64'),
  };
  [tables, echo] = await Promise.all([createTestTables('sweepers'), startEchoServer()]);
  emulator = await startEmulator({
    accounts: [secret],
    services: [{ serviceId: SERVICE_ID, name: 'echo', kind: 'tcp', target: echo.target }],
  });
});

afterAll(async () => {
  await Promise.allSettled([emulator?.stop(), echo?.close()]);
  await tables?.drop();
});

/** One sweeper as a Lambda instance runs it: its own clients, the real store and remote.it client. */
async function runSweeper(): Promise<SweepSummary> {
  const { store, close } = connectionStore(tables, DUE_SHARDS, true);
  try {
    return await sweep(
      {
        stopContext: {
          store,
          remoteit: remoteitClient(emulator.url, secret),
          now: Date.now,
          random: Math.random,
          maxAttempts: 8,
          claimSeconds: 60,
          events: ignoreEvents,
        },
        concurrency: 16,
        pendingGraceSeconds: 120,
      },
      { remainingMs: () => SWEEP_BUDGET_MS, safetyMarginMs: 1_000 },
    );
  } finally {
    close();
  }
}

describe('sweep', () => {
  describe('concurrent sweepers', () => {
    it('stops each of 500 due connections exactly once when three sweepers run at the same time', async () => {
      // Arrange: 500 live proxies; their records due. Half are ended leases (active), half are stop retries
      // now due (stopping): for those only the version check tells two claimants apart.
      const proxies = await openProxies(remoteitClient(emulator.url, secret), SERVICE_ID, CONNECTIONS);
      const now = nowSeconds();
      const records: ConnectionRecord[] = proxies.map((proxy, index) =>
        connectionRecord({
          serviceId: SERVICE_ID,
          remoteConnectionId: proxy.remoteConnectionId,
          proxy: proxy.proxy,
          expiresAt: proxy.expiresAt,
          dueAt: now - 1 - (index % 60),
          ...(index % 2 === 0
            ? { status: 'active' }
            : { status: 'stopping', stopReason: 'lease_ended', stopAttempts: 1, failureReason: 'remote.it answered HTTP 500' }),
        }),
      );
      await loadRecords(tables, records, DUE_SHARDS);
      emulator.resetCalls();

      // Act
      const summaries = await Promise.all(Array.from({ length: SWEEPERS }, runSweeper));

      // Assert: one stop per connection at remote.it, none refused (a second stop would be), all recorded.
      const stops = stopCallsById(emulator);
      const notOnce = proxies
        .map((proxy) => [proxy.remoteConnectionId, stops.get(proxy.remoteConnectionId.toUpperCase()) ?? 0] as const)
        .filter(([, count]) => count !== 1);
      expect(Object.fromEntries(notOnce)).toEqual({});
      expect(stops.size).toBe(CONNECTIONS);
      expect(emulator.calls().byPath[STOP_PATH]).toBe(CONNECTIONS);
      expect(emulator.calls().byOutcome).toEqual({ ok: CONNECTIONS });
      const stored = await scanRecords(tables);
      expect(countByStatus(stored)).toEqual({ stopped: CONNECTIONS });
      expect(await dueIds(connectionStore(tables, DUE_SHARDS).store)).toEqual([]);
      expect(emulator.connections().filter((snapshot) => snapshot.state === 'active')).toEqual([]);
      // The work was shared and the lost races were counted as such, not as errors.
      const total = (field: keyof SweepSummary) => summaries.reduce((sum, summary) => sum + Number(summary[field]), 0);
      expect(total('swept')).toBe(CONNECTIONS);
      expect(total('errors')).toBe(0);
      expect(total('expired') + total('retried') + total('stopFailed')).toBe(0);
      expect(summaries.filter((summary) => summary.swept > 0).length).toBeGreaterThan(1);
      expect(summaries.filter((summary) => summary.budgetExhausted)).toEqual([]);
    }, 60_000); // the bound on the whole test: 500 proxies opened, loaded, stopped by three sweepers
  });
});
