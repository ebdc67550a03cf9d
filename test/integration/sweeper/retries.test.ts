/**
 * Failing stops: the emulator answers HTTP 500 to every stop, so the sweeper handler schedules retries with
 * backoff, counts attempts, and gives up with `stop_failed` once the budget (SWEEPER_MAX_ATTEMPTS) is spent.
 * Time is injected by moving `dueAt` back into the past between sweeps.
 */
import type { ConnectionStore } from '../../../lambdas/broker/ports';
import { SERVICES, startBroker, type Broker } from '../support/broker';
import { connectionStore, dueIds, endLease, makeDueNow, mustGet, nowSeconds, probeProxy, proxyState, stopCallsFor } from './helpers';

const DUE_SHARDS = 4; // startBroker's DUE_SHARDS
const MAX_ATTEMPTS = 3;
/** remote.it client attempts per stop (DEFAULT_RETRY.maxAttempts): each sweep's one stop is three requests. */
const CLIENT_ATTEMPTS = 3;
/** stopping.ts backoff: floor 5 s, base 30 s doubling, full jitter. */
const BACKOFF_FLOOR_SECONDS = 5;
const backoffCeiling = (attempt: number) => 30 * 2 ** (attempt - 1);

let broker: Broker;
let store: ConnectionStore;

beforeAll(async () => {
  broker = await startBroker({ env: { SWEEPER_MAX_ATTEMPTS: String(MAX_ATTEMPTS) } });
  store = connectionStore(broker.tables, DUE_SHARDS).store;
});

afterEach(() => {
  broker.emulator.setFaults({});
});

afterAll(async () => {
  await broker?.stop();
});

async function openEndedConnection(): Promise<{ id: string; remoteConnectionId: string; port: number }> {
  const response = await broker.call({ routeKey: 'POST /connections', body: { serviceId: SERVICES.echo, ttlSeconds: 60 } });
  if (response.status !== 201) throw new Error(`open failed: ${response.status} ${JSON.stringify(response.body)}`);
  await endLease(store, response.body.id);
  return { id: response.body.id, remoteConnectionId: response.body.remoteConnectionId, port: response.body.proxy.port };
}

const failEveryStop = () => broker.emulator.setFaults({ errorRate: 1, onlyPaths: ['/device/connect/stop'] });

describe('sweeper handler', () => {
  describe('failing stops', () => {
    it('retries with growing backoff, then records stop_failed with the last error and leaves the due index when every stop fails', async () => {
      // Arrange
      const connection = await openEndedConnection();
      failEveryStop();

      // Act + Assert: attempts below the budget are retries, each due again after a backoff.
      for (let attempt = 1; attempt < MAX_ATTEMPTS; attempt += 1) {
        const sweptAt = nowSeconds();
        const summary = await broker.sweep();

        expect(summary).toMatchObject({ due: 1, retried: 1, swept: 0, stopFailed: 0, errors: 0 });
        const record = await mustGet(store, connection.id);
        expect(record).toMatchObject({ status: 'stopping', stopReason: 'lease_ended', stopAttempts: attempt });
        expect(record.failureReason).toMatch(/500/);
        expect(record.dueAt).toBeGreaterThanOrEqual(sweptAt + BACKOFF_FLOOR_SECONDS);
        expect(record.dueAt).toBeLessThanOrEqual(nowSeconds() + backoffCeiling(attempt));
        // Not due yet: a sweep now leaves it alone.
        expect(await broker.sweep()).toMatchObject({ due: 0, retried: 0 });
        expect(stopCallsFor(broker.emulator, connection.remoteConnectionId)).toBe(attempt * CLIENT_ATTEMPTS);
        await makeDueNow(store, connection.id);
      }
      const summary = await broker.sweep();

      // Assert: the budget is spent.
      expect(summary).toMatchObject({ due: 1, retried: 0, stopFailed: 1, swept: 0 });
      const record = await mustGet(store, connection.id);
      expect(record).toMatchObject({ status: 'stop_failed', stopReason: 'lease_ended', stopAttempts: MAX_ATTEMPTS });
      expect(record.failureReason).toMatch(/500/);
      expect(record.dueAt).toBeUndefined();
      expect(await dueIds(store)).not.toContain(connection.id);
      expect(stopCallsFor(broker.emulator, connection.remoteConnectionId)).toBe(MAX_ATTEMPTS * CLIENT_ATTEMPTS);
      // Nobody stopped the proxy: this is the leftover the StopFailed alarm is for.
      expect(proxyState(broker.emulator, connection.remoteConnectionId)).toEqual({ state: 'active', endReason: undefined });
      // Later sweeps never try again.
      expect(await broker.sweep()).toMatchObject({ due: 0 });
      expect(stopCallsFor(broker.emulator, connection.remoteConnectionId)).toBe(MAX_ATTEMPTS * CLIENT_ATTEMPTS);
    });

    it('stops the connection on a later sweep when remote.it recovers before the budget is spent', async () => {
      // Arrange: one failed attempt, then remote.it answers again.
      const connection = await openEndedConnection();
      failEveryStop();
      expect(await broker.sweep()).toMatchObject({ retried: 1 });
      broker.emulator.setFaults({});
      await makeDueNow(store, connection.id);

      // Act
      const summary = await broker.sweep();

      // Assert
      expect(summary).toMatchObject({ due: 1, swept: 1, retried: 0, stopFailed: 0 });
      const record = await mustGet(store, connection.id);
      expect(record).toMatchObject({ status: 'stopped', stopReason: 'lease_ended', stopAttempts: 2 });
      expect(record.failureReason).toBeUndefined();
      expect(record.dueAt).toBeUndefined();
      expect(proxyState(broker.emulator, connection.remoteConnectionId)).toEqual({ state: 'ended', endReason: 'stopped' });
      expect(await probeProxy(connection.port)).toBe('refused');
    });
  });
});
