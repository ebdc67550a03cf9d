import type { ConnectionRecord, ConnectionStatus, StopReason } from '../../../lambdas/broker/model';
import { RemoteitFailure } from '../../../lambdas/broker/ports';
import {
  backoffSeconds,
  CannotStopError,
  claimForStop,
  stopClaimed,
  type StopContext,
} from '../../../lambdas/broker/stopping';
import { credentialsRefused, gone, notFound, refused, throttled, timedOut, upstream } from '../../../lambdas/remoteit/failures';
import { FakeRemoteit } from '../../fixtures/fake-remoteit';
import { connectionRecord, MemoryConnectionStore } from '../../fixtures/memory-store';
import { recordingSink } from './use-case-harness';

const NOW_MS = Date.parse('2030-01-01T01:00:00.000Z');
const NOW_S = NOW_MS / 1000;

function setup(overrides: Partial<StopContext> = {}) {
  const clock = { ms: NOW_MS };
  const now = () => clock.ms;
  // One clock: the store stamps updatedAt with it, as the DynamoDB store does with the domain's.
  const store = new MemoryConnectionStore({ now });
  const remoteit = new FakeRemoteit();
  const { sink, events } = recordingSink();
  const ctx: StopContext = {
    store,
    remoteit,
    now,
    random: () => 0.5,
    maxAttempts: 8,
    claimSeconds: 60,
    events: sink,
    ...overrides,
  };
  return { store, remoteit, clock, events, ctx };
}

/** A claimed record, as claimForStop leaves it. */
function claimedRecord(overrides: Partial<ConnectionRecord> = {}): ConnectionRecord {
  return connectionRecord({ status: 'stopping', stopReason: 'lease_ended', dueAt: NOW_S + 60, version: 1, ...overrides });
}

