/**
 * `changedBy`, the "who" of the audit events: set by a renew and by a DELETE's stop claim, removed by a claim
 * for any other reason, kept by everything else.
 */
import { lifecycle } from '../../../lambdas/broker/lifecycle';
import { RemoteitFailure } from '../../../lambdas/broker/ports';
import { claimForStop } from '../../../lambdas/broker/stopping';
import { sweep } from '../../../lambdas/broker/sweeper';
import { buildUpdate, toItem, toRecord } from '../../../lambdas/store/codec';
import { NOW_MS, NOW_S, adminCaller, appCaller, appConnection, createHarness } from './use-case-harness';

const CLAIM_SECONDS = 60;
const EARLIER_RENEWER = 'arn:aws:sts::123456789012:assumed-role/app/earlier-session';
const http503 = () => new RemoteitFailure('unavailable', 'remote.it answered HTTP 503');
const budget = { remainingMs: () => 60_000, safetyMarginMs: 10_000 };

describe('changedBy', () => {
  describe('the transitions', () => {
    it('extend_lease names the renewer', () => {
      const transition = lifecycle.extendLease(appConnection(), NOW_MS + 900_000, appCaller.arn);

      expect(transition.changes.changedBy).toBe(appCaller.arn);
    });

    it('a claim for `requested` names the caller; without one (a retry of it) it leaves the name alone', () => {
      const record = appConnection();

      expect(lifecycle.claimStop(record, 'requested', NOW_MS, CLAIM_SECONDS, adminCaller.arn).changes.changedBy).toBe(adminCaller.arn);
      expect(lifecycle.claimActive(record.id, 'requested', NOW_MS, CLAIM_SECONDS, undefined, adminCaller.arn).changes.changedBy).toBe(adminCaller.arn);
      expect(lifecycle.claimStop(record, 'requested', NOW_MS, CLAIM_SECONDS).changes.changedBy).toBeUndefined();
    });

    it.each(['lease_ended', 'abandoned', 'expired'] as const)('a claim for `%s` removes the name, whoever is given', (reason) => {
      const record = appConnection({ changedBy: EARLIER_RENEWER });

      expect(lifecycle.claimStop(record, reason, NOW_MS, CLAIM_SECONDS, appCaller.arn).changes.changedBy).toBeNull();
      expect(lifecycle.claimActive(record.id, reason, NOW_MS, CLAIM_SECONDS).changes.changedBy).toBeNull();
    });

    it('the outcome of a stop leaves it as the claim wrote it', () => {
      const claimed = appConnection({ status: 'stopping', changedBy: adminCaller.arn });

      for (const transition of [
        lifecycle.stopConfirmed(claimed, 1, NOW_MS),
        lifecycle.stopGone(claimed, 1, NOW_MS, null),
        lifecycle.stopRetry(claimed, 1, 'x', NOW_S + 30),
        lifecycle.stopGivenUp(claimed, 8, 'x'),
      ]) {
        expect(transition.changes).not.toHaveProperty('changedBy');
      }
    });
  });

  describe('the store', () => {
    it('keeps it in the item and back, and removes it when a change says null', () => {
      const record = appConnection({ changedBy: appCaller.arn });

      expect(toRecord(toItem(record, 8)).changedBy).toBe(appCaller.arn);
      const update = buildUpdate(record.id, { status: ['active'] }, { status: 'stopping', changedBy: null }, { shardCount: 8, updatedAt: new Date(NOW_MS).toISOString() });
      expect(update.UpdateExpression).toMatch(/REMOVE .*#changedBy/);
      expect(update.ExpressionAttributeNames['#changedBy']).toBe('changedBy');
    });
  });

  describe('the use cases', () => {
    it('renew records the caller who renewed, an admin included', async () => {
      const { service, store } = createHarness();
      const record = appConnection({ changedBy: EARLIER_RENEWER });
      store.seed(record);

      const byOwner = await service.renew(appCaller, record.id, 1800);
      const byAdmin = await service.renew(adminCaller, record.id, 1200);

      expect(byOwner.changedBy).toBe(appCaller.arn);
      expect(byAdmin.changedBy).toBe(adminCaller.arn);
    });

    it("DELETE's claim names the caller, and the stopped record still does", async () => {
      const { service, store } = createHarness();
      const record = appConnection({ changedBy: EARLIER_RENEWER });
      store.seed(record);

      const result = await service.stop(adminCaller, record.id);

      const claim = store.updates[0];
      expect(claim?.result).toMatchObject({ status: 'stopping', stopReason: 'requested', changedBy: adminCaller.arn });
      expect(result.connection).toMatchObject({ status: 'stopped', stopReason: 'requested', changedBy: adminCaller.arn });
    });

    it('DELETE of a stop_failed connection (claimed after a read) names the caller', async () => {
      const { service, store } = createHarness();
      const record = appConnection({ status: 'stop_failed', dueAt: undefined, stopAttempts: 8, stopReason: 'lease_ended' });
      store.seed(record);

      const result = await service.stop(appCaller, record.id);

      expect(result.connection).toMatchObject({ status: 'stopped', stopReason: 'requested', changedBy: appCaller.arn });
    });

    it('a DELETE that retries a lease end (due, stopping) keeps that reason, and so names nobody', async () => {
      const { service, store } = createHarness();
      const record = appConnection({ status: 'stopping', stopReason: 'lease_ended', stopAttempts: 2, dueAt: NOW_S - 5, changedBy: EARLIER_RENEWER });
      store.seed(record);

      const result = await service.stop(appCaller, record.id);

      expect(result.connection).toMatchObject({ status: 'stopped', stopReason: 'lease_ended' });
      expect(result.connection.changedBy).toBeUndefined();
    });

    it("the sweeper's lease end removes an earlier renewer's name", async () => {
      const { store, stopContext } = createHarness();
      const record = appConnection({ leaseExpiresAt: new Date(NOW_MS - 5_000).toISOString(), dueAt: NOW_S - 5, changedBy: EARLIER_RENEWER });
      store.seed(record);

      const summary = await sweep({ stopContext, pendingGraceSeconds: 120 }, budget);

      expect(summary.swept).toBe(1);
      expect(store.peek(record.id)).toMatchObject({ status: 'stopped', stopReason: 'lease_ended' });
      expect(store.peek(record.id)?.changedBy).toBeUndefined();
    });

    it("the sweeper's retry of a DELETE's stop keeps the caller's name", async () => {
      const { service, store, remoteit, stopContext, clock } = createHarness();
      const record = appConnection();
      store.seed(record);
      remoteit.queueStop(http503());
      await service.stop(adminCaller, record.id);
      clock.ms = (store.peek(record.id)?.dueAt ?? NOW_S) * 1000 + 1_000;

      const summary = await sweep({ stopContext, pendingGraceSeconds: 120 }, budget);

      expect(summary.swept).toBe(1);
      expect(store.peek(record.id)).toMatchObject({ status: 'stopped', stopReason: 'requested', changedBy: adminCaller.arn });
    });

    it('a lease end claimed by a timer (claimForStop, lease_ended) removes the name', async () => {
      const { store, stopContext } = createHarness();
      const record = appConnection({ changedBy: EARLIER_RENEWER });
      store.seed(record);

      const claimed = await claimForStop(stopContext, record, 'lease_ended');

      expect(claimed).toMatchObject({ status: 'stopping', stopReason: 'lease_ended' });
      expect(claimed?.changedBy).toBeUndefined();
    });
  });
});
