/**
 * The whole broker as one reusable construct: tables, secret, functions, HTTP API, sweeper schedule, alarms.
 */
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct, type IConstruct } from 'constructs';
import type { z } from 'zod';
import { policyDocumentSchema } from '../lambdas/broker/policy';
import {
  ConfigError,
  configKeys,
  FUNCTION_CONFIG,
  loadConfig,
  sweeperConfigSchema,
  writeConfigSchema,
  type BrokerFunctionName,
  type ConfigKey,
  type ConfigSchema,
} from '../lambdas/config';
import { connectionsTable, idempotencyTable, CONNECTIONS, type TableDefinition } from '../lambdas/store/tables';
import { API_ROUTES } from '../lambdas/handlers/routes';
import { BrokerFunction } from './broker-function';

/** The policy document as written (defaults may be left out); validated with the runtime's own schema. */
export type BrokerPolicyInput = z.input<typeof policyDocumentSchema>;

export type BrokerLogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

export interface ConnectionBrokerProps {
  /**
   * Who may open what (see `lambdas/broker/policy.ts`). Validated at synth time with the same schema the
   * functions use at cold start, so a bad policy fails `cdk synth`, not the first request.
   * @default - deny everything: no rules, no admins
   */
  readonly policy?: BrokerPolicyInput;
  /**
   * The remote.it credentials secret (JSON, see docs/OPERATIONS.md). Import an existing one with
   * `Secret.fromSecretCompleteArn` (and its KMS key, if customer-managed).
   * @default - a new secret with a random placeholder value, kept when the stack is deleted; put the JSON in it
   */
  readonly secret?: secretsmanager.ISecret;
  /** @default 'https://api.remote.it/apv/v27' (the runtime's default) */
  readonly remoteitApiUrl?: string;
  /** remote.it request signature scheme for access-key credentials. @default 'cavage' (the runtime's default) */
  readonly signatureScheme?: 'cavage' | 'rfc9421';
  /**
   * How often the sweeper runs. The sweeper's timeout equals it (each run's budget ends before the next one
   * starts), and the lag alarm fires above two of it. Whole minutes, 1 to 15.
   * @default Duration.minutes(1)
   */
  readonly sweepInterval?: Duration;
  /** Shards of the sparse "due" index (hot-partition safety). @default 8 (the runtime's default) */
  readonly dueShards?: number;
  /** Lease when a request names none. @default Duration.seconds(900) (the runtime's default) */
  readonly defaultLease?: Duration;
  /** A pending record older than this is settled by the sweeper. @default Duration.seconds(120) (the runtime's default) */
  readonly pendingGrace?: Duration;
  /** Connections the sweeper stops at once. @default 16 (the runtime's default) */
  readonly sweeperConcurrency?: number;
  /** Stop attempts before a connection is marked `stop_failed` (alarmed). @default 8 (the runtime's default) */
  readonly sweeperMaxAttempts?: number;
  /** Default-stage throttling of the HTTP API. @default { rateLimit: 50, burstLimit: 100 } */
  readonly throttle?: apigw.ThrottleSettings;
  /** @default 'INFO' */
  readonly logLevel?: BrokerLogLevel;
  /** Retention of function and access logs. @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** Powertools service name: the `service` dimension of every metric. @default 'remoteit-broker' */
  readonly serviceName?: string;
  /** CloudWatch namespace of the broker's metrics. @default 'RemoteitBroker' */
  readonly metricsNamespace?: string;
  /** Where alarms are sent. @default - alarms change state without notifying anyone */
  readonly alarmTopic?: sns.ITopic;
}

/** A prop the construct cannot deploy: raised at synth time, naming the prop (never a secret value). */
export class ConnectionBrokerPropsError extends Error {
  readonly code = 'connection_broker_props_invalid';
  constructor(readonly prop: string, detail: string) {
    super(`ConnectionBroker: ${prop} ${detail}`);
    this.name = 'ConnectionBrokerPropsError';
  }
}

/** Lambda caps the whole environment at 4 KB; the policy must leave room for the other variables. */
const MAX_POLICY_BYTES = 3072;

/** Alarm metrics are published per minute by Lambda, API Gateway and Powertools alike. */
const ONE_MINUTE = Duration.minutes(1);

