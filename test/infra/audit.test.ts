/**
 * Audit events, the AWS side (infra/audit.ts): the bus (created, or the one given), the audit function on the
 * connections table's stream and the locks table's (its mappings, their filters, its environment, its
 * permissions), its dead-letter queue, its alarms and the stack's outputs.
 */
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { marshall } from '@aws-sdk/util-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import { AUDIT_MAX_RECORD_AGE } from '../../infra/audit';
import { AUDIT_LOCKS_FILTER_PATTERN } from '../../lambdas/audit/settings';
import { BrokerStack } from '../../infra/broker-stack';
import { ConnectionBroker } from '../../infra/connection-broker';
import { auditEventFor } from '../../lambdas/broker/audit';
import { CONNECTION_STATUSES } from '../../lambdas/broker/model';
import { connectionRecord } from '../fixtures/memory-store';
import {
  expectResourceProperties,
  filterMatches,
  filterPatternOf,
  functionId,
  permissionsOf,
  render,
  resourcesOfType,
  streamRecord,
  testApp,
} from './support';

const AUDIT = 'remote.it broker: publishes';

// One synth of the default deployment for the file (bundling skipped: the smoke test bundles for real).
let template: Template;
let auditId: string;
beforeAll(() => {
  template = Template.fromStack(new BrokerStack(testApp({ bundling: false }), 'Broker'));
  auditId = functionId(template, AUDIT);
});

const logicalIdOf = (type: string, prefix: string) => {
  const matches = Object.keys(resourcesOfType(template, type)).filter((id) => new RegExp(`^Broker${prefix}[0-9A-F]{8}$`).test(id));
  if (matches.length !== 1) throw new Error(`expected one ${type} ${prefix}, found ${matches.length}`);
  return matches[0] as string;
};
const busId = () => logicalIdOf('AWS::Events::EventBus', 'AuditBus');
const deadLetterId = () => logicalIdOf('AWS::SQS::Queue', 'AuditDeadLetterQueue');
const tableId = () => logicalIdOf('AWS::DynamoDB::GlobalTable', 'ConnectionsTable');
const locksTableId = () => logicalIdOf('AWS::DynamoDB::GlobalTable', 'LocksTable');
/** The function's event source mapping on the stream of the table `table` (a logical id). */
const auditMapping = (from: Template, fn: string, table = tableId()) => {
  const mappings = Object.values(resourcesOfType(from, 'AWS::Lambda::EventSourceMapping')).filter(
    (mapping) => render(mapping.Properties?.FunctionName) === fn && render(mapping.Properties?.EventSourceArn) === `${table}.StreamArn`,
  );
  if (mappings.length !== 1) throw new Error(`expected one event source mapping for ${fn} on ${table}, found ${mappings.length}`);
  return mappings[0]?.Properties ?? {};
};
const environmentOf = (from: Template, fn: string) => {
  const variables = (resourcesOfType(from, 'AWS::Lambda::Function')[fn]?.Properties?.Environment as { Variables: Record<string, unknown> })
    .Variables;
  return Object.fromEntries(Object.entries(variables).map(([key, value]) => [key, render(value)]));
};

