import { DynamoDBDocumentClient, PutCommand, QueryCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { OpenRateExceededError, QuotaExceededError } from '../../../lambdas/broker/errors';
import { ConnectionExistsError, StaleRecordError, type NewConnectionRecord } from '../../../lambdas/broker/ports';
import { encodeCursor } from '../../../lambdas/store/codec';
import { createDynamoConnectionStore, createDynamoRecordStore } from '../../../lambdas/store/dynamo-store';
import { InvalidCursorError, StoreUnavailableError } from '../../../lambdas/store/errors';
import { connectionRecord } from '../../fixtures/memory-store';

// DynamoDB Local accepts start keys real DynamoDB refuses (e.g. a sort key over 1024 bytes), so the
// mapping of DynamoDB's refusal is pinned here, on the SDK boundary.
const documents = mockClient(DynamoDBDocumentClient);
const OWNER = 'arn:aws:iam::123456789012:role/app';

function validationException(): Error {
  return Object.assign(new Error('The provided starting key is invalid'), { name: 'ValidationException' });
}

describe('DynamoConnectionStore', () => {
  const store = createDynamoConnectionStore({
    client: DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' })),
    tableName: 'connections',
    dueShardCount: 4,
  });

  beforeEach(() => {
    documents.reset();
  });

  describe('list', () => {
    it('answers InvalidCursorError when DynamoDB refuses the start key a caller\'s cursor decoded to', async () => {
      documents.on(QueryCommand).rejects(validationException());
      const cursor = encodeCursor({ index: 'by-owner', key: { owner: OWNER, createdAt: 'é'.repeat(520), id: '01ARZ3NDEKTSV4RRFFQ69G5FAV' } });

      await expect(store.list({ owner: OWNER, limit: 1, cursor })).rejects.toBeInstanceOf(InvalidCursorError);
      expect(documents).toHaveReceivedCommandWith(QueryCommand, { IndexName: 'by-owner', ScanIndexForward: false });
    });

    it('lets a ValidationException through when no cursor was given (a broker bug, not the caller\'s)', async () => {
      documents.on(QueryCommand).rejects(validationException());

      await expect(store.list({ owner: OWNER, limit: 1 })).rejects.toMatchObject({ name: 'ValidationException' });
    });
  });
});

/** DynamoDB's TransactionCanceledException with one reason per item, as the SDK raises it (items still in the wire format). */
function cancelled(...reasons: Array<{ Code: string; Item?: Record<string, unknown> }>): Error {
  return Object.assign(new Error(`Transaction cancelled, please refer cancellation reasons for specific reasons [${reasons.map((reason) => reason.Code).join(', ')}]`), {
    name: 'TransactionCanceledException',
    CancellationReasons: reasons,
  });
}

const NONE = { Code: 'None' };
const CONFLICT = { Code: 'TransactionConflict' };
const CHECK_FAILED = { Code: 'ConditionalCheckFailed' };

// DynamoDB Local runs transactions one at a time and never throttles one, so what DynamoDB answers under
// contention is pinned here, on the SDK boundary: the quota's and the record's conditions, conflicts, throttling.
describe('DynamoConnectionStore transactions (the quota)', () => {
  /** 2030-01-01T00:00:37Z: 23 s before the next clock minute. */
  const NOW_MS = Date.parse('2030-01-01T00:00:37.400Z');
  const MINUTE_START = Date.parse('2030-01-01T00:00:00.000Z') / 1000;
  const store = createDynamoRecordStore({
    client: DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' })),
    tableName: 'connections',
    dueShardCount: 4,
    now: () => NOW_MS,
  });
  const fresh = (): NewConnectionRecord => {
    const { version: _version, updatedAt: _updatedAt, quotaSlot: _slot, ...record } = connectionRecord({ owner: OWNER, status: 'pending' });
    return record;
  };
  const holding = () => connectionRecord({ owner: OWNER, status: 'stopping', quotaSlot: true, version: 4 });
  const stopped = { status: 'stopped', stoppedAt: '2030-01-01T00:10:00.000Z', dueAt: null } as const;

  beforeEach(() => {
    documents.reset();
  });

  describe('create under a quota', () => {
    it('takes the slot, counts the open and writes the record in one transaction: the counter below maxActive, the minute below opensPerMinute, then the record', async () => {
      documents.on(TransactWriteCommand).resolves({});
      const record = fresh();

      await expect(store.create(record, { maxActive: 3, opensPerMinute: 1_000 })).resolves.toMatchObject({ id: record.id, quotaSlot: true, version: 0 });

      expect(documents).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
      expect(documents).not.toHaveReceivedCommand(PutCommand);
      const items = documents.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems ?? [];
      expect(items[0]?.Update).toMatchObject({
        Key: { id: `quota#${OWNER}` },
        UpdateExpression: 'ADD #n :change',
        ConditionExpression: 'attribute_not_exists(#n) OR #n < :max',
        ExpressionAttributeNames: { '#n': 'live' },
        ExpressionAttributeValues: { ':change': 1, ':max': 3 },
      });
      expect(items[1]?.Update).toMatchObject({
        Key: { id: `opens#${OWNER}#${MINUTE_START}` },
        UpdateExpression: 'ADD #n :change SET #ttl = :ttl',
        ConditionExpression: 'attribute_not_exists(#n) OR #n < :max',
        ExpressionAttributeNames: { '#n': 'opens', '#ttl': 'expiresAt' },
        // The minute's item expires (TTL) when the minute ends.
        ExpressionAttributeValues: { ':change': 1, ':ttl': MINUTE_START + 60, ':max': 1_000 },
      });
      expect(items[2]?.Put).toMatchObject({ Item: { id: record.id, quotaSlot: true }, ConditionExpression: 'attribute_not_exists(#id)' });
      expect(items).toHaveLength(3);
    });

    it('answers OpenRateExceededError (429, Retry-After until the next minute) when the minute\'s condition fails', async () => {
      documents.on(TransactWriteCommand).rejects(cancelled(NONE, CHECK_FAILED, NONE));

      const refused = await store.create(fresh(), { maxActive: 3, opensPerMinute: 60 }).catch((error: unknown) => error);

      expect(refused).toEqual(new OpenRateExceededError(60, 23));
      expect(refused).toMatchObject({ code: 'open_rate_exceeded', retryAfterSeconds: 23 });
    });

    it('answers QuotaExceededError when both the slot and the minute are refused: waiting for the next minute would not help', async () => {
      documents.on(TransactWriteCommand).rejects(cancelled(CHECK_FAILED, CHECK_FAILED, NONE));

      await expect(store.create(fresh(), { maxActive: 3, opensPerMinute: 60 })).rejects.toEqual(new QuotaExceededError(3));
    });

    it('answers QuotaExceededError (429) when the counter\'s condition fails', async () => {
      documents.on(TransactWriteCommand).rejects(cancelled(CHECK_FAILED, NONE, NONE));

      await expect(store.create(fresh(), { maxActive: 3, opensPerMinute: 1_000 })).rejects.toEqual(new QuotaExceededError(3));
    });

    it('answers ConnectionExistsError when the record\'s condition fails (the id is taken), as a Put without a quota does', async () => {
      documents.on(TransactWriteCommand).rejects(cancelled(NONE, NONE, CHECK_FAILED));

      await expect(store.create(fresh(), { maxActive: 3, opensPerMinute: 1_000 })).rejects.toBeInstanceOf(ConnectionExistsError);
    });

    it('tries again while another transaction holds the counter, and answers from the attempt that decides', async () => {
      documents.on(TransactWriteCommand).rejectsOnce(cancelled(CONFLICT, NONE, NONE)).rejectsOnce(cancelled(CONFLICT, NONE, NONE)).rejectsOnce(cancelled(CHECK_FAILED, NONE, NONE));

      await expect(store.create(fresh(), { maxActive: 1, opensPerMinute: 1_000 })).rejects.toBeInstanceOf(QuotaExceededError);
      expect(documents).toHaveReceivedCommandTimes(TransactWriteCommand, 3);
    });

    it('answers StoreUnavailableError (503, Retry-After) when the conflicts outlast its attempts', async () => {
      documents.on(TransactWriteCommand).rejects(cancelled(CONFLICT, NONE, NONE));

      await expect(store.create(fresh(), { maxActive: 1, opensPerMinute: 1_000 })).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(documents).toHaveReceivedCommandTimes(TransactWriteCommand, 8);
    });

    it.each([
      ['a throttled item', cancelled({ Code: 'ThrottlingError' }, NONE, NONE)],
      ['an item over its throughput', cancelled(NONE, { Code: 'ProvisionedThroughputExceeded' }, NONE)],
      ['any other reason', cancelled({ Code: 'ValidationError' }, NONE, NONE)],
      ['throttling past the SDK\'s retries', Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' })],
    ])('answers StoreUnavailableError (503) for %s, never a quota refusal', async (_case, error) => {
      documents.on(TransactWriteCommand).rejects(error);

      await expect(store.create(fresh(), { maxActive: 1, opensPerMinute: 1_000 })).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(documents).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
    });
  });

  describe('a change into a terminal status', () => {
    it('gives the slot back in one transaction with the change, conditioned on the record still holding it, and answers the record changed', async () => {
      documents.on(TransactWriteCommand).resolves({});
      const from = holding();

      const written = await store.update(from.id, { status: ['stopping'], version: 4 }, stopped, from);

      expect(written).toEqual({ ...from, ...stopped, dueAt: undefined, quotaSlot: undefined, version: 5, updatedAt: expect.any(String) });
      expect(Object.keys(written)).not.toContain('quotaSlot');
      expect(Object.keys(written)).not.toContain('dueAt');
      const items = documents.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems ?? [];
      expect(items[0]?.Update).toMatchObject({ Key: { id: from.id }, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' });
      expect(items[0]?.Update?.ConditionExpression).toContain('attribute_exists(#quotaSlot)');
      expect(items[0]?.Update?.UpdateExpression).toMatch(/REMOVE .*#quotaSlot/);
      expect(items[1]?.Update).toMatchObject({ Key: { id: `quota#${OWNER}` }, UpdateExpression: 'ADD #n :change', ExpressionAttributeNames: { '#n': 'live' }, ExpressionAttributeValues: { ':change': -1 } });
      expect(items[1]?.Update?.ConditionExpression).toBeUndefined();
    });

    it('answers StaleRecordError with the record the condition found when another writer ended it first', async () => {
      const from = holding();
      const found = { ...from, status: 'stopped', version: 5 };
      documents.on(TransactWriteCommand).rejects(cancelled({ ...CHECK_FAILED, Item: marshall(found) }, NONE));

      const error = await store.update(from.id, { status: ['stopping'], version: 4 }, stopped, from).catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(StaleRecordError);
      expect((error as StaleRecordError).current).toEqual(found);
    });

    it('answers StoreUnavailableError when the transaction is throttled', async () => {
      documents.on(TransactWriteCommand).rejects(cancelled({ Code: 'ThrottlingError' }, NONE, NONE));
      const from = holding();

      await expect(store.update(from.id, { status: ['stopping'], version: 4 }, stopped, from)).rejects.toBeInstanceOf(StoreUnavailableError);
    });

    it('is one conditional UpdateItem, giving nothing back, for a record that holds no slot', async () => {
      const from = connectionRecord({ owner: OWNER, status: 'stopping', version: 4 });
      documents.on(UpdateCommand).resolves({ Attributes: { ...from, ...stopped, dueAt: undefined, version: 5 } });

      await expect(store.update(from.id, { status: ['stopping'], version: 4 }, stopped, from)).resolves.toMatchObject({ status: 'stopped' });
      expect(documents).not.toHaveReceivedCommand(TransactWriteCommand);
    });

    it('is refused before anything is sent when it does not name the record it was decided on', async () => {
      const from = holding();

      await expect(store.update(from.id, { status: ['stopping'] }, stopped)).rejects.toBeInstanceOf(TypeError);
      expect(documents.calls()).toHaveLength(0);
    });
  });

  it('tries a single-item write again while a transaction holds its item (TransactionConflictException), then answers as usual', async () => {
    const from = connectionRecord({ owner: OWNER, status: 'active', version: 2 });
    const conflict = Object.assign(new Error('Transaction is ongoing for the item'), { name: 'TransactionConflictException' });
    documents.on(UpdateCommand).rejectsOnce(conflict).resolves({ Attributes: { ...from, status: 'stopping', version: 3 } });

    await expect(store.update(from.id, { status: ['active'], version: 2 }, { status: 'stopping' })).resolves.toMatchObject({ status: 'stopping' });
    expect(documents).toHaveReceivedCommandTimes(UpdateCommand, 2);
  });
});
