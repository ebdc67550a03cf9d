/**
 * The quota's counter on DynamoDB Local: taken in one transaction with the record it is for, given back in
 * one transaction with the change that ends that record, exactly once however many writers race to end it.
 * And the open rate's per-minute item, counted in that same transaction.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { OpenRateExceededError, QuotaExceededError } from '../../../lambdas/broker/errors';
import { applyTransition, lifecycle } from '../../../lambdas/broker/lifecycle';
import type { ConnectionRecord } from '../../../lambdas/broker/model';
import { StaleRecordError, type NewConnectionRecord } from '../../../lambdas/broker/ports';
import { openRateKey, quotaCounterKey } from '../../../lambdas/store/codec';
import { createDynamoRecordStore } from '../../../lambdas/store/dynamo-store';
import { connectionRecord, uniqueOwner } from '../support/records';
import { NOW, NOW_S, SHARDS, useStoreTables } from './dynamo-store-support';

describe('DynamoConnectionStore quota', () => {
  const suite = useStoreTables();

  const counterOf = async (owner: string) =>
    (await suite.tables.documentClient.send(new GetCommand({ TableName: suite.tables.connections, Key: { id: quotaCounterKey(owner) }, ConsistentRead: true }))).Item;
  const rawItem = async (id: string) =>
    (await suite.tables.documentClient.send(new GetCommand({ TableName: suite.tables.connections, Key: { id }, ConsistentRead: true }))).Item;
  const fresh = (owner: string, overrides: Partial<ConnectionRecord> = {}): NewConnectionRecord => {
    const { version: _version, updatedAt: _updatedAt, ...record } = connectionRecord({ owner, status: 'pending', ...overrides });
    return record;
  };

  it('takes one slot per record up to maxActive, then refuses without writing the record', async () => {
    const owner = uniqueOwner();
    const kept = [fresh(owner), fresh(owner)];
    const refusedRecord = fresh(owner);
    for (const record of kept) await suite.store.create(record, { maxActive: 2, opensPerMinute: 1_000 });

    const refused = await suite.store.create(refusedRecord, { maxActive: 2, opensPerMinute: 1_000 }).catch((error: unknown) => error);

    expect(refused).toEqual(new QuotaExceededError(2));
    expect(await rawItem(refusedRecord.id)).toBeUndefined();
    expect(await counterOf(owner)).toEqual({ id: quotaCounterKey(owner), live: 2 });
    expect(await rawItem(kept[0]?.id ?? '')).toMatchObject({ quotaSlot: true, status: 'pending' });
  });

  it('holds exactly maxActive under 40 creates at once, each record holding a slot', async () => {
    const owner = uniqueOwner();
    const records = Array.from({ length: 40 }, () => fresh(owner));

    const results = await Promise.allSettled(records.map((record) => suite.store.create(record, { maxActive: 7, opensPerMinute: 1_000 })));

    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(7);
    expect(results.filter((result) => result.status === 'rejected').every((result) => (result as PromiseRejectedResult).reason instanceof QuotaExceededError)).toBe(true);
    expect((await counterOf(owner))?.live).toBe(7);
  });

  it('gives the slot back exactly once when five writers race to end the same record', async () => {
    const owner = uniqueOwner();
    const pending = await suite.store.create(fresh(owner, { remoteConnectionId: 'rc-race', expiresAt: NOW_S + 3_600 }), { maxActive: 3, opensPerMinute: 1_000 });
    const claimed = await applyTransition(suite.store, lifecycle.claimStop(pending, 'requested', NOW.getTime(), 60));
    expect(claimed.quotaSlot).toBe(true);

    const results = await Promise.allSettled([
      applyTransition(suite.store, lifecycle.stopConfirmed(claimed, 1, NOW.getTime())),
      applyTransition(suite.store, lifecycle.stopGone(claimed, 1, NOW.getTime(), null)),
      applyTransition(suite.store, lifecycle.stopGivenUp(claimed, 1, 'x')),
      applyTransition(suite.store, lifecycle.stopConfirmed(claimed, 1, NOW.getTime())),
      applyTransition(suite.store, lifecycle.stopGone(claimed, 1, NOW.getTime(), 'gone')),
    ]);

    const won = results.filter((result): result is PromiseFulfilledResult<ConnectionRecord> => result.status === 'fulfilled');
    expect(won).toHaveLength(1);
    expect(results.filter((result) => result.status === 'rejected').every((result) => (result as PromiseRejectedResult).reason instanceof StaleRecordError)).toBe(true);
    expect((await counterOf(owner))?.live).toBe(0);
    // The record as the winner's answer says, and as stored: ended, its slot gone.
    const stored = await suite.store.get(pending.id);
    expect(stored).toEqual(won[0]?.value);
    expect(await rawItem(pending.id)).not.toHaveProperty('quotaSlot');
  });

  it('gives nothing back when a record that holds no slot ends (one created before the counter existed)', async () => {
    const owner = uniqueOwner();
    await suite.store.create(fresh(owner), { maxActive: 5, opensPerMinute: 1_000 });
    const old = await suite.store.create(fresh(owner, { status: 'active' }));

    const stopped = await applyTransition(suite.store, lifecycle.override(old, NOW.getTime()));

    expect(stopped.status).toBe('stopped');
    expect((await counterOf(owner))?.live).toBe(1);
  });

  it('leaves the counter out of every index: the due work and the owner\'s listing never show it', async () => {
    const owner = uniqueOwner();
    await suite.store.create(fresh(owner, { dueAt: NOW_S - 5 }), { maxActive: 5, opensPerMinute: 1_000 });

    const listed = await suite.store.list({ owner, limit: 10 });
    const due: string[] = [];
    for await (const batch of suite.store.due(NOW_S, { pageSize: 100 })) due.push(...batch.items.map((record) => record.id));

    expect(listed.items.map((record) => record.id)).not.toContain(quotaCounterKey(owner));
    expect(due).not.toContain(quotaCounterKey(owner));
    expect(Object.keys((await counterOf(owner)) ?? {}).sort()).toEqual(['id', 'live']);
  });

  describe('the open rate (opensPerMinute)', () => {
    /** 12:00:40 on NOW's day: 20 s before the next clock minute. */
    const MINUTE_START = NOW_S - (NOW_S % 86_400) + 12 * 3_600;
    const clock = { ms: (MINUTE_START + 40) * 1000 };
    const storeWithClock = () =>
      createDynamoRecordStore({ client: suite.tables.documentClient, tableName: suite.tables.connections, dueShardCount: SHARDS, now: () => clock.ms });

    it('holds exactly opensPerMinute under 40 creates at once, each refusal saying when the minute ends, and counts afresh in the next minute', async () => {
      const owner = uniqueOwner();
      const store = storeWithClock();
      clock.ms = (MINUTE_START + 40) * 1000;

      const results = await Promise.allSettled(Array.from({ length: 40 }, () => store.create(fresh(owner), { maxActive: 100, opensPerMinute: 6 })));

      expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(6);
      const refusals = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected').map((result) => result.reason as unknown);
      expect(refusals).toHaveLength(34);
      for (const refusal of refusals) expect(refusal).toEqual(new OpenRateExceededError(6, 20));
      // Only the six hold slots: a refused create wrote nothing, neither the record nor the slot.
      expect((await counterOf(owner))?.live).toBe(6);
      expect(await rawItem(openRateKey(owner, MINUTE_START))).toEqual({ id: openRateKey(owner, MINUTE_START), opens: 6, expiresAt: MINUTE_START + 60 });

      clock.ms = (MINUTE_START + 60) * 1000;
      await expect(store.create(fresh(owner), { maxActive: 100, opensPerMinute: 6 })).resolves.toMatchObject({ quotaSlot: true });
      expect((await rawItem(openRateKey(owner, MINUTE_START + 60)))?.opens).toBe(1);
    });

    it('answers the quota, not the rate, when both are used up, and counts nothing for a refused create', async () => {
      const owner = uniqueOwner();
      const store = storeWithClock();
      clock.ms = (MINUTE_START + 10) * 1000;
      await store.create(fresh(owner), { maxActive: 1, opensPerMinute: 1 });

      await expect(store.create(fresh(owner), { maxActive: 1, opensPerMinute: 1 })).rejects.toEqual(new QuotaExceededError(1));
      await expect(store.create(fresh(owner), { maxActive: 2, opensPerMinute: 1 })).rejects.toEqual(new OpenRateExceededError(1, 50));
      expect((await rawItem(openRateKey(owner, MINUTE_START)))?.opens).toBe(1);
    });
  });
});
