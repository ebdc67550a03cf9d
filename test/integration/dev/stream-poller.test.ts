/**
 * dev/stream-poller.ts against DynamoDB Local's own stream (the run's shared DynamoDB Local, tables of this
 * file's own made from the broker's definitions, so the connections table's stream is NEW_AND_OLD_IMAGES as
 * in AWS): what it delivers and in which shape, FilterCriteria, batch item failures, retries and their end,
 * and stop. Items are written with plain DynamoDB calls, so the test controls every change the stream shows.
 */
import { DescribeTableCommand, PutItemCommand, UpdateItemCommand, type AttributeValue as DynamoAttributeValue } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type _Record as StreamsRecord,
  type Shard,
} from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { patternFilter, StreamBatchDroppedError, startStreamPoller, timerArmFilter, type StreamHandler, type StreamPoller, type StreamPollerOptions } from '../../../dev/stream-poller';
import { createTestDynamoClient, createTestTables, dynamoEndpoint, type TestTables } from '../support/dynamo';
import { gate, sleep, waitUntil } from '../support/wait';

const REGION = 'eu-west-1';
const waitFor = (condition: () => boolean, timeoutMs = 5_000) => waitUntil(condition, timeoutMs);

let tables: TestTables;
const dynamo = createTestDynamoClient();
const streams = new DynamoDBStreamsClient({ endpoint: dynamoEndpoint() });
let streamArn: string;
const pollers: StreamPoller[] = [];
let serial = 0;
/** Ids unique to each test, so a test's assertions never see another's records. */
const newId = (label: string) => `${label}-${(serial += 1)}-${Date.now()}`;

beforeAll(async () => {
  tables = await createTestTables('stream', { streams: true });
  const { Table } = await dynamo.send(new DescribeTableCommand({ TableName: tables.connections }));
  streamArn = Table?.LatestStreamArn ?? '';
  if (!streamArn) throw new Error(`${tables.connections} has no stream`);
});

afterEach(async () => {
  await Promise.all(pollers.splice(0).map((poller) => poller.stop()));
});

afterAll(async () => {
  await tables.drop();
  dynamo.destroy();
  streams.destroy();
});

async function put(id: string, attributes: Record<string, DynamoAttributeValue> = {}): Promise<void> {
  await dynamo.send(new PutItemCommand({ TableName: tables.connections, Item: { id: { S: id }, status: { S: 'pending' }, ...attributes } }));
}

async function setStatus(id: string, status: string, extra: Record<string, DynamoAttributeValue> = {}): Promise<void> {
  const names = Object.keys(extra);
  await dynamo.send(
    new UpdateItemCommand({
      TableName: tables.connections,
      Key: { id: { S: id } },
      UpdateExpression: `SET #status = :status${names.map((_name, index) => `, #a${index} = :a${index}`).join('')}`,
      ExpressionAttributeNames: { '#status': 'status', ...Object.fromEntries(names.map((name, index) => [`#a${index}`, name])) },
      ExpressionAttributeValues: { ':status': { S: status }, ...Object.fromEntries(names.map((name, index) => [`:a${index}`, extra[name] as DynamoAttributeValue])) },
    }),
  );
}

/** Records every invocation's batch; `respond` decides each answer (default: all succeeded). */
function recordingHandler(respond: (event: DynamoDBStreamEvent, call: number) => Promise<DynamoDBBatchResponse | void> | DynamoDBBatchResponse | void = () => undefined) {
  const batches: DynamoDBRecord[][] = [];
  const contexts: Array<{ functionName: string; remaining: number }> = [];
  const handler: StreamHandler = async (event, context) => {
    batches.push(event.Records);
    contexts.push({ functionName: context.functionName, remaining: context.getRemainingTimeInMillis() });
    return respond(event, batches.length);
  };
  const idsOf = (batch: DynamoDBRecord[]) => batch.map((record) => record.dynamodb?.Keys?.id?.S);
  return { handler, batches, contexts, idsOf, seen: () => batches.flat() };
}

async function start(options: Partial<StreamPollerOptions> & Pick<StreamPollerOptions, 'handler'>): Promise<StreamPoller> {
  const poller = await startStreamPoller({
    client: streams,
    streamArn,
    region: REGION,
    functionName: 'test-timer-arm',
    pollIntervalMs: 50,
    retryDelayMs: 20,
    ...options,
  });
  pollers.push(poller);
  return poller;
}

