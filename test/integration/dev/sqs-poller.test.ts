/**
 * dev/sqs-poller.ts against the SQS stub (dev/sqs-stub.ts) with the real `@aws-sdk/client-sqs`: delivery in
 * Lambda's event shape and the deletes after it, partial batch failures (only the failed messages come
 * back), a handler that throws (all come back), errors reported while the loops go on, and a prompt stop.
 * Queues have a 1 s visibility timeout, so what comes back comes back within the test.
 */
import { createHash, randomBytes } from 'node:crypto';
import { CreateQueueCommand, GetQueueAttributesCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { SqsBatchFailedError, startSqsPoller, type SqsHandler, type SqsPoller, type SqsPollerOptions } from '../../../dev/sqs-poller';
import { startSqsStub, type SqsStub } from '../../../dev/sqs-stub';
import { gate, sleep, waitUntil } from '../support/wait';

const REGION = 'us-east-1';
const credentials = { accessKeyId: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(30).toString('base64') };
const waitFor = (condition: () => boolean, timeoutMs = 8_000) => waitUntil(condition, timeoutMs);

let stub: SqsStub;
let sqs: SQSClient;
const pollers: SqsPoller[] = [];
let serial = 0;

beforeAll(async () => {
  stub = await startSqsStub({ credentials, region: REGION });
  // One attempt per call: a fault shows at once instead of after the SDK's retries.
  sqs = new SQSClient({ region: REGION, credentials, endpoint: stub.endpoint, maxAttempts: 1 });
});

beforeEach(() => {
  stub.resetCalls();
});

afterEach(async () => {
  stub.setFaults({});
  await Promise.all(pollers.splice(0).map((poller) => poller.stop()));
});

afterAll(async () => {
  sqs.destroy();
  await stub.stop();
});

async function newQueue(): Promise<{ url: string; arn: string }> {
  const name = `poller-${process.pid}-${(serial += 1)}`;
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: { VisibilityTimeout: '1' } }));
  return { url: QueueUrl ?? '', arn: stub.queueArn(name) };
}

async function send(queueUrl: string, body: string): Promise<string> {
  const { MessageId } = await sqs.send(
    new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body, MessageAttributes: { kind: { DataType: 'String', StringValue: 'lease-timer' } } }),
  );
  return MessageId ?? '';
}

async function depth(queueUrl: string): Promise<{ visible: number; inFlight: number }> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
  );
  return { visible: Number(Attributes.ApproximateNumberOfMessages), inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible) };
}

function recordingHandler(respond: (event: SQSEvent, call: number) => Promise<SQSBatchResponse | void> | SQSBatchResponse | void = () => undefined) {
  const batches: SQSRecord[][] = [];
  const functionNames: string[] = [];
  const handler: SqsHandler = async (event, context) => {
    batches.push(event.Records);
    functionNames.push(context.functionName);
    return respond(event, batches.length);
  };
  return { handler, batches, functionNames, seen: () => batches.flat(), bodies: () => batches.flat().map((record) => record.body) };
}

function start(queue: { url: string; arn: string }, options: Partial<SqsPollerOptions> & Pick<SqsPollerOptions, 'handler'>): SqsPoller {
  const poller = startSqsPoller({
    client: sqs,
    queueUrl: queue.url,
    queueArn: queue.arn,
    region: REGION,
    functionName: 'test-timer-fire',
    waitTimeSeconds: 2,
    errorBackoffMs: 100,
    ...options,
  });
  pollers.push(poller);
  return poller;
}

