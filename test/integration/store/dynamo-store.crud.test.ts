import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { ConnectionExistsError, StaleRecordError } from '../../../lambdas/broker/ports';
import { dueShardOf } from '../../../lambdas/store/codec';
import { connectionRecord, uniqueOwner } from '../support/records';
import { NOW, NOW_S, SHARDS, useStoreTables } from './dynamo-store-support';

describe('DynamoConnectionStore', () => {
  const suite = useStoreTables();

  const rawItem = async (id: string) =>
    (await suite.tables.documentClient.send(new GetCommand({ TableName: suite.tables.connections, Key: { id } }))).Item;

  describe('create', () => {
    it('stores a record that get returns unchanged, at version 0 and updated when created, when it is new', async () => {
      const record = connectionRecord({ dueAt: NOW_S + 900, failureReason: undefined });

      const created = await suite.store.create(record);
      const read = await suite.store.get(record.id);

      const { failureReason: _omitted, ...expected } = record;
      expect(created).toEqual({ ...expected, version: 0, updatedAt: record.createdAt });
      expect(read).toEqual(created);
    });

    it('indexes the record for listing and the sweeper without returning those attributes when dueAt is set', async () => {
      const record = connectionRecord({ dueAt: NOW_S + 900 });

      await suite.store.create(record);

      expect(await rawItem(record.id)).toMatchObject({
        createdDay: record.createdAt.slice(0, 10),
        dueShard: dueShardOf(record.id, SHARDS),
      });
      const read = await suite.store.get(record.id);
      expect(read).not.toHaveProperty('dueShard');
      expect(read).not.toHaveProperty('createdDay');
      expect(read).not.toHaveProperty('liveOwner');
    });

    it('leaves the record out of the due index when it has no dueAt', async () => {
      const record = connectionRecord({ status: 'stopped' });

      await suite.store.create(record);

      expect(await rawItem(record.id)).not.toHaveProperty('dueShard');
    });

    it('throws ConnectionExistsError and keeps the first record when the id is taken', async () => {
      const first = connectionRecord();
      await suite.store.create(first);

      const attempt = suite.store.create({ ...first, owner: uniqueOwner() });

      await expect(attempt).rejects.toBeInstanceOf(ConnectionExistsError);
      expect((await suite.store.get(first.id))?.owner).toBe(first.owner);
    });
  });

  describe('get', () => {
    it('returns undefined when the id is unknown', async () => {
      await expect(suite.store.get('01ARZ3NDEKTSV4RRFFQ69G5FAV')).resolves.toBeUndefined();
    });
  });

  describe('update', () => {
    it('applies the changes, bumps the version and stamps updatedAt when the status is expected', async () => {
      const record = connectionRecord({ status: 'pending', createdAt: new Date(NOW.getTime() - 5_000).toISOString() });
      await suite.store.create(record);

      const updated = await suite.store.update(record.id, { status: ['pending'] }, { status: 'active', dueAt: NOW_S + 900 });

      expect(updated).toEqual({ ...record, status: 'active', dueAt: NOW_S + 900, version: 1, updatedAt: NOW.toISOString() });
      await expect(suite.store.get(record.id)).resolves.toEqual(updated);
    });

    it('removes attributes given as null', async () => {
      const record = connectionRecord({ failureReason: 'remote.it timed out', stopReason: 'requested' });
      await suite.store.create(record);

      const updated = await suite.store.update(record.id, { status: ['active'] }, { failureReason: null, stopReason: null });

      expect(updated).not.toHaveProperty('failureReason');
      expect(updated).not.toHaveProperty('stopReason');
      expect(await rawItem(record.id)).not.toHaveProperty('failureReason');
    });

    it('moves the record onto its due shard when dueAt is set and off the index when dueAt is null', async () => {
      const record = connectionRecord({ status: 'pending' });
      await suite.store.create(record);

      const active = await suite.store.update(record.id, { status: ['pending'] }, { status: 'active', dueAt: NOW_S - 1 });
      const indexed = await rawItem(record.id);
      await suite.store.update(record.id, { status: ['active'] }, { status: 'stopped', dueAt: null }, active);
      const removed = await rawItem(record.id);

      expect(indexed).toMatchObject({ dueAt: NOW_S - 1, dueShard: dueShardOf(record.id, SHARDS) });
      expect(removed).not.toHaveProperty('dueAt');
      expect(removed).not.toHaveProperty('dueShard');
    });

    it('throws StaleRecordError and changes nothing when the status is not expected', async () => {
      const record = connectionRecord({ status: 'stopped' });
      await suite.store.create(record);

      const attempt = suite.store.update(record.id, { status: ['active', 'stopping'] }, { status: 'stopping' });

      await expect(attempt).rejects.toBeInstanceOf(StaleRecordError);
      await expect(suite.store.get(record.id)).resolves.toMatchObject({ status: 'stopped', version: 0 });
    });

    it('throws StaleRecordError when the version is not the expected one', async () => {
      const record = connectionRecord();
      await suite.store.create(record);
      await suite.store.update(record.id, { status: ['active'], version: 0 }, { leaseExpiresAt: record.leaseExpiresAt });

      const attempt = suite.store.update(record.id, { status: ['active'], version: 0 }, { status: 'stopping' });

      await expect(attempt).rejects.toMatchObject({ name: 'StaleRecordError', code: 'stale_record', id: record.id });
      await expect(suite.store.get(record.id)).resolves.toMatchObject({ status: 'active', version: 1 });
    });

    it('throws StaleRecordError with the cause and creates nothing when the record is missing', async () => {
      const id = connectionRecord().id;

      const attempt = suite.store.update(id, { status: ['active'] }, { status: 'stopping' });

      await expect(attempt).rejects.toMatchObject({ name: 'StaleRecordError', cause: expect.objectContaining({ name: 'ConditionalCheckFailedException' }) });
      await expect(attempt).rejects.toHaveProperty('current', undefined);
      await expect(suite.store.get(id)).resolves.toBeUndefined();
    });

    it('reports the record it found, as get returns it, when the condition fails', async () => {
      const record = connectionRecord({ status: 'stopped', dueAt: undefined });
      await suite.store.create(record);

      const error: unknown = await suite.store.update(record.id, { status: ['active'] }, { status: 'stopping' }).catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(StaleRecordError);
      expect((error as StaleRecordError).current).toEqual(await suite.store.get(record.id));
    });

    it('applies an update conditioned on the owner and on not being past expiresAt only when both hold', async () => {
      const owner = uniqueOwner();
      const record = connectionRecord({ owner, expiresAt: NOW_S + 60 });
      await suite.store.create(record);
      const claim = { status: 'stopping' as const, stopReason: 'requested' as const };

      await expect(suite.store.update(record.id, { status: ['active'], owner: uniqueOwner() }, claim)).rejects.toMatchObject({
        current: { owner, status: 'active' },
      });
      await expect(suite.store.update(record.id, { status: ['active'], unexpiredAt: NOW_S + 60 }, claim)).rejects.toBeInstanceOf(StaleRecordError);
      await expect(suite.store.update(record.id, { status: ['active'], owner, unexpiredAt: NOW_S + 59 }, claim)).resolves.toMatchObject({
        status: 'stopping',
      });
    });

    it('lets exactly one of two concurrent claims win when both expect the same version', async () => {
      const record = connectionRecord({ dueAt: NOW_S - 10 });
      await suite.store.create(record);
      const claim = { status: ['active'] as const, version: 0 };

      const outcomes = await Promise.allSettled([
        suite.store.update(record.id, claim, { status: 'stopping', failureReason: 'sweeper-a' }),
        suite.store.update(record.id, claim, { status: 'stopping', failureReason: 'sweeper-b' }),
      ]);

      const won = outcomes.filter((outcome) => outcome.status === 'fulfilled');
      const lost = outcomes.filter((outcome) => outcome.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      expect(lost[0]?.status === 'rejected' && lost[0].reason).toBeInstanceOf(StaleRecordError);
      const final = await suite.store.get(record.id);
      expect(final?.version).toBe(1);
      expect(won[0]?.status === 'fulfilled' && won[0].value.failureReason).toBe(final?.failureReason);
    });
  });
});
