import { Match, Template } from 'aws-cdk-lib/assertions';
import { BrokerStack } from '../../infra/broker-stack';
import { timerFor } from '../../lambdas/broker/timers';
import { API_ROUTES } from '../../lambdas/handlers/routes';
import { connectionsTable, idempotencyTable, locksTable, projectionOf, type TableDefinition } from '../../lambdas/store/tables';
import { MAX_DELAY_SECONDS } from '../../lambdas/timers/sqs-timers';
import { connectionRecord } from '../fixtures/memory-store';
import {
  expectResource,
  expectResourceProperties,
  filterMatches as matches,
  filterPatternOf,
  functionId,
  permissionsOf,
  render,
  resourcesOfType,
  streamRecord,
  testApp,
} from './support';

const policy = {
  rules: [{ principals: ['arn:aws:iam::123456789012:role/app-*'], services: ['80:00:00:00:01:*'], maxTtlSeconds: 1800 }],
  admins: ['arn:aws:iam::123456789012:role/broker-admin'],
};

// One synth for the whole file (bundling skipped: the smoke test bundles for real).
let template: Template;
let ids: { read: string; open: string; write: string; sweeper: string; timerArm: string; timerFire: string; audit: string };
beforeAll(() => {
  const app = testApp({ bundling: false });
  const stack = new BrokerStack(app, 'Broker', { broker: { policy } });
  template = Template.fromStack(stack);
  ids = {
    read: functionId(template, 'remote.it broker: GET'),
    open: functionId(template, 'remote.it broker: opens'),
    write: functionId(template, 'remote.it broker: renews'),
    sweeper: functionId(template, 'remote.it broker: stops'),
    timerArm: functionId(template, 'remote.it broker: arms'),
    timerFire: functionId(template, 'remote.it broker: fires'),
    audit: functionId(template, 'remote.it broker: publishes'),
  };
});

const tableId = (definition: TableDefinition) => {
  const [id] = Object.keys(resourcesOfType(template, 'AWS::DynamoDB::GlobalTable')).filter((logicalId) =>
    logicalId.includes(`${definition.logicalName}Table`),
  );
  return id as string;
};
/** The logical id of the one AppConfig resource of `type`. */
const appConfigId = (type: string) => {
  const matches = Object.keys(resourcesOfType(template, type));
  if (matches.length !== 1) throw new Error(`expected one ${type}, found ${matches.length}`);
  return matches[0] as string;
};
const functionProps = (id: string) => resourcesOfType(template, 'AWS::Lambda::Function')[id]?.Properties ?? {};
/** The logical id of the construct's queue `name` (`SweeperDeadLetterQueue`, `TimerQueue`, `TimerDeadLetterQueue`, `AuditDeadLetterQueue`). */
const queueId = (name: string) => {
  const matches = Object.keys(resourcesOfType(template, 'AWS::SQS::Queue')).filter((id) => new RegExp(`^Broker${name}[0-9A-F]{8}$`).test(id));
  if (matches.length !== 1) throw new Error(`expected one queue ${name}, found ${matches.length}`);
  return matches[0] as string;
};
const mappingOf = (fn: string) => {
  const mappings = Object.values(resourcesOfType(template, 'AWS::Lambda::EventSourceMapping')).filter(
    (mapping) => render(mapping.Properties?.FunctionName) === fn,
  );
  if (mappings.length !== 1) throw new Error(`expected one event source mapping for ${fn}, found ${mappings.length}`);
  return mappings[0]?.Properties ?? {};
};