const sequence = (record: DynamoDBRecord | undefined) => record?.dynamodb?.SequenceNumber ?? '';
const idOf = (record: DynamoDBRecord | undefined) => record?.dynamodb?.Keys?.id?.S;

describe('stream poller on DynamoDB Local', () => {
  it("delivers the changes made after it started, in Lambda's event shape, in order", async () => {
    const before = newId('before');
    await put(before);
    const recorder = recordingHandler();
    await start({ handler: recorder.handler, timeoutMs: 30_000 });
    const id = newId('shape');
    const startedAt = Math.floor(Date.now() / 1000);

    await put(id, { bytes: { B: new Uint8Array([1, 2, 255]) }, count: { N: '7' }, tags: { SS: ['a', 'b'] }, nested: { M: { on: { BOOL: true } } } });
    await setStatus(id, 'active');
    await waitFor(() => recorder.seen().filter((record) => idOf(record) === id).length === 2);

    const records = recorder.seen();
    expect(records.map(idOf)).not.toContain(before);
    const [inserted, modified] = records.filter((record) => idOf(record) === id);
    expect(inserted).toMatchObject({
      eventName: 'INSERT',
      eventVersion: '1.1',
      eventSource: 'aws:dynamodb',
      awsRegion: REGION,
      eventSourceARN: streamArn,
      dynamodb: {
        Keys: { id: { S: id } },
        NewImage: { id: { S: id }, status: { S: 'pending' }, bytes: { B: Buffer.from([1, 2, 255]).toString('base64') }, count: { N: '7' }, nested: { M: { on: { BOOL: true } } } },
        StreamViewType: 'NEW_AND_OLD_IMAGES',
      },
    });
    expect(inserted?.eventID).toEqual(expect.any(String));
    expect(inserted?.dynamodb?.OldImage).toBeUndefined();
    expect(inserted?.dynamodb?.NewImage?.tags?.SS).toEqual(['a', 'b']);
    expect(inserted?.dynamodb?.SizeBytes).toBeGreaterThan(0);
    const created = inserted?.dynamodb?.ApproximateCreationDateTime;
    expect(typeof created).toBe('number');
    // Epoch seconds; DynamoDB Local rounds it down to the minute (AWS: to the second).
    expect(created).toBeGreaterThanOrEqual(startedAt - 60);
    expect(created).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));
    expect(modified).toMatchObject({
      eventName: 'MODIFY',
      dynamodb: { NewImage: { status: { S: 'active' } }, OldImage: { status: { S: 'pending' } } },
    });
    expect(BigInt(sequence(modified))).toBeGreaterThan(BigInt(sequence(inserted)));
    expect(recorder.contexts[0]).toMatchObject({ functionName: 'test-timer-arm' });
    expect(recorder.contexts[0]?.remaining).toBeGreaterThan(29_000);
  });

  it("delivers only what timer-arm's filter keeps: changes that leave a record active", async () => {
    const recorder = recordingHandler();
    await start({ handler: recorder.handler, filter: timerArmFilter });
    const activated = newId('activated');
    const insertedActive = newId('inserted-active');
    const stopped = newId('stopped');

    await put(activated);
    await setStatus(activated, 'active');
    await setStatus(activated, 'active', { leaseExpiresAt: { S: '2030-01-01T00:00:00.000Z' } });
    await put(insertedActive, { status: { S: 'active' } });
    await put(stopped);
    await setStatus(stopped, 'stopping');
    await setStatus(stopped, 'stopped');
    // A last change the filter keeps: once it is delivered, every change before it has been read.
    const last = newId('last');
    await put(last);
    await setStatus(last, 'active');
    await waitFor(() => recorder.seen().some((record) => idOf(record) === last));

    const delivered = recorder.seen().map((record) => `${idOf(record)} ${record.eventName}`);
    expect(delivered).toEqual([`${activated} MODIFY`, `${activated} MODIFY`, `${last} MODIFY`]);
    expect(recorder.seen().every((record) => record.dynamodb?.NewImage?.status?.S === 'active')).toBe(true);
  });

  it('retries from the first failed record when the handler reports batch item failures, and not the records before it', async () => {
    const held = gate();
    const ids = { gate: newId('gate'), a: newId('a'), b: newId('b'), c: newId('c') };
    let failedB = false;
    const recorder = recordingHandler(async (event) => {
      if (event.Records.some((record) => idOf(record) === ids.gate)) await held.wait;
      const b = event.Records.find((record) => idOf(record) === ids.b);
      if (b && !failedB) {
        failedB = true;
        return { batchItemFailures: [{ itemIdentifier: sequence(b) }] };
      }
      return { batchItemFailures: [] };
    });
    await start({ handler: recorder.handler });

    // The first batch holds the gate record while a, b and c are written: they come in one batch after it.
    await put(ids.gate);
    await waitFor(() => recorder.batches.length === 1);
    await put(ids.a);
    await put(ids.b);
    await put(ids.c);
    held.open();
    await waitFor(() => recorder.batches.length >= 3);
    await sleep(300);

    expect(recorder.batches.map(recorder.idsOf)).toEqual([[ids.gate], [ids.a, ids.b, ids.c], [ids.b, ids.c]]);
  });

  it('retries a batch whole when the handler throws', async () => {
    const id = newId('throws');
    const recorder = recordingHandler((_event, call) => {
      if (call === 1) throw new Error('the function crashed');
    });
    await start({ handler: recorder.handler });

    await put(id);
    await waitFor(() => recorder.batches.length >= 2);
    await sleep(300);

    expect(recorder.batches.map(recorder.idsOf)).toEqual([[id], [id]]);
  });

  it('fails the batch whole when an item identifier names no record of it, as Lambda does', async () => {
    const id = newId('bad-identifier');
    const recorder = recordingHandler((_event, call) => (call === 1 ? { batchItemFailures: [{ itemIdentifier: 'not-a-sequence-number' }] } : undefined));
    await start({ handler: recorder.handler });

    await put(id);
    await waitFor(() => recorder.batches.length >= 2);

    expect(recorder.batches.map(recorder.idsOf)).toEqual([[id], [id]]);
  });

  it('drops a batch after retryAttempts retries, reports it, and goes on with the next records', async () => {
    const poison = newId('poison');
    const next = newId('next');
    const errors: unknown[] = [];
    const recorder = recordingHandler(async (event) => ({
      batchItemFailures: event.Records.filter((record) => idOf(record) === poison).map((record) => ({ itemIdentifier: sequence(record) })),
    }));
    await start({ handler: recorder.handler, retryAttempts: 2, onError: (error) => errors.push(error) });

    await put(poison);
    await waitFor(() => errors.length === 1);
    await put(next);
    await waitFor(() => recorder.seen().some((record) => idOf(record) === next));

    expect(recorder.batches.map(recorder.idsOf)).toEqual([[poison], [poison], [poison], [next]]);
    expect(errors[0]).toBeInstanceOf(StreamBatchDroppedError);
    expect(errors[0]).toMatchObject({ sequenceNumbers: [expect.stringMatching(/^\d+$/)] });
  });

  it('waits in stop() for the batch in flight, and invokes nothing after', async () => {
    const held = gate();
    let finished = false;
    const recorder = recordingHandler(async () => {
      await held.wait;
      finished = true;
    });
    const poller = await start({ handler: recorder.handler });
    await put(newId('in-flight'));
    await waitFor(() => recorder.batches.length === 1);

    let stopped = false;
    const stopping = poller.stop().then(() => {
      stopped = true;
    });
    await sleep(200);
    expect(stopped).toBe(false);
    held.open();
    await stopping;
    await put(newId('after-stop'));
    await sleep(300);

    expect(finished).toBe(true);
    expect(recorder.batches).toHaveLength(1);
  });
});

