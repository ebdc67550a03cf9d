/**
 * The sweeper handler stops connections whose lease ended, and only those: connections opened through the
 * real API (real proxies at the emulator), time injected by moving their lease end into the past.
 */
import type { ConnectionStore } from '../../../lambdas/broker/ports';
import { SERVICES, startBroker, type Broker } from '../support/broker';
import { brokerTarget, expectInvariant } from '../support/invariant';
import { connectionStore, dueIds, endLease, mustGet, probeProxy, proxyState, stopCallsFor } from './helpers';

const DUE_SHARDS = 4; // startBroker's DUE_SHARDS

let broker: Broker;
let store: ConnectionStore;

beforeAll(async () => {
  broker = await startBroker();
  store = connectionStore(broker.tables, DUE_SHARDS).store;
});

afterAll(async () => {
  await broker?.stop();
});

// The broker's promise after every test: nothing live unrecorded, nothing recorded left running (support/invariant.ts).
afterEach(async () => {
  broker.emulator.setFaults({});
  await expectInvariant(brokerTarget(broker));
});

async function openConnection(): Promise<{ id: string; remoteConnectionId: string; port: number }> {
  const response = await broker.call({ routeKey: 'POST /connections', body: { serviceId: SERVICES.echo, ttlSeconds: 60 } });
  if (response.status !== 201) throw new Error(`open failed: ${response.status} ${JSON.stringify(response.body)}`);
  return { id: response.body.id, remoteConnectionId: response.body.remoteConnectionId, port: response.body.proxy.port };
}

describe('sweeper handler', () => {
  describe('lease end', () => {
    it('stops every connection whose lease ended and touches no other when some leases are still running', async () => {
      // Arrange: four live proxies; two leases end, two run on.
      const opened = [await openConnection(), await openConnection(), await openConnection(), await openConnection()];
      const [endedA, endedB, runningA, runningB] = opened as [typeof opened[0], typeof opened[0], typeof opened[0], typeof opened[0]];
      await endLease(store, endedA.id, 30);
      await endLease(store, endedB.id, 2);
      const runningBefore = await Promise.all([runningA, runningB].map((connection) => mustGet(store, connection.id)));
      for (const connection of opened) expect(await probeProxy(connection.port)).toBe('echoed');

      // Act
      const summary = await broker.sweep();

      // Assert: the ended ones are stopped, in the table, at the emulator and on the wire.
      expect(summary).toMatchObject({ due: 2, swept: 2, expired: 0, retried: 0, stopFailed: 0, errors: 0, budgetExhausted: false });
      expect(summary.lagSeconds).toBeGreaterThanOrEqual(30);
      for (const connection of [endedA, endedB]) {
        const record = await mustGet(store, connection.id);
        expect(record).toMatchObject({ status: 'stopped', stopReason: 'lease_ended', stopAttempts: 1 });
        expect(record.dueAt).toBeUndefined();
        expect(Date.parse(record.stoppedAt ?? '')).toBeGreaterThan(Date.now() - 30_000);
        expect(stopCallsFor(broker.emulator, connection.remoteConnectionId)).toBe(1);
        expect(proxyState(broker.emulator, connection.remoteConnectionId)).toEqual({ state: 'ended', endReason: 'stopped' });
        expect(await probeProxy(connection.port)).toBe('refused');
      }
      const view = await broker.call({ routeKey: 'GET /connections/{id}', pathParameters: { id: endedA.id } });
      expect(view.body).toMatchObject({ status: 'stopped', stopReason: 'lease_ended' });

      // ...and the running ones are exactly as they were: same version, no stop call, proxy still serving.
      for (const [index, connection] of [runningA, runningB].entries()) {
        expect(await mustGet(store, connection.id)).toEqual(runningBefore[index]);
        expect(stopCallsFor(broker.emulator, connection.remoteConnectionId)).toBe(0);
        expect(proxyState(broker.emulator, connection.remoteConnectionId)).toEqual({ state: 'active', endReason: undefined });
        expect(await probeProxy(connection.port)).toBe('echoed');
      }
      expect((await dueIds(store)).sort()).toEqual([runningA.id, runningB.id].sort());
    });

    it('does nothing and calls remote.it for nothing when no lease has ended', async () => {
      // Arrange: whatever earlier tests left is not due (leases of 60 s still running, or terminal).
      const running = await openConnection();
      const before = await mustGet(store, running.id);
      broker.emulator.resetCalls();

      // Act
      const summary = await broker.sweep();

      // Assert
      expect(summary).toMatchObject({ scanned: 0, due: 0, swept: 0, backlog: 0, lagSeconds: 0 });
      expect(broker.emulator.calls().total).toBe(0);
      expect(await mustGet(store, running.id)).toEqual(before);
    });
  });
});