describe('stopping', () => {
  describe('backoffSeconds', () => {
    it('doubles the ceiling with each attempt when the jitter draw is at its top', () => {
      // Arrange
      const top = () => 0.999999;

      // Act
      const delays = [1, 2, 3, 4, 5].map((attempt) => backoffSeconds(attempt, top));

      // Assert
      expect(delays).toEqual([30, 60, 120, 240, 480]);
    });

    it('caps the delay at maxSeconds when the attempt count is large', () => {
      // Arrange
      const top = () => 0.999999;

      // Act
      const delays = [6, 12, 50, 2000].map((attempt) => backoffSeconds(attempt, top));

      // Assert
      expect(delays).toEqual([900, 900, 900, 900]);
    });

    it('draws uniformly below the ceiling and never under the floor when jitter varies', () => {
      // Arrange
      const draws = [...Array.from({ length: 100 }, (_, index) => index / 100), 0.999999];

      // Act
      const delays = draws.map((draw) => backoffSeconds(4, () => draw));

      // Assert
      expect(Math.min(...delays)).toBe(5);
      expect(Math.max(...delays)).toBe(240);
      expect(new Set(delays).size).toBeGreaterThan(50);
      expect(delays.every((delay) => Number.isInteger(delay))).toBe(true);
    });

    it('keeps the floor when the jitter draw is zero', () => {
      // Act
      const delay = backoffSeconds(1, () => 0);

      // Assert
      expect(delay).toBe(5);
    });

    it('uses the given base, cap and floor when options are passed', () => {
      // Act
      const delays = [1, 2, 3].map((attempt) =>
        backoffSeconds(attempt, () => 0.999999, { baseSeconds: 10, maxSeconds: 25, minSeconds: 12 }),
      );
      const floored = backoffSeconds(1, () => 0.1, { baseSeconds: 10, maxSeconds: 25, minSeconds: 12 });

      // Assert
      expect(delays).toEqual([12, 20, 25]);
      expect(floored).toBe(12);
    });
  });

  describe('claimForStop', () => {
    it('moves an active record to stopping, due when the claim lapses, when the version is current', async () => {
      // Arrange
      const { store, ctx } = setup();
      const record = connectionRecord({ version: 3 });
      store.seed(record);

      // Act
      const claimed = await claimForStop(ctx, record, 'requested');

      // Assert
      expect(claimed).toMatchObject({ status: 'stopping', stopReason: 'requested', dueAt: NOW_S + 60, version: 4 });
      expect(claimed?.updatedAt).toBe(new Date(NOW_MS).toISOString());
      expect(store.updates[0]?.expected).toEqual({ status: ['active'], version: 3 });
      expect(store.peek(record.id)).toEqual(claimed);
    });

    it('claims a stopping record again when its retry or claim is due', async () => {
      // Arrange
      const { store, ctx } = setup();
      const record = connectionRecord({ status: 'stopping', stopReason: 'requested', dueAt: NOW_S - 1, stopAttempts: 2 });
      store.seed(record);

      // Act
      const claimed = await claimForStop(ctx, record, 'requested');

      // Assert
      expect(claimed).toMatchObject({ status: 'stopping', dueAt: NOW_S + 60, stopAttempts: 2, version: 1 });
    });

    it('resolves undefined without writing when a stopping record is still claimed by someone else', async () => {
      // Arrange
      const { store, ctx } = setup();
      const record = connectionRecord({ status: 'stopping', dueAt: NOW_S + 30 });
      store.seed(record);

      // Act
      const claimed = await claimForStop(ctx, record, 'requested');

      // Assert
      expect(claimed).toBeUndefined();
      expect(store.updates).toHaveLength(0);
    });

    it('claims a pending record when remote.it already gave it a connection id', async () => {
      // Arrange
      const { store, ctx } = setup();
      const record = connectionRecord({ status: 'pending', remoteConnectionId: 'rc-known' });
      store.seed(record);

      // Act
      const claimed = await claimForStop(ctx, record, 'abandoned');

      // Assert
      expect(claimed).toMatchObject({ status: 'stopping', stopReason: 'abandoned' });
    });

    it('resolves undefined without writing when a pending record has no remote.it connection id', async () => {
      // Arrange
      const { store, ctx } = setup();
      const record = connectionRecord({ status: 'pending', remoteConnectionId: undefined });
      store.seed(record);

      // Act
      const claimed = await claimForStop(ctx, record, 'abandoned');

      // Assert
      expect(claimed).toBeUndefined();
      expect(store.updates).toHaveLength(0);
    });

    it.each<[ConnectionStatus, StopReason]>([
      ['stopped', 'requested'],
      ['failed', 'requested'],
      ['expired', 'requested'],
      ['stop_failed', 'lease_ended'],
    ])(
      'resolves undefined without writing when the record is already %s (claim for %s)',
      async (status, reason) => {
        // Arrange
        const { store, ctx } = setup();
        const record = connectionRecord({ status, dueAt: undefined });
        store.seed(record);

        // Act
        const claimed = await claimForStop(ctx, record, reason);

        // Assert
        expect(claimed).toBeUndefined();
        expect(store.updates).toHaveLength(0);
      },
    );

    it('resolves undefined when another writer changed the record after it was read', async () => {
      // Arrange
      const { store, ctx } = setup();
      const record = connectionRecord();
      store.seed(record);
      await store.update(record.id, { status: ['active'] }, { leaseExpiresAt: '2030-01-01T02:00:00.000Z' });

      // Act
      const claimed = await claimForStop(ctx, record, 'lease_ended');

      // Assert
      expect(claimed).toBeUndefined();
      expect(store.peek(record.id)).toMatchObject({ status: 'active', version: 1 });
    });

    it('rethrows a store failure that is not a lost race', async () => {
      // Arrange
      const { store, ctx } = setup();
      const record = connectionRecord();
      store.seed(record);
      store.failNextUpdate(new Error('throttled by the table'));

      // Act
      const claiming = claimForStop(ctx, record, 'lease_ended');

      // Assert
      await expect(claiming).rejects.toThrow('throttled by the table');
    });
  });

  describe('stopClaimed', () => {
    it('stops the connection at remote.it and records stopped when remote.it confirms', async () => {
      // Arrange
      const { store, remoteit, events, ctx } = setup();
      const claimed = claimedRecord({ failureReason: 'remote.it answered HTTP 503', stopAttempts: 1 });
      store.seed(claimed);

      // Act
      const result = await stopClaimed(ctx, claimed);

      // Assert
      expect(remoteit.stopCalls).toEqual([{ serviceId: claimed.serviceId, remoteConnectionId: claimed.remoteConnectionId }]);
      expect(result?.outcome).toBe('stopped');
      expect(result?.failure).toBeUndefined();
      const stored = store.peek(claimed.id);
      expect(stored).toMatchObject({ status: 'stopped', stopReason: 'lease_ended', stopAttempts: 2, version: 2 });
      expect(stored?.stoppedAt).toBe(new Date(NOW_MS).toISOString());
      expect(stored?.dueAt).toBeUndefined();
      expect(stored?.failureReason).toBeUndefined();
      expect(store.updates[0]?.expected).toEqual({ status: ['stopping'], version: 1 });
      // The outcome is handed back as recorded; a confirmed stop is no failure to report.
      expect(result?.record).toEqual(stored);
      expect(events.all).toEqual([]);
    });

    it('records expired without calling remote.it when the remote.it expiry has passed', async () => {
      // Arrange
      const { store, remoteit, events, ctx } = setup();
      const claimed = claimedRecord({ expiresAt: NOW_S - 10 });
      store.seed(claimed);

      // Act
      const result = await stopClaimed(ctx, claimed);

      // Assert
      expect(remoteit.stopCalls).toHaveLength(0);
      expect(result?.outcome).toBe('expired');
      expect(result?.failure).toBeUndefined();
      expect(store.peek(claimed.id)).toMatchObject({ status: 'expired', stopReason: 'expired', stopAttempts: 0 });
      expect(store.peek(claimed.id)?.dueAt).toBeUndefined();
      expect(store.peek(claimed.id)?.failureReason).toBeUndefined();
      expect(result?.record).toEqual(store.peek(claimed.id));
      expect(events.all).toEqual([]);
    });

    it.each([
      ['says the connection is gone', () => gone('connection not found'), 'gone'],
      ['does not know the service', () => notFound('[0861] service not found'), 'not_found'],
    ])('records expired with remote.it answer kept when remote.it %s', async (_case, failureOf, kind) => {
      // Arrange
      const { store, remoteit, events, ctx } = setup();
      const claimed = claimedRecord();
      store.seed(claimed);
      const failure = failureOf();
      remoteit.queueStop(failure);

      // Act
      const result = await stopClaimed(ctx, claimed);

      // Assert
      expect(result).toMatchObject({ outcome: 'expired', failure });
      expect(result?.failure?.kind).toBe(kind);
      expect(store.peek(claimed.id)).toMatchObject({
        status: 'expired',
        stopReason: 'expired',
        failureReason: failure.message,
        stopAttempts: 1,
      });
      expect(store.peek(claimed.id)?.dueAt).toBeUndefined();
      expect(events.remoteitError).toHaveBeenCalledWith(kind, 'stop');
      expect(events.stopRetried).not.toHaveBeenCalled();
      expect(events.stopFailed).not.toHaveBeenCalled();
    });

    it.each([
      ['times out', () => timedOut(12_000), 'timed_out'],
      ['answers 5xx', () => upstream(503), 'unavailable'],
      ['rejects the credentials', () => credentialsRefused('missing api token'), 'credentials_refused'],
    ])('schedules a retry with backoff when remote.it %s', async (_case, failureOf, kind) => {
      // Arrange
      const { store, remoteit, events, ctx } = setup({ random: () => 0.5 });
      const claimed = claimedRecord({ stopAttempts: 2 });
      store.seed(claimed);
      const failure = failureOf();
      remoteit.queueStop(failure);

      // Act
      const result = await stopClaimed(ctx, claimed);

      // Assert: third failure, ceiling 120 s, half of it.
      expect(result).toMatchObject({ outcome: 'retry', failure });
      expect(result?.failure?.kind).toBe(kind);
      expect(store.peek(claimed.id)).toMatchObject({
        status: 'stopping',
        stopAttempts: 3,
        failureReason: failure.message,
        dueAt: NOW_S + 60,
      });
      expect(events.stopRetried).toHaveBeenCalledWith(store.peek(claimed.id), failure);
      expect(events.remoteitError).toHaveBeenCalledWith(kind, 'stop');
    });

    it('waits at least what Retry-After asked when remote.it throttles', async () => {
      // Arrange
      const { store, remoteit, ctx } = setup({ random: () => 0 });
      const claimed = claimedRecord();
      store.seed(claimed);
      remoteit.queueStop(throttled(120));

      // Act
      await stopClaimed(ctx, claimed);

      // Assert
      expect(store.peek(claimed.id)?.dueAt).toBe(NOW_S + 120);
    });

    it('records stop_failed with the last error kept when the retry budget is spent', async () => {
      // Arrange
      const { store, remoteit, events, ctx } = setup({ maxAttempts: 3 });
      const claimed = claimedRecord({ stopAttempts: 2, failureReason: 'remote.it answered HTTP 500' });
      store.seed(claimed);
      const last = timedOut(12_000);
      remoteit.queueStop(last);

      // Act
      const result = await stopClaimed(ctx, claimed);

      // Assert
      expect(result).toMatchObject({ outcome: 'stop_failed', failure: last });
      expect(result?.failure?.kind).toBe('timed_out');
      expect(store.peek(claimed.id)).toMatchObject({ status: 'stop_failed', stopAttempts: 3, failureReason: last.message });
      expect(store.peek(claimed.id)?.dueAt).toBeUndefined();
      expect(events.stopFailed).toHaveBeenCalledWith(store.peek(claimed.id), last);
      expect(events.stopRetried).not.toHaveBeenCalled();
    });

    it('spends exactly the retry budget across repeated claims when every stop fails', async () => {
      // Arrange
      const { store, remoteit, clock, ctx } = setup({ maxAttempts: 4 });
      const record = connectionRecord();
      store.seed(record);
      remoteit.queueStop(upstream(500), upstream(502), upstream(503), upstream(504));
      const outcomes: string[] = [];

      // Act
      for (let round = 0; round < 6; round += 1) {
        const current = store.peek(record.id);
        const claimed = current && (await claimForStop(ctx, current, 'lease_ended'));
        if (claimed) outcomes.push((await stopClaimed(ctx, claimed))?.outcome ?? 'lost');
        clock.ms += 3_600_000;
      }

      // Assert
      expect(outcomes).toEqual(['retry', 'retry', 'retry', 'stop_failed']);
      expect(remoteit.stopCalls).toHaveLength(4);
      expect(store.peek(record.id)).toMatchObject({
        status: 'stop_failed',
        stopAttempts: 4,
        failureReason: 'remote.it answered HTTP 504',
      });
    });

    it('resolves undefined when another writer won the record while remote.it was called', async () => {
      // Arrange
      const { store, remoteit, events, ctx } = setup();
      const claimed = claimedRecord();
      store.seed(claimed);
      remoteit.onStop = async () => {
        await store.update(claimed.id, { status: ['stopping'] }, { status: 'stopped' }, claimed);
      };

      // Act
      const result = await stopClaimed(ctx, claimed);

      // Assert
      expect(result).toBeUndefined();
      expect(events.all).toEqual([]);
      expect(store.peek(claimed.id)?.version).toBe(2);
    });

    it('reports the remote.it failure but no retry when another writer won the record while the stop failed', async () => {
      // Arrange
      const { store, remoteit, events, ctx } = setup();
      const claimed = claimedRecord();
      store.seed(claimed);
      remoteit.queueStop(async () => {
        await store.update(claimed.id, { status: ['stopping'] }, { status: 'stopped' }, claimed);
        throw upstream(503);
      });

      // Act
      const result = await stopClaimed(ctx, claimed);

      // Assert
      expect(result).toBeUndefined();
      expect(events.remoteitError).toHaveBeenCalledWith('unavailable', 'stop');
      expect(events.stopRetried).not.toHaveBeenCalled();
      expect(store.peek(claimed.id)).toMatchObject({ status: 'stopped', version: 2 });
    });

    it('schedules a retry when remote.it refuses the stop for a reason that does not say the connection is gone', async () => {
      // Arrange
      const { store, remoteit, events, ctx } = setup();
      const claimed = claimedRecord();
      store.seed(claimed);
      remoteit.queueStop(refused('too many requests'));

      // Act
      const result = await stopClaimed(ctx, claimed);

      // Assert
      expect(result?.outcome).toBe('retry');
      expect(result?.failure?.kind).toBe('refused');
      expect(store.peek(claimed.id)).toMatchObject({ status: 'stopping', stopAttempts: 1, failureReason: expect.stringContaining('too many requests') });
      expect(events.remoteitError).toHaveBeenCalledWith('refused', 'stop');
    });

    it('counts a failure of the broker\'s own (credentials unavailable) as an attempt, naming only its kind', async () => {
      // Arrange
      const { store, remoteit, events, ctx } = setup();
      const claimed = claimedRecord({ stopAttempts: ctx.maxAttempts - 1 });
      store.seed(claimed);
      const cause = Object.assign(new Error('secret value s3cr3t leaked into a message'), { name: 'RemoteitSecretInvalidError' });
      remoteit.queueStop(cause);

      // Act
      const result = await stopClaimed(ctx, claimed);

      // Assert
      expect(result?.outcome).toBe('stop_failed');
      expect(result?.failure).toBeInstanceOf(RemoteitFailure);
      expect(result?.failure).toMatchObject({ kind: 'unavailable', message: 'the stop could not be sent: RemoteitSecretInvalidError', cause });
      expect(store.peek(claimed.id)?.failureReason).toBe('the stop could not be sent: RemoteitSecretInvalidError');
      expect(events.remoteitError).toHaveBeenCalledWith('unavailable', 'stop');
      expect(events.stopFailed).toHaveBeenCalledWith(store.peek(claimed.id), result?.failure);
    });

    it('caps a long Retry-After at the longest backoff so the lease still ends', async () => {
      // Arrange
      const { store, remoteit, ctx } = setup();
      const claimed = claimedRecord();
      store.seed(claimed);
      remoteit.queueStop(throttled(86_400));

      // Act
      await stopClaimed(ctx, claimed);

      // Assert
      expect(store.peek(claimed.id)?.dueAt).toBeLessThanOrEqual(Math.floor(ctx.now() / 1000) + 900);
    });

    it('throws CannotStopError when the record is not a claim', async () => {
      // Arrange
      const { remoteit, ctx } = setup();

      // Act
      const stopping = stopClaimed(ctx, connectionRecord({ status: 'active' }));

      // Assert
      await expect(stopping).rejects.toThrow(CannotStopError);
      expect(remoteit.stopCalls).toHaveLength(0);
    });

    it('throws CannotStopError when the claim has no remote.it connection id', async () => {
      // Arrange
      const { ctx } = setup();

      // Act
      const stopping = stopClaimed(ctx, claimedRecord({ remoteConnectionId: undefined }));

      // Assert
      await expect(stopping).rejects.toMatchObject({ code: 'cannot_stop' });
    });
  });
});