/**
 * The remote.it connection broker: an IAM-authorised HTTP API that opens and stops short-lived remote.it
 * proxy connections, records them in DynamoDB, and a scheduled sweeper that stops every connection whose
 * lease has ended.
 *
 * Functions: one per access level, not one per route. `GET` routes run in a read function whose role can
 * only read the connections table: it holds neither the remote.it secret nor any write permission, so a bug
 * or an injection in the read path can neither open connections nor change records. The open / renew / stop
 * routes share a write function (they need the same secret and tables, and one warm function serves them
 * all). The sweeper has its own function with exactly what sweeping needs. Per-route functions would add
 * cold starts and deployment weight without narrowing any permission further. Each function's environment
 * holds only the variables its own config schema parses (`FUNCTION_CONFIG` in lambdas/config.ts): the read
 * function is not even told the secret's name.
 *
 * Secure defaults: AWS_IAM on every route, default-stage throttling, JSON access logs; tables on demand
 * with PITR, deletion protection, RETAIN and TTL; functions traced, logging to retained log groups under
 * roles scoped to their own log group; the sweeper serialised (reserved concurrency 1) with failed runs in
 * an encrypted dead-letter queue; alarms on 5xx rate, function errors, failed stops, sweeper lag and DLQ.
 */
export class ConnectionBroker extends Construct {
  readonly api: apigw.HttpApi;
  readonly stage: apigw.HttpStage;
  /** The API's base URL (default stage), ending in `/`. */
  readonly url: string;
  readonly connectionsTable: dynamodb.TableV2;
  readonly idempotencyTable: dynamodb.TableV2;
  readonly secret: secretsmanager.ISecret;
  readonly readFunction: BrokerFunction;
  readonly writeFunction: BrokerFunction;
  readonly sweeperFunction: BrokerFunction;
  readonly sweepSchedule: events.Rule;
  /** Failed sweeper runs (and schedule deliveries that could not be made). */
  readonly deadLetterQueue: sqs.Queue;
  readonly alarms: readonly cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: ConnectionBrokerProps = {}) {
    super(scope, id);
    const sweepInterval = validSweepInterval(props.sweepInterval ?? Duration.minutes(1));
    const policyJson = validPolicyJson(props.policy ?? {});
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;
    const serviceName = props.serviceName ?? 'remoteit-broker';
    const metricsNamespace = props.metricsNamespace ?? 'RemoteitBroker';

    this.connectionsTable = this.table(connectionsTable);
    this.idempotencyTable = this.table(idempotencyTable);
    this.secret = props.secret ?? this.placeholderSecret();

    // Every variable the construct sets, once; each function gets those its schema parses (FUNCTION_CONFIG).
    const runtimeDefaults = {
      ...sweeperConfigSchema.parse(requiredPlaceholders),
      ...writeConfigSchema.parse(requiredPlaceholders),
    };
    const settings: Partial<Record<ConfigKey, string>> = {
      CONNECTIONS_TABLE_NAME: this.connectionsTable.tableName,
      IDEMPOTENCY_TABLE_NAME: this.idempotencyTable.tableName,
      REMOTEIT_SECRET_ID: this.secret.secretArn,
      REMOTEIT_API_URL: props.remoteitApiUrl ?? runtimeDefaults.REMOTEIT_API_URL,
      REMOTEIT_SIGNATURE_SCHEME: props.signatureScheme ?? runtimeDefaults.REMOTEIT_SIGNATURE_SCHEME,
      BROKER_POLICY: policyJson,
      DUE_SHARDS: String(props.dueShards ?? runtimeDefaults.DUE_SHARDS),
      DEFAULT_TTL_SECONDS: String(props.defaultLease?.toSeconds() ?? runtimeDefaults.DEFAULT_TTL_SECONDS),
      // The write function stops too (DELETE) and writes pending records: it shares these with the sweeper.
      SWEEPER_MAX_ATTEMPTS: String(props.sweeperMaxAttempts ?? runtimeDefaults.SWEEPER_MAX_ATTEMPTS),
      PENDING_GRACE_SECONDS: String(props.pendingGrace?.toSeconds() ?? runtimeDefaults.PENDING_GRACE_SECONDS),
      SWEEPER_CONCURRENCY: String(props.sweeperConcurrency ?? runtimeDefaults.SWEEPER_CONCURRENCY),
      SWEEPER_SAFETY_MARGIN_MS: String(runtimeDefaults.SWEEPER_SAFETY_MARGIN_MS),
    };
    const powertools = {
      POWERTOOLS_SERVICE_NAME: serviceName,
      POWERTOOLS_METRICS_NAMESPACE: metricsNamespace,
      POWERTOOLS_LOG_LEVEL: props.logLevel ?? 'INFO',
    };
    const environmentOf = (name: BrokerFunctionName) => ({ ...pickSettings(settings, FUNCTION_CONFIG[name]), ...powertools });
    const environment: Record<BrokerFunctionName, Record<string, string>> = {
      'connections-read': environmentOf('connections-read'),
      'connections-write': environmentOf('connections-write'),
      sweeper: environmentOf('sweeper'),
    };
    validEnvironments(environment);

    this.readFunction = new BrokerFunction(this, 'ReadFunction', {
      entry: 'lambdas/handlers/connections-read.ts',
      description: 'remote.it broker: GET /connections, GET /connections/{id}',
      environment: environment['connections-read'],
      timeout: Duration.seconds(10),
      logRetention,
    });
    this.writeFunction = new BrokerFunction(this, 'WriteFunction', {
      entry: 'lambdas/handlers/connections-write.ts',
      description: 'remote.it broker: POST /connections, POST /connections/{id}/renew, DELETE /connections/{id}',
      environment: environment['connections-write'],
      // API Gateway answers the caller after 30 s, but the function must outlive that: a connect (remote.it
      // waits for the proxy) followed by a compensating stop with retries can take about a minute, and a
      // timeout in between would leave a live proxy unrecorded.
      timeout: Duration.seconds(90),
      logRetention,
    });

    this.deadLetterQueue = new sqs.Queue(this, 'SweeperDeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.sweeperFunction = new BrokerFunction(this, 'SweeperFunction', {
      entry: 'lambdas/handlers/sweeper.ts',
      description: 'remote.it broker: stops connections whose lease has ended, retries failed stops',
      environment: environment.sweeper,
      // One run's budget is one interval: it ends (SWEEPER_SAFETY_MARGIN_MS early) before the next run starts.
      timeout: sweepInterval,
      // Runs never pile up: a tick that arrives while a run is still going waits or is dropped, never doubles.
      reservedConcurrentExecutions: 1,
      // The next tick is the retry; a run that failed or could not start within one interval goes to the DLQ.
      retryAttempts: 0,
      maxEventAge: sweepInterval,
      onFailure: new SqsDestination(this.deadLetterQueue),
      logRetention,
    });
    // An EventBridge rule invokes through the function's resource policy: no role, no wildcard grant.
    this.sweepSchedule = new events.Rule(this, 'SweepSchedule', {
      description: 'Runs the remote.it broker sweeper',
      schedule: events.Schedule.rate(sweepInterval),
      targets: [
        new targets.LambdaFunction(this.sweeperFunction, {
          // Deliveries EventBridge could not make within one interval land in the same dead-letter queue.
          deadLetterQueue: this.deadLetterQueue,
          retryAttempts: 2,
          maxEventAge: sweepInterval,
        }),
      ],
    });

    this.grantLeastPrivilege();
    this.api = new apigw.HttpApi(this, 'Api', {
      description: 'remote.it connection broker (AWS_IAM on every route)',
      defaultAuthorizer: new HttpIamAuthorizer(),
      // The default stage is created below, with throttling and access logs the shortcut cannot configure.
      createDefaultStage: false,
    });
    this.stage = this.api.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: props.throttle ?? { rateLimit: 50, burstLimit: 100 },
      accessLogSettings: {
        destination: new apigw.LogGroupLogDestination(
          new logs.LogGroup(this, 'AccessLogs', { retention: logRetention, removalPolicy: RemovalPolicy.RETAIN }),
        ),
        format: accessLogFormat,
      },
    });
    this.url = this.stage.url;
    const readIntegration = new HttpLambdaIntegration('ReadIntegration', this.readFunction);
    const writeIntegration = new HttpLambdaIntegration('WriteIntegration', this.writeFunction);
    // The route table is shared with the handlers (which dispatch on these route keys) and the local gateway.
    for (const route of API_ROUTES) {
      this.api.addRoutes({
        path: route.path,
        methods: [apigw.HttpMethod[route.method]],
        integration: route.function === 'connections-read' ? readIntegration : writeIntegration,
      });
    }

    this.alarms = this.createAlarms({ sweepInterval, serviceName, metricsNamespace, topic: props.alarmTopic });
    this.acknowledgeFindings(props.secret === undefined);
  }

  /**
   * Lets an internal app's role call every broker route (what it may open is still up to the policy).
   * HTTP APIs have no resource policy: callers in other accounts assume a role of this account.
   */
  grantInvoke(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({ grantee, actions: ['execute-api:Invoke'], resourceArns: [this.api.arnForExecuteApi()] });
  }

  private table(definition: TableDefinition): dynamodb.TableV2 {
    const attribute = (key: { name: string; type: 'S' | 'N' }): dynamodb.Attribute => ({
      name: key.name,
      type: key.type === 'S' ? dynamodb.AttributeType.STRING : dynamodb.AttributeType.NUMBER,
    });
    return new dynamodb.TableV2(this, `${definition.logicalName}Table`, {
      partitionKey: attribute(definition.partitionKey),
      ...(definition.sortKey && { sortKey: attribute(definition.sortKey) }),
      globalSecondaryIndexes: definition.globalSecondaryIndexes.map((index) => ({
        indexName: index.indexName,
        partitionKey: attribute(index.partitionKey),
        ...(index.sortKey && { sortKey: attribute(index.sortKey) }),
        ...(index.projection?.type === 'INCLUDE' && {
          projectionType: dynamodb.ProjectionType.INCLUDE,
          nonKeyAttributes: [...index.projection.nonKeyAttributes],
        }),
      })),
      timeToLiveAttribute: definition.timeToLiveAttribute,
      billing: dynamodb.Billing.onDemand(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
      // AWS-managed key: key use shows in CloudTrail, without a customer key's cost and key policy to run.
      encryption: dynamodb.TableEncryptionV2.awsManagedKey(),
    });
  }

  private placeholderSecret(): secretsmanager.Secret {
    return new secretsmanager.Secret(this, 'RemoteitCredentials', {
      description:
        'remote.it credentials for the connection broker. Replace the generated placeholder with JSON, either ' +
        '{"developerKey":"...","accessKeyId":"...","secretAccessKey":"..."} (access key, recommended) or ' +
        '{"developerKey":"...","username":"...","password":"..."}. See docs/OPERATIONS.md.',
      // Credentials outlive a stack deletion: deleting them by accident would take the broker down.
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }

  /** Explicit actions on explicit index ARNs: no `index/*`, no `Scan`, no batch or transaction actions. */
  private grantLeastPrivilege(): void {
    const connections = this.connectionsTable.tableArn;
    const index = (name: string) => `${connections}/index/${name}`;
    const allow = (fn: BrokerFunction, actions: string[], resources: string[]) =>
      fn.addToRolePolicy(new iam.PolicyStatement({ actions, resources }));

    allow(this.readFunction, ['dynamodb:GetItem'], [connections]);
    allow(this.readFunction, ['dynamodb:Query'], [index(CONNECTIONS.ownerIndex), index(CONNECTIONS.dayIndex)]);

    allow(this.writeFunction, ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], [connections]);
    // Reuse reads the owner's connections, the quota its live ones; marking an overridden connection walks the day index.
    allow(
      this.writeFunction,
      ['dynamodb:Query'],
      [index(CONNECTIONS.ownerIndex), index(CONNECTIONS.dayIndex), index(CONNECTIONS.liveIndex)],
    );
    // Powertools idempotency: read, claim, complete and release records.
    allow(
      this.writeFunction,
      ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
      [this.idempotencyTable.tableArn],
    );
    this.secret.grantRead(this.writeFunction);

    allow(this.sweeperFunction, ['dynamodb:GetItem', 'dynamodb:UpdateItem'], [connections]);
    allow(this.sweeperFunction, ['dynamodb:Query'], [index(CONNECTIONS.dueIndex)]);
    this.secret.grantRead(this.sweeperFunction);
  }

  private createAlarms(options: {
    sweepInterval: Duration;
    serviceName: string;
    metricsNamespace: string;
    topic: sns.ITopic | undefined;
  }): cloudwatch.Alarm[] {
    const { sweepInterval, serviceName, metricsNamespace, topic } = options;
    const brokerMetric = (metricName: string, statistic: string, period = ONE_MINUTE) =>
      new cloudwatch.Metric({
        namespace: metricsNamespace,
        metricName,
        dimensionsMap: { service: serviceName },
        statistic,
        period,
      });
    const alarms: cloudwatch.Alarm[] = [];
    const alarm = (id: string, description: string, props: Omit<cloudwatch.AlarmProps, 'alarmDescription'>) => {
      const created = new cloudwatch.Alarm(this, id, {
        alarmDescription: description,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        ...props,
      });
      if (topic) created.addAlarmAction(new SnsAction(topic));
      alarms.push(created);
    };

    alarm('Api5xxRateAlarm', 'More than 5% of broker API requests answered 5xx in 3 of the last 5 minutes.', {
      metric: new cloudwatch.MathExpression({
        expression: 'IF(requests > 0, 100 * errors / requests, 0)',
        usingMetrics: {
          errors: this.api.metricServerError({ period: ONE_MINUTE, statistic: 'Sum' }),
          requests: this.api.metricCount({ period: ONE_MINUTE, statistic: 'Sum' }),
        },
        label: '5xx rate (%)',
        period: ONE_MINUTE,
      }),
      threshold: 5,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
    });
    for (const [id, fn] of [
      ['ReadFunction', this.readFunction],
      ['WriteFunction', this.writeFunction],
      ['SweeperFunction', this.sweeperFunction],
    ] as const) {
      alarm(`${id}ErrorsAlarm`, `${id} failed (crash, timeout or bad configuration): see its log group.`, {
        metric: fn.metricErrors({ period: ONE_MINUTE, statistic: 'Sum' }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
      });
    }
    alarm('StopFailedAlarm', 'The sweeper gave up stopping a connection (status stop_failed): stop it by hand at remote.it.', {
      metric: brokerMetric('StopFailed', 'Sum'),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
    });
    const maxLagSeconds = 2 * sweepInterval.toSeconds();
    alarm('SweeperLagAlarm', `The oldest due connection waited more than ${maxLagSeconds} s (two sweep intervals), or the sweeper stopped reporting.`, {
      // One period per sweep interval: each holds exactly one run's datapoint.
      metric: brokerMetric('LagSeconds', 'Maximum', sweepInterval),
      threshold: maxLagSeconds,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 2,
      // Every run publishes LagSeconds (0 when nothing is due): no data means no sweeper, so no lease ends.
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    alarm('SweepErrorsAlarm', 'Sweeper runs hit store errors (a shard query or a record write) three intervals running: leases may not be ending.', {
      // A failed shard query reads nothing, so LagSeconds looks healthy: this is the alarm that sees it.
      metric: brokerMetric('SweepErrors', 'Sum', sweepInterval),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 3,
    });
    alarm('DeadLetterQueueAlarm', 'A sweeper run failed or could not start: read the messages in the dead-letter queue.', {
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: ONE_MINUTE, statistic: 'Maximum' }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
    });
    return alarms;
  }

  /** Each acknowledgement names one finding on one CloudFormation resource and says why it does not apply. */
  private acknowledgeFindings(createdSecret: boolean): void {
    for (const fn of [this.readFunction, this.writeFunction, this.sweeperFunction]) {
      const policy = fn.role?.node.tryFindChild('DefaultPolicy');
      if (policy) {
        acknowledge(policy, 'AwsSolutions-IAM5[Resource::*]',
          'X-Ray PutTraceSegments and PutTelemetryRecords support no resource-level permissions.');
      }
    }
    for (const fn of [this.readFunction, this.writeFunction]) {
      acknowledge(fn, 'Serverless-LambdaDLQ',
        'Invoked synchronously by API Gateway: the caller gets the error; a DLQ only serves async invocations.');
    }
    acknowledge(this.sweeperFunction, 'Serverless-LambdaDLQ',
      'Failed async invocations go to the on-failure destination (the encrypted dead-letter queue), which also records the error.');
    acknowledge(this.deadLetterQueue, 'AwsSolutions-SQS3',
      'This queue is the dead-letter queue; its messages are alarmed on and read by an operator.');
    acknowledge(this.deadLetterQueue, 'Serverless-SQSRedrivePolicy',
      'This queue is the dead-letter queue: nothing consumes it automatically, so there is nothing to redrive.');
    if (createdSecret) {
      acknowledge(this.secret, 'AwsSolutions-SMG4',
        'remote.it access keys are issued in the remote.it account, which has no rotation API; rotation is a documented manual procedure (docs/OPERATIONS.md).');
    }
  }
}

/** Acknowledges on the construct's CloudFormation resource itself, so the acknowledgement covers nothing else. */
function acknowledge(construct: IConstruct, id: string, reason: string): void {
  Validations.of(construct.node.defaultChild ?? construct).acknowledge({ id, reason });
}

/** Values for the schemas' required variables, so parsing yields the runtime's defaults for the rest. */
const requiredPlaceholders = {
  CONNECTIONS_TABLE_NAME: 'connections',
  IDEMPOTENCY_TABLE_NAME: 'idempotency',
  REMOTEIT_SECRET_ID: 'secret',
  BROKER_POLICY: '{}',
};

/** HTTP API access log, one JSON object a line (`$context` variables of HTTP APIs). */
const accessLogFormat = AccessLogFormat.custom(
  JSON.stringify({
    requestId: '$context.requestId',
    requestTime: '$context.requestTime',
    routeKey: '$context.routeKey',
    status: '$context.status',
    sourceIp: '$context.identity.sourceIp',
    userArn: '$context.identity.userArn',
    userAgent: '$context.identity.userAgent',
    responseLength: '$context.responseLength',
    responseLatency: '$context.responseLatency',
    integrationLatency: '$context.integrationLatency',
    integrationError: '$context.integrationErrorMessage',
    error: '$context.error.message',
  }),
);

function validSweepInterval(interval: Duration): Duration {
  const minutes = interval.toSeconds() / 60;
  if (!Number.isInteger(minutes) || minutes < 1 || minutes > 15) {
    throw new ConnectionBrokerPropsError('sweepInterval', 'must be whole minutes from 1 to 15 (the sweeper timeout equals it)');
  }
  return interval;
}

function validPolicyJson(policy: BrokerPolicyInput): string {
  const result = policyDocumentSchema.safeParse(policy);
  if (!result.success) {
    const detail = result.error.issues.map((issue) => `${issue.path.join('.') || '(document)'}: ${issue.message}`).join('; ');
    throw new ConnectionBrokerPropsError('policy', `is invalid: ${detail}`);
  }
  const json = JSON.stringify(result.data);
  if (Buffer.byteLength(json) > MAX_POLICY_BYTES) {
    throw new ConnectionBrokerPropsError('policy', `is ${Buffer.byteLength(json)} bytes as JSON; at most ${MAX_POLICY_BYTES} fit in the Lambda environment`);
  }
  return json;
}

/** The settings `schema` parses, and no other: a function never receives a variable it does not read. */
function pickSettings(settings: Partial<Record<ConfigKey, string>>, schema: ConfigSchema): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const key of configKeys(schema) as ConfigKey[]) {
    const value = settings[key];
    if (value !== undefined) picked[key] = value;
  }
  return picked;
}

/** Each function's environment, checked with the schema it parses it with at cold start. */
function validEnvironments(environments: Record<BrokerFunctionName, Record<string, string>>): void {
  const failures = new Map<string, string[]>();
  for (const [name, schema] of Object.entries(FUNCTION_CONFIG) as [BrokerFunctionName, ConfigSchema][]) {
    try {
      loadConfig(schema, environments[name]);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      for (const variable of error.variables) failures.set(variable, [...(failures.get(variable) ?? []), name]);
    }
  }
  if (failures.size > 0) {
    const detail = [...failures].map(([variable, names]) => `${variable} (${names.join(', ')})`).join(', ');
    throw new ConnectionBrokerPropsError('environment', `would fail the cold start: ${detail}`);
  }
}
