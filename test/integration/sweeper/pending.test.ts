/**
 * Settling `pending` records left by API invocations that died mid-connect: the sweeper handler marks one
 * without a remote.it id `failed` (nothing to stop), and stops the real proxy of one whose id is known.
 * The records are written as the API writes them before remote.it answers, with their creation in the past.
 */
import { ABANDONED_PENDING_REASON } from '../../../lambdas/broker/sweeper';
import type { ConnectionRecord } from '../../../lambdas/broker/model';
import type { ConnectionStore } from '../../../lambdas/broker/ports';
import { connectionRecord } from '../support/records';
import { ROLES, SERVICES, startBroker, type Broker } from '../support/broker';
import { connectionStore, dueIds, mustGet, nowSeconds, probeProxy, proxyState, remoteitClient, stopCallsFor } from './helpers';

const DUE_SHARDS = 4; // startBroker's DUE_SHARDS
const GRACE_SECONDS = 120; // PENDING_GRACE_SECONDS' default

let broker: Broker;
let store: ConnectionStore;

beforeAll(async () => {
  broker = await startBroker();
  store = connectionStore(broker.tables, DUE_SHARDS).store;
});

afterAll(async () => {
  await broker?.stop();
});

/** A pending record as the API writes it before calling remote.it, `ageSeconds` old. */
function pendingRecord(ageSeconds: number, dueAt: number): ConnectionRecord {
  const createdSeconds = nowSeconds() - ageSeconds;
  // Without remote.it's answer there is no connection id and no proxy yet.
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- dropped on purpose
  const { remoteConnectionId, proxy, ...record } = connectionRecord({
    owner: ROLES.app,
    serviceId: SERVICES.echo,
    status: 'pending',
    createdAt: new Date(createdSeconds * 1000).toISOString(),
    expiresAt: createdSeconds + 86_400,
    dueAt,
    version: 0,
  });
  return record;
}

describe('sweeper handler', () => {
  describe('pending settlement', () => {
    it('fails a pending record without a remote.it id and stops one with an id when both are older than the grace', async () => {
      // Arrange
      const withoutId = pendingRecord(GRACE_SECONDS + 60, nowSeconds() - 60);
      const remote = await remoteitClient(broker.emulator.url, broker.secret).connect(SERVICES.echo, '255.255.255.255');
      const withId: ConnectionRecord = { ...pendingRecord(GRACE_SECONDS + 30, nowSeconds() - 30), remoteConnectionId: remote.remoteConnectionId };
      await Promise.all([store.create(withoutId), store.create(withId)]);
      expect(await probeProxy(remote.proxy.port)).toBe('echoed');

      // Act
      const summary = await broker.sweep();

      // Assert
      expect(summary).toMatchObject({ due: 2, settledPending: 2, swept: 1, errors: 0 });
      const failed = await mustGet(store, withoutId.id);
      expect(failed).toMatchObject({ status: 'failed', stopReason: 'abandoned', failureReason: ABANDONED_PENDING_REASON });
      expect(failed.dueAt).toBeUndefined();
      const stopped = await mustGet(store, withId.id);
      expect(stopped).toMatchObject({ status: 'stopped', stopReason: 'abandoned', stopAttempts: 1 });
      expect(stopped.dueAt).toBeUndefined();
      expect(stopCallsFor(broker.emulator, remote.remoteConnectionId)).toBe(1);
      expect(broker.emulator.calls().byPath['/device/connect/stop']).toBe(1);
      expect(proxyState(broker.emulator, remote.remoteConnectionId)).toEqual({ state: 'ended', endReason: 'stopped' });
      expect(await probeProxy(remote.proxy.port)).toBe('refused');
      expect(await dueIds(store)).toEqual([]);
    });

    it('leaves a pending record alone when it is younger than the grace, even if the index says it is due', async () => {
      // Arrange: an invocation may still be waiting for remote.it (dueAt early, e.g. written by a skewed clock).
      const young = pendingRecord(10, nowSeconds() - 1);
      await store.create(young);
      broker.emulator.resetCalls();

      // Act
      const summary = await broker.sweep();

      // Assert
      expect(summary).toMatchObject({ due: 1, skipped: 1, settledPending: 0, errors: 0 });
      expect(await mustGet(store, young.id)).toEqual(young);
      expect(broker.emulator.calls().total).toBe(0);
    });
  });
});