describe('ConnectionBroker', () => {
  describe('HTTP API', () => {
    it('requires AWS_IAM on every route when the API is synthesised', () => {
      const routes = Object.values(resourcesOfType(template, 'AWS::ApiGatewayV2::Route'));

      expect(routes).toHaveLength(API_ROUTES.length);
      expect(routes).toHaveLength(9);
      expect(routes.map((route) => route.Properties?.AuthorizationType)).toEqual(Array(9).fill('AWS_IAM'));
    });

    it('sends reads to the read function, opens to the open function and changes to the write function when routes are mapped', () => {
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
        'POST /connections': ids.open,
        'POST /connections/{id}/renew': ids.write,
        'DELETE /connections/{id}': ids.write,
        'POST /locks': ids.write,
        'GET /locks': ids.write,
        'DELETE /locks/{id}': ids.write,
        'GET /me': ids.read,
      });
    });

    it('gives every route a throttle of its own, stops the largest, and creates the stage after the routes it names', () => {
      const [[stageId, stage] = []] = Object.entries(resourcesOfType(template, 'AWS::ApiGatewayV2::Stage'));
      const settings = stage?.Properties?.RouteSettings as Record<string, { ThrottlingRateLimit: number; ThrottlingBurstLimit: number }>;
      const routeIds = Object.keys(resourcesOfType(template, 'AWS::ApiGatewayV2::Route'));

      expect(Object.keys(settings).sort()).toEqual(API_ROUTES.map((route) => route.routeKey).sort());
      expect(settings['DELETE /connections/{id}']).toEqual({ ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 });
      const rates = Object.entries(settings).map(([key, value]) => [key, value.ThrottlingRateLimit] as const);
      expect(rates.every(([key, rate]) => key === 'DELETE /connections/{id}' || rate < 50)).toBe(true);
      expect((template.toJSON() as { Resources: Record<string, { DependsOn?: string[] }> }).Resources[stageId ?? '']?.DependsOn).toEqual(expect.arrayContaining(routeIds));
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
    it.each(['read', 'write', 'sweeper', 'timerArm', 'timerFire', 'audit'] as const)(
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
      POWERTOOLS_SERVICE_NAME: 'Broker/Broker',
      POWERTOOLS_METRICS_NAMESPACE: 'RemoteitBroker',
      POWERTOOLS_LOG_LEVEL: 'INFO',
    };
    // Where the API functions read the policy: the AppConfig application and profile by id, the environment by
    // name (its id would make the functions depend on the environment, which watches their alarms).
    const policySettings = () => ({
      POLICY_APPCONFIG_APPLICATION: appConfigId('AWS::AppConfig::Application'),
      POLICY_APPCONFIG_ENVIRONMENT: 'live',
      POLICY_APPCONFIG_PROFILE: appConfigId('AWS::AppConfig::ConfigurationProfile'),
      POLICY_MAX_AGE_SECONDS: '60',
    });
    const remoteitSettings = () => ({
      REMOTEIT_SECRET_ID: Object.keys(resourcesOfType(template, 'AWS::SecretsManager::Secret'))[0],
      REMOTEIT_API_URL: 'https://api.remote.it/apv/v27',
      REMOTEIT_SIGNATURE_SCHEME: 'cavage',
    });

    it('gives the read function its table and where the policy is, and nothing of remote.it, locks or the idempotency table', () => {
      expect(environmentOf(ids.read)).toEqual({
        ...wrapperAndPowertools,
        ...policySettings(),
        CONNECTIONS_TABLE_NAME: tableId(connectionsTable),
        DUE_SHARDS: '8',
      });
    });

    it('gives the open function its tables, where the policy is, the locks table, remote.it and the stop settings', () => {
      expect(environmentOf(ids.open)).toEqual({
        ...wrapperAndPowertools,
        ...remoteitSettings(),
        ...policySettings(),
        CONNECTIONS_TABLE_NAME: tableId(connectionsTable),
        IDEMPOTENCY_TABLE_NAME: tableId(idempotencyTable),
        LOCKS_TABLE_NAME: tableId(locksTable),
        DUE_SHARDS: '8',
        DEFAULT_TTL_SECONDS: '900',
        SWEEPER_MAX_ATTEMPTS: '8',
        PENDING_GRACE_SECONDS: '120',
      });
    });

    it('gives the write function the connections and locks tables, where the policy is, remote.it and the stop settings, but not the idempotency table', () => {
      expect(environmentOf(ids.write)).toEqual({
        ...wrapperAndPowertools,
        ...remoteitSettings(),
        ...policySettings(),
        CONNECTIONS_TABLE_NAME: tableId(connectionsTable),
        LOCKS_TABLE_NAME: tableId(locksTable),
        DUE_SHARDS: '8',
        SWEEPER_MAX_ATTEMPTS: '8',
        PENDING_GRACE_SECONDS: '120',
      });
    });

    it('gives the sweeper its tables, remote.it and its budget settings, but neither the policy nor the idempotency table', () => {
      expect(environmentOf(ids.sweeper)).toEqual({
        ...wrapperAndPowertools,
        ...remoteitSettings(),
        CONNECTIONS_TABLE_NAME: tableId(connectionsTable),
        LOCKS_TABLE_NAME: tableId(locksTable),
        DUE_SHARDS: '8',
        SWEEPER_MAX_ATTEMPTS: '8',
        PENDING_GRACE_SECONDS: '120',
        SWEEPER_CONCURRENCY: '16',
        SWEEPER_SAFETY_MARGIN_MS: '10000',
      });
    });

    it('gives timer-arm the timer queue\'s URL and the locks table, and nothing else: no connections table, no secret', () => {
      expect(environmentOf(ids.timerArm)).toEqual({
        ...wrapperAndPowertools,
        TIMER_QUEUE_URL: queueId('TimerQueue'),
        LOCKS_TABLE_NAME: tableId(locksTable),
      });
    });

    it('gives timer-fire its table, remote.it, the stop settings and the timer queue\'s URL, but neither the policy nor the idempotency table', () => {
      expect(environmentOf(ids.timerFire)).toEqual({
        ...wrapperAndPowertools,
        ...remoteitSettings(),
        CONNECTIONS_TABLE_NAME: tableId(connectionsTable),
        DUE_SHARDS: '8',
        SWEEPER_MAX_ATTEMPTS: '8',
        PENDING_GRACE_SECONDS: '120',
        TIMER_QUEUE_URL: queueId('TimerQueue'),
      });
    });

    it('sets timeouts to each budget and reserves concurrency 1 only for the sweeper', () => {
      expect(functionProps(ids.read)).toMatchObject({ Timeout: 10 });
      expect(functionProps(ids.write)).toMatchObject({ Timeout: 90 });
      expect(functionProps(ids.sweeper)).toMatchObject({ Timeout: 60, ReservedConcurrentExecutions: 1 });
      expect(functionProps(ids.timerArm)).toMatchObject({ Timeout: 30 });
      expect(functionProps(ids.timerFire)).toMatchObject({ Timeout: 60 });
      expect(functionProps(ids.audit)).toMatchObject({ Timeout: 30 });
      for (const fn of [ids.read, ids.write, ids.timerArm, ids.timerFire, ids.audit]) {
        expect(functionProps(fn).ReservedConcurrentExecutions).toBeUndefined();
      }
    });
  });

  describe('permissions', () => {
    const connectionsArn = () => `${tableId(connectionsTable)}.Arn`;
    const locksArn = () => `${tableId(locksTable)}.Arn`;
    /** The AppConfig configuration the API functions read: application/APP/environment/ENV/configuration/PROFILE. */
    const policyConfigurationArn = () =>
      `arn:AWS::Partition:appconfig:AWS::Region:AWS::AccountId:application/${appConfigId('AWS::AppConfig::Application')}/environment/${appConfigId('AWS::AppConfig::Environment')}/configuration/${appConfigId('AWS::AppConfig::ConfigurationProfile')}`;
    const readsPolicy = () => ({
      'appconfig:GetLatestConfiguration': [policyConfigurationArn()],
      'appconfig:StartConfigurationSession': [policyConfigurationArn()],
    });
    const indexArn = (name: string) => `${connectionsArn()}/index/${name}`;
    const baseline = (fn: keyof typeof ids) => {
      const logGroup = render((functionProps(ids[fn]).LoggingConfig as { LogGroup: unknown }).LogGroup);
      return {
        'logs:CreateLogStream': [`${logGroup}.Arn`],
        'logs:PutLogEvents': [`${logGroup}.Arn`],
        'xray:PutTelemetryRecords': ['*'],
        'xray:PutTraceSegments': ['*'],
      };
    };

    it('lets the read function read connections (GET /me: count the caller\'s live ones) and the deployed policy, and nothing else: no secret, no lock, no write', () => {
      const { actions, managedPolicies } = permissionsOf(template, ids.read);

      expect(actions).toEqual({
        ...baseline('read'),
        ...readsPolicy(),
        'dynamodb:GetItem': [connectionsArn()],
        'dynamodb:Query': [indexArn('by-day'), indexArn('by-owner'), indexArn('live-by-owner')],
      });
      expect(managedPolicies).toEqual([]);
    });

    it('lets the open function create and change connections, use idempotency records, query locks, read the policy and the secret', () => {
      const [secretId] = Object.keys(resourcesOfType(template, 'AWS::SecretsManager::Secret'));
      const idempotencyArn = `${tableId(idempotencyTable)}.Arn`;

      const { actions, managedPolicies } = permissionsOf(template, ids.open);

      expect(actions).toEqual({
        ...baseline('open'),
        ...readsPolicy(),
        'dynamodb:GetItem': [connectionsArn(), idempotencyArn].sort(),
        'dynamodb:PutItem': [connectionsArn(), idempotencyArn].sort(),
        'dynamodb:UpdateItem': [connectionsArn(), idempotencyArn].sort(),
        'dynamodb:DeleteItem': [idempotencyArn],
        // The quota is a counter taken with the record (UpdateItem, PutItem), not a count: no live-by-owner index.
        'dynamodb:Query': [indexArn('by-day'), indexArn('by-owner'), locksArn()].sort(),
        'secretsmanager:DescribeSecret': [secretId],
        'secretsmanager:GetSecretValue': [secretId],
      });
      expect(managedPolicies).toEqual([]);
    });

    it('lets the write function update connections, find those a lock covers, place, read and lift locks, read the policy and the secret: no new connection, no idempotency record', () => {
      const [secretId] = Object.keys(resourcesOfType(template, 'AWS::SecretsManager::Secret'));

      const { actions, managedPolicies } = permissionsOf(template, ids.write);

      expect(actions).toEqual({
        ...baseline('write'),
        ...readsPolicy(),
        'dynamodb:GetItem': [connectionsArn(), locksArn()].sort(),
        'dynamodb:UpdateItem': [connectionsArn(), locksArn()].sort(),
        'dynamodb:PutItem': [locksArn()],
        'dynamodb:Query': [indexArn('due'), locksArn()].sort(),
        'secretsmanager:DescribeSecret': [secretId],
        'secretsmanager:GetSecretValue': [secretId],
      });
      expect(managedPolicies).toEqual([]);
    });

    it.each(['open', 'write'] as const)('gives the %s function no SQS permission at all: timers are armed from the stream, off the request path', (fn) => {
      const { actions } = permissionsOf(template, ids[fn]);

      expect(Object.keys(actions).filter((action) => action.startsWith('sqs:'))).toEqual([]);
    });

    it('lets the sweeper query the due index and the locks, update connections, read the secret and dead-letter a run', () => {
      const [secretId] = Object.keys(resourcesOfType(template, 'AWS::SecretsManager::Secret'));
      const sweeperQueueId = queueId('SweeperDeadLetterQueue');

      const { actions, managedPolicies } = permissionsOf(template, ids.sweeper);

      expect(actions).toEqual({
        ...baseline('sweeper'),
        'dynamodb:GetItem': [connectionsArn()],
        'dynamodb:UpdateItem': [connectionsArn()],
        'dynamodb:Query': [indexArn('due'), locksArn()].sort(),
        'secretsmanager:DescribeSecret': [secretId],
        'secretsmanager:GetSecretValue': [secretId],
        'sqs:GetQueueAttributes': [`${sweeperQueueId}.Arn`],
        'sqs:GetQueueUrl': [`${sweeperQueueId}.Arn`],
        'sqs:SendMessage': [`${sweeperQueueId}.Arn`],
      });
      expect(managedPolicies).toEqual([]);
    });

    it('lets timer-arm read the table\'s stream, query the locks and send timers, and nothing of the connection records or the secret', () => {
      const streamArn = `${tableId(connectionsTable)}.StreamArn`;
      const timerQueueArn = `${queueId('TimerQueue')}.Arn`;
      const deadLetterArn = `${queueId('TimerDeadLetterQueue')}.Arn`;

      const { actions, managedPolicies } = permissionsOf(template, ids.timerArm);

      expect(actions).toEqual({
        ...baseline('timerArm'),
        'dynamodb:Query': [locksArn()],
        'dynamodb:DescribeStream': [streamArn],
        'dynamodb:GetRecords': [streamArn],
        'dynamodb:GetShardIterator': [streamArn],
        'dynamodb:ListStreams': [streamArn],
        'sqs:SendMessage': [deadLetterArn, timerQueueArn].sort(),
        // The stream mapping's on-failure destination is sent to with the function's role.
        'sqs:GetQueueAttributes': [deadLetterArn],
        'sqs:GetQueueUrl': [deadLetterArn],
      });
      expect(managedPolicies).toEqual([]);
    });

    it('lets timer-fire read and update connections, read the secret, consume the timer queue and re-arm on it', () => {
      const [secretId] = Object.keys(resourcesOfType(template, 'AWS::SecretsManager::Secret'));
      const timerQueueArn = `${queueId('TimerQueue')}.Arn`;

      const { actions, managedPolicies } = permissionsOf(template, ids.timerFire);

      expect(actions).toEqual({
        ...baseline('timerFire'),
        'dynamodb:GetItem': [connectionsArn()],
        'dynamodb:UpdateItem': [connectionsArn()],
        'secretsmanager:DescribeSecret': [secretId],
        'secretsmanager:GetSecretValue': [secretId],
        'sqs:ChangeMessageVisibility': [timerQueueArn],
        'sqs:DeleteMessage': [timerQueueArn],
        'sqs:GetQueueAttributes': [timerQueueArn],
        'sqs:GetQueueUrl': [timerQueueArn],
        'sqs:ReceiveMessage': [timerQueueArn],
        'sqs:SendMessage': [timerQueueArn],
      });
      expect(managedPolicies).toEqual([]);
    });
  });

  describe('tables', () => {
    const keySchema = (key: TableDefinition | TableDefinition['globalSecondaryIndexes'][number]) => [
      { AttributeName: key.partitionKey.name, KeyType: 'HASH' },
      ...(key.sortKey ? [{ AttributeName: key.sortKey.name, KeyType: 'RANGE' }] : []),
    ];

    it.each([connectionsTable, idempotencyTable, locksTable])(
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

    it('gives the connections and locks tables the stream of their shared definition, with both images, and the idempotency table none', () => {
      const tables = resourcesOfType(template, 'AWS::DynamoDB::GlobalTable');

      expect(connectionsTable.stream).toBe('NEW_AND_OLD_IMAGES');
      expect(locksTable.stream).toBe('NEW_AND_OLD_IMAGES');
      expect(tables[tableId(connectionsTable)]?.Properties?.StreamSpecification).toEqual({ StreamViewType: connectionsTable.stream });
      expect(tables[tableId(locksTable)]?.Properties?.StreamSpecification).toEqual({ StreamViewType: locksTable.stream });
      expect(tables[tableId(idempotencyTable)]?.Properties?.StreamSpecification).toBeUndefined();
    });

    it('keeps every lock in one partition, sorted by id, with no index: the lock check is one query', () => {
      const table = resourcesOfType(template, 'AWS::DynamoDB::GlobalTable')[tableId(locksTable)];

      expect(table?.Properties?.KeySchema).toEqual([
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'id', KeyType: 'RANGE' },
      ]);
      expect(table?.Properties?.GlobalSecondaryIndexes).toBeUndefined();
      expect(table?.Properties?.TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
    });

    it('gives the live count (GET /me) a sparse index of live records that copies only their status', () => {
      const table = resourcesOfType(template, 'AWS::DynamoDB::GlobalTable')[tableId(connectionsTable)];
      const indexes = table?.Properties?.GlobalSecondaryIndexes as { IndexName: string; Projection: unknown }[];

      expect(indexes.map((index) => [index.IndexName, index.Projection])).toEqual([
        ['due', { ProjectionType: 'ALL' }],
        ['by-owner', { ProjectionType: 'ALL' }],
        ['by-day', { ProjectionType: 'ALL' }],
        ['live-by-owner', { ProjectionType: 'INCLUDE', NonKeyAttributes: ['status'] }],
      ]);
    });

    it.each([connectionsTable, idempotencyTable, locksTable])(
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
      const sweeperQueueId = queueId('SweeperDeadLetterQueue');

      expectResourceProperties(template, 'AWS::Events::Rule', {
        ScheduleExpression: 'rate(1 minute)',
        State: 'ENABLED',
        Targets: [
          Match.objectLike({
            Arn: { 'Fn::GetAtt': [ids.sweeper, 'Arn'] },
            DeadLetterConfig: { Arn: { 'Fn::GetAtt': [sweeperQueueId, 'Arn'] } },
            RetryPolicy: { MaximumEventAgeInSeconds: 60, MaximumRetryAttempts: 2 },
          }),
        ],
      });
    });

    it('sends a failed sweeper run to the dead-letter queue instead of retrying it', () => {
      const sweeperQueueId = queueId('SweeperDeadLetterQueue');

      expectResourceProperties(template, 'AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: ids.sweeper },
        MaximumRetryAttempts: 0,
        MaximumEventAgeInSeconds: 60,
        DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [sweeperQueueId, 'Arn'] } } },
      });
    });

    it('encrypts every queue and refuses requests to it without TLS', () => {
      const queues = resourcesOfType(template, 'AWS::SQS::Queue');
      const tlsOnly = Object.values(resourcesOfType(template, 'AWS::SQS::QueuePolicy'))
        .filter((policy) =>
          (policy.Properties?.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement.some(
            (statement) =>
              statement.Effect === 'Deny' &&
              JSON.stringify(statement.Condition) === JSON.stringify({ Bool: { 'aws:SecureTransport': 'false' } }),
          ),
        )
        .flatMap((policy) => (policy.Properties?.Queues as unknown[]).map(render));

      expect(Object.keys(queues).sort()).toEqual(
        [queueId('SweeperDeadLetterQueue'), queueId('TimerQueue'), queueId('TimerDeadLetterQueue'), queueId('AuditDeadLetterQueue')].sort(),
      );
      expect(Object.values(queues).map((queue) => queue.Properties?.SqsManagedSseEnabled)).toEqual([true, true, true, true]);
      expect(tlsOnly.sort()).toEqual(Object.keys(queues).sort());
    });
  });

  describe('lease timers', () => {
    it('redrives a timer to the timer dead-letter queue after 5 receives, hidden for six timer-fire timeouts each', () => {
      const queues = resourcesOfType(template, 'AWS::SQS::Queue');
      const timerFireTimeout = functionProps(ids.timerFire).Timeout as number;

      expect(queues[queueId('TimerQueue')]?.Properties).toEqual({
        SqsManagedSseEnabled: true,
        VisibilityTimeout: 6 * timerFireTimeout,
        MessageRetentionPeriod: 4 * 24 * 3600,
        RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [queueId('TimerDeadLetterQueue'), 'Arn'] }, maxReceiveCount: 5 },
      });
      expect(6 * timerFireTimeout).toBe(360);
    });

    it('keeps dead-lettered timers longer than the timer queue keeps any', () => {
      const queues = resourcesOfType(template, 'AWS::SQS::Queue');

      expect(queues[queueId('TimerDeadLetterQueue')]?.Properties).toEqual({
        SqsManagedSseEnabled: true,
        MessageRetentionPeriod: 14 * 24 * 3600,
      });
    });

    it('invokes timer-arm from the connections table\'s stream, retrying only failed records, then recording them', () => {
      const { FilterCriteria, ...mapping } = mappingOf(ids.timerArm);

      expect(mapping).toEqual({
        FunctionName: { Ref: ids.timerArm },
        EventSourceArn: { 'Fn::GetAtt': [tableId(connectionsTable), 'StreamArn'] },
        StartingPosition: 'TRIM_HORIZON',
        BatchSize: 100,
        BisectBatchOnFunctionError: true,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        MaximumRetryAttempts: 10,
        MaximumRecordAgeInSeconds: 3600,
        DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queueId('TimerDeadLetterQueue'), 'Arn'] } } },
      });
      expect(FilterCriteria).toEqual({ Filters: [{ Pattern: expect.any(String) }] });
    });

    describe('timer-arm\'s stream filter', () => {
      const pattern = () => filterPatternOf(mappingOf(ids.timerArm));
      const pending = connectionRecord({ status: 'pending' });
      const active = connectionRecord({ status: 'active', leaseExpiresAt: '2030-01-01T00:15:00.000Z' });
      const renewed = { ...active, leaseExpiresAt: '2030-01-01T00:30:00.000Z' };
      const stopping = { ...active, status: 'stopping' as const };
      const stopped = { ...active, status: 'stopped' as const };

      it('is exactly: MODIFY events whose new image is active', () => {
        expect(pattern()).toEqual({ eventName: ['MODIFY'], dynamodb: { NewImage: { status: { S: ['active'] } } } });
      });

      it.each([
        ['an activation', pending, active],
        ['a renew', active, renewed],
      ])('passes %s, which arms a timer', (_, before, after) => {
        expect(timerFor(before, after)).toBeDefined();
        expect(matches(pattern(), streamRecord('MODIFY', before, after))).toBe(true);
      });

      it.each([
        ['a new (pending) record', streamRecord('INSERT', undefined, pending)],
        ['a claim', streamRecord('MODIFY', active, stopping)],
        ['a stop', streamRecord('MODIFY', stopping, stopped)],
        ['a TTL deletion', streamRecord('REMOVE', stopped, undefined)],
      ])('keeps out %s, which arms none', (_, record) => {
        expect(matches(pattern(), record)).toBe(false);
      });
    });

    it('invokes timer-fire from the timer queue at once, 10 timers at a time, retrying only failed timers', () => {
      expect(mappingOf(ids.timerFire)).toEqual({
        FunctionName: { Ref: ids.timerFire },
        EventSourceArn: { 'Fn::GetAtt': [queueId('TimerQueue'), 'Arn'] },
        BatchSize: 10,
        MaximumBatchingWindowInSeconds: 0,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        ScalingConfig: { MaximumConcurrency: 10 },
      });
    });

    it('maps no other event source to any function than the timers\' two and audit\'s two (connections and locks)', () => {
      expect(Object.keys(resourcesOfType(template, 'AWS::Lambda::EventSourceMapping'))).toHaveLength(4);
    });
  });

  describe('alarms', () => {
    const alarmsNamed = (fragment: string) =>
      Object.entries(resourcesOfType(template, 'AWS::CloudWatch::Alarm')).filter(([id]) => id.includes(fragment));

    it("alarms on the rate of the broker's own 5xx above 5 percent, not on remote.it's refusals (which callers can cause)", () => {
      const [[, alarm] = []] = alarmsNamed('ApiFaultRate');
      const metrics = alarm?.Properties?.Metrics as { Expression?: string; MetricStat?: { Metric: { MetricName: string } } }[];

      expect(alarm?.Properties).toMatchObject({ Threshold: 5, ComparisonOperator: 'GreaterThanThreshold' });
      expect(metrics.map((metric) => metric.Expression ?? metric.MetricStat?.Metric.MetricName).sort()).toEqual(
        ['ApiFaults', 'Count', 'IF(requests > 0, 100 * faults / requests, 0)'].sort(),
      );
      expect(alarmsNamed('5xx')).toEqual([]);
    });

    it.each(['read', 'write', 'sweeper', 'timerArm', 'timerFire', 'audit'] as const)('alarms on any error of the %s function', (name) => {
      expectResourceProperties(template, 'AWS::CloudWatch::Alarm', {
        MetricName: 'Errors',
        Namespace: 'AWS/Lambda',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: ids[name] } }],
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
    });

    it('alarms on any StopFailed and on LagSeconds above two sweep intervals', () => {
      const dimensions = [{ Name: 'service', Value: 'Broker/Broker' }];

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

    it.each(['SweeperDeadLetterQueue', 'TimerDeadLetterQueue'])('alarms when the %s holds a message', (name) => {
      expectResourceProperties(template, 'AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId(name), 'QueueName'] } }],
        Statistic: 'Maximum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        EvaluationPeriods: 1,
      });
    });

    it('alarms when the oldest timer has waited longer than SQS\'s longest delay plus 5 minutes, for 3 minutes', () => {
      expectResourceProperties(template, 'AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateAgeOfOldestMessage',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId('TimerQueue'), 'QueueName'] } }],
        Statistic: 'Maximum',
        Period: 60,
        Threshold: MAX_DELAY_SECONDS + 300,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 3,
      });
      // A delayed timer may count its delay: the threshold leaves room for the longest one.
      expect(MAX_DELAY_SECONDS + 300).toBe(1200);
    });

    it('alarms when timer-arm is more than a minute (in milliseconds) behind the stream, for 3 minutes', () => {
      expectResourceProperties(template, 'AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Lambda',
        MetricName: 'IteratorAge',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: ids.timerArm } }],
        Statistic: 'Maximum',
        Period: 60,
        Threshold: 60_000,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 3,
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

    it('alarms when the functions fail to load the policy, for any reason, in 2 of 3 minutes', () => {
      const [[, alarm] = []] = alarmsNamed('PolicyLoadFailuresAlarm');
      const metrics = alarm?.Properties?.Metrics as {
        Id: string;
        Expression?: string;
        MetricStat?: { Metric: { Namespace: string; MetricName: string; Dimensions: { Name: string; Value: string }[] }; Stat: string };
      }[];

      expect(alarm?.Properties).toMatchObject({
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        EvaluationPeriods: 3,
        DatapointsToAlarm: 2,
        TreatMissingData: 'notBreaching',
      });
      expect(metrics.find((metric) => metric.Expression)?.Expression).toBe('unreachable + invalid + empty');
      expect(
        metrics
          .filter((metric) => metric.MetricStat)
          .map(({ Id, MetricStat }) => [Id, MetricStat?.Metric.Namespace, MetricStat?.Metric.MetricName, MetricStat?.Stat, MetricStat?.Metric.Dimensions]),
      ).toEqual(
        ['unreachable', 'invalid', 'empty'].map((reason) => [
          reason,
          'RemoteitBroker',
          'PolicyLoadFailures',
          'Sum',
          [{ Name: 'reason', Value: reason }, { Name: 'service', Value: 'Broker/Broker' }].sort((a, b) => a.Name.localeCompare(b.Name)),
        ]),
      );
    });

    it('creates exactly the eighteen alarms, each saying what to do, none notifying when no topic is given', () => {
      const alarms = Object.values(resourcesOfType(template, 'AWS::CloudWatch::Alarm'));

      expect(alarms).toHaveLength(18);
      expect(alarms.map((alarm) => alarm.Properties?.AlarmActions)).toEqual(Array(18).fill(undefined));
      expect(alarms.filter((alarm) => String(alarm.Properties?.AlarmDescription).length < 40)).toEqual([]);
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
      expect(render(outputs.LocksTableName?.Value)).toBe(tableId(locksTable));
      expect(render(outputs.SecretArn?.Value)).toBe(secretId);
    });

    it('outputs both dead-letter queues\' URLs for the runbook', () => {
      const outputs = template.findOutputs('*');

      expect(render(outputs.DeadLetterQueueUrl?.Value)).toBe(queueId('SweeperDeadLetterQueue'));
      expect(render(outputs.TimerDeadLetterQueueUrl?.Value)).toBe(queueId('TimerDeadLetterQueue'));
    });
  });
});
