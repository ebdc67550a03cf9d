import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { Context, DynamoDBRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import type { ConnectionRecord } from '../../../lambdas/broker/model';
import type * as AuditHandler from '../../../lambdas/handlers/audit';
import { toItem } from '../../../lambdas/store/codec';
import { CONNECTIONS } from '../../../lambdas/store/tables';
import { connectionRecord } from '../../fixtures/memory-store';

const BUS = 'remoteit-broker-audit';
const eventBridge = mockClient(EventBridgeClient);
let handler: typeof AuditHandler.handler;

beforeAll(() => {
  process.env.AUDIT_BUS_NAME = BUS;
  // Required after the env it reads at load, from this file's module registry: the mock is on its client class.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  handler = (require('../../../lambdas/handlers/audit') as typeof AuditHandler).handler;
});
afterAll(() => {
  delete process.env.AUDIT_BUS_NAME;
});
beforeEach(() => {
  eventBridge.reset();
  eventBridge.on(PutEventsCommand).callsFake((input: { Entries: unknown[] }) => ({
    FailedEntryCount: 0,
    Entries: input.Entries.map((_, index) => ({ EventId: `e-${index}` })),
  }));
});

const context = { functionName: 'audit', awsRequestId: 'req-1' } as Context;
let sequence = 100;
const image = (record: ConnectionRecord) => marshall(toItem(record, 8), { removeUndefinedValues: true }) as Record<string, never>;

function change(before: ConnectionRecord | undefined, after: ConnectionRecord | undefined): DynamoDBRecord {
  sequence += 1;
  return {
    eventName: before && after ? 'MODIFY' : after ? 'INSERT' : 'REMOVE',
    dynamodb: {
      SequenceNumber: String(sequence),
      ...(before && { OldImage: image(before) }),
      ...(after && { NewImage: image(after) }),
    },
  };
}

/** A change that is an event: a pending record activated. */
function opened(): DynamoDBRecord {
  const active = connectionRecord();
  return change({ ...active, status: 'pending', version: active.version - 1 }, active);
}
/** A change that is none: a claim. */
function claimed(): DynamoDBRecord {
  const active = connectionRecord();
  return change(active, { ...active, status: 'stopping', stopReason: 'lease_ended', version: active.version + 1 });
}
const sequences = (records: DynamoDBRecord[]) => records.map((record) => ({ itemIdentifier: record.dynamodb?.SequenceNumber }));
const sentEntries = () => eventBridge.commandCalls(PutEventsCommand).flatMap((call) => call.args[0].input.Entries ?? []);

describe('the audit handler', () => {
  it('publishes one event per change that is one, in one call, and fails none', async () => {
    const records = [opened(), claimed(), opened(), change(undefined, connectionRecord({ status: 'pending' }))];

    const response = await handler({ Records: records }, context);

    expect(response).toEqual({ batchItemFailures: [] });
    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 1);
    expect(sentEntries().map((entry) => [entry.Source, entry.DetailType, entry.EventBusName])).toEqual([
      ['remoteit-broker', 'Connection Opened', BUS],
      ['remoteit-broker', 'Connection Opened', BUS],
    ]);
  });

  it('publishes nothing, and succeeds, for a batch without an event', async () => {
    const response = await handler({ Records: [claimed(), change(connectionRecord(), undefined)] }, context);

    expect(response).toEqual({ batchItemFailures: [] });
    expect(eventBridge).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('publishes nothing, and succeeds, for an owner\'s quota counter created and changed in the connections table (issue 19)', async () => {
    const counter = (live: number) => marshall({ id: `${CONNECTIONS.quotaCounterPrefix}arn:aws:iam::123456789012:role/app`, live }) as Record<string, never>;
    const records: DynamoDBRecord[] = [
      { eventName: 'INSERT', dynamodb: { SequenceNumber: '1', NewImage: counter(1) } },
      { eventName: 'MODIFY', dynamodb: { SequenceNumber: '2', OldImage: counter(1), NewImage: counter(2) } },
      { eventName: 'MODIFY', dynamodb: { SequenceNumber: '3', OldImage: counter(2), NewImage: counter(1) } },
    ];

    const response = await handler({ Records: records }, context);

    expect(response).toEqual({ batchItemFailures: [] });
    expect(eventBridge).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('reports the record of a failed entry and every record after it, keeping the shard in order', async () => {
    eventBridge.on(PutEventsCommand).resolves({
      FailedEntryCount: 1,
      Entries: [{ EventId: 'e-0' }, { ErrorCode: 'InternalFailure', ErrorMessage: 'Internal Failure' }, { EventId: 'e-2' }],
    });
    const records = [opened(), claimed(), opened(), claimed(), opened()];

    const response = await handler({ Records: records }, context);

    expect(response.batchItemFailures).toEqual(sequences(records.slice(2)));
  });

  it('reports from the first record with an event when PutEvents fails whole', async () => {
    eventBridge.on(PutEventsCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    const records = [claimed(), opened(), opened()];

    const response = await handler({ Records: records }, context);

    expect(response.batchItemFailures).toEqual(sequences(records.slice(1)));
  });

  it('sends more than 10 events in calls of 10, and reports from the first record of a call that failed', async () => {
    eventBridge
      .on(PutEventsCommand)
      .resolvesOnce({ FailedEntryCount: 0, Entries: Array.from({ length: 10 }, (_, index) => ({ EventId: `e-${index}` })) })
      .rejects(new Error('unavailable'));
    const records = Array.from({ length: 12 }, opened);

    const response = await handler({ Records: records }, context);

    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 2);
    expect(response.batchItemFailures).toEqual(sequences(records.slice(10)));
  });

  it('publishes what comes before a record it cannot decode, and reports that record and all after it', async () => {
    const broken: DynamoDBRecord = { eventName: 'MODIFY', dynamodb: { SequenceNumber: '999', NewImage: { status: { BAD: 'x' } as never } } };
    const records = [opened(), broken, opened()];

    const response = await handler({ Records: records }, context);

    expect(sentEntries()).toHaveLength(1);
    expect(response.batchItemFailures).toEqual(sequences(records.slice(1)));
  });

  it('puts no proxy address on the bus', async () => {
    await handler({ Records: [opened()] }, context);

    const [entry] = sentEntries();
    expect(entry?.Detail).toBeDefined();
    expect(entry?.Detail).not.toContain('proxy18.rt3.io');
    expect(entry?.Detail).not.toContain('38575');
  });
});