describe('sqs poller on the SQS stub', () => {
  it("delivers messages in Lambda's event shape and deletes them once handled", async () => {
    const queue = await newQueue();
    const recorder = recordingHandler();
    const sentAt = Date.now();
    const id = await send(queue.url, '{"v":1,"id":"c-1"}');
    start(queue, { handler: recorder.handler });

    await waitFor(() => recorder.batches.length === 1);
    await waitFor(() => (stub.calls().DeleteMessageBatch ?? 0) >= 1);

    const [record] = recorder.seen();
    expect(record).toEqual({
      messageId: id,
      receiptHandle: expect.any(String),
      body: '{"v":1,"id":"c-1"}',
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: expect.stringMatching(/^\d+$/),
        SenderId: credentials.accessKeyId,
        ApproximateFirstReceiveTimestamp: expect.stringMatching(/^\d+$/),
      },
      messageAttributes: { kind: { dataType: 'String', stringValue: 'lease-timer', stringListValues: [], binaryListValues: [] } },
      md5OfBody: createHash('md5').update('{"v":1,"id":"c-1"}').digest('hex'),
      md5OfMessageAttributes: expect.stringMatching(/^[0-9a-f]{32}$/),
      eventSource: 'aws:sqs',
      eventSourceARN: queue.arn,
      awsRegion: REGION,
    });
    expect(Number(record?.attributes.SentTimestamp)).toBeGreaterThanOrEqual(sentAt - 1_000);
    expect(recorder.functionNames).toEqual(['test-timer-fire']);
    // Deleted: nothing visible, nothing in flight, and nothing comes back after the visibility timeout.
    expect(await depth(queue.url)).toEqual({ visible: 0, inFlight: 0 });
    await sleep(1_300);
    expect(recorder.batches).toHaveLength(1);
  });

  it('deletes all but the messages named in batchItemFailures: only those come back', async () => {
    const queue = await newQueue();
    const held = gate();
    const recorder = recordingHandler(async (event, call) => {
      if (call === 1) await held.wait;
      const b = event.Records.find((record) => record.body === 'b' && record.attributes.ApproximateReceiveCount === '1');
      return { batchItemFailures: b ? [{ itemIdentifier: b.messageId }] : [] };
    });
    // One loop, and the first batch held while a, b and c are sent: they come in one receive after it.
    start(queue, { handler: recorder.handler, pollers: 1 });
    await send(queue.url, 'first');
    await waitFor(() => recorder.batches.length === 1);
    for (const body of ['a', 'b', 'c']) await send(queue.url, body);
    held.open();

    await waitFor(() => recorder.batches.length === 3);
    await sleep(1_300);

    expect(recorder.batches.map((batch) => batch.map((record) => `${record.body}#${record.attributes.ApproximateReceiveCount}`))).toEqual([
      ['first#1'],
      ['a#1', 'b#1', 'c#1'],
      ['b#2'],
    ]);
    expect(await depth(queue.url)).toEqual({ visible: 0, inFlight: 0 });
  });

  it('deletes nothing when the handler throws: the whole batch comes back, and the failure is reported', async () => {
    const queue = await newQueue();
    const errors: unknown[] = [];
    const recorder = recordingHandler((_event, call) => {
      if (call === 1) throw new Error('the function crashed');
    });
    await send(queue.url, 'x');
    await send(queue.url, 'y');
    start(queue, { handler: recorder.handler, pollers: 1, onError: (error) => errors.push(error) });

    await waitFor(() => recorder.seen().length >= 4);

    const byBody = (body: string) => recorder.seen().filter((record) => record.body === body).map((record) => record.attributes.ApproximateReceiveCount);
    expect(byBody('x')).toEqual(['1', '2']);
    expect(byBody('y')).toEqual(['1', '2']);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(SqsBatchFailedError);
    expect(errors[0]).toMatchObject({ messageIds: expect.arrayContaining([expect.any(String), expect.any(String)]) });
  });

  it('deletes nothing when an item identifier names no message of the batch, as Lambda rules', async () => {
    const queue = await newQueue();
    const recorder = recordingHandler((_event, call) => (call === 1 ? { batchItemFailures: [{ itemIdentifier: 'no-such-message' }] } : undefined));
    await send(queue.url, 'z');
    start(queue, { handler: recorder.handler, pollers: 1 });

    await waitFor(() => recorder.batches.length === 2);

    expect(recorder.seen().map((record) => `${record.body}#${record.attributes.ApproximateReceiveCount}`)).toEqual(['z#1', 'z#2']);
  });

  it('reports a failing receive and goes on polling once SQS answers again', async () => {
    const queue = await newQueue();
    const errors: unknown[] = [];
    const recorder = recordingHandler();
    stub.setFaults({ unavailable: true, actions: ['ReceiveMessage'] });
    start(queue, { handler: recorder.handler, pollers: 1, onError: (error) => errors.push(error) });

    await waitFor(() => errors.length >= 2);
    stub.setFaults({});
    await send(queue.url, 'after the outage');
    await waitFor(() => recorder.batches.length === 1);

    expect(errors[0]).toMatchObject({ name: 'ServiceUnavailable' });
    expect(recorder.bodies()).toEqual(['after the outage']);
  });

  it('stops at once while its long polls wait, and receives nothing after', async () => {
    const queue = await newQueue();
    const recorder = recordingHandler();
    const poller = start(queue, { handler: recorder.handler, waitTimeSeconds: 20, pollers: 2 });
    await waitFor(() => (stub.calls().ReceiveMessage ?? 0) >= 2);
    await sleep(100);

    const before = Date.now();
    await poller.stop();
    const tookMs = Date.now() - before;
    const receives = stub.calls().ReceiveMessage ?? 0;
    await send(queue.url, 'too late');
    await sleep(300);

    expect(tookMs).toBeLessThan(1_000);
    expect(stub.calls().ReceiveMessage ?? 0).toBe(receives);
    expect(recorder.batches).toHaveLength(0);
    // The aborted long polls took nothing: the message waits for the next reader.
    expect(await depth(queue.url)).toEqual({ visible: 1, inFlight: 0 });
  });

  it('waits in stop() for the batch in flight and its deletes', async () => {
    const queue = await newQueue();
    const held = gate();
    const recorder = recordingHandler(async () => {
      await held.wait;
    });
    await send(queue.url, 'in flight');
    const poller = start(queue, { handler: recorder.handler, pollers: 1 });
    await waitFor(() => recorder.batches.length === 1);

    let stopped = false;
    const stopping = poller.stop().then(() => {
      stopped = true;
    });
    await sleep(200);
    expect(stopped).toBe(false);
    held.open();
    await stopping;

    expect(await depth(queue.url)).toEqual({ visible: 0, inFlight: 0 });
  });
});
