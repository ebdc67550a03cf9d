/**
 * dev/eventbridge-stub.ts against the real `@aws-sdk/client-eventbridge`: the client reaches it through
 * `AWS_ENDPOINT_URL_EVENTBRIDGE` as the audit handler does, and signs every request.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand, type EventBridgeClientConfig, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { HttpRequest } from '@smithy/protocol-http';
import { EVENTBRIDGE_JSON_CONTENT_TYPE, startEventBridgeStub, type EventBridgeStub, type EventEnvelope } from '../../../dev/eventbridge-stub';
import { failureOf, type FinalizeHandler } from '../support/sdk-failure';

const REGION = 'us-east-1';
const BUS = 'remoteit-broker-test';

const newKey = () => ({ accessKeyId: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(30).toString('base64') });

let serial = 0;
const entry = (overrides: Partial<PutEventsRequestEntry> = {}): PutEventsRequestEntry => ({
  Source: 'remoteit-broker',
  DetailType: 'Connection Opened',
  Detail: JSON.stringify({ connectionId: `c-${(serial += 1)}`, actor: 'arn:aws:sts::000000000000:assumed-role/app/s' }),
  EventBusName: BUS,
  ...overrides,
});
const linesOf = async (file: string): Promise<EventEnvelope[]> =>
  (await readFile(file, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as EventEnvelope);

describe('eventbridge-stub with the real EventBridge client', () => {
  const credentials = newKey();
  let dir: string;
  let eventsFile: string;
  let stub: EventBridgeStub;
  let client: EventBridgeClient;
  let previousEndpoint: string | undefined;
  const seen: EventEnvelope[] = [];

  const clientWith = (config: Partial<EventBridgeClientConfig>) => new EventBridgeClient({ region: REGION, credentials, endpoint: stub.endpoint, ...config });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'eventbridge-stub-'));
    eventsFile = join(dir, 'events.jsonl');
    stub = await startEventBridgeStub({ credentials, region: REGION, busName: BUS, eventsFile, onEvent: (event) => seen.push(event) });
    previousEndpoint = process.env.AWS_ENDPOINT_URL_EVENTBRIDGE;
    process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = stub.endpoint;
    // No `endpoint`: the SDK finds the stub through AWS_ENDPOINT_URL_EVENTBRIDGE, as the audit handler does.
    client = new EventBridgeClient({ region: REGION, credentials });
  });

  afterAll(async () => {
    client.destroy();
    await stub.stop();
    await rm(dir, { recursive: true, force: true });
    if (previousEndpoint === undefined) delete process.env.AWS_ENDPOINT_URL_EVENTBRIDGE;
    else process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = previousEndpoint;
  });

  afterEach(() => {
    stub.setFaults({});
  });

  it("accepts events, answers each with its EventId, and keeps them in EventBridge's envelope, in memory and in the file", async () => {
    const before = stub.events().length;
    const time = new Date('2030-01-02T03:04:05.678Z');
    const entries = [entry({ Time: time }), entry({ EventBusName: stub.busArn, Resources: ['arn:aws:x'] }), entry({ EventBusName: undefined })];

    const answer = await client.send(new PutEventsCommand({ Entries: entries }));

    expect(answer.FailedEntryCount).toBe(0);
    expect(answer.Entries).toHaveLength(3);
    const kept = stub.events().slice(before);
    expect(kept.map((event) => event.id)).toEqual(answer.Entries?.map((result) => result.EventId));
    expect(kept[0]).toEqual({
      version: '0',
      id: answer.Entries?.[0]?.EventId,
      'detail-type': 'Connection Opened',
      source: 'remoteit-broker',
      account: stub.accountId,
      time: '2030-01-02T03:04:05Z',
      region: REGION,
      resources: [],
      detail: JSON.parse(entries[0]?.Detail ?? '{}') as unknown,
    });
    expect(kept[1]?.resources).toEqual(['arn:aws:x']);
    expect((await linesOf(eventsFile)).slice(before)).toEqual(kept);
    expect(seen.slice(before)).toEqual(kept);
  });

  it('fails entries alone as EventBridge does: a missing field, a Detail that is not a JSON object, another bus', async () => {
    const before = stub.events().length;

    const answer = await client.send(
      new PutEventsCommand({
        Entries: [
          entry(),
          entry({ Source: undefined }),
          entry({ DetailType: undefined }),
          entry({ Detail: undefined }),
          entry({ Detail: '{not json' }),
          entry({ Detail: '[1,2]' }),
          entry({ EventBusName: 'another-bus' }),
        ],
      }),
    );

    expect(answer.FailedEntryCount).toBe(6);
    expect(answer.Entries?.map((result) => result.ErrorCode ?? 'ok')).toEqual([
      'ok',
      'InvalidArgument',
      'InvalidArgument',
      'InvalidArgument',
      'MalformedDetail',
      'MalformedDetail',
      'ResourceNotFoundException',
    ]);
    expect(answer.Entries?.[1]?.ErrorMessage).toBe('Parameter Source is not valid. Reason: Source is a required argument.');
    expect(answer.Entries?.[0]?.EventId).toBeDefined();
    expect(stub.events().length - before).toBe(1);
  });

  it('refuses a request of more than 10 entries, or over 256 KB of entries, whole', async () => {
    const before = stub.events().length;
    const noRetry = clientWith({ maxAttempts: 1 });
    try {
      const tooMany = await failureOf(noRetry.send(new PutEventsCommand({ Entries: Array.from({ length: 11 }, () => entry()) })));
      const tooLarge = await failureOf(
        noRetry.send(new PutEventsCommand({ Entries: [1, 2, 3].map((id) => entry({ Detail: JSON.stringify({ id, pad: 'x'.repeat(90 * 1024) }) })) })),
      );
      const none = await failureOf(noRetry.send(new PutEventsCommand({ Entries: [] })));
      const incomplete = await failureOf(noRetry.send(new PutEventsCommand({ Entries: [entry({ Source: undefined })] })));

      expect([tooMany.name, tooMany.$metadata?.httpStatusCode]).toEqual(['ValidationException', 400]);
      expect(tooMany.message).toMatch(/Member must have length less than or equal to 10/);
      expect([tooLarge.name, tooLarge.message]).toEqual(['ValidationException', 'Total size of the entries in the request is over the limit.']);
      expect(none.name).toBe('ValidationException');
      expect(incomplete.name).toBe('ValidationException');
      expect(stub.events().length).toBe(before);
    } finally {
      noRetry.destroy();
    }

    // Ten entries and just under 256 KB pass.
    const answer = await client.send(
      new PutEventsCommand({ Entries: Array.from({ length: 10 }, (_, id) => entry({ Detail: JSON.stringify({ id, pad: 'x'.repeat(25 * 1024) }) })) }),
    );
    expect(answer.FailedEntryCount).toBe(0);
  });

  it("answers unsigned requests and wrong keys with EventBridge's auth errors", async () => {
    const raw = await fetch(`${stub.endpoint}/`, {
      method: 'POST',
      headers: { 'content-type': EVENTBRIDGE_JSON_CONTENT_TYPE, 'x-amz-target': 'AWSEvents.PutEvents' },
      body: JSON.stringify({ Entries: [entry()] }),
    });
    expect(raw.status).toBe(403);
    expect(await raw.json()).toEqual({ __type: 'MissingAuthenticationTokenException', message: 'Missing Authentication Token' });

    const unsigned = clientWith({ maxAttempts: 1 });
    const dropSignature = (next: FinalizeHandler): FinalizeHandler => (args) => {
      if (HttpRequest.isInstance(args.request)) delete args.request.headers.authorization;
      return next(args);
    };
    unsigned.middlewareStack.addRelativeTo(dropSignature, { relation: 'after', toMiddleware: 'httpSigningMiddleware', name: 'dropSignature' });
    const wrongSecret = clientWith({ maxAttempts: 1, credentials: { ...credentials, secretAccessKey: newKey().secretAccessKey } });
    const unknownKey = clientWith({ maxAttempts: 1, credentials: newKey() });
    const wrongRegion = clientWith({ maxAttempts: 1, region: 'eu-west-1' });
    const before = stub.events().length;
    try {
      const failures = await Promise.all(
        [unsigned, wrongSecret, unknownKey, wrongRegion].map((one) => failureOf(one.send(new PutEventsCommand({ Entries: [entry()] })))),
      );
      expect(failures.map((failure) => [failure.name, failure.$metadata?.httpStatusCode])).toEqual([
        ['MissingAuthenticationTokenException', 403],
        ['InvalidSignatureException', 403],
        ['UnrecognizedClientException', 403],
        ['InvalidSignatureException', 403],
      ]);
      expect(stub.events().length).toBe(before);
    } finally {
      for (const one of [unsigned, wrongSecret, unknownKey, wrongRegion]) one.destroy();
    }
  });

  it('injects faults: outages and throttling the SDK retries, entries failed alone, each for a count or until lifted', async () => {
    const twoAttempts = clientWith({ maxAttempts: 2 });
    try {
      stub.setFaults({ unavailable: true });
      stub.resetCalls();
      const unavailable = await failureOf(twoAttempts.send(new PutEventsCommand({ Entries: [entry()] })));
      expect([unavailable.name, unavailable.$metadata?.httpStatusCode]).toEqual(['ServiceUnavailableException', 503]);
      expect(stub.calls()).toEqual([
        { action: 'PutEvents', status: 503, entries: 1, failedEntryCount: 0, errorType: 'ServiceUnavailableException' },
        { action: 'PutEvents', status: 503, entries: 1, failedEntryCount: 0, errorType: 'ServiceUnavailableException' },
      ]);

      stub.setFaults({ throttle: 1 });
      stub.resetCalls();
      const throttledOnce = await twoAttempts.send(new PutEventsCommand({ Entries: [entry()] }));
      expect(throttledOnce.FailedEntryCount).toBe(0);
      expect(stub.calls().map((call) => [call.status, call.errorType])).toEqual([
        [400, 'ThrottlingException'],
        [200, undefined],
      ]);

      stub.setFaults({ failEntries: 1 });
      const before = stub.events().length;
      const partly = await client.send(new PutEventsCommand({ Entries: [entry(), entry()] }));
      expect(partly.FailedEntryCount).toBe(1);
      expect(partly.Entries?.map((result) => result.ErrorCode)).toEqual(['InternalFailure', undefined]);
      expect(stub.events().length - before).toBe(1);
      const after = await client.send(new PutEventsCommand({ Entries: [entry()] }));
      expect(after.FailedEntryCount).toBe(0);
    } finally {
      twoAttempts.destroy();
    }
  }, 15_000);
});

describe('eventbridge-stub without a file', () => {
  it('keeps the events in memory only, and stops cleanly', async () => {
    const credentials = newKey();
    const stub = await startEventBridgeStub({ credentials, busName: BUS, maxEvents: 2 });
    const client = new EventBridgeClient({ region: REGION, credentials, endpoint: stub.endpoint });
    try {
      await client.send(new PutEventsCommand({ Entries: [entry(), entry(), entry()] }));

      expect(stub.events().map((event) => event.detail.connectionId)).toEqual([`c-${serial - 1}`, `c-${serial}`]);
    } finally {
      client.destroy();
      await stub.stop();
    }
  });
});
