/**
 * The whole broker as one reusable construct: tables, secret, policy (AppConfig), functions, HTTP API, sweeper
 * schedule, lease timers, audit events, alarms, dashboard.
 */
import { ArnFormat, Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import type * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { DynamoEventSource, SqsDlq, SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct, type IConstruct } from 'constructs';
import { MIN_TTL_SECONDS } from '../lambdas/broker/model';
import { policyDocumentSchema, type PolicyDocument } from '../lambdas/broker/policy';
import {
  ConfigError,
  configKeys,
  FUNCTION_CONFIG,
  loadConfig,
  sweeperConfigSchema,
  openConfigSchema,
  type BrokerFunctionName,
  type ConfigKey,
  type ConfigSchema,
} from '../lambdas/config';
import { connectionsTable, idempotencyTable, locksTable, CONNECTIONS, type TableDefinition } from '../lambdas/store/tables';
import { API_ROUTES, type ApiFunctionName, type ApiRouteKey } from '../lambdas/handlers/routes';
import {
  TIMER_ARM_FILTER_PATTERN,
  TIMER_ARM_RETRY_ATTEMPTS,
  TIMER_FIRE_TIMEOUT_SECONDS,
  TIMER_QUEUE_MAX_RECEIVES,
  TIMER_QUEUE_VISIBILITY_SECONDS,
} from '../lambdas/timers/settings';
import { MAX_DELAY_SECONDS } from '../lambdas/timers/sqs-timers';
import { acknowledgeNagFinding } from './acknowledge';
import { auditAlarms, createBrokerAudit } from './audit';
import { BrokerFunction, brokerLogGroup, type BrokerLogSettings } from './broker-function';
import { createBrokerDashboard, type BrokerMetric } from './dashboard';
import { BrokerPolicyConfig, POLICY_LOAD_FAILURE_REASONS } from './policy-config';
import type { BrokerPolicyDocument } from './policy-document';

export type { BrokerConnectionMode, BrokerPolicyDocument, BrokerPolicyRule } from './policy-document';
/** The policy document as written; validated with the runtime's own schema. */
export type BrokerPolicyInput = BrokerPolicyDocument;

/**
 * Reserved concurrency per function (`reservedConcurrentExecutions`): what each may take of the account's
 * concurrency, at most. A function over it is throttled: API Gateway answers its callers 5xx, the stream and
 * queue mappings retry. The sweeper is always serialised (1) and has no entry.
 */
export interface BrokerReservedConcurrency {
  /** GET routes. @default - unreserved */
  readonly read?: number;
  /** POST /connections. @default - unreserved */
  readonly open?: number;
  /** Renew, stop and the lock routes. @default - unreserved */
  readonly write?: number;
  /** The connections table's stream: arms lease timers. @default - unreserved */
  readonly timerArm?: number;
  /**
   * The timer queue's consumer. At least its queue mapping's maximum concurrency (10), so that the mapping is
   * never throttled into the dead-letter queue. @default - unreserved
   */
  readonly timerFire?: number;
  /** The tables' streams: publishes audit events. @default - unreserved */
  readonly audit?: number;
}

export type BrokerLogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

/**
 * Each route's own budget (requests per second, burst). Stops get the most, so that a stop gets through
 * whatever else is busy; opens, renews and reads get their own; the admins' lock routes little.
 */
export const DEFAULT_ROUTE_THROTTLES: Readonly<Record<ApiRouteKey, apigw.ThrottleSettings>> = {
  'DELETE /connections/{id}': { rateLimit: 50, burstLimit: 100 },
  'POST /connections': { rateLimit: 20, burstLimit: 40 },
  'POST /connections/{id}/renew': { rateLimit: 20, burstLimit: 40 },
  'GET /connections': { rateLimit: 20, burstLimit: 40 },
  'GET /connections/{id}': { rateLimit: 20, burstLimit: 40 },
  'GET /me': { rateLimit: 10, burstLimit: 20 },
  'POST /locks': { rateLimit: 5, burstLimit: 10 },
  'GET /locks': { rateLimit: 5, burstLimit: 10 },
  'DELETE /locks/{id}': { rateLimit: 5, burstLimit: 10 },
};

export interface ConnectionBrokerProps {
  /**
   * Who may open what (see `lambdas/broker/policy.ts`): the first version of the policy's AppConfig hosted
   * configuration (infra/policy-config.ts), deployed with the stack. Validated at synth time with the same
   * schema the functions parse it with, so a bad policy fails `cdk synth`, not a deployment. Later changes go
   * through AppConfig (docs/OPERATIONS.md, "Changing the policy"); a stack deployment with a different policy
   * deploys it again, over them.
   * @default - deny everything: no rules, no admins
   */
  readonly policy?: BrokerPolicyDocument;
  /**
   * How long a function uses a policy it loaded before asking AppConfig again: a deployed change reaches every
   * function within this (after AppConfig's rollout). Whole seconds, 1 to 60.
   * @default Duration.seconds(60) (the runtime's default)
   */
  readonly policyMaxAge?: Duration;
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
  /** Default-stage throttling of the HTTP API: each route not in `routeThrottles`. @default { rateLimit: 50, burstLimit: 100 } */
  readonly throttle?: apigw.ThrottleSettings;
  /**
   * Each route's own rate and burst (API Gateway route-level throttling), merged over the defaults: every
   * route has a budget of its own, so one caller polling a read cannot make another's open or stop answer 429,
   * and stops get the largest. @default DEFAULT_ROUTE_THROTTLES
   */
  readonly routeThrottles?: Partial<Record<ApiRouteKey, apigw.ThrottleSettings>>;
  /** @default 'INFO' */
  readonly logLevel?: BrokerLogLevel;
  /** Retention of function and access logs. @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /**
   * What deleting the stack (or the construct) does to the three tables and every log group. RETAIN keeps them,
   * and the tables keep deletion protection; DESTROY deletes them, and turns the tables' deletion protection off
   * (CloudFormation could not delete them otherwise): for short-lived stacks only, it deletes every connection
   * record and audit trail with them. SNAPSHOT is refused: DynamoDB tables have no snapshot on deletion. The
   * remote.it credentials secret the construct creates is always retained.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * A customer managed KMS key for the three tables (their items, indexes and streams) and every log group
   * (functions' and the API's access logs). The functions are granted its use on exactly what they read and
   * write. The stack needs an explicit region (`env`), the key must be in it, and its key policy must let
   * CloudWatch Logs use it: for a key created in the same stack the construct adds that statement (service
   * `logs.<region>.amazonaws.com`, for log groups of this account and region); for an imported key, add it to
   * the key policy yourself (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html).
   * @default - AWS-managed keys: DynamoDB's `aws/dynamodb`, CloudWatch Logs' own encryption
   */
  readonly encryptionKey?: kms.IKey;
  /**
   * The API's stage. `$default` is served from the API's root (`https://{apiId}.execute-api.{region}.amazonaws.com/`);
   * any other name is a path prefix (`.../{stageName}/`; the `Location` of a created connection is relative to
   * the request's URL, so it resolves under it). Letters, digits, `-` and `_`, up to 128.
   * @default '$default'
   */
  readonly stageName?: string;
  /**
   * A custom domain for the API, e.g. `broker.example.com`: an API Gateway regional domain (TLS 1.2) with the
   * stage mapped at its root (or at `domainMappingKey`). Needs `certificate`. Point DNS at it yourself: an alias
   * (Route 53) or CNAME to `domain.regionalDomainName`. Callers sign for the broker's region (a custom domain
   * carries none). @default - only the execute-api URL
   */
  readonly domainName?: string;
  /** The ACM certificate for `domainName`, in the stack's region. @default - required with domainName */
  readonly certificate?: acm.ICertificate;
  /** A path under `domainName` the API is mapped at, e.g. `broker` (`https://example.com/broker/`). @default - the domain's root */
  readonly domainMappingKey?: string;
  /** Reserved concurrency per function. @default - unreserved, but the sweeper (always 1) */
  readonly reservedConcurrency?: BrokerReservedConcurrency;
  /**
   * Powertools service name: the `service` dimension of every broker metric (alarms and dashboard follow it),
   * and the `service` of every log line. Letters, digits, spaces and `._-/:#@+=`, up to 255.
   * @default - unique per construct instance: `<stack name>/<construct path inside the stack>`, e.g.
   * `RemoteitBroker/Broker`, so that two brokers (in one stack, or in two stacks of one account) never feed each
   * other's alarms; in a nested stack, whose name is only known at deployment, the construct's full path
   */
  readonly serviceName?: string;
  /**
   * CloudWatch namespace of the broker's metrics: letters, digits, spaces and `.-_/#:`, up to 255, not starting
   * with `AWS/`. Brokers may share it: their `serviceName` (dimension) keeps their metrics apart.
   * @default 'RemoteitBroker'
   */
  readonly metricsNamespace?: string;
  /**
   * Whether to create the construct's alarms (and, with them, the policy deployments' automatic rollback, which
   * watches some of them). Without alarms the dashboard still shows every metric; you alarm on them yourself.
   * @default true
   */
  readonly createAlarms?: boolean;
  /** Where alarms are sent. @default - alarms change state without notifying anyone */
  readonly alarmTopic?: sns.ITopic;
  /**
   * Actions every alarm takes when it fires, besides notifying `alarmTopic` (e.g. `new SnsAction(topic)` for a
   * topic in another account, or an incident manager's response plan). @default - none
   */
  readonly alarmActions?: readonly cloudwatch.IAlarmAction[];
  /**
   * The EventBridge bus audit events go to (docs/EVENTS.md). The audit function may put events on it and on
   * nothing else; a bus in another account must allow this account's PutEvents in its resource policy.
   * @default - a new bus, named by CDK after the stack and the construct's path
   */
  readonly eventBus?: events.IEventBus;
}

/** A prop the construct cannot deploy: raised at synth time, naming the prop (never a secret value). */
export class ConnectionBrokerPropsError extends Error {
  readonly code = 'connection_broker_props_invalid';
  constructor(readonly prop: string, detail: string) {
    super(`ConnectionBroker: ${prop} ${detail}`);
    this.name = 'ConnectionBrokerPropsError';
  }
}

/** Alarm metrics are published per minute by Lambda, API Gateway and Powertools alike. */
const ONE_MINUTE = Duration.minutes(1);

/**
 * timer-fire's budget for one batch. Its timers are handled in parallel, so the slowest one sets it: one stop,
 * that is three remote.it attempts of REMOTEIT_TIMEOUT_MS (12 s) with their backoff (about 41 s), one more
 * call (12 s) when remote.it refuses the stop and the broker checks its own credentials, and the wait for
 * the lease end of a timer that arrives just before it (DEFAULT_MAX_WAIT_MS, lambdas/broker/timers.ts):
 * about 55 s at worst.
 */
const TIMER_FIRE_TIMEOUT = Duration.seconds(TIMER_FIRE_TIMEOUT_SECONDS);
/**
 * Lambda's advice for an SQS event source (docs/OPERATIONS.md, "Lease timers"): a visibility timeout of at
 * least six function timeouts, so a batch throttled behind another is retried before it shows again, and
 * at least 5 receives before the dead-letter queue. Shared with the local stack (lambdas/timers/settings.ts).
 */
const TIMER_QUEUE_VISIBILITY = Duration.seconds(TIMER_QUEUE_VISIBILITY_SECONDS);
const TIMER_MAX_RECEIVES = TIMER_QUEUE_MAX_RECEIVES;
/**
 * At most this many timer-fire invocations at once (up to 10 timers each): a burst of lease ends waits in the
 * queue instead of taking the account's unreserved concurrency from the API functions. 100 stops in flight
 * is six times the sweeper's own (SWEEPER_CONCURRENCY, 16).
 */
const TIMER_FIRE_MAX_CONCURRENCY = 10;
/**
 * SQS may count a delayed timer's age from when it was sent, delay included (the metric's documentation does
 * not say): so the oldest timer may be up to SQS's longest delay old without anyone being late. Five minutes
 * above that, timers are waiting for timer-fire.
 */
const TIMER_QUEUE_MAX_AGE = Duration.seconds(MAX_DELAY_SECONDS + 300);
/**
 * Arming further behind than the shortest lease (MIN_TTL_SECONDS) arms timers for leases that have already
 * ended: the sweeper ends those, and the timers are no longer what ends leases on time.
 */
const TIMER_ARM_MAX_ITERATOR_AGE = Duration.seconds(MIN_TTL_SECONDS);

/**
 * The remote.it connection broker: an IAM-authorised HTTP API that opens and stops short-lived remote.it
 * proxy connections, records them in DynamoDB, and a scheduled sweeper that stops every connection whose
 * lease has ended.
 *
 * Functions: one per access level, not one per route. `GET` routes run in a read function whose role can
 * only read the connections table: it holds neither the remote.it secret nor any write permission, so a bug
 * or an injection in the read path can neither open connections nor change records. Opening runs in an open
 * function, the only one that creates connection records and uses the idempotency table; renew and stop share
 * a write function that updates records and calls remote.it but creates nothing. Splitting open from the rest
 * narrows both roles and keeps each bundle within its budget (the idempotency engine is most of the open
 * function's). The sweeper has its own function with exactly what sweeping needs. Each function's environment
 * holds only the variables its own config schema parses (`FUNCTION_CONFIG` in lambdas/config.ts): the read
 * function is not even told the secret's name.
 *
 * Lease timers end each lease within about a second of its end, which a once-a-minute sweeper cannot: the
 * connections table's stream invokes a timer-arm function (only for changes that leave a record active,
 * filtered by the event source mapping), which sends one SQS message per lease end, delayed until it; the
 * timer queue invokes a timer-fire function, which stops the connection through the sweeper's stop path.
 * timer-arm can only send to the timer queue: it reads no record and holds no secret. timer-fire can read
 * and update connection records, read the secret, consume the timer queue and send to it (a lease longer
 * than SQS's 15-minute delay is armed again for the rest). The write function makes no SQS call: arming is
 * off the request path. Timers only make leases end sooner: the sweeper still ends every lease whose timer
 * was lost.
 *
 * Audit events (infra/audit.ts, docs/EVENTS.md): the same stream invokes an audit function (only for changes of
 * existing records), which puts one event on an EventBridge bus (the `eventBus` prop, or one it creates) for
 * every change that opens, renews or ends a connection; the locks table's stream invokes it too, for every lock
 * placed or lifted. It may only put events on that bus: no record, no secret. Changes it gives up on are
 * recorded in an audit dead-letter queue, and alarmed on.
 *
 * The policy (infra/policy-config.ts) is live data in AWS AppConfig: the API functions read the deployed version
 * (on that configuration alone), at most `policyMaxAge` old; a change is validated against the policy's JSON
 * Schema before it is deployed, rolled out over minutes, and rolled back on the API's fault alarm, the API
 * functions' error alarms or the policy-load alarm. Operators' locks live in a locks table: the open and write
 * functions check them, the write function places and lifts them (and stops the connections a new lock
 * covers), the sweeper and timer-arm read them to enforce them.
 *
 * Secure defaults: AWS_IAM on every route, default-stage throttling, JSON access logs; tables on demand
 * with PITR, deletion protection, RETAIN and TTL (`removalPolicy` DESTROY for short-lived stacks); functions
 * traced, logging to retained log groups under roles scoped to their own log group; the sweeper serialised
 * (reserved concurrency 1) with failed runs in an encrypted dead-letter queue; the timer queue and its
 * dead-letter queue encrypted and TLS-only, timers
 * that keep failing (and stream records that could not be armed) kept in that dead-letter queue; alarms on
 * fault rate (its own 5xx), function errors, failed stops, sweeper lag, every dead-letter queue, timers waiting too long,
 * arming and audit publishing falling behind; a dashboard of all of it (infra/dashboard.ts).
 */
export class ConnectionBroker extends Construct {
  readonly api: apigw.HttpApi;
  readonly stage: apigw.HttpStage;
  /** The API's execute-api base URL (its stage), ending in `/`. */
  readonly url: string;
  /** The custom domain, when `domainName` is given. */
  readonly domain?: apigw.DomainName;
  /** `https://{domainName}/` (or `.../{domainMappingKey}/`), when `domainName` is given. */
  readonly domainUrl?: string;
  /** The `service` dimension of the broker's metrics (the `serviceName` prop, or the per-instance default). */
  readonly serviceName: string;
  /** The CloudWatch namespace of the broker's metrics. */
  readonly metricsNamespace: string;
  readonly connectionsTable: dynamodb.TableV2;
  readonly idempotencyTable: dynamodb.TableV2;
  /** Operators' locks (lambdas/broker/locks.ts), one partition, with a stream the audit function reads. */
  readonly locksTable: dynamodb.TableV2;
  /** The policy in AppConfig: application, profile (with its validator), environment, strategy. */
  readonly policyConfig: BrokerPolicyConfig;
  readonly secret: secretsmanager.ISecret;
  readonly readFunction: BrokerFunction;
  /** POST /connections. */
  readonly openFunction: BrokerFunction;
  /** POST /connections/{id}/renew, DELETE /connections/{id}, and the lock routes. */
  readonly writeFunction: BrokerFunction;
  readonly sweeperFunction: BrokerFunction;
  readonly sweepSchedule: events.Rule;
  /** Failed sweeper runs (and schedule deliveries that could not be made). */
  readonly deadLetterQueue: sqs.Queue;
  /** Arms a lease timer for every lease end the connections table's stream shows. */
  readonly timerArmFunction: BrokerFunction;
  /** Stops a connection when its lease timer fires. */
  readonly timerFireFunction: BrokerFunction;
  /** One message per lease end, delayed until it (at most 15 minutes: longer leases are armed again). */
  readonly timerQueue: sqs.Queue;
  /** Timers that kept failing, and the stream mapping's records of changes it could not arm a timer for. */
  readonly timerDeadLetterQueue: sqs.Queue;
  /** Where audit events go: the `eventBus` prop, or the bus the construct created. */
  readonly auditBus: events.IEventBus;
  /** Publishes an audit event for every change of a connection the connections table's stream shows. */
  readonly auditFunction: BrokerFunction;
  /** The audit stream mapping's records of changes it gave up on: audit events that were never published. */
  readonly auditDeadLetterQueue: sqs.Queue;
  /** Every alarm of the construct; none with `createAlarms: false`. */
  readonly alarms: readonly cloudwatch.Alarm[];
  /** Traffic, remote.it, lease ends, timers, audit and every alarm's state (infra/dashboard.ts). */
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: ConnectionBrokerProps = {}) {
    super(scope, id);
    const sweepInterval = validSweepInterval(props.sweepInterval ?? Duration.minutes(1));
    const policy = validPolicy(props.policy ?? {});
    const policyMaxAge = validPolicyMaxAge(props.policyMaxAge);
    const removalPolicy = validRemovalPolicy(props.removalPolicy);
    const stageName = validStageName(props.stageName);
    const domain = validDomain(props);
    const reserved = validReservedConcurrency(props.reservedConcurrency);
    const logSettings: BrokerLogSettings = {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy,
      ...(props.encryptionKey && { encryptionKey: props.encryptionKey }),
    };
    const serviceName = props.serviceName === undefined ? defaultServiceName(this) : validServiceName(props.serviceName);
    const metricsNamespace = validMetricsNamespace(props.metricsNamespace ?? 'RemoteitBroker');
    this.serviceName = serviceName;
    this.metricsNamespace = metricsNamespace;
    if (props.encryptionKey) {
      if (Token.isUnresolved(Stack.of(this).region)) {
        throw new ConnectionBrokerPropsError('encryptionKey', 'needs a stack with an explicit region (env: { region }): DynamoDB names a table\'s customer managed key per region, which a region-agnostic stack cannot render');
      }
      allowLogsToUse(props.encryptionKey);
    }

    const tableSettings = { removalPolicy, encryptionKey: props.encryptionKey };
    this.connectionsTable = this.table(connectionsTable, tableSettings);
    this.idempotencyTable = this.table(idempotencyTable, tableSettings);
    this.locksTable = this.table(locksTable, tableSettings);
    this.policyConfig = new BrokerPolicyConfig(this, 'PolicyConfig', { policy });
    this.secret = props.secret ?? this.placeholderSecret();
    // No name given: EventBridge requires one, and CDK derives it from the construct's path (stack name
    // included), so two brokers in one account never collide.
    this.auditBus = props.eventBus ?? new events.EventBus(this, 'AuditBus', {
      description: 'remote.it broker: audit events, one per change of a connection (docs/EVENTS.md)',
    });

    this.timerDeadLetterQueue = new sqs.Queue(this, 'TimerDeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // Longer than the timer queue's: a message keeps its first enqueue time when it is moved here.
      retentionPeriod: Duration.days(14),
    });
    this.timerQueue = new sqs.Queue(this, 'TimerQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: TIMER_QUEUE_VISIBILITY,
      // Far beyond a timer's life (its delay, then 5 receives): a timer that keeps failing reaches the
      // dead-letter queue, where it is alarmed on, rather than expiring unseen.
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.timerDeadLetterQueue, maxReceiveCount: TIMER_MAX_RECEIVES },
    });

    // Every variable the construct sets, once; each function gets those its schema parses (FUNCTION_CONFIG).
    const runtimeDefaults = {
      ...sweeperConfigSchema.parse(requiredPlaceholders),
      ...openConfigSchema.parse(requiredPlaceholders),
    };
    const settings: Partial<Record<ConfigKey, string>> = {
      CONNECTIONS_TABLE_NAME: this.connectionsTable.tableName,
      IDEMPOTENCY_TABLE_NAME: this.idempotencyTable.tableName,
      REMOTEIT_SECRET_ID: this.secret.secretArn,
      REMOTEIT_API_URL: props.remoteitApiUrl ?? runtimeDefaults.REMOTEIT_API_URL,
      REMOTEIT_SIGNATURE_SCHEME: props.signatureScheme ?? runtimeDefaults.REMOTEIT_SIGNATURE_SCHEME,
      POLICY_APPCONFIG_APPLICATION: this.policyConfig.application.applicationId,
      // By name: the environment's id would make the functions depend on it, and it depends on their alarms.
      POLICY_APPCONFIG_ENVIRONMENT: this.policyConfig.environmentName,
      POLICY_APPCONFIG_PROFILE: this.policyConfig.profile.configurationProfileId,
      POLICY_MAX_AGE_SECONDS: String(policyMaxAge?.toSeconds() ?? runtimeDefaults.POLICY_MAX_AGE_SECONDS),
      LOCKS_TABLE_NAME: this.locksTable.tableName,
      DUE_SHARDS: String(props.dueShards ?? runtimeDefaults.DUE_SHARDS),
      DEFAULT_TTL_SECONDS: String(props.defaultLease?.toSeconds() ?? runtimeDefaults.DEFAULT_TTL_SECONDS),
      // The API functions stop too (DELETE, a refused open) and write pending records: they share these with the sweeper.
      SWEEPER_MAX_ATTEMPTS: String(props.sweeperMaxAttempts ?? runtimeDefaults.SWEEPER_MAX_ATTEMPTS),
      PENDING_GRACE_SECONDS: String(props.pendingGrace?.toSeconds() ?? runtimeDefaults.PENDING_GRACE_SECONDS),
      SWEEPER_CONCURRENCY: String(props.sweeperConcurrency ?? runtimeDefaults.SWEEPER_CONCURRENCY),
      SWEEPER_SAFETY_MARGIN_MS: String(runtimeDefaults.SWEEPER_SAFETY_MARGIN_MS),
      TIMER_QUEUE_URL: this.timerQueue.queueUrl,
      // PutEvents takes the bus's name or ARN: the ARN also reaches a bus given from another account.
      AUDIT_BUS_NAME: this.auditBus.eventBusArn,
    };
    const powertools = {
      POWERTOOLS_SERVICE_NAME: serviceName,
      POWERTOOLS_METRICS_NAMESPACE: metricsNamespace,
      POWERTOOLS_LOG_LEVEL: props.logLevel ?? 'INFO',
    };
    const environmentOf = (name: BrokerFunctionName) => ({ ...pickSettings(settings, FUNCTION_CONFIG[name]), ...powertools });
    const environment: Record<BrokerFunctionName, Record<string, string>> = {
      'connections-read': environmentOf('connections-read'),
      'connections-open': environmentOf('connections-open'),
      'connections-write': environmentOf('connections-write'),
      sweeper: environmentOf('sweeper'),
      'timer-arm': environmentOf('timer-arm'),
      'timer-fire': environmentOf('timer-fire'),
      audit: environmentOf('audit'),
    };
    validEnvironments(environment);

    this.readFunction = new BrokerFunction(this, 'ReadFunction', {
      entry: 'lambdas/handlers/connections-read.ts',
      description: 'remote.it broker: GET /connections, GET /connections/{id}',
      environment: environment['connections-read'],
      timeout: Duration.seconds(10),
      logs: logSettings,
      reservedConcurrentExecutions: reserved.read,
    });
    this.openFunction = new BrokerFunction(this, 'OpenFunction', {
      entry: 'lambdas/handlers/connections-open.ts',
      description: 'remote.it broker: opens connections (POST /connections)',
      environment: environment['connections-open'],
      // API Gateway answers the caller after 30 s, but the function must outlive that: a connect (remote.it
      // waits for the proxy) followed by a compensating stop with retries can take about a minute, and a
      // timeout in between would leave a live proxy unrecorded.
      timeout: Duration.seconds(90),
      logs: logSettings,
      reservedConcurrentExecutions: reserved.open,
    });
    this.writeFunction = new BrokerFunction(this, 'WriteFunction', {
      entry: 'lambdas/handlers/connections-write.ts',
      description: 'remote.it broker: renews and stops connections (POST /connections/{id}/renew, DELETE /connections/{id}), places and lifts locks (/locks)',
      environment: environment['connections-write'],
      // A stop retries remote.it within the call; the function outlives API Gateway's 30 s so that a stop in
      // flight is recorded rather than left for the sweeper.
      timeout: Duration.seconds(90),
      logs: logSettings,
      reservedConcurrentExecutions: reserved.write,
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
      logs: logSettings,
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

    this.timerArmFunction = new BrokerFunction(this, 'TimerArmFunction', {
      entry: 'lambdas/handlers/timer-arm.ts',
      description: 'remote.it broker: arms a lease timer for every lease end on the connections table stream',
      environment: environment['timer-arm'],
      // One SendMessage per record of a batch, all at once.
      timeout: Duration.seconds(30),
      logs: logSettings,
      reservedConcurrentExecutions: reserved.timerArm,
    });
    this.timerArmFunction.addEventSource(
      new DynamoEventSource(this.connectionsTable, {
        // From the oldest record the stream holds: nothing written between the stream's creation and the
        // mapping's first poll goes unarmed. A mapping created again replays up to 24 hours of changes,
        // which is harmless: a timer for a lease that has been renewed or ended does nothing when it fires.
        startingPosition: lambda.StartingPosition.TRIM_HORIZON,
        batchSize: 100,
        // Only a change that leaves a record active can call for a timer (`timerFor`): claims, stops, pending
        // records (INSERT: a record is created pending) and TTL deletions never invoke the function.
        filters: [lambda.FilterCriteria.filter(TIMER_ARM_FILTER_PATTERN)],
        // The handler answers with the records it could not arm; a batch that fails whole is halved
        // (without using up retries) until the record that fails is alone.
        reportBatchItemFailures: true,
        bisectBatchOnError: true,
        retryAttempts: TIMER_ARM_RETRY_ATTEMPTS,
        // An hour after the change the sweeper has long ended that lease: the record is let go, and recorded.
        maxRecordAge: Duration.hours(1),
        onFailure: new SqsDlq(this.timerDeadLetterQueue),
      }),
    );

    this.timerFireFunction = new BrokerFunction(this, 'TimerFireFunction', {
      entry: 'lambdas/handlers/timer-fire.ts',
      description: 'remote.it broker: fires lease timers, stopping each connection at its lease end',
      environment: environment['timer-fire'],
      timeout: TIMER_FIRE_TIMEOUT,
      logs: logSettings,
      reservedConcurrentExecutions: reserved.timerFire,
    });
    this.timerFireFunction.addEventSource(
      new SqsEventSource(this.timerQueue, {
        batchSize: 10,
        // A timer is due the moment it shows: it is not held back to fill a batch.
        maxBatchingWindow: Duration.seconds(0),
        reportBatchItemFailures: true,
        maxConcurrency: TIMER_FIRE_MAX_CONCURRENCY,
      }),
    );

    const audit = createBrokerAudit(this, {
      connectionsTable: this.connectionsTable,
      locksTable: this.locksTable,
      environment: environment.audit,
      logs: logSettings,
      reservedConcurrentExecutions: reserved.audit,
    });
    this.auditFunction = audit.auditFunction;
    this.auditDeadLetterQueue = audit.deadLetterQueue;

    this.grantLeastPrivilege(props.encryptionKey);
    this.api = new apigw.HttpApi(this, 'Api', {
      description: 'remote.it connection broker (AWS_IAM on every route)',
      defaultAuthorizer: new HttpIamAuthorizer(),
      // The default stage is created below, with throttling and access logs the shortcut cannot configure.
      createDefaultStage: false,
    });
    this.stage = this.api.addStage('DefaultStage', {
      stageName,
      autoDeploy: true,
      throttle: props.throttle ?? { rateLimit: 50, burstLimit: 100 },
      accessLogSettings: {
        destination: new apigw.LogGroupLogDestination(brokerLogGroup(this, 'AccessLogs', logSettings)),
        format: accessLogFormat,
      },
    });
    this.url = this.stage.url;
    if (domain) {
      this.domain = new apigw.DomainName(this, 'Domain', {
        domainName: domain.name,
        certificate: domain.certificate,
        endpointType: apigw.EndpointType.REGIONAL,
        securityPolicy: apigw.SecurityPolicy.TLS_1_2,
      });
      new apigw.ApiMapping(this, 'DomainMapping', {
        api: this.api,
        domainName: this.domain,
        stage: this.stage,
        ...(domain.mappingKey !== undefined && { apiMappingKey: domain.mappingKey }),
      });
      this.domainUrl = `https://${domain.name}/${domain.mappingKey === undefined ? '' : `${domain.mappingKey}/`}`;
    }
    this.applyRouteThrottles({ ...DEFAULT_ROUTE_THROTTLES, ...props.routeThrottles });
    const integrations = {
      'connections-read': new HttpLambdaIntegration('ReadIntegration', this.readFunction),
      'connections-open': new HttpLambdaIntegration('OpenIntegration', this.openFunction),
      'connections-write': new HttpLambdaIntegration('WriteIntegration', this.writeFunction),
    } satisfies Record<ApiFunctionName, HttpLambdaIntegration>;
    // The route table is shared with the handlers (which dispatch on these route keys) and the local gateway.
    const stage = this.stage.node.defaultChild as apigw.CfnStage;
    for (const route of API_ROUTES) {
      const added = this.api.addRoutes({
        path: route.path,
        methods: [apigw.HttpMethod[route.method]],
        integration: integrations[route.function],
      });
      // The stage's route settings name route keys, which must exist when the stage is created or updated.
      for (const created of added) stage.node.addDependency(created);
    }

    const brokerMetric = brokerMetricOf(metricsNamespace, serviceName);
    const alarmActions = [...(props.alarmTopic ? [new SnsAction(props.alarmTopic)] : []), ...(props.alarmActions ?? [])];
    this.alarms = props.createAlarms === false ? [] : this.createAlarms({ sweepInterval, brokerMetric, actions: alarmActions });
    // A policy deployment rolls back on what a bad policy would trip: the broker answering 5xx, an API function
    // failing, or the functions failing to load it. Without alarms, nothing watches a deployment.
    this.policyConfig.deployTo(
      this.alarms.length === 0
        ? []
        : ['ApiFaultRateAlarm', 'ReadFunctionErrorsAlarm', 'OpenFunctionErrorsAlarm', 'WriteFunctionErrorsAlarm', 'PolicyLoadFailuresAlarm'].map(
          (alarmId) => this.alarmNamed(alarmId),
        ),
    );
    this.policyConfig.grantRead(
      [this.readFunction, this.openFunction, this.writeFunction].map((fn) => fn.role).filter((role) => role !== undefined),
    );
    this.dashboard = createBrokerDashboard(this, 'Dashboard', {
      brokerMetric,
      metricsNamespace,
      serviceName,
      sweepInterval,
      api: this.api,
      timerQueue: this.timerQueue,
      deadLetterQueues: { sweeper: this.deadLetterQueue, timer: this.timerDeadLetterQueue, audit: this.auditDeadLetterQueue },
      auditFunction: this.auditFunction,
      alarms: this.alarms,
      ...(this.alarms.length > 0 && {
        alarmLines: {
          policyLoadFailures: this.alarmNamed('PolicyLoadFailuresAlarm'),
          sweeperLag: this.alarmNamed('SweeperLagAlarm'),
          timerQueueAge: this.alarmNamed('TimerQueueAgeAlarm'),
          auditIteratorAge: this.alarmNamed('AuditIteratorAgeAlarm'),
        },
      }),
    });
    this.acknowledgeFindings(props.secret === undefined);
  }

  /**
   * Lets an internal app's role call every broker route (what it may open is still up to the policy).
   * HTTP APIs have no resource policy: callers in other accounts assume a role of this account.
   *
   * The grant names each route on the broker's stage, `<api>/<stage>/<METHOD>/<path>`, and no other: a path
   * parameter (a connection or lock id, always a 26-character ULID) is 26 `?`, IAM's one-character wildcard. So
   * the grantee's policy holds no `*`, and cdk-nag's AwsSolutions-IAM5 has nothing to report on it: no
   * acknowledgement naming the account, region or API is needed. A request for an id of another length is
   * refused by API Gateway (403) before it reaches the broker, which would refuse it too (400).
   */
  grantInvoke(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({ grantee, actions: ['execute-api:Invoke'], resourceArns: this.routeArns() });
  }

  /** The execute-api ARN of every route on the stage, path parameters as their ids' shape (see grantInvoke). */
  routeArns(): string[] {
    return API_ROUTES.map((route) =>
      this.api.arnForExecuteApi(
        route.method,
        route.path.replace(/\{([^}]+)\}/g, (parameter: string, name: string) => {
          if (name !== 'id') throw new Error(`ConnectionBroker: no IAM pattern for the path parameter ${parameter} of ${route.routeKey}`);
          return ID_PATTERN;
        }),
        this.stage.stageName,
      ),
    );
  }

  private table(definition: TableDefinition, settings: { removalPolicy: RemovalPolicy; encryptionKey: kms.IKey | undefined }): dynamodb.TableV2 {
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
      // From the shared definition, so the local stack's table has the same stream (and so the same events).
      ...(definition.stream && { dynamoStream: dynamodb.StreamViewType[definition.stream] }),
      billing: dynamodb.Billing.onDemand(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // A table under deletion protection cannot be deleted: DESTROY (validRemovalPolicy) means it may be.
      deletionProtection: settings.removalPolicy !== RemovalPolicy.DESTROY,
      removalPolicy: settings.removalPolicy,
      // By default the AWS-managed key: key use shows in CloudTrail, without a customer key's cost and key policy to run.
      encryption: settings.encryptionKey
        ? dynamodb.TableEncryptionV2.customerManagedKey(settings.encryptionKey)
        : dynamodb.TableEncryptionV2.awsManagedKey(),
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
  private grantLeastPrivilege(tableKey: kms.IKey | undefined): void {
    const connections = this.connectionsTable.tableArn;
    const locks = this.locksTable.tableArn;
    const index = (name: string) => `${connections}/index/${name}`;
    const allow = (fn: BrokerFunction, actions: string[], resources: string[]) =>
      fn.addToRolePolicy(new iam.PolicyStatement({ actions, resources }));

    allow(this.readFunction, ['dynamodb:GetItem'], [connections]);
    // GET /me counts the caller's live connections (the live-by-owner index).
    allow(this.readFunction, ['dynamodb:Query'], [index(CONNECTIONS.ownerIndex), index(CONNECTIONS.dayIndex), index(CONNECTIONS.liveIndex)]);

    // The quota is a counter item of this table, taken (UpdateItem) in one TransactWriteItems with the new record
    // (PutItem): a transaction needs no action of its own, only those of its items.
    allow(this.openFunction, ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], [connections]);
    // Reuse reads the owner's connections; marking an overridden connection walks the day index.
    allow(this.openFunction, ['dynamodb:Query'], [index(CONNECTIONS.ownerIndex), index(CONNECTIONS.dayIndex)]);
    // Powertools idempotency: read, claim, complete and release records.
    allow(
      this.openFunction,
      ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
      [this.idempotencyTable.tableArn],
    );
    this.secret.grantRead(this.openFunction);

    // Opening checks the live locks: one query of their partition.
    allow(this.openFunction, ['dynamodb:Query'], [locks]);

    // Renew and stop read and update existing records: no PutItem, no idempotency table.
    allow(this.writeFunction, ['dynamodb:GetItem', 'dynamodb:UpdateItem'], [connections]);
    // Placing a lock finds the live connections it covers (the due index holds every live record) and stops them.
    allow(this.writeFunction, ['dynamodb:Query'], [index(CONNECTIONS.dueIndex)]);
    // Renew checks the live locks; the lock routes place (PutItem), read, list and lift (UpdateItem) them: no
    // DeleteItem, a lifted lock stays until its TTL.
    allow(this.writeFunction, ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query'], [locks]);
    this.secret.grantRead(this.writeFunction);

    allow(this.sweeperFunction, ['dynamodb:GetItem', 'dynamodb:UpdateItem'], [connections]);
    allow(this.sweeperFunction, ['dynamodb:Query'], [index(CONNECTIONS.dueIndex)]);
    // Stops the live connections a lock covers: it reads the live locks.
    allow(this.sweeperFunction, ['dynamodb:Query'], [locks]);
    this.secret.grantRead(this.sweeperFunction);

    // The stream mapping grants reading the table's stream (on the stream's ARN alone) and sending its failure
    // records to the timer dead-letter queue. No connection record and no secret: arming needs only the stream,
    // and the live locks (a lease under a lock is ended at once).
    allow(this.timerArmFunction, ['sqs:SendMessage'], [this.timerQueue.queueArn]);
    allow(this.timerArmFunction, ['dynamodb:Query'], [locks]);

    // The queue mapping grants receiving, deleting and hiding timers. Sending is deliberate: a lease longer
    // than SQS's longest delay is armed again, on the same queue, for the rest.
    allow(this.timerFireFunction, ['dynamodb:GetItem', 'dynamodb:UpdateItem'], [connections]);
    allow(this.timerFireFunction, ['sqs:SendMessage'], [this.timerQueue.queueArn]);
    this.secret.grantRead(this.timerFireFunction);

    // The stream mappings (connections and locks) grant reading the two streams and sending failure records to
    // the audit dead-letter queue. Publishing is the one other thing audit does, on its bus alone: no record, no
    // secret.
    allow(this.auditFunction, ['events:PutEvents'], [this.auditBus.eventBusArn]);

    // A customer managed table key: each function may use it as it uses the tables, named actions on that key
    // alone. Readers decrypt (items, index entries, stream records); writers encrypt too. The stream mappings
    // add the stream's own grant.
    if (tableKey) {
      const decrypt = ['kms:Decrypt', 'kms:DescribeKey'];
      const encryptDecrypt = [...decrypt, 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:ReEncryptFrom', 'kms:ReEncryptTo'];
      for (const fn of [this.readFunction, this.timerArmFunction, this.auditFunction]) tableKey.grant(fn, ...decrypt);
      for (const fn of [this.openFunction, this.writeFunction, this.sweeperFunction, this.timerFireFunction]) tableKey.grant(fn, ...encryptDecrypt);
    }
  }

  /** One of the construct's alarms, by id (the dashboard draws some of them on their metric's graph). */
  private alarmNamed(id: string): cloudwatch.Alarm {
    const found = this.alarms.find((alarm) => alarm.node.id === id);
    if (!found) throw new Error(`ConnectionBroker: no alarm ${id}`);
    return found;
  }

  /** Route-level throttling: a token bucket per route key, so no route shares its budget with another. */
  private applyRouteThrottles(throttles: Partial<Record<ApiRouteKey, apigw.ThrottleSettings>>): void {
    const settings: Record<string, { ThrottlingRateLimit?: number; ThrottlingBurstLimit?: number }> = {};
    for (const [routeKey, throttle] of Object.entries(throttles)) {
      if (!API_ROUTES.some((route) => route.routeKey === routeKey)) {
        throw new ConnectionBrokerPropsError('routeThrottles', `names no route of the API: ${routeKey} (routes: ${API_ROUTES.map((route) => route.routeKey).join(', ')})`);
      }
      if (!throttle) continue;
      settings[routeKey] = {
        ...(throttle.rateLimit !== undefined && { ThrottlingRateLimit: throttle.rateLimit }),
        ...(throttle.burstLimit !== undefined && { ThrottlingBurstLimit: throttle.burstLimit }),
      };
    }
    (this.stage.node.defaultChild as apigw.CfnStage).routeSettings = settings;
  }

  private createAlarms(options: {
    sweepInterval: Duration;
    brokerMetric: BrokerMetric;
    actions: readonly cloudwatch.IAlarmAction[];
  }): cloudwatch.Alarm[] {
    const { sweepInterval, brokerMetric, actions } = options;
    const alarms: cloudwatch.Alarm[] = [];
    const alarm = (id: string, description: string, props: Omit<cloudwatch.AlarmProps, 'alarmDescription'>) => {
      const created = new cloudwatch.Alarm(this, id, {
        alarmDescription: description,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        ...props,
      });
      if (actions.length > 0) created.addAlarmAction(...actions);
      alarms.push(created);
    };

    // The broker's own 5xx only: remote.it's refusals (502 by contract) are a caller's to cause, at will, with
    // an offline device, and must not page anyone. A 5xx API Gateway answers itself (the function crashed or
    // timed out) pages through the functions' Errors alarms; the dashboard shows every 5xx beside these.
    alarm('ApiFaultRateAlarm', 'More than 5% of broker API requests answered a 5xx that is the broker\'s own fault (ApiFaults: internal errors, its database or secret unavailable; not remote.it refusing or timing out) in 3 of the last 5 minutes.', {
      metric: new cloudwatch.MathExpression({
        expression: 'IF(requests > 0, 100 * faults / requests, 0)',
        usingMetrics: {
          faults: brokerMetric('ApiFaults', 'Sum'),
          requests: this.api.metricCount({ period: ONE_MINUTE, statistic: 'Sum' }),
        },
        label: 'broker fault rate (%)',
        period: ONE_MINUTE,
      }),
      threshold: 5,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
    });
    for (const [id, fn] of [
      ['ReadFunction', this.readFunction],
      ['OpenFunction', this.openFunction],
      ['WriteFunction', this.writeFunction],
      ['SweeperFunction', this.sweeperFunction],
      ['TimerArmFunction', this.timerArmFunction],
      ['TimerFireFunction', this.timerFireFunction],
      ['AuditFunction', this.auditFunction],
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
    alarm('PolicyLoadFailuresAlarm',
      'The API functions could not load the policy from AppConfig (unreachable, refused by the runtime schema, or none deployed) in 2 of the last 3 minutes: a function that never loaded one refuses every request; the others keep their last good policy. Check the functions\' logs and the policy\'s AppConfig deployments (docs/OPERATIONS.md, "Changing the policy"). A policy deployment in progress rolls back on this alarm.', {
        metric: new cloudwatch.MathExpression({
          // One series per reason (the metric's dimension), summed: CloudWatch alarms name exact dimensions.
          expression: POLICY_LOAD_FAILURE_REASONS.join(' + '),
          usingMetrics: Object.fromEntries(
            POLICY_LOAD_FAILURE_REASONS.map((reason) => [reason, brokerMetric('PolicyLoadFailures', 'Sum', ONE_MINUTE, { reason })]),
          ),
          label: 'policy loads failed',
          period: ONE_MINUTE,
        }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
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
    alarm('TimerDeadLetterQueueAlarm',
      'Lease timers were lost (a timer that kept failing, or a change the stream mapping could not arm a timer for): the sweeper ends those leases within a sweep interval. Read the timer dead-letter queue and the timer functions\' logs to find why (docs/OPERATIONS.md).', {
        metric: this.timerDeadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: ONE_MINUTE, statistic: 'Maximum' }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
      });
    const maxTimerAge = TIMER_QUEUE_MAX_AGE.toSeconds();
    alarm('TimerQueueAgeAlarm',
      `A due lease timer has waited for timer-fire: the oldest timer is more than ${maxTimerAge} s old (SQS's ${MAX_DELAY_SECONDS} s longest delay plus 5 minutes) for 3 minutes. Check timer-fire's errors, throttles and event source mapping; leases end by the sweeper meanwhile.`, {
        metric: this.timerQueue.metricApproximateAgeOfOldestMessage({ period: ONE_MINUTE, statistic: 'Maximum' }),
        threshold: maxTimerAge,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
      });
    const maxIteratorAgeMs = TIMER_ARM_MAX_ITERATOR_AGE.toMilliseconds();
    alarm('TimerArmIteratorAgeAlarm',
      `timer-arm is more than ${TIMER_ARM_MAX_ITERATOR_AGE.toSeconds()} s (the shortest lease) behind the connections table's stream for 3 minutes: timers are armed late or not at all. Check timer-arm's errors and logs; leases end by the sweeper meanwhile.`, {
        // Lambda publishes IteratorAge in milliseconds.
        metric: this.timerArmFunction.metric('IteratorAge', { period: ONE_MINUTE, statistic: 'Maximum' }),
        threshold: maxIteratorAgeMs,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
      });
    const audit = { auditFunction: this.auditFunction, deadLetterQueue: this.auditDeadLetterQueue };
    for (const spec of auditAlarms(audit, ONE_MINUTE)) alarm(spec.id, spec.description, spec.props);
    return alarms;
  }

  /** Each acknowledgement names one finding on one CloudFormation resource and says why it does not apply. */
  private acknowledgeFindings(createdSecret: boolean): void {
    for (const fn of [this.readFunction, this.openFunction, this.writeFunction, this.sweeperFunction, this.timerArmFunction, this.timerFireFunction, this.auditFunction]) {
      const policy = fn.role?.node.tryFindChild('DefaultPolicy');
      if (policy) {
        acknowledge(policy, 'AwsSolutions-IAM5[Resource::*]',
          'X-Ray PutTraceSegments and PutTelemetryRecords support no resource-level permissions.');
      }
    }
    for (const fn of [this.readFunction, this.openFunction, this.writeFunction]) {
      acknowledge(fn, 'Serverless-LambdaDLQ',
        'Invoked synchronously by API Gateway: the caller gets the error; a DLQ only serves async invocations.');
    }
    acknowledge(this.sweeperFunction, 'Serverless-LambdaDLQ',
      'Failed async invocations go to the on-failure destination (the encrypted dead-letter queue), which also records the error.');
    acknowledge(this.deadLetterQueue, 'AwsSolutions-SQS3',
      'This queue is the dead-letter queue; its messages are alarmed on and read by an operator.');
    acknowledge(this.deadLetterQueue, 'Serverless-SQSRedrivePolicy',
      'This queue is the dead-letter queue: nothing consumes it automatically, so there is nothing to redrive.');
    acknowledge(this.timerArmFunction, 'Serverless-LambdaDLQ',
      'Invoked only by the stream event source mapping, whose on-failure destination (the timer dead-letter queue) records what it could not process; a function DLQ only serves async invocations.');
    acknowledge(this.timerFireFunction, 'Serverless-LambdaDLQ',
      'Invoked only by the SQS event source mapping: the timer queue\'s redrive policy moves a timer that keeps failing to the timer dead-letter queue; a function DLQ only serves async invocations.');
    const timerFireMapping = this.timerFireFunction.node.children.find((child) => child instanceof lambda.EventSourceMapping);
    if (timerFireMapping) {
      acknowledge(timerFireMapping, 'Serverless-LambdaEventSourceMappingDestination',
        'SQS event source mappings take no on-failure destination: the timer queue\'s redrive policy (5 receives) is this mapping\'s dead-letter queue.');
    }
    acknowledge(this.timerDeadLetterQueue, 'AwsSolutions-SQS3',
      'This queue is the timer dead-letter queue; its messages are alarmed on and read by an operator.');
    acknowledge(this.timerDeadLetterQueue, 'Serverless-SQSRedrivePolicy',
      'This queue is the timer dead-letter queue: nothing consumes it automatically; an operator redrives or purges it (docs/OPERATIONS.md).');
    acknowledge(this.auditFunction, 'Serverless-LambdaDLQ',
      'Invoked only by the stream event source mapping, whose on-failure destination (the audit dead-letter queue) records what it could not publish; a function DLQ only serves async invocations.');
    acknowledge(this.auditDeadLetterQueue, 'AwsSolutions-SQS3',
      'This queue is the audit dead-letter queue; its messages are alarmed on and read by an operator.');
    acknowledge(this.auditDeadLetterQueue, 'Serverless-SQSRedrivePolicy',
      'This queue is the audit dead-letter queue: nothing consumes it automatically; an operator reads the changes it names and purges it (docs/OPERATIONS.md).');
    const monitorRole = this.policyConfig.monitorRole();
    if (monitorRole) {
      acknowledge(monitorRole, 'AwsSolutions-IAM5[Resource::*]',
        'AppConfig reads its monitors\' alarm states with this role: cloudwatch:DescribeAlarms on "*", read-only, the permission AWS AppConfig documents for rollback on CloudWatch alarms (docs/OPERATIONS.md, "Changing the policy").');
    }
    if (createdSecret) {
      acknowledge(this.secret, 'AwsSolutions-SMG4',
        'remote.it access keys are issued in the remote.it account, which has no rotation API; rotation is a documented manual procedure (docs/OPERATIONS.md).');
    }
  }
}

/**
 * Acknowledges `id` (a rule, or `Rule[finding]`) on the construct's CloudFormation resource itself, so the
 * acknowledgement covers nothing else, in the forms cdk-nag 2 and 3 both read (infra/acknowledge.ts).
 */
function acknowledge(construct: IConstruct, id: string, reason: string): void {
  const [, rule = id, finding] = /^([^[]+)(?:\[(.+)\])?$/.exec(id) ?? [];
  acknowledgeNagFinding(construct, rule, reason, finding);
}

/**
 * A connection or lock id in a route's execute-api ARN: 26 `?`, one per character of the ULID every id is
 * (lambdas/handlers/http/schemas.ts and lock-schemas.ts validate them so; test/infra/props.test.ts holds the
 * two together). `?` is IAM's wildcard for exactly one character, so the grant needs no `*`.
 */
const ID_PATTERN = '?'.repeat(26);

/**
 * The default `service` dimension: `<stack name>/<construct path inside the stack>`. A stack's name is unique in
 * its account and region, and a path in its stack, so no two brokers there share it. A nested stack's name is a
 * token until deployment: there, the construct's full path in the app.
 */
function defaultServiceName(broker: Construct): string {
  const stack = Stack.of(broker);
  const inside = broker.node.scopes.slice(broker.node.scopes.indexOf(stack) + 1).map((scope) => scope.node.id);
  const parts = Token.isUnresolved(stack.stackName) ? broker.node.scopes.slice(1).map((scope) => scope.node.id) : [stack.stackName, ...inside];
  // Construct ids may hold any character; the dimension is used inside a dashboard SEARCH expression's quotes.
  return parts.map((part) => part.replace(/[^\w.-]/g, '-')).join('/').slice(0, 255);
}

const SERVICE_NAME = /^[\w .:/#@+=-]{1,255}$/;

function validServiceName(name: string): string {
  if (Token.isUnresolved(name)) return name;
  if (!SERVICE_NAME.test(name) || name.trim() === '') {
    throw new ConnectionBrokerPropsError('serviceName', `must be 1 to 255 letters, digits, spaces and ._-/:#@+= (the metrics' service dimension), got ${JSON.stringify(name)}`);
  }
  return name;
}

/** CloudWatch's namespace rules (PutMetricData): at most 255 of these characters, not AWS's own prefix. */
function validMetricsNamespace(namespace: string): string {
  if (Token.isUnresolved(namespace)) return namespace;
  if (!/^[A-Za-z0-9.\-_/#: ]{1,255}$/.test(namespace) || namespace.trim() === '' || namespace.startsWith('AWS/')) {
    throw new ConnectionBrokerPropsError('metricsNamespace', `must be 1 to 255 letters, digits, spaces and .-_/#: and not start with AWS/, got ${JSON.stringify(namespace)}`);
  }
  return namespace;
}

function validRemovalPolicy(policy: RemovalPolicy | undefined): RemovalPolicy {
  if (policy === RemovalPolicy.SNAPSHOT) {
    throw new ConnectionBrokerPropsError('removalPolicy', 'cannot be SNAPSHOT: DynamoDB tables have no snapshot on deletion (use RETAIN, or DESTROY for a short-lived stack)');
  }
  return policy ?? RemovalPolicy.RETAIN;
}

/** API Gateway's stage names: `$default`, or up to 128 letters, digits, `-` and `_`. */
function validStageName(name: string | undefined): string {
  if (name === undefined) return '$default';
  if (name !== '$default' && !/^[A-Za-z0-9_-]{1,128}$/.test(name)) {
    throw new ConnectionBrokerPropsError('stageName', `must be $default or 1 to 128 letters, digits, - and _, got ${JSON.stringify(name)}`);
  }
  return name;
}

function validDomain(props: ConnectionBrokerProps): { name: string; certificate: acm.ICertificate; mappingKey: string | undefined } | undefined {
  const { domainName, certificate, domainMappingKey } = props;
  if (domainName === undefined) {
    if (certificate !== undefined) throw new ConnectionBrokerPropsError('certificate', 'is only used with domainName: give the custom domain it is for');
    if (domainMappingKey !== undefined) throw new ConnectionBrokerPropsError('domainMappingKey', 'is only used with domainName: give the custom domain to map the API under');
    return undefined;
  }
  if (!Token.isUnresolved(domainName) && !/^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$/.test(domainName)) {
    throw new ConnectionBrokerPropsError('domainName', `must be a lower-case DNS name such as broker.example.com, got ${JSON.stringify(domainName)}`);
  }
  if (certificate === undefined) throw new ConnectionBrokerPropsError('certificate', `is required with domainName (${domainName}): an ACM certificate for it, in the stack's region`);
  if (domainMappingKey !== undefined && !Token.isUnresolved(domainMappingKey) && !/^[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*$/.test(domainMappingKey)) {
    throw new ConnectionBrokerPropsError('domainMappingKey', `must be a path such as broker or v1/broker, without leading or trailing /, got ${JSON.stringify(domainMappingKey)}`);
  }
  return { name: domainName, certificate, mappingKey: domainMappingKey };
}

function validReservedConcurrency(reserved: BrokerReservedConcurrency | undefined): BrokerReservedConcurrency {
  for (const [name, value] of Object.entries(reserved ?? {}) as [string, unknown][]) {
    if (!['read', 'open', 'write', 'timerArm', 'timerFire', 'audit'].includes(name)) {
      throw new ConnectionBrokerPropsError(`reservedConcurrency.${name}`, 'is not a function of the broker (read, open, write, timerArm, timerFire, audit; the sweeper is always 1)');
    }
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
      throw new ConnectionBrokerPropsError(`reservedConcurrency.${name}`, `must be a whole number of at least 1 (0 would stop the function), got ${String(value)}`);
    }
    if (name === 'timerFire' && value < TIMER_FIRE_MAX_CONCURRENCY) {
      throw new ConnectionBrokerPropsError('reservedConcurrency.timerFire', `must be at least ${TIMER_FIRE_MAX_CONCURRENCY}, the timer queue mapping's maximum concurrency: below it, throttled timers are received again and again and end in the dead-letter queue`);
    }
  }
  return reserved ?? {};
}

/**
 * Lets CloudWatch Logs use a key created in this stack for the construct's log groups (logs of this account
 * and region only). An imported key's policy cannot be changed here: `addToResourcePolicy` does nothing for it.
 */
function allowLogsToUse(key: kms.IKey): void {
  const stack = Stack.of(key);
  key.addToResourcePolicy(new iam.PolicyStatement({
    principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
    actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
    resources: ['*'],
    conditions: {
      ArnLike: { 'kms:EncryptionContext:aws:logs:arn': stack.formatArn({ service: 'logs', resource: 'log-group', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME }) },
    },
  }));
}

/**
 * Values for the schemas' required variables, so parsing yields the runtime's defaults for the rest. They
 * also stand in for the values CloudFormation fills in at deploy time (names, ARNs, the queue's URL) when the
 * environments are checked at synth time.
 */
const requiredPlaceholders: Partial<Record<ConfigKey, string>> = {
  CONNECTIONS_TABLE_NAME: 'connections',
  IDEMPOTENCY_TABLE_NAME: 'idempotency',
  REMOTEIT_SECRET_ID: 'secret',
  LOCKS_TABLE_NAME: 'locks',
  POLICY_APPCONFIG_APPLICATION: 'abc1234',
  POLICY_APPCONFIG_ENVIRONMENT: 'live',
  POLICY_APPCONFIG_PROFILE: 'def5678',
  TIMER_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/timers',
  AUDIT_BUS_NAME: 'arn:aws:events:us-east-1:123456789012:event-bus/audit',
};

/** The broker's own metrics: its namespace and `service` dimension (what Powertools publishes them with). */
function brokerMetricOf(namespace: string, serviceName: string): BrokerMetric {
  return (metricName, statistic, period = ONE_MINUTE, dimensions = {}) =>
    new cloudwatch.Metric({
      namespace,
      metricName,
      dimensionsMap: { service: serviceName, ...dimensions },
      statistic,
      period,
    });
}

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

/** The policy as the functions will parse it (defaults filled in), or the fields the runtime schema refuses. */
function validPolicy(policy: BrokerPolicyInput): PolicyDocument {
  const result = policyDocumentSchema.safeParse(policy);
  if (!result.success) {
    const detail = result.error.issues.map((issue) => `${issue.path.join('.') || '(document)'}: ${issue.message}`).join('; ');
    throw new ConnectionBrokerPropsError('policy', `is invalid: ${detail}`);
  }
  return result.data;
}

function validPolicyMaxAge(maxAge: Duration | undefined): Duration | undefined {
  if (maxAge === undefined) return undefined;
  const seconds = maxAge.toMilliseconds() / 1000;
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 60) {
    throw new ConnectionBrokerPropsError('policyMaxAge', 'must be whole seconds from 1 to 60');
  }
  return maxAge;
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

/**
 * Each function's environment, checked with the schema it parses it with at cold start. A value only
 * deployment decides (a token) is checked as its placeholder: its shape is CloudFormation's to get right.
 */
function validEnvironments(environments: Record<BrokerFunctionName, Record<string, string>>): void {
  const failures = new Map<string, string[]>();
  const asDeployed = (environment: Record<string, string>) =>
    Object.fromEntries(
      Object.entries(environment).map(([key, value]) => [
        key,
        Token.isUnresolved(value) ? (requiredPlaceholders[key as ConfigKey] ?? value) : value,
      ]),
    );
  for (const [name, schema] of Object.entries(FUNCTION_CONFIG) as [BrokerFunctionName, ConfigSchema][]) {
    try {
      loadConfig(schema, asDeployed(environments[name]));
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
