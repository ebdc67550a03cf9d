/**
 * dev/sqs-stub.ts against the real `@aws-sdk/client-sqs`: the client reaches it through
 * `AWS_ENDPOINT_URL_SQS` as the handlers will, signs every request, and checks the MD5 of every body it sends
 * and receives. Every wait is bounded: long polls of 1-3 s, delays of 1 s, each test under its own timeout.
 */
import { randomBytes } from 'node:crypto';
import {
  ChangeMessageVisibilityBatchCommand,
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  PurgeQueueCommand,
  QueueDoesNotExist,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
  type QueueAttributeName,
  type SQSClientConfig,
} from '@aws-sdk/client-sqs';
import { HttpRequest } from '@smithy/protocol-http';
import { SQS_JSON_CONTENT_TYPE, startSqsStub, type SqsStub } from '../../../dev/sqs-stub';
import { failureOf, type FinalizeHandler } from '../support/sdk-failure';

const REGION = 'us-east-1';

const newKey = () => ({ accessKeyId: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(30).toString('base64') });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let queueSerial = 0;
const uniqueName = (label: string) => `${label}-${process.pid}-${(queueSerial += 1)}`;

describe('sqs-stub with the real SQS client', () => {
  const credentials = newKey();
  let stub: SqsStub;
  let sqs: SQSClient;
  let previousEndpoint: string | undefined;

  const clientWith = (config: Partial<SQSClientConfig>) => new SQSClient({ region: REGION, credentials, endpoint: stub.endpoint, ...config });

  async function createQueue(name: string, attributes?: Partial<Record<QueueAttributeName, string>>): Promise<string> {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
    return QueueUrl!;
  }

  async function depth(queueUrl: string): Promise<{ visible: number; notVisible: number; delayed: number }> {
    const { Attributes = {} } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'],
      }),
    );
    return {
      visible: Number(Attributes.ApproximateNumberOfMessages),
      notVisible: Number(Attributes.ApproximateNumberOfMessagesNotVisible),
      delayed: Number(Attributes.ApproximateNumberOfMessagesDelayed),
    };
  }

  beforeAll(async () => {
    stub = await startSqsStub({ credentials });
    previousEndpoint = process.env.AWS_ENDPOINT_URL_SQS;
    process.env.AWS_ENDPOINT_URL_SQS = stub.endpoint;
    // No `endpoint`: the SDK finds the stub through AWS_ENDPOINT_URL_SQS, as the handlers will.
    sqs = new SQSClient({ region: REGION, credentials });
  });

  afterAll(async () => {
    sqs.destroy();
    await stub.stop();
    if (previousEndpoint === undefined) delete process.env.AWS_ENDPOINT_URL_SQS;
    else process.env.AWS_ENDPOINT_URL_SQS = previousEndpoint;
  });

  afterEach(() => {
    stub.setFaults({});
  });

  it('sends, receives and deletes a message, the SDK checking both MD5s', async () => {
    const queueUrl = await createQueue(uniqueName('basic'));
    expect(queueUrl).toBe(stub.queueUrl(queueUrl.split('/').pop()!));
    const body = JSON.stringify({ connectionId: 'c-1', note: 'lease end ✓ — ünïcode' });

    const sent = await sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: body,
        MessageAttributes: { kind: { DataType: 'String', StringValue: 'lease-end' }, attempt: { DataType: 'Number', StringValue: '1' } },
      }),
    );
    expect(sent.MessageId).toMatch(/^[0-9a-f-]{36}$/);
    expect(sent.$metadata.requestId).toMatch(/^[0-9a-f-]{36}$/);

    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
        MessageAttributeNames: ['All'],
      }),
    );
    expect(Messages).toHaveLength(1);
    const [message] = Messages;
    expect(message).toMatchObject({ MessageId: sent.MessageId, Body: body, MD5OfBody: sent.MD5OfMessageBody });
    expect(message!.Attributes?.ApproximateReceiveCount).toBe('1');
    expect(Math.abs(Number(message!.Attributes?.SentTimestamp) - Date.now())).toBeLessThan(5_000);
    expect(message!.MessageAttributes?.kind).toEqual({ DataType: 'String', StringValue: 'lease-end' });
    expect(message!.MD5OfMessageAttributes).toBe(sent.MD5OfMessageAttributes);
    expect(await depth(queueUrl)).toEqual({ visible: 0, notVisible: 1, delayed: 0 });

    await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message!.ReceiptHandle }));
    expect(await depth(queueUrl)).toEqual({ visible: 0, notVisible: 0, delayed: 0 });
  }, 10_000);

  it('creates queues idempotently by name and refuses the same name with another attribute value', async () => {
    const name = uniqueName('idempotent');
    const first = await createQueue(name, { VisibilityTimeout: '45' });
    expect(await createQueue(name, { VisibilityTimeout: '45' })).toBe(first);
    expect(await createQueue(name)).toBe(first);
    const conflict = await failureOf(createQueue(name, { VisibilityTimeout: '46' }));
    expect(conflict.name).toBe('QueueNameExists');
    expect(conflict.$metadata?.httpStatusCode).toBe(400);

    expect((await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl).toBe(first);
    const missing = await failureOf(sqs.send(new GetQueueUrlCommand({ QueueName: uniqueName('absent') })));
    expect(missing).toBeInstanceOf(QueueDoesNotExist);
    expect(missing.$response?.headers['x-amzn-query-error']).toBe('AWS.SimpleQueueService.NonExistentQueue;Sender');

    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: first, AttributeNames: ['All'] }));
    expect(Attributes).toMatchObject({ QueueArn: stub.queueArn(name), VisibilityTimeout: '45', DelaySeconds: '0', ApproximateNumberOfMessages: '0' });
    const unknown = await failureOf(sqs.send(new GetQueueAttributesCommand({ QueueUrl: first, AttributeNames: ['Bogus' as QueueAttributeName] })));
    expect(unknown.name).toBe('InvalidAttributeName');
  }, 10_000);

  it('holds a message sent with DelaySeconds invisible until it is due', async () => {
    const queueUrl = await createQueue(uniqueName('delay'));
    const sentAt = Date.now();
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'lease ends', DelaySeconds: 1 }));

    expect((await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl }))).Messages).toBeUndefined();
    expect(await depth(queueUrl)).toEqual({ visible: 0, notVisible: 0, delayed: 1 });

    const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 3 }));
    const waited = Date.now() - sentAt;
    expect(Messages.map((message) => message.Body)).toEqual(['lease ends']);
    expect(waited).toBeGreaterThanOrEqual(950);
    expect(waited).toBeLessThan(2_500);
  }, 10_000);

  it('answers a long poll as soon as a message arrives, and empty once WaitTimeSeconds has passed', async () => {
    const queueUrl = await createQueue(uniqueName('long-poll'));
    const started = Date.now();
    const polling = sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 10 }));
    await sleep(300);
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'arrived' }));
    const { Messages = [] } = await polling;
    expect(Messages.map((message) => message.Body)).toEqual(['arrived']);
    expect(Date.now() - started).toBeLessThan(2_000);

    const quiet = Date.now();
    const empty = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1 }));
    expect(empty.Messages).toBeUndefined();
    expect(Date.now() - quiet).toBeGreaterThanOrEqual(950);
    expect(Date.now() - quiet).toBeLessThan(2_500);
  }, 15_000);

  it('re-delivers an undeleted message after its visibility timeout, and honours only the latest receipt handle', async () => {
    const queueUrl = await createQueue(uniqueName('visibility'));
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'retry me' }));
    const receive = (wait: number) =>
      sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, VisibilityTimeout: 1, WaitTimeSeconds: wait, MessageSystemAttributeNames: ['ApproximateReceiveCount'] }));

    const [first] = (await receive(0)).Messages ?? [];
    expect(first?.Attributes?.ApproximateReceiveCount).toBe('1');
    const [second] = (await receive(3)).Messages ?? [];
    expect(second).toMatchObject({ MessageId: first!.MessageId, Attributes: { ApproximateReceiveCount: '2' } });
    expect(second!.ReceiptHandle).not.toBe(first!.ReceiptHandle);

    // SQS: an older receipt handle "succeeds, but the message will not be deleted".
    await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: first!.ReceiptHandle }));
    expect(await depth(queueUrl)).toEqual({ visible: 0, notVisible: 1, delayed: 0 });
    const stale = await failureOf(sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: first!.ReceiptHandle, VisibilityTimeout: 0 })));
    expect(stale.name).toBe('InvalidParameterValue');
    const malformed = await failureOf(sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: 'not-a-receipt-handle' })));
    expect(malformed.name).toBe('ReceiptHandleIsInvalid');
    expect(malformed.$metadata?.httpStatusCode).toBe(404);

    // The latest handle may hand it back at once, then delete it.
    await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: second!.ReceiptHandle, VisibilityTimeout: 0 }));
    const [third] = (await receive(0)).Messages ?? [];
    expect(third?.Attributes?.ApproximateReceiveCount).toBe('3');
    await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: third!.ReceiptHandle }));
    expect(await depth(queueUrl)).toEqual({ visible: 0, notVisible: 0, delayed: 0 });
  }, 10_000);

  it('moves a message to the dead-letter queue once it has been received maxReceiveCount times', async () => {
    const deadLetterUrl = await createQueue(uniqueName('dlq'));
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: deadLetterUrl, AttributeNames: ['QueueArn'] }));
    const sourceName = uniqueName('source');
    const sourceUrl = await createQueue(sourceName, { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: Attributes!.QueueArn, maxReceiveCount: 2 }) });
    const sent = await sqs.send(new SendMessageCommand({ QueueUrl: sourceUrl, MessageBody: 'poison' }));
    const receive = (queueUrl: string) =>
      sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, VisibilityTimeout: 0, MessageSystemAttributeNames: ['All'] }));

    expect((await receive(sourceUrl)).Messages?.[0]?.Attributes?.ApproximateReceiveCount).toBe('1');
    expect((await receive(sourceUrl)).Messages?.[0]?.Attributes?.ApproximateReceiveCount).toBe('2');
    expect((await receive(sourceUrl)).Messages).toBeUndefined();
    expect(await depth(sourceUrl)).toEqual({ visible: 0, notVisible: 0, delayed: 0 });

    const [dead] = (await receive(deadLetterUrl)).Messages ?? [];
    expect(dead).toMatchObject({ MessageId: sent.MessageId, Body: 'poison', Attributes: { DeadLetterQueueSourceArn: stub.queueArn(sourceName) } });

    const noTarget = await failureOf(
      createQueue(uniqueName('orphan'), { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: stub.queueArn('nowhere'), maxReceiveCount: 2 }) }),
    );
    expect(noTarget.name).toBe('InvalidParameterValue');
  }, 10_000);

  it('reports per-entry failures of batch sends, deletes and visibility changes in Failed', async () => {
    const queueUrl = await createQueue(uniqueName('batch'));
    const sent = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: [
          { Id: 'a', MessageBody: 'first' },
          { Id: 'b', MessageBody: 'too late', DelaySeconds: 901 },
          { Id: 'c', MessageBody: 'third', DelaySeconds: 0 },
        ],
      }),
    );
    expect(sent.Successful?.map((entry) => entry.Id)).toEqual(['a', 'c']);
    expect(sent.Failed).toEqual([
      { Id: 'b', SenderFault: true, Code: 'InvalidParameterValue', Message: 'Value 901 for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.' },
    ]);

    const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }));
    expect(Messages.map((message) => message.Body).sort()).toEqual(['first', 'third']);
    const changed = await sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: queueUrl,
        Entries: [
          { Id: 'keep', ReceiptHandle: Messages[0]!.ReceiptHandle, VisibilityTimeout: 60 },
          { Id: 'bogus', ReceiptHandle: 'garbage', VisibilityTimeout: 60 },
        ],
      }),
    );
    expect(changed.Successful).toEqual([{ Id: 'keep' }]);
    expect(changed.Failed).toEqual([expect.objectContaining({ Id: 'bogus', Code: 'ReceiptHandleIsInvalid', SenderFault: true })]);

    const deleted = await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: [
          ...Messages.map((message, index) => ({ Id: `m${index}`, ReceiptHandle: message.ReceiptHandle })),
          { Id: 'bogus', ReceiptHandle: 'garbage' },
        ],
      }),
    );
    expect(deleted.Successful?.map((entry) => entry.Id)).toEqual(['m0', 'm1']);
    expect(deleted.Failed).toEqual([expect.objectContaining({ Id: 'bogus', Code: 'ReceiptHandleIsInvalid', SenderFault: true })]);
    expect(await depth(queueUrl)).toEqual({ visible: 0, notVisible: 0, delayed: 0 });

    const tooMany = Array.from({ length: 11 }, (_, index) => ({ Id: `e${index}`, MessageBody: 'x' }));
    expect((await failureOf(sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: tooMany })))).name).toBe('TooManyEntriesInBatchRequest');
    const twice = [
      { Id: 'same', MessageBody: 'x' },
      { Id: 'same', MessageBody: 'y' },
    ];
    expect((await failureOf(sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: twice })))).name).toBe('BatchEntryIdsNotDistinct');
  }, 10_000);

  it("refuses out-of-range parameters with SQS's InvalidParameterValue", async () => {
    const queueUrl = await createQueue(uniqueName('invalid'));
    const delay = await failureOf(sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'x', DelaySeconds: 901 })));
    expect(delay.name).toBe('InvalidParameterValue');
    expect(delay.message).toBe('Value 901 for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.');
    expect(delay.$metadata?.httpStatusCode).toBe(400);
    expect(delay.$response?.headers['x-amzn-query-error']).toBe('InvalidParameterValue;Sender');
    expect(delay.$response?.headers['content-type']).toBe(SQS_JSON_CONTENT_TYPE);

    const many = await failureOf(sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 11 })));
    expect(many.name).toBe('InvalidParameterValue');
    const long = await failureOf(sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 21 })));
    expect(long.name).toBe('InvalidParameterValue');
    const control = await failureOf(sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'bell \u0007' })));
    expect(control.name).toBe('InvalidMessageContents');
    const badAttribute = await failureOf(createQueue(uniqueName('bad-attribute'), { VisibilityTimeout: '43201' }));
    expect(badAttribute.name).toBe('InvalidAttributeValue');
    expect(stub.calls().SendMessage).toBeGreaterThanOrEqual(2);
  }, 10_000);

  it("answers unsigned requests and wrong keys with SQS's auth errors", async () => {
    const raw = await fetch(`${stub.endpoint}/`, {
      method: 'POST',
      headers: { 'content-type': SQS_JSON_CONTENT_TYPE, 'x-amz-target': 'AmazonSQS.GetQueueUrl' },
      body: JSON.stringify({ QueueName: 'anything' }),
    });
    expect(raw.status).toBe(403);
    expect(raw.headers.get('x-amzn-query-error')).toBe('MissingAuthenticationToken;Sender');
    expect(await raw.json()).toEqual({ __type: 'com.amazon.coral.service#MissingAuthenticationTokenException', message: 'Missing Authentication Token' });

    const unsigned = clientWith({ maxAttempts: 1 });
    // Signed as usual, then stripped of its signature on the way out.
    const dropSignature = (next: FinalizeHandler): FinalizeHandler => (args) => {
      if (HttpRequest.isInstance(args.request)) delete args.request.headers.authorization;
      return next(args);
    };
    unsigned.middlewareStack.addRelativeTo(dropSignature, { relation: 'after', toMiddleware: 'httpSigningMiddleware', name: 'dropSignature' });
    const wrongSecret = clientWith({ maxAttempts: 1, credentials: { ...credentials, secretAccessKey: newKey().secretAccessKey } });
    const unknownKey = clientWith({ maxAttempts: 1, credentials: newKey() });
    const wrongRegion = clientWith({ maxAttempts: 1, region: 'eu-west-1' });
    try {
      const queueUrl = await createQueue(uniqueName('auth'));
      const send = (client: SQSClient) => failureOf(client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'x' })));
      const failures = await Promise.all([unsigned, wrongSecret, unknownKey, wrongRegion].map(send));
      expect(failures.map((failure) => [failure.name, failure.$metadata?.httpStatusCode])).toEqual([
        ['MissingAuthenticationToken', 403],
        ['SignatureDoesNotMatch', 403],
        ['InvalidClientTokenId', 403],
        ['SignatureDoesNotMatch', 403],
      ]);
      expect(failures[1]!.message).toMatch(/^The request signature we calculated does not match/);
      expect(await depth(queueUrl)).toEqual({ visible: 0, notVisible: 0, delayed: 0 });
    } finally {
      for (const client of [unsigned, wrongSecret, unknownKey, wrongRegion]) client.destroy();
    }
  }, 10_000);

  it('makes the SDK throw under injected faults, after its own retries', async () => {
    const queueUrl = await createQueue(uniqueName('faults'));
    const twoAttempts = clientWith({ maxAttempts: 2 });
    try {
      stub.setFaults({ unavailable: true });
      stub.resetCalls();
      const unavailable = await failureOf(twoAttempts.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'x' })));
      expect([unavailable.name, unavailable.$metadata?.httpStatusCode]).toEqual(['ServiceUnavailable', 503]);
      expect(stub.calls()).toEqual({ SendMessage: 2 });

      stub.setFaults({ internalError: true });
      const internal = await failureOf(twoAttempts.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'x' })));
      expect([internal.name, internal.$metadata?.httpStatusCode]).toEqual(['InternalFailure', 500]);

      // Throttling on SendMessage only: other actions still work.
      stub.setFaults({ throttle: true, actions: ['SendMessage'] });
      stub.resetCalls();
      const throttled = await failureOf(twoAttempts.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'x' })));
      expect([throttled.name, throttled.$metadata?.httpStatusCode]).toEqual(['RequestThrottled', 403]);
      expect(await depth(queueUrl)).toEqual({ visible: 0, notVisible: 0, delayed: 0 });
      expect(stub.calls()).toEqual({ SendMessage: 2, GetQueueAttributes: 1 });

      // A lost receive: the message goes in flight unseen and comes back after its visibility timeout.
      stub.setFaults({});
      await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'lost once' }));
      stub.setFaults({ dropReceives: true });
      const dropped = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, VisibilityTimeout: 1 }));
      expect(dropped.Messages).toBeUndefined();
      expect(await depth(queueUrl)).toEqual({ visible: 0, notVisible: 1, delayed: 0 });
      stub.setFaults({});
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 3, MessageSystemAttributeNames: ['ApproximateReceiveCount'] }),
      );
      expect(Messages.map((message) => [message.Body, message.Attributes?.ApproximateReceiveCount])).toEqual([['lost once', '2']]);
    } finally {
      twoAttempts.destroy();
    }
  }, 15_000);
});