describe('timerArmFilter', () => {
  const record = (eventName: DynamoDBRecord['eventName'], status?: string): DynamoDBRecord => ({
    eventName,
    dynamodb: status === undefined ? {} : { NewImage: { status: { S: status } } },
  });

  it.each([
    ['MODIFY', 'active', true],
    ['MODIFY', 'stopping', false],
    ['INSERT', 'active', false],
    ['REMOVE', undefined, false],
    ['MODIFY', undefined, false],
  ] as const)('%s with a new image %s: %s', (eventName, status, kept) => {
    expect(timerArmFilter(record(eventName, status))).toBe(kept);
  });

  it('refuses a pattern rule it does not apply (anything but exact values), naming where', () => {
    expect(() => patternFilter({ dynamodb: { NewImage: { status: { S: [{ prefix: 'act' }] as unknown as string[] } } } })).toThrow(
      'dynamodb.NewImage.status.S: only exact values',
    );
  });
});

/**
 * Shard lineage, on a scripted stream: DynamoDB Local keeps one shard open for ever, while AWS closes shards
 * (every few hours, or on a split) and opens children. The script stands in for the DynamoDB Streams service
 * only; the poller under test is the real one.
 */
describe('stream poller shard lineage (scripted stream)', () => {
  const ARN = 'arn:aws:dynamodb:eu-west-1:000000000000:table/scripted/stream/2026-01-01T00:00:00.000';
  const change = (sequence: number): StreamsRecord => ({
    eventID: `event-${sequence}`,
    eventName: 'INSERT',
    eventVersion: '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: 'eu-west-1',
    dynamodb: { Keys: { id: { S: `item-${sequence}` } }, NewImage: { id: { S: `item-${sequence}` } }, SequenceNumber: String(sequence).padStart(21, '0'), SizeBytes: 10, StreamViewType: 'NEW_AND_OLD_IMAGES' },
  });

  /** Shard `old` closed before start; `parent` open, closing after records 7 and 8; `child` (record 9) listed from the second describe on. */
  function scriptedStream() {
    const iteratorsTaken: string[] = [];
    let describes = 0;
    let parentReads = 0;
    let childReads = 0;
    const shards = (): Shard[] => [
      { ShardId: 'old', SequenceNumberRange: { StartingSequenceNumber: '1', EndingSequenceNumber: '5' } },
      { ShardId: 'parent', ParentShardId: 'old', SequenceNumberRange: { StartingSequenceNumber: '6', ...(parentReads >= 2 && { EndingSequenceNumber: '8' }) } },
      ...(describes > 1 ? [{ ShardId: 'child', ParentShardId: 'parent', SequenceNumberRange: { StartingSequenceNumber: '9' } }] : []),
    ];
    const client = {
      async send(command: object): Promise<unknown> {
        if (command instanceof DescribeStreamCommand) {
          describes += 1;
          return { StreamDescription: { StreamArn: ARN, Shards: shards() } };
        }
        if (command instanceof GetShardIteratorCommand) {
          iteratorsTaken.push(`${command.input.ShardId} ${command.input.ShardIteratorType}`);
          return { ShardIterator: `${command.input.ShardId}:0` };
        }
        if (command instanceof GetRecordsCommand) {
          const [shard] = (command.input.ShardIterator ?? '').split(':');
          if (shard === 'parent') {
            // Nothing until the child is listed (so a poller that read the child at once would deliver 9 first);
            // then record 7, then record 8 and the shard closed (no next iterator).
            if (describes <= 1) return { Records: [], NextShardIterator: 'parent:0' };
            parentReads += 1;
            if (parentReads === 1) return { Records: [change(7)], NextShardIterator: 'parent:1' };
            return { Records: [change(8)] };
          }
          if (shard === 'child') {
            childReads += 1;
            return childReads === 1 ? { Records: [change(9)], NextShardIterator: 'child:1' } : { Records: [], NextShardIterator: 'child:1' };
          }
          throw new Error(`GetRecords on ${shard}`);
        }
        throw new Error(`unexpected command ${command.constructor.name}`);
      },
    };
    return { client: client as unknown as DynamoDBStreamsClient, iteratorsTaken };
  }

  it('reads shards open at start from LATEST, follows a closed shard to its child from TRIM_HORIZON, and keeps the order', async () => {
    const script = scriptedStream();
    const recorder = recordingHandler();
    const errors: unknown[] = [];
    const poller = await startStreamPoller({
      client: script.client,
      streamArn: ARN,
      handler: recorder.handler,
      region: REGION,
      functionName: 'test-timer-arm',
      pollIntervalMs: 20,
      describeIntervalMs: 50,
      onError: (error) => errors.push(error),
    });
    pollers.push(poller);

    await waitFor(() => recorder.seen().length === 3);

    expect(recorder.seen().map((record) => record.dynamodb?.SequenceNumber)).toEqual(['000000000000000000007', '000000000000000000008', '000000000000000000009']);
    expect(recorder.seen()[0]).toMatchObject({ eventSourceARN: ARN, awsRegion: REGION });
    expect(script.iteratorsTaken).toEqual(['parent LATEST', 'child TRIM_HORIZON']);
    expect(errors).toEqual([]);
  });
});