describe('audit events', () => {
  describe('the bus', () => {
    it('is created by the construct when none is given, named by CDK (EventBridge requires a name), with no policy opening it', () => {
      const buses = resourcesOfType(template, 'AWS::Events::EventBus');

      expect(Object.keys(buses)).toEqual([busId()]);
      expect(buses[busId()]?.Properties?.Name).toMatch(/^BrokerAuditBus[0-9A-F]{8}$/);
      expect(resourcesOfType(template, 'AWS::Events::EventBusPolicy')).toEqual({});
      expect(buses[busId()]?.Properties?.Policy).toBeUndefined();
    });

    it('is output by ARN and name', () => {
      const outputs = template.findOutputs('*');

      expect(render(outputs.AuditEventBusArn?.Value)).toBe(`${busId()}.Arn`);
      expect(render(outputs.AuditEventBusName?.Value)).toBe(busId());
      expect(render(outputs.AuditDeadLetterQueueUrl?.Value)).toBe(deadLetterId());
    });
  });

  describe('the audit function', () => {
    it('is read from the connections table\'s stream from its oldest record, 100 changes a batch, retrying only what failed, then recording it', () => {
      const { FilterCriteria, ...mapping } = auditMapping(template, auditId);

      expect(mapping).toEqual({
        FunctionName: { Ref: auditId },
        EventSourceArn: { 'Fn::GetAtt': [tableId(), 'StreamArn'] },
        StartingPosition: 'TRIM_HORIZON',
        BatchSize: 100,
        BisectBatchOnFunctionError: true,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        // Unlimited retries, bounded by the record age: 12 hours, half the stream's 24-hour retention.
        MaximumRetryAttempts: -1,
        MaximumRecordAgeInSeconds: 12 * 3600,
        DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [deadLetterId(), 'Arn'] } } },
      });
      expect(FilterCriteria).toEqual({ Filters: [{ Pattern: expect.any(String) }] });
      expect(AUDIT_MAX_RECORD_AGE.toSeconds()).toBeLessThan(24 * 3600);
    });

    describe('its stream filter', () => {
      const pattern = () => filterPatternOf(auditMapping(template, auditId));
      const pending = connectionRecord({ status: 'pending', remoteConnectionId: undefined, proxy: undefined, version: 0 });
      const active = connectionRecord({ status: 'active', version: 1 });
      const stopped = { ...active, status: 'stopped' as const, stoppedAt: '2030-01-01T00:15:00.000Z', stopReason: 'lease_ended' as const, version: 3 };

      it('is exactly: MODIFY events of items with a connection status', () => {
        expect(pattern()).toEqual({ eventName: ['MODIFY'], dynamodb: { NewImage: { status: { S: [...CONNECTION_STATUSES] } } } });
      });

      it.each(CONNECTION_STATUSES)('passes a change of a record into %s', (status) => {
        expect(filterMatches(pattern(), streamRecord('MODIFY', active, { ...active, status, version: 2 }))).toBe(true);
      });

      it.each([
        ['an owner\'s quota counter', { id: 'quota#arn:aws:iam::123456789012:role/app', live: 1 }, { id: 'quota#arn:aws:iam::123456789012:role/app', live: 2 }],
        ['an owner\'s opens of a minute', { id: 'opens#arn:aws:iam::123456789012:role/app#1893456000', opens: 1, expiresAt: 1893456060 }, { id: 'opens#arn:aws:iam::123456789012:role/app#1893456000', opens: 2, expiresAt: 1893456060 }],
      ])('keeps out a change of %s, which is no connection', (_, before, after) => {
        expect(filterMatches(pattern(), { eventName: 'MODIFY', dynamodb: { OldImage: marshall(before), NewImage: marshall(after) } })).toBe(false);
      });

      it.each([
        ['an open (pending to active)', pending, active, 'Connection Opened'],
        ['a stop (active to stopped)', active, stopped, 'Connection Stopped'],
      ])('passes %s, which is an event', (_, before, after, detailType) => {
        expect(auditEventFor(before, after)?.detailType).toBe(detailType);
        expect(filterMatches(pattern(), streamRecord('MODIFY', before, after))).toBe(true);
      });

      it.each([
        ['a new record (INSERT: created pending)', 'INSERT' as const, undefined, pending],
        ['a TTL deletion (REMOVE)', 'REMOVE' as const, stopped, undefined],
      ])('keeps out %s, which is no event', (_, eventName, before, after) => {
        expect(auditEventFor(before, after)).toBeUndefined();
        expect(filterMatches(pattern(), streamRecord(eventName, before, after))).toBe(false);
      });
    });

    it('is read from the locks table\'s stream with the same settings as the connections table\'s: the same retries, halving, age bound and dead-letter queue', () => {
      const { FilterCriteria, EventSourceArn, ...locks } = auditMapping(template, auditId, locksTableId());
      const { FilterCriteria: connectionsFilter, EventSourceArn: connectionsSource, ...connections } = auditMapping(template, auditId);

      expect(EventSourceArn).toEqual({ 'Fn::GetAtt': [locksTableId(), 'StreamArn'] });
      expect(connectionsSource).toEqual({ 'Fn::GetAtt': [tableId(), 'StreamArn'] });
      expect(locks).toEqual(connections);
      expect(locks).toMatchObject({ MaximumRetryAttempts: -1, BisectBatchOnFunctionError: true, StartingPosition: 'TRIM_HORIZON' });
      expect(FilterCriteria).not.toEqual(connectionsFilter);
    });

    describe('its locks stream filter', () => {
      const pattern = () => filterPatternOf(auditMapping(template, auditId, locksTableId()));

      it('is exactly: INSERT and MODIFY events', () => {
        expect(pattern()).toEqual({ eventName: ['INSERT', 'MODIFY'] });
        expect(pattern()).toEqual(AUDIT_LOCKS_FILTER_PATTERN);
      });

      it.each([
        ['a lock placed (INSERT)', 'INSERT'],
        ['a lock lifted (MODIFY)', 'MODIFY'],
      ])('passes %s, which is an event', (_, eventName) => {
        expect(filterMatches(pattern(), { eventName, dynamodb: {} })).toBe(true);
      });

      it('keeps out a TTL deletion (REMOVE) of a lifted or lapsed lock, which is no event', () => {
        expect(filterMatches(pattern(), { eventName: 'REMOVE', dynamodb: {} })).toBe(false);
      });
    });

    it('gets exactly its config schema\'s variable: the bus\'s ARN, which PutEvents takes as its bus name', () => {
      expect(environmentOf(template, auditId)).toEqual({
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: 'Broker/Broker',
        POWERTOOLS_METRICS_NAMESPACE: 'RemoteitBroker',
        POWERTOOLS_LOG_LEVEL: 'INFO',
        AUDIT_BUS_NAME: `${busId()}.Arn`,
      });
    });

    it('may put events on its bus alone, read the two streams and record failures: no record, no secret', () => {
      const streamArns = [`${tableId()}.StreamArn`, `${locksTableId()}.StreamArn`].sort();
      const deadLetterArn = `${deadLetterId()}.Arn`;
      const logGroup = render((resourcesOfType(template, 'AWS::Lambda::Function')[auditId]?.Properties?.LoggingConfig as { LogGroup: unknown }).LogGroup);

      const { actions, managedPolicies } = permissionsOf(template, auditId);

      expect(actions).toEqual({
        'logs:CreateLogStream': [`${logGroup}.Arn`],
        'logs:PutLogEvents': [`${logGroup}.Arn`],
        'xray:PutTelemetryRecords': ['*'],
        'xray:PutTraceSegments': ['*'],
        'events:PutEvents': [`${busId()}.Arn`],
        'dynamodb:DescribeStream': streamArns,
        'dynamodb:GetRecords': streamArns,
        'dynamodb:GetShardIterator': streamArns,
        'dynamodb:ListStreams': streamArns,
        // Each stream mapping's on-failure destination is sent to with the function's role (one statement for both).
        'sqs:SendMessage': [deadLetterArn],
        'sqs:GetQueueAttributes': [deadLetterArn],
        'sqs:GetQueueUrl': [deadLetterArn],
      });
      expect(Object.keys(actions).filter((action) => /^(dynamodb:(Get|Put|Update|Delete|Batch)Item|dynamodb:(Query|Scan)|secretsmanager:)/.test(action))).toEqual([]);
      expect(managedPolicies).toEqual([]);
    });

    it('is the only function that may put events anywhere', () => {
      const publishers = Object.keys(resourcesOfType(template, 'AWS::Lambda::Function')).filter(
        (fn) => permissionsOf(template, fn).actions['events:PutEvents'] !== undefined,
      );

      expect(publishers).toEqual([auditId]);
    });
  });

  describe('the audit dead-letter queue', () => {
    it('is encrypted, keeps a message 14 days and refuses requests without TLS', () => {
      const queue = resourcesOfType(template, 'AWS::SQS::Queue')[deadLetterId()];

      expect(queue?.Properties).toEqual({ SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600 });
      expectResourceProperties(template, 'AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: deadLetterId() }],
        PolicyDocument: {
          Statement: [
            {
              Action: 'sqs:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
              Effect: 'Deny',
              Principal: { AWS: '*' },
              Resource: { 'Fn::GetAtt': [deadLetterId(), 'Arn'] },
            },
          ],
          Version: '2012-10-17',
        },
      });
    });
  });

  describe('alarms', () => {
    it('alarms when the audit dead-letter queue holds a message: events were dropped', () => {
      expectResourceProperties(template, 'AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [deadLetterId(), 'QueueName'] } }],
        Statistic: 'Maximum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        EvaluationPeriods: 1,
      });
    });

    it('alarms when the audit function is more than 5 minutes (in milliseconds) behind the stream, for 3 minutes', () => {
      expectResourceProperties(template, 'AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Lambda',
        MetricName: 'IteratorAge',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: auditId } }],
        Statistic: 'Maximum',
        Period: 60,
        Threshold: 300_000,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 3,
      });
    });

    it('alarms on any error of the audit function', () => {
      expectResourceProperties(template, 'AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: auditId } }],
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
    });
  });

  describe('a bus given to the construct', () => {
    const givenArn = 'arn:aws:events:eu-west-1:210987654321:event-bus/central-audit';

    it('is used instead of creating one: the function may put events on it alone, and learns its ARN', () => {
      const stack = new BrokerStack(testApp({ bundling: false }), 'Given', { eventBusArn: givenArn });
      const given = Template.fromStack(stack);
      const fn = functionId(given, AUDIT);
      const outputs = given.findOutputs('*');

      expect(resourcesOfType(given, 'AWS::Events::EventBus')).toEqual({});
      expect(permissionsOf(given, fn).actions['events:PutEvents']).toEqual([givenArn]);
      expect(environmentOf(given, fn).AUDIT_BUS_NAME).toBe(givenArn);
      expect(render(outputs.AuditEventBusArn?.Value)).toBe(givenArn);
      expect(render(outputs.AuditEventBusName?.Value)).toBe('central-audit');
    });

    it('is used as it is when it is a construct of the same stack', () => {
      const stack = new Stack(testApp({ bundling: false }), 'Shared');
      const bus = new events.EventBus(stack, 'SharedBus', { eventBusName: 'shared-audit' });
      const broker = new ConnectionBroker(stack, 'Broker', { eventBus: bus });
      const shared = Template.fromStack(stack);

      expect(broker.auditBus).toBe(bus);
      expect(Object.keys(resourcesOfType(shared, 'AWS::Events::EventBus'))).toEqual([stack.getLogicalId(bus.node.defaultChild as events.CfnEventBus)]);
      expect(permissionsOf(shared, functionId(shared, AUDIT)).actions['events:PutEvents']).toEqual([
        `${stack.getLogicalId(bus.node.defaultChild as events.CfnEventBus)}.Arn`,
      ]);
    });
  });
});
