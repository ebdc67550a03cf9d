import { GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { dueShardOf } from '../../../lambdas/store/codec';
import { connectionRecord, uniqueOwner } from '../support/records';
import { NOW_S, SHARDS, recordsOf, useStoreTables } from './dynamo-store-support';

describe('DynamoConnectionStore', () => {
  const suite = useStoreTables();

  const rawItem = async (id: string) =>
    (await suite.tables.documentClient.send(new GetCommand({ TableName: suite.tables.connections, Key: { id } }))).Item;

  describe('countLive', () => {
    it('counts pending, active and stopping records of the owner that have not expired', async () => {
      const owner = uniqueOwner();
      const counted = [
        connectionRecord({ owner, status: 'pending' }),
        connectionRecord({ owner, status: 'active' }),
        connectionRecord({ owner, status: 'stopping' }),
      ];
      const ignored = [
        connectionRecord({ owner, status: 'stopped' }),
        connectionRecord({ owner, status: 'failed' }),
        connectionRecord({ owner, status: 'stop_failed' }),
        connectionRecord({ owner, status: 'active', expiresAt: NOW_S - 1 }),
        connectionRecord({ owner: uniqueOwner(), status: 'active' }),
      ];
      await Promise.all([...counted, ...ignored].map((record) => suite.store.create(record)));

      await expect(suite.store.countLive(owner)).resolves.toBe(3);
    });

    it('returns 0 when the owner has no records', async () => {
      await expect(suite.store.countLive(uniqueOwner())).resolves.toBe(0);
    });

    /** What the sparse index holds for `owner`, and how many items a count of it reads. */
    const liveIndexOf = async (owner: string) => {
      const result = await suite.tables.documentClient.send(
        new QueryCommand({
          TableName: suite.tables.connections,
          IndexName: 'live-by-owner',
          KeyConditionExpression: 'liveOwner = :owner',
          ExpressionAttributeValues: { ':owner': owner },
        }),
      );
      return (result.Items ?? []).map((item) => item.id as string).sort();
    };

    it('indexes exactly the live records, so the count never reads the owner finished history', async () => {
      const owner = uniqueOwner();
      const live = [connectionRecord({ owner, status: 'pending' }), connectionRecord({ owner, status: 'active' })];
      const finished = recordsOf(owner, 30, { status: 'stopped', dueAt: undefined });
      await Promise.all([...live, ...finished].map((record) => suite.store.create(record)));

      expect(await liveIndexOf(owner)).toEqual(live.map((record) => record.id).sort());
      await expect(suite.store.countLive(owner)).resolves.toBe(2);
    });

    it('keeps the index in step with every status change: in while live, out once finished', async () => {
      const owner = uniqueOwner();
      const record = connectionRecord({ owner, status: 'pending', remoteConnectionId: undefined, proxy: undefined });
      await suite.store.create(record);

      const active = await suite.store.update(record.id, { status: ['pending'] }, { status: 'active', remoteConnectionId: 'rc-1' });
      const renewed = await suite.store.update(record.id, { status: ['active'] }, { leaseExpiresAt: active.leaseExpiresAt });
      const stopping = await suite.store.update(record.id, { status: ['active'] }, { status: 'stopping', stopReason: 'requested' });
      expect([active.status, renewed.status, stopping.status]).toEqual(['active', 'active', 'stopping']);
      expect(await liveIndexOf(owner)).toEqual([record.id]);
      expect(await rawItem(record.id)).toMatchObject({ liveOwner: owner });

      const stopped = await suite.store.update(record.id, { status: ['stopping'] }, { status: 'stopped', dueAt: null }, stopping);

      expect(stopped).not.toHaveProperty('liveOwner');
      expect(await rawItem(record.id)).not.toHaveProperty('liveOwner');
      expect(await liveIndexOf(owner)).toEqual([]);
      await expect(suite.store.countLive(owner)).resolves.toBe(0);
    });

    it('counts a record written before the index existed once its status next changes to a live one', async () => {
      const owner = uniqueOwner();
      const record = connectionRecord({ owner, status: 'active' });
      // As an older deployment wrote it: its index attributes but no liveOwner.
      const legacy = { ...record, createdDay: record.createdAt.slice(0, 10), dueShard: dueShardOf(record.id, SHARDS) };
      await suite.tables.documentClient.send(new PutCommand({ TableName: suite.tables.connections, Item: legacy }));
      await expect(suite.store.countLive(owner)).resolves.toBe(0);

      await suite.store.update(record.id, { status: ['active'] }, { status: 'stopping', stopReason: 'requested' });

      await expect(suite.store.countLive(owner)).resolves.toBe(1);
    });

    it('does not count a finished record that kept a liveOwner (left by code that did not maintain it)', async () => {
      const owner = uniqueOwner();
      const record = connectionRecord({ owner, status: 'stopped' });
      await suite.tables.documentClient.send(
        new PutCommand({ TableName: suite.tables.connections, Item: { ...record, createdDay: record.createdAt.slice(0, 10), liveOwner: owner } }),
      );

      expect(await liveIndexOf(owner)).toEqual([record.id]);
      await expect(suite.store.countLive(owner)).resolves.toBe(0);
    });
  });
});