describe('sqs-stub on an injected clock', () => {
  const credentials = newKey();
  let stub: SqsStub;
  let sqs: SQSClient;
  let now = Date.UTC(2026, 0, 1);

  beforeAll(async () => {
    stub = await startSqsStub({ credentials, now: () => now, maxMessagesPerQueue: 3 });
    sqs = new SQSClient({ region: REGION, credentials, endpoint: stub.endpoint, maxAttempts: 1 });
  });

  afterAll(async () => {
    sqs.destroy();
    await stub.stop();
  });

  const receiveBodies = async (queueUrl: string) =>
    ((await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }))).Messages ?? []).map((message) => message.Body);

  it('keeps a 900 s delay, a retention period and the purge interval on the stub clock', async () => {
    const { QueueUrl: delayed } = await sqs.send(new CreateQueueCommand({ QueueName: 'clock-delay' }));
    await sqs.send(new SendMessageCommand({ QueueUrl: delayed, MessageBody: 'lease end', DelaySeconds: 900 }));
    now += 899_000;
    expect(await receiveBodies(delayed!)).toEqual([]);
    now += 1_000;
    expect(await receiveBodies(delayed!)).toEqual(['lease end']);

    const { QueueUrl: shortLived } = await sqs.send(new CreateQueueCommand({ QueueName: 'clock-retention', Attributes: { MessageRetentionPeriod: '60' } }));
    await sqs.send(new SendMessageCommand({ QueueUrl: shortLived, MessageBody: 'stale soon' }));
    now += 60_000;
    expect(await receiveBodies(shortLived!)).toEqual([]);

    await sqs.send(new PurgeQueueCommand({ QueueUrl: delayed }));
    expect((await failureOf(sqs.send(new PurgeQueueCommand({ QueueUrl: delayed })))).name).toBe('PurgeQueueInProgress');
    now += 60_000;
    await sqs.send(new PurgeQueueCommand({ QueueUrl: delayed }));
  }, 10_000);

  it('bounds the messages a queue holds', async () => {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'clock-bounded' }));
    for (const body of ['1', '2', '3']) await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: body }));
    const full = await failureOf(sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: '4' })));
    expect([full.name, full.$metadata?.httpStatusCode]).toEqual(['OverLimit', 403]);
  }, 10_000);
});

describe('sqs-stub stop', () => {
  it('ends a pending long poll at once', async () => {
    const credentials = newKey();
    const stub = await startSqsStub({ credentials });
    const sqs = new SQSClient({ region: REGION, credentials, endpoint: stub.endpoint, maxAttempts: 1 });
    try {
      const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'stopping' }));
      const started = Date.now();
      const polling = sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 20 }));
      await sleep(200);
      await stub.stop();
      expect((await polling).Messages).toBeUndefined();
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      sqs.destroy();
      await stub.stop();
    }
  }, 10_000);
});
