/**
 * The sweeper handler keeps to its Lambda time budget (remaining time minus SWEEPER_SAFETY_MARGIN_MS):
 * without time for one more item it claims nothing new and leaves the work to the next run.
 */
import type { ConnectionStore } from '../../../lambdas/broker/ports';
import { SERVICES, startBroker, type Broker } from '../support/broker';
import { connectionStore, dueIds, endLease, mustGet, probeProxy, proxyState, stopCallsFor } from './helpers';

const DUE_SHARDS = 4; // startBroker's DUE_SHARDS
const SAFETY_MARGIN_MS = 10_000; // SWEEPER_SAFETY_MARGIN_MS' default

let broker: Broker;
let store: ConnectionStore;

beforeAll(async () => {
  broker = await startBroker();
  store = connectionStore(broker.tables, DUE_SHARDS).store;
});

// Settles what a failed earlier test left due, so each test counts only its own connections.
beforeEach(async () => {
  await broker.sweep();
});

afterAll(async () => {
  await broker?.stop();
});

interface Opened {
  id: string;
  remoteConnectionId: string;
  port: number;
}

/** `count` connections opened through the API, their leases ended `secondsAgo` ago. */
async function openEnded(count: number, secondsAgo = 20): Promise<Opened[]> {
  const opened: Opened[] = [];
  for (let index = 0; index < count; index += 1) {
    const response = await broker.call({ routeKey: 'POST /connections', body: { serviceId: SERVICES.echo, ttlSeconds: 60 } });
    if (response.status !== 201) throw new Error(`open failed: ${response.status} ${JSON.stringify(response.body)}`);
    await endLease(store, response.body.id, secondsAgo);
    opened.push({ id: response.body.id, remoteConnectionId: response.body.remoteConnectionId, port: response.body.proxy.port });
  }
  return opened;
}

async function expectUntouched(connections: Opened[]): Promise<void> {
  for (const connection of connections) {
    expect(await mustGet(store, connection.id)).toMatchObject({ status: 'active', version: 2 });
    expect(stopCallsFor(broker.emulator, connection.remoteConnectionId)).toBe(0);
    expect(proxyState(broker.emulator, connection.remoteConnectionId)).toEqual({ state: 'active', endReason: undefined });
  }
}

async function expectStopped(connections: Opened[]): Promise<void> {
  for (const connection of connections) {
    expect(await mustGet(store, connection.id)).toMatchObject({ status: 'stopped', stopReason: 'lease_ended' });
    expect(stopCallsFor(broker.emulator, connection.remoteConnectionId)).toBe(1);
    expect(await probeProxy(connection.port)).toBe('refused');
  }
}

describe('sweeper handler', () => {
  describe('time budget', () => {
    it('claims nothing but reports the backlog and lag it leaves when the invocation starts short of time, and the next run finishes', async () => {
      // Arrange
      const connections = await openEnded(3);

      // Act
      const starved = await broker.sweep({ getRemainingTimeInMillis: () => SAFETY_MARGIN_MS - 1_000 });

      // Assert: nothing claimed or called, the work is still due, and the summary (so the alarms) shows it.
      expect(starved).toMatchObject({ budgetExhausted: true, backlog: connections.length, swept: 0, expired: 0, retried: 0, errors: 0 });
      expect(starved.lagSeconds).toBeGreaterThanOrEqual(20);
      await expectUntouched(connections);
      expect((await dueIds(store)).sort()).toEqual(connections.map((connection) => connection.id).sort());

      // Act: the next run has time.
      const next = await broker.sweep();

      // Assert
      expect(next).toMatchObject({ budgetExhausted: false, due: connections.length, swept: connections.length, backlog: 0 });
      expect(next.lagSeconds).toBeGreaterThanOrEqual(20);
      await expectStopped(connections);
    });

    it('stops claiming and leaves what it read to the next run when the time runs out during the run', async () => {
      // Arrange: time enough to start, then (after the first look at the clock) below the margin.
      const connections = await openEnded(3);
      let looks = 0;
      const runningOut = () => (++looks === 1 ? 60_000 : SAFETY_MARGIN_MS - 1_000);

      // Act
      const cut = await broker.sweep({ getRemainingTimeInMillis: runningOut });

      // Assert
      expect(cut).toMatchObject({ budgetExhausted: true, due: connections.length, backlog: connections.length, swept: 0, errors: 0 });
      expect(looks).toBeGreaterThan(1);
      await expectUntouched(connections);

      // Act: the next run has time.
      const next = await broker.sweep();

      // Assert
      expect(next).toMatchObject({ budgetExhausted: false, swept: connections.length, backlog: 0 });
      await expectStopped(connections);
      for (const connection of connections) {
        expect(proxyState(broker.emulator, connection.remoteConnectionId)).toEqual({ state: 'ended', endReason: 'stopped' });
      }
    });
  });
});
