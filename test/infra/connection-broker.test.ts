import { Match, Template } from 'aws-cdk-lib/assertions';
import { BrokerStack } from '../../infra/broker-stack';
import { connectionsTable, idempotencyTable, projectionOf, type TableDefinition } from '../../lambdas/store/tables';
import { expectResource, expectResourceProperties, functionId, permissionsOf, render, resourcesOfType, testApp } from './support';

const policy = {
  rules: [{ principals: ['arn:aws:iam::123456789012:role/app-*'], services: ['80:00:00:00:01:*'], maxTtlSeconds: 1800 }],
  admins: ['arn:aws:iam::123456789012:role/broker-admin'],
};

// One synth for the whole file (bundling skipped: the smoke test bundles for real).
let template: Template;
let ids: { read: string; write: string; sweeper: string };
beforeAll(() => {
  const app = testApp({ bundling: false });
  const stack = new BrokerStack(app, 'Broker', { broker: { policy } });
  template = Template.fromStack(stack);
  ids = {
    read: functionId(template, 'remote.it broker: GET'),
    write: functionId(template, 'remote.it broker: POST'),
    sweeper: functionId(template, 'remote.it broker: stops'),
  };
});

const tableId = (definition: TableDefinition) => {
  const [id] = Object.keys(resourcesOfType(template, 'AWS::DynamoDB::GlobalTable')).filter((logicalId) =>
    logicalId.includes(`${definition.logicalName}Table`),
  );
  return id as string;
};
const functionProps = (id: string) => resourcesOfType(template, 'AWS::Lambda::Function')[id]?.Properties ?? {};

