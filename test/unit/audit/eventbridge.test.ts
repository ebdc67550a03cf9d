import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import {
  MAX_ENTRIES_BYTES,
  MAX_ENTRIES_PER_CALL,
  NOT_SENT,
  chunksOf,
  createEventBridgeAuditPublisher,
  entrySize,
  toEntry,
} from '../../../lambdas/audit/eventbridge';
import { AUDIT_EVENT_TYPES, AUDIT_SOURCE, type AuditEvent } from '../../../lambdas/broker/audit';

const BUS = 'arn:aws:events:us-east-1:123456789012:event-bus/remoteit-broker-audit';
const eventBridge = mockClient(EventBridgeClient);
beforeEach(() => eventBridge.reset());

const event = (index: number): AuditEvent => ({
  detailType: AUDIT_EVENT_TYPES.opened,
  time: new Date(Date.parse('2030-01-01T00:00:00.000Z') + index * 1000).toISOString(),
  detail: {
    connectionId: `01JCONN${String(index).padStart(19, '0')}`,
    owner: 'arn:aws:iam::123456789012:role/app',
    callerArn: 'arn:aws:sts::123456789012:assumed-role/app/s',
    actor: 'arn:aws:sts::123456789012:assumed-role/app/s',
    serviceId: '80:00:00:00:01:02:03:04',
    mode: 'latching',
    hostIp: '255.255.255.255',
    status: 'active',
    previousStatus: 'pending',
    createdAt: '2030-01-01T00:00:00.000Z',
    leaseExpiresAt: '2030-01-01T00:15:00.000Z',
    stopAttempts: 0,
    at: '2030-01-01T00:00:01.000Z',
    version: 1,
  },
});
const events = (count: number) => Array.from({ length: count }, (_, index) => event(index));
const publisher = () => createEventBridgeAuditPublisher({ client: new EventBridgeClient({ region: 'us-east-1' }), busName: BUS });
const published = (entries: readonly unknown[]) => ({ FailedEntryCount: 0, Entries: entries.map((_, index) => ({ EventId: `e-${index}` })) });

describe('the EventBridge audit publisher', () => {
  it('sends each event as an entry: the source, its detail-type, its detail as JSON, its time, the bus', async () => {
    eventBridge.on(PutEventsCommand).callsFake((input: { Entries: unknown[] }) => published(input.Entries));
    const one = event(1);

    const failed = await publisher().publish([one]);

    expect(failed).toEqual([]);
    expect(eventBridge).toHaveReceivedCommandWith(PutEventsCommand, {
      Entries: [{ Source: AUDIT_SOURCE, DetailType: 'Connection Opened', Detail: JSON.stringify(one.detail), Time: new Date(one.time), EventBusName: BUS }],
    });
  });

  it('sends at most 10 entries a call, in order', async () => {
    eventBridge.on(PutEventsCommand).callsFake((input: { Entries: unknown[] }) => published(input.Entries));

    const failed = await publisher().publish(events(23));

    expect(failed).toEqual([]);
    const calls = eventBridge.commandCalls(PutEventsCommand).map((call) => call.args[0].input.Entries ?? []);
    expect(calls.map((entries) => entries.length)).toEqual([10, 10, 3]);
    expect(calls.flat().map((entry) => (JSON.parse(entry.Detail ?? '{}') as { connectionId: string }).connectionId)).toEqual(
      events(23).map((one) => ('connectionId' in one.detail ? one.detail.connectionId : undefined)),
    );
  });

  it('makes no call for no events', async () => {
    expect(await publisher().publish([])).toEqual([]);
    expect(eventBridge).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('answers the entries EventBridge failed, by their place, with its code and message', async () => {
    eventBridge.on(PutEventsCommand).resolves({
      FailedEntryCount: 1,
      Entries: [{ EventId: 'e-0' }, { ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' }, { EventId: 'e-2' }],
    });

    const failed = await publisher().publish(events(3));

    expect(failed).toEqual([{ index: 1, errorCode: 'ThrottlingException', errorMessage: 'Rate exceeded' }]);
  });

  it('takes an entry the answer does not account for as not published', async () => {
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-0' }] });

    const failed = await publisher().publish(events(2));

    expect(failed).toEqual([{ index: 1, errorCode: 'UnknownFailure' }]);
  });

  it('fails every entry of a call that fails whole, and sends none of the calls after a failure', async () => {
    eventBridge
      .on(PutEventsCommand)
      .resolvesOnce(published(events(10)))
      .rejectsOnce(Object.assign(new Error('Service is unavailable'), { name: 'ServiceUnavailableException' }))
      .resolves(published(events(10)));

    const failed = await publisher().publish(events(25));

    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 2);
    expect(failed.map((entry) => entry.index)).toEqual(Array.from({ length: 15 }, (_, index) => index + 10));
    expect(failed[0]).toEqual({ index: 10, errorCode: 'ServiceUnavailableException', errorMessage: 'Service is unavailable' });
    expect(failed[10]).toEqual({ index: 20, errorCode: NOT_SENT });
  });

  it('stops after a call with a failed entry too: what follows is retried with it', async () => {
    eventBridge.on(PutEventsCommand).resolvesOnce({
      FailedEntryCount: 1,
      Entries: [...published(events(9)).Entries, { ErrorCode: 'InternalFailure', ErrorMessage: 'Internal Failure' }],
    });

    const failed = await publisher().publish(events(12));

    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 1);
    expect(failed).toEqual([
      { index: 9, errorCode: 'InternalFailure', errorMessage: 'Internal Failure' },
      { index: 10, errorCode: NOT_SENT },
      { index: 11, errorCode: NOT_SENT },
    ]);
  });

  describe('sizes', () => {
    it('counts an entry as EventBridge does: Time 14 bytes, the UTF-8 bytes of Source, DetailType, Detail and each Resource', () => {
      const entry: PutEventsRequestEntry = { Time: new Date(), Source: 'abc', DetailType: 'dé', Detail: '{"a":"€"}', Resources: ['r1', 'r22'] };

      expect(entrySize(entry)).toBe(14 + 3 + 3 + 11 + 2 + 3);
      expect(entrySize(toEntry(event(0), BUS))).toBeLessThan(2_048);
    });

    it('starts a new call before the entries would pass 256 KB', () => {
      const big = (id: number): PutEventsRequestEntry => ({ Source: 's', DetailType: 't', Detail: JSON.stringify({ id, pad: 'x'.repeat(100 * 1024) }) });

      const chunks = chunksOf([big(1), big(2), big(3), big(4), big(5)]);

      expect(chunks.map((chunk) => chunk.length)).toEqual([2, 2, 1]);
      for (const chunk of chunks) expect(chunk.reduce((sum, entry) => sum + entrySize(entry), 0)).toBeLessThanOrEqual(MAX_ENTRIES_BYTES);
      expect(MAX_ENTRIES_PER_CALL).toBe(10);
    });
  });
});