describe('ConnectionBroker', () => {
  describe('HTTP API', () => {
    it('requires AWS_IAM on every route when the API is synthesised', () => {
      const routes = Object.values(resourcesOfType(template, 'AWS::ApiGatewayV2::Route'));

      expect(routes).toHaveLength(5);
      expect(routes.map((route) => route.Properties?.AuthorizationType)).toEqual(Array(5).fill('AWS_IAM'));
    });

    it('sends reads to the read function and changes to the write function when routes are mapped', () => {
      const integrations = resourcesOfType(template, 'AWS::ApiGatewayV2::Integration');
      const functionOf = (target: unknown) => {
        const integrationId = render(target).replace('integrations/', '');
        return render(integrations[integrationId]?.Properties?.IntegrationUri).replace(/\.Arn$/, '');
      };

      const routing = Object.fromEntries(
        Object.values(resourcesOfType(template, 'AWS::ApiGatewayV2::Route')).map((route) => [
          route.Properties?.RouteKey,
          functionOf(route.Properties?.Target),
        ]),
      );

      expect(routing).toEqual({
        'GET /connections': ids.read,
        'GET /connections/{id}': ids.read,
        'POST /connections': ids.write,
        'POST /connections/{id}/renew': ids.write,
        'DELETE /connections/{id}': ids.write,
      });
    });

    it('throttles the default stage and writes JSON access logs to a retained log group', () => {
      const [stage] = Object.values(resourcesOfType(template, 'AWS::ApiGatewayV2::Stage'));
      const settings = stage?.Properties?.AccessLogSettings as { DestinationArn: unknown; Format: string };
      const logGroupId = render(settings.DestinationArn).replace(/\.Arn$/, '');

      expect(stage?.Properties).toMatchObject({
        StageName: '$default',
        AutoDeploy: true,
        DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
      });
      expect(JSON.parse(settings.Format)).toMatchObject({ requestId: '$context.requestId', status: '$context.status' });
      expectResource(template, 'AWS::Logs::LogGroup', {
        DeletionPolicy: 'Retain',
        Properties: { RetentionInDays: 30 },
      });
      expect(resourcesOfType(template, 'AWS::Logs::LogGroup')[logGroupId]?.Properties).toEqual({ RetentionInDays: 30 });
    });
  });

  describe('functions', () => {
    it.each(['read', 'write', 'sweeper'] as const)(
      'runs the %s function on Node.js 24, arm64, traced, with source maps and a retained log group',
      (name) => {
        const props = functionProps(ids[name]);
        const logGroupId = render((props.LoggingConfig as { LogGroup: unknown }).LogGroup);
        const logGroup = resourcesOfType(template, 'AWS::Logs::LogGroup')[logGroupId];

        expect(props).toMatchObject({
          Runtime: 'nodejs24.x',
          Architectures: ['arm64'],
          Handler: 'index.handler',
          MemorySize: 512,
          TracingConfig: { Mode: 'Active' },
          Environment: { Variables: expect.objectContaining({ NODE_OPTIONS: '--enable-source-maps' }) },
        });
        expect(logGroup).toMatchObject({ DeletionPolicy: 'Retain', Properties: { RetentionInDays: 30 } });
      },
    );

    const environmentOf = (id: string) => {
      const variables = (functionProps(id).Environment as { Variables: Record<string, unknown> }).Variables;
      return Object.fromEntries(Object.entries(variables).map(([key, value]) => [key, render(value)]));
    };
    const wrapperAndPowertools = {
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: 'remoteit-broker',
      POWERTOOLS_METRICS_NAMESPACE: 'RemoteitBroker',
      POWERTOOLS_LOG_LEVEL: 'INFO',
    };
    // The validated document, with the schema's defaults filled in.
    const deployedPolicy = { rules: [{ ...policy.rules[0], modes: ['latching', 'ip'], maxActive: 10 }], admins: policy.admins };
    const remoteitSettings = () => ({
      REMOTEIT_SECRET_ID: Object.keys(resourcesOfType(template, 'AWS::SecretsManager::Secret'))[0],
      REMOTEIT_API_URL: 'https://api.remote.it/apv/v27',
      REMOTEIT_SIGNATURE_SCHEME: 'cavage',
    });

    it('gives the read function its table and the policy, and nothing of remote.it or the idempotency table', () => {
      const environment = environmentOf(ids.read);

      expect({ ...environment, BROKER_POLICY: JSON.parse(environment.BROKER_POLICY ?? 'null') as unknown }).toEqual({
        ...wrapperAndPowertools,
        CONNECTIONS_TABLE_NAME: tableId(connectionsTable),
        DUE_SHARDS: '8',
        BROKER_POLICY: deployedPolicy,
      });
    });

    it('gives the write function its tables, the policy, remote.it and the stop settings', () => {
      const environment = environmentOf(ids.write);

      expect({ ...environment, BROKER_POLICY: JSON.parse(environment.BROKER_POLICY ?? 'null') as unknown }).toEqual({
        ...wrapperAndPowertools,
        ...remoteitSettings(),
        CONNECTIONS_TABLE_NAME: tableId(connectionsTable),
        IDEMPOTENCY_TABLE_NAME: tableId(idempotencyTable),
        DUE_SHARDS: '8',
        BROKER_POLICY: deployedPolicy,
        DEFAULT_TTL_SECONDS: '900',
        SWEEPER_MAX_ATTEMPTS: '8',
        PENDING_GRACE_SECONDS: '120',
      });
    });

    it('gives the sweeper its table, remote.it and its budget settings, but neither the policy nor the idempotency table', () => {
      expect(environmentOf(ids.sweeper)).toEqual({
        ...wrapperAndPowertools,
        ...remoteitSettings(),
        CONNECTIONS_TABLE_NAME: tableId(connectionsTable),
        DUE_SHARDS: '8',
        SWEEPER_MAX_ATTEMPTS: '8',
        PENDING_GRACE_SECONDS: '120',
        SWEEPER_CONCURRENCY: '16',
        SWEEPER_SAFETY_MARGIN_MS: '10000',
      });
    });

    it('sets timeouts to each budget and reserves concurrency 1 only for the sweeper', () => {
      expect(functionProps(ids.read)).toMatchObject({ Timeout: 10 });
      expect(functionProps(ids.write)).toMatchObject({ Timeout: 90 });
      expect(functionProps(ids.sweeper)).toMatchObject({ Timeout: 60, ReservedConcurrentExecutions: 1 });
      expect(functionProps(ids.read).ReservedConcurrentExecutions).toBeUndefined();
      expect(functionProps(ids.write).ReservedConcurrentExecutions).toBeUndefined();
    });
  });

  describe('permissions', () => {
    const connectionsArn = () => `${tableId(connectionsTable)}.Arn`;
    const indexArn = (name: string) => `${connectionsArn()}/index/${name}`;
    const baseline = (fn: 'read' | 'write' | 'sweeper') => {
      const logGroup = render((functionProps(ids[fn]).LoggingConfig as { LogGroup: unknown }).LogGroup);
      return {
        'logs:CreateLogStream': [`${logGroup}.Arn`],
        'logs:PutLogEvents': [`${logGroup}.Arn`],
        'xray:PutTelemetryRecords': ['*'],
        'xray:PutTraceSegments': ['*'],
      };
    };

    it('lets the read function read connections and nothing else: no secret, no write', () => {
      const { actions, managedPolicies } = permissionsOf(template, ids.read);

      expect(actions).toEqual({
        ...baseline('read'),
        'dynamodb:GetItem': [connectionsArn()],
        'dynamodb:Query': [indexArn('by-day'), indexArn('by-owner')],
      });
      expect(managedPolicies).toEqual([]);
    });

    it('lets the write function change connections, use idempotency records and read the secret', () => {
      const [secretId] = Object.keys(resourcesOfType(template, 'AWS::SecretsManager::Secret'));
      const idempotencyArn = `${tableId(idempotencyTable)}.Arn`;

      const { actions, managedPolicies } = permissionsOf(template, ids.write);

      expect(actions).toEqual({
        ...baseline('write'),
        'dynamodb:GetItem': [connectionsArn(), idempotencyArn].sort(),
        'dynamodb:PutItem': [connectionsArn(), idempotencyArn].sort(),
        'dynamodb:UpdateItem': [connectionsArn(), idempotencyArn].sort(),
        'dynamodb:DeleteItem': [idempotencyArn],
        'dynamodb:Query': [indexArn('by-day'), indexArn('by-owner'), indexArn('live-by-owner')],
        'secretsmanager:DescribeSecret': [secretId],
        'secretsmanager:GetSecretValue': [secretId],
      });
      expect(managedPolicies).toEqual([]);
    });

    it('lets the sweeper query the due index, update connections, read the secret and dead-letter a run', () => {
      const [secretId] = Object.keys(resourcesOfType(template, 'AWS::SecretsManager::Secret'));
      const [queueId] = Object.keys(resourcesOfType(template, 'AWS::SQS::Queue'));

      const { actions, managedPolicies } = permissionsOf(template, ids.sweeper);

      expect(actions).toEqual({
        ...baseline('sweeper'),
        'dynamodb:GetItem': [connectionsArn()],
        'dynamodb:UpdateItem': [connectionsArn()],
        'dynamodb:Query': [indexArn('due')],
        'secretsmanager:DescribeSecret': [secretId],
        'secretsmanager:GetSecretValue': [secretId],
        'sqs:GetQueueAttributes': [`${queueId}.Arn`],
        'sqs:GetQueueUrl': [`${queueId}.Arn`],
        'sqs:SendMessage': [`${queueId}.Arn`],
      });
      expect(managedPolicies).toEqual([]);
    });
  });

  describe('tables', () => {
    const keySchema = (key: TableDefinition | TableDefinition['globalSecondaryIndexes'][number]) => [
      { AttributeName: key.partitionKey.name, KeyType: 'HASH' },
      ...(key.sortKey ? [{ AttributeName: key.sortKey.name, KeyType: 'RANGE' }] : []),
    ];

    it.each([connectionsTable, idempotencyTable])(
      'builds the $logicalName table from its shared definition: keys, indexes and TTL',
      (definition) => {
        const table = resourcesOfType(template, 'AWS::DynamoDB::GlobalTable')[tableId(definition)];

        expect(table?.Properties?.KeySchema).toEqual(keySchema(definition));
        expect(table?.Properties?.GlobalSecondaryIndexes ?? []).toEqual(
          definition.globalSecondaryIndexes.map((index) => ({
            IndexName: index.indexName,
            KeySchema: keySchema(index),
            Projection: projectionOf(index),
          })),
        );
        expect(table?.Properties?.TimeToLiveSpecification).toEqual({
          AttributeName: definition.timeToLiveAttribute,
          Enabled: true,
        });
      },
    );

    it('gives the quota count a sparse index of live records that copies only their status', () => {
      const table = resourcesOfType(template, 'AWS::DynamoDB::GlobalTable')[tableId(connectionsTable)];
      const indexes = table?.Properties?.GlobalSecondaryIndexes as { IndexName: string; Projection: unknown }[];

      expect(indexes.map((index) => [index.IndexName, index.Projection])).toEqual([
        ['due', { ProjectionType: 'ALL' }],
        ['by-owner', { ProjectionType: 'ALL' }],
        ['by-day', { ProjectionType: 'ALL' }],
        ['live-by-owner', { ProjectionType: 'INCLUDE', NonKeyAttributes: ['status'] }],
      ]);
    });

    it.each([connectionsTable, idempotencyTable])(
      'keeps the $logicalName table safe: on demand, PITR, deletion protection, retained, KMS-encrypted',
      (definition) => {
        const table = resourcesOfType(template, 'AWS::DynamoDB::GlobalTable')[tableId(definition)];

        expect(table).toMatchObject({
          DeletionPolicy: 'Retain',
          UpdateReplacePolicy: 'Retain',
          Properties: {
            BillingMode: 'PAY_PER_REQUEST',
            SSESpecification: { SSEEnabled: true, SSEType: 'KMS' },
            Replicas: [
              expect.objectContaining({
                DeletionProtectionEnabled: true,
                PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
              }),
            ],
          },
        });
      },
    );
  });

  describe('secret', () => {
    it('creates a retained placeholder whose description shows both credential shapes', () => {
      const [secret] = Object.values(resourcesOfType(template, 'AWS::SecretsManager::Secret'));

      expect(secret).toMatchObject({ DeletionPolicy: 'Retain' });
      expect(secret?.Properties?.Description).toEqual(expect.stringContaining('"accessKeyId"'));
      expect(secret?.Properties?.Description).toEqual(expect.stringContaining('"username"'));
    });
  });

  describe('sweeper schedule', () => {
    it('invokes the sweeper every minute with failed deliveries dead-lettered', () => {
      const [queueId] = Object.keys(resourcesOfType(template, 'AWS::SQS::Queue'));

      expectResourceProperties(template, 'AWS::Events::Rule', {
        ScheduleExpression: 'rate(1 minute)',
        State: 'ENABLED',
        Targets: [
          Match.objectLike({
            Arn: { 'Fn::GetAtt': [ids.sweeper, 'Arn'] },
            DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queueId, 'Arn'] } },
            RetryPolicy: { MaximumEventAgeInSeconds: 60, MaximumRetryAttempts: 2 },
          }),
        ],
      });
    });

    it('sends a failed sweeper run to the dead-letter queue instead of retrying it', () => {
      const [queueId] = Object.keys(resourcesOfType(template, 'AWS::SQS::Queue'));

      expectResourceProperties(template, 'AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: ids.sweeper },
        MaximumRetryAttempts: 0,
        MaximumEventAgeInSeconds: 60,
        DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queueId, 'Arn'] } } },
      });
    });

    it('encrypts the dead-letter queue and refuses requests without TLS', () => {
      expectResourceProperties(template, 'AWS::SQS::Queue', { SqsManagedSseEnabled: true });
      expectResourceProperties(template, 'AWS::SQS::QueuePolicy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
    });
  });

  describe('alarms', () => {
    const alarmsNamed = (fragment: string) =>
      Object.entries(resourcesOfType(template, 'AWS::CloudWatch::Alarm')).filter(([id]) => id.includes(fragment));

    it('alarms on the API 5xx rate above 5 percent', () => {
      const [[, alarm] = []] = alarmsNamed('Api5xxRate');
      const metrics = alarm?.Properties?.Metrics as { Expression?: string; MetricStat?: { Metric: { MetricName: string } } }[];

      expect(alarm?.Properties).toMatchObject({ Threshold: 5, ComparisonOperator: 'GreaterThanThreshold' });
      expect(metrics.map((metric) => metric.Expression ?? metric.MetricStat?.Metric.MetricName).sort()).toEqual(
        ['5xx', 'Count', 'IF(requests > 0, 100 * errors / requests, 0)'].sort(),
      );
    });

    it.each(['read', 'write', 'sweeper'] as const)('alarms on any error of the %s function', (name) => {
      expectResourceProperties(template, 'AWS::CloudWatch::Alarm', {
        MetricName: 'Errors',
        Namespace: 'AWS/Lambda',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: ids[name] } }],
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
    });

    it('alarms on any StopFailed and on LagSeconds above two sweep intervals', () => {
      const dimensions = [{ Name: 'service', Value: 'remoteit-broker' }];

      expectResourceProperties(template, 'AWS::CloudWatch::Alarm', {
        Namespace: 'RemoteitBroker',
        MetricName: 'StopFailed',
        Dimensions: dimensions,
        Statistic: 'Sum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
      expectResourceProperties(template, 'AWS::CloudWatch::Alarm', {
        Namespace: 'RemoteitBroker',
        MetricName: 'LagSeconds',
        Dimensions: dimensions,
        Statistic: 'Maximum',
        Period: 60,
        Threshold: 120,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'breaching',
      });
    });

    it('alarms when the dead-letter queue holds a message', () => {
      const [queueId] = Object.keys(resourcesOfType(template, 'AWS::SQS::Queue'));

      expectResourceProperties(template, 'AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
        Threshold: 1,
      });
    });

    it('alarms when sweeper runs hit store errors three intervals running', () => {
      expectResourceProperties(template, 'AWS::CloudWatch::Alarm', {
        Namespace: 'RemoteitBroker',
        MetricName: 'SweepErrors',
        Statistic: 'Sum',
        Period: 60,
        Threshold: 1,
        EvaluationPeriods: 3,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
    });

    it('creates exactly the eight alarms, none notifying when no topic is given', () => {
      const alarms = Object.values(resourcesOfType(template, 'AWS::CloudWatch::Alarm'));

      expect(alarms).toHaveLength(8);
      expect(alarms.map((alarm) => alarm.Properties?.AlarmActions)).toEqual(Array(8).fill(undefined));
    });
  });

  describe('outputs', () => {
    it('outputs the API URL, the execute-api ARN, the table names and the secret ARN', () => {
      const outputs = template.findOutputs('*');
      const [secretId] = Object.keys(resourcesOfType(template, 'AWS::SecretsManager::Secret'));

      expect(render(outputs.ApiUrl?.Value)).toMatch(/^https:\/\/BrokerApi\w+\.execute-api\./);
      expect(render(outputs.ExecuteApiArn?.Value)).toMatch(/:execute-api:.*:BrokerApi\w+\/\*\/\*\/\*$/);
      expect(render(outputs.ConnectionsTableName?.Value)).toBe(tableId(connectionsTable));
      expect(render(outputs.IdempotencyTableName?.Value)).toBe(tableId(idempotencyTable));
      expect(render(outputs.SecretArn?.Value)).toBe(secretId);
    });
  });
});
