/**
 * The construct as a platform team uses it in a stack of its own (issue 20): several brokers side by side, each
 * publishing its metrics under a `service` dimension of its own that its alarms and dashboard follow; the props
 * teams ask for (removal policy, a customer managed key, stage, custom domain, alarms or none, alarm actions,
 * reserved concurrency), each failing at synth with the prop's name when it cannot be deployed; `grantInvoke`
 * giving the caller's role a policy cdk-nag has nothing to say about; and the construct's own acknowledgements
 * read by cdk-nag 3 (validation plugin) and cdk-nag 2 (Aspects) alike.
 */
import { Aspects, Duration, NestedStack, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { AwsSolutionsChecks as AwsSolutionsChecksV2, ServerlessChecks as ServerlessChecksV2 } from 'cdk-nag-v2';
import type { IConstruct } from 'constructs';
import { ConnectionBroker, ConnectionBrokerPropsError, type ConnectionBrokerProps } from '../../infra/connection-broker';
import { lockIdSchema } from '../../lambdas/handlers/http/lock-schemas';
import { connectionIdSchema } from '../../lambdas/handlers/http/schemas';
import { render, resourcesOfType, testApp } from './support';

const policy = { rules: [{ principals: ['arn:aws:iam::123456789012:role/app-*'], services: ['80:00:00:00:01:*'] }], admins: [] };
const certificateArn = 'arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555';
const env = { account: '123456789012', region: 'eu-west-1' };

/** Builds the construct alone; props errors surface here, before any synth. */
const build = (props: ConnectionBrokerProps) => () => new ConnectionBroker(new Stack(testApp({ bundling: false }), 'Props'), 'Broker', props);

/** Every cdk-nag 3 finding (AwsSolutions and Serverless, warnings included) as `RuleId at construct/path`. */
function nagV3Findings(scope: IConstruct): string[] {
  return [new AwsSolutionsChecks(), new ServerlessChecks()].flatMap((pack) =>
    pack.validateScope(scope).violations.flatMap((violation) =>
      violation.violatingResources.map((resource) => `${violation.ruleName} at ${resource.constructPath}`),
    ),
  );
}

/** A platform team's stack: a production broker on defaults, a staging one with every option, a caller role. */
function platform() {
  const app = testApp({ bundling: false });
  const stack = new Stack(app, 'Platform', { env });
  const topic = new sns.Topic(stack, 'Pager', { enforceSSL: true, masterKey: kms.Alias.fromAliasName(stack, 'SnsKey', 'alias/aws/sns') });
  const oncall = new sns.Topic(stack, 'OnCall', { enforceSSL: true, masterKey: kms.Alias.fromAliasName(stack, 'OnCallKey', 'alias/aws/sns') });
  const key = new kms.Key(stack, 'DataKey', { enableKeyRotation: true, description: 'staging broker data' });
  const production = new ConnectionBroker(stack, 'Broker', { policy, alarmTopic: topic, alarmActions: [new SnsAction(oncall)] });
  const staging = new ConnectionBroker(stack, 'Staging', {
    policy,
    removalPolicy: RemovalPolicy.DESTROY,
    encryptionKey: key,
    stageName: 'v1',
    domainName: 'broker.example.com',
    certificate: acm.Certificate.fromCertificateArn(stack, 'Certificate', certificateArn),
    domainMappingKey: 'staging',
    createAlarms: false,
    reservedConcurrency: { read: 5, open: 5, write: 5, timerArm: 2, timerFire: 10, audit: 2 },
    sweepInterval: Duration.minutes(5),
  });
  const caller = new iam.Role(stack, 'AppRole', { assumedBy: new iam.AccountRootPrincipal(), description: 'an internal app' });
  production.grantInvoke(caller);
  staging.grantInvoke(caller);
  return { app, stack, production, staging, key, caller };
}

/** The resources of `type` whose logical id starts with the construct's id (its path in the stack). */
const ofBroker = (template: Template, type: string, id: string) =>
  Object.fromEntries(Object.entries(resourcesOfType(template, type)).filter(([logicalId]) => logicalId.startsWith(id)));

describe('ConnectionBroker in a platform team\'s stack', () => {
  let built: ReturnType<typeof platform>;
  let template: Template;
  beforeAll(() => {
    built = platform();
    template = Template.fromStack(built.stack);
  });

  describe('a metric dimension per instance', () => {
    const serviceOf = (id: string) => {
      const functions = Object.values(ofBroker(template, 'AWS::Lambda::Function', id));
      return [...new Set(functions.map((fn) => (fn.Properties?.Environment as { Variables: Record<string, string> }).Variables.POWERTOOLS_SERVICE_NAME))];
    };

    it('defaults the service dimension to the stack\'s name and the construct\'s path, so two brokers never share it', () => {
      expect(serviceOf('Broker')).toEqual(['Platform/Broker']);
      expect(serviceOf('Staging')).toEqual(['Platform/Staging']);
      expect([built.production.serviceName, built.staging.serviceName]).toEqual(['Platform/Broker', 'Platform/Staging']);
    });

    it('alarms on each broker\'s own metrics: every alarm on a broker metric names its own service', () => {
      const alarms = Object.values(resourcesOfType(template, 'AWS::CloudWatch::Alarm'));
      const services = (alarm: (typeof alarms)[number]) => {
        const properties = alarm.Properties as { Dimensions?: { Name: string; Value: string }[]; Metrics?: { MetricStat?: { Metric: { Dimensions?: { Name: string; Value: string }[] } } }[] };
        const dimensions = [...(properties.Dimensions ?? []), ...(properties.Metrics ?? []).flatMap((metric) => metric.MetricStat?.Metric.Dimensions ?? [])];
        return dimensions.filter((dimension) => dimension.Name === 'service').map((dimension) => dimension.Value);
      };

      const brokerAlarms = alarms.filter((alarm) => services(alarm).length > 0);

      expect(brokerAlarms.length).toBeGreaterThan(0);
      expect([...new Set(brokerAlarms.flatMap(services))]).toEqual(['Platform/Broker']);
    });

    it('draws each broker\'s dashboard from its own service', () => {
      const bodies = Object.entries(resourcesOfType(template, 'AWS::CloudWatch::Dashboard')).map(([id, dashboard]) => [id.slice(0, 7), render(dashboard.Properties?.DashboardBody)]);
      const serviceValues = (body: string) => [...new Set([...body.matchAll(/"service","([^"]+)"/g)].map((match) => match[1]))];

      expect(bodies.map(([id, body]) => [id, serviceValues(body ?? '')])).toEqual([
        ['BrokerD', ['Platform/Broker']],
        ['Staging', ['Platform/Staging']],
      ]);
    });

    it('lets an explicit serviceName win, and tells brokers of two stacks apart by the stacks\' names', () => {
      const app = testApp({ bundling: false });
      const named = new ConnectionBroker(new Stack(app, 'A', { stackName: 'team-a-broker' }), 'Broker');
      const other = new ConnectionBroker(new Stack(app, 'B', { stackName: 'team-b-broker' }), 'Broker');
      const explicit = new ConnectionBroker(new Stack(app, 'C'), 'Broker', { serviceName: 'remoteit-broker' });

      expect([named.serviceName, other.serviceName, explicit.serviceName]).toEqual(['team-a-broker/Broker', 'team-b-broker/Broker', 'remoteit-broker']);
    });

    it('uses the full construct path in a nested stack, whose name is not known before deployment, and keeps ids to safe characters', () => {
      const app = testApp({ bundling: false });
      const parent = new Stack(app, 'Parent');
      const nested = new ConnectionBroker(new NestedStack(parent, 'Brokers'), 'Broker');
      const spaced = new ConnectionBroker(parent, 'My "Broker"');

      expect([nested.serviceName, spaced.serviceName]).toEqual(['Parent/Brokers/Broker', 'Parent/My--Broker-']);
    });
  });

  describe('removalPolicy', () => {
    it('keeps the production broker\'s tables (deletion protection) and logs, and lets the staging broker\'s go with the stack', () => {
      const tables = (id: string) => Object.values(ofBroker(template, 'AWS::DynamoDB::GlobalTable', id)).map((table) => [table.DeletionPolicy, (table.Properties?.Replicas as { DeletionProtectionEnabled?: boolean }[])[0]?.DeletionProtectionEnabled]);
      const logGroups = (id: string) => [...new Set(Object.values(ofBroker(template, 'AWS::Logs::LogGroup', id)).map((group) => group.DeletionPolicy))];

      expect(tables('Broker')).toEqual(Array(3).fill(['Retain', true]));
      expect(tables('Staging')).toEqual(Array(3).fill(['Delete', false]));
      expect(logGroups('Broker')).toEqual(['Retain']);
      expect(logGroups('Staging')).toEqual(['Delete']);
    });

    it('refuses SNAPSHOT, naming the prop', () => {
      expect(build({ removalPolicy: RemovalPolicy.SNAPSHOT })).toThrow(ConnectionBrokerPropsError);
      expect(build({ removalPolicy: RemovalPolicy.SNAPSHOT })).toThrow(/removalPolicy cannot be SNAPSHOT/);
    });
  });

  describe('encryptionKey', () => {
    const keyId = () => Object.keys(resourcesOfType(template, 'AWS::KMS::Key'))[0] as string;

    it('encrypts the staging broker\'s tables and log groups with the key, and leaves the production broker on AWS-managed keys', () => {
      const tableKeys = (id: string) => Object.values(ofBroker(template, 'AWS::DynamoDB::GlobalTable', id)).map((table) => render((table.Properties?.Replicas as { SSESpecification?: { KMSMasterKeyId?: unknown } }[])[0]?.SSESpecification?.KMSMasterKeyId));
      const logKeys = (id: string) => [...new Set(Object.values(ofBroker(template, 'AWS::Logs::LogGroup', id)).map((group) => render(group.Properties?.KmsKeyId)))];

      expect(tableKeys('Staging')).toEqual(Array(3).fill(`${keyId()}.Arn`));
      expect(logKeys('Staging')).toEqual([`${keyId()}.Arn`]);
      expect(tableKeys('Broker')).toEqual(Array(3).fill(undefined));
      expect(logKeys('Broker')).toEqual([JSON.stringify(undefined)]);
    });

    it('lets each staging function use the key as it uses the tables, on that key alone and with named actions', () => {
      const policies = Object.values(ofBroker(template, 'AWS::IAM::Policy', 'Staging'));
      const kmsStatements = policies.flatMap((policy) => (policy.Properties?.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] }).Statement)
        .filter((statement) => [statement.Action].flat().some((action) => action.startsWith('kms:')));

      expect(kmsStatements.length).toBeGreaterThanOrEqual(7);
      for (const statement of kmsStatements) {
        expect(render(statement.Resource)).toBe(`${keyId()}.Arn`);
        expect([statement.Action].flat().filter((action) => action.includes('*'))).toEqual([]);
      }
    });

    it('lets CloudWatch Logs of this account and region use a key created in the stack', () => {
      const keyPolicy = resourcesOfType(template, 'AWS::KMS::Key')[keyId()]?.Properties?.KeyPolicy as { Statement: Record<string, unknown>[] };

      expect(keyPolicy.Statement).toEqual(expect.arrayContaining([
        expect.objectContaining({
          Principal: { Service: 'logs.eu-west-1.amazonaws.com' },
          Condition: { ArnLike: { 'kms:EncryptionContext:aws:logs:arn': 'arn:aws:logs:eu-west-1:123456789012:log-group:*' } },
        }),
      ]));
    });
  });

  describe('stage and custom domain', () => {
    it('serves the staging API on its stage, mapped at the custom domain\'s path', () => {
      const stages = Object.values(ofBroker(template, 'AWS::ApiGatewayV2::Stage', 'Staging'));
      const domains = Object.values(resourcesOfType(template, 'AWS::ApiGatewayV2::DomainName'));
      const mappings = Object.values(resourcesOfType(template, 'AWS::ApiGatewayV2::ApiMapping'));

      expect(stages.map((stage) => stage.Properties?.StageName)).toEqual(['v1']);
      expect(domains.map((domain) => domain.Properties)).toEqual([
        expect.objectContaining({ DomainName: 'broker.example.com', DomainNameConfigurations: [{ CertificateArn: certificateArn, EndpointType: 'REGIONAL', SecurityPolicy: 'TLS_1_2' }] }),
      ]);
      expect(mappings.map((mapping) => mapping.Properties?.ApiMappingKey)).toEqual(['staging']);
      expect(built.staging.domainUrl).toBe('https://broker.example.com/staging/');
      expect(built.production.domain).toBeUndefined();
    });

    it.each([
      [{ stageName: 'v 1' }, /stageName must be \$default or 1 to 128 letters/],
      [{ domainName: 'broker.example.com' }, /certificate is required with domainName/],
      [{ domainName: 'Broker.Example.com', certificate: {} as acm.ICertificate }, /domainName must be a lower-case DNS name/],
      [{ certificate: {} as acm.ICertificate }, /certificate is only used with domainName/],
      [{ domainMappingKey: 'broker' }, /domainMappingKey is only used with domainName/],
      [{ domainName: 'broker.example.com', certificate: {} as acm.ICertificate, domainMappingKey: '/broker/' }, /domainMappingKey must be a path/],
    ] as [ConnectionBrokerProps, RegExp][])('refuses %j, naming the prop', (props, message) => {
      expect(build(props)).toThrow(ConnectionBrokerPropsError);
      expect(build(props)).toThrow(message);
    });
  });

  describe('alarms', () => {
    it('sends every production alarm to its topic and to the extra action', () => {
      const alarms = Object.values(ofBroker(template, 'AWS::CloudWatch::Alarm', 'Broker'));
      const topics = Object.keys(resourcesOfType(template, 'AWS::SNS::Topic'));

      expect(alarms).toHaveLength(18);
      expect(new Set(alarms.map((alarm) => JSON.stringify((alarm.Properties?.AlarmActions as unknown[]).map(render))))).toEqual(
        new Set([JSON.stringify(topics.filter((id) => id.startsWith('Pager')).concat(topics.filter((id) => id.startsWith('OnCall'))))]),
      );
    });

    it('creates no alarm with createAlarms: false, no alarm widget, and deploys the policy with no monitors', () => {
      const environments = Object.values(ofBroker(template, 'AWS::AppConfig::Environment', 'Staging'));
      const dashboard = Object.values(ofBroker(template, 'AWS::CloudWatch::Dashboard', 'Staging'))[0];

      expect(built.staging.alarms).toEqual([]);
      expect(Object.keys(ofBroker(template, 'AWS::CloudWatch::Alarm', 'Staging'))).toEqual([]);
      expect(environments.map((environment) => environment.Properties?.Monitors ?? [])).toEqual([[]]);
      expect(render(dashboard?.Properties?.DashboardBody)).not.toContain('"type":"alarm"');
    });
  });

  describe('reservedConcurrency', () => {
    it('reserves each staging function\'s concurrency, the sweeper\'s 1 included', () => {
      const reserved = Object.values(ofBroker(template, 'AWS::Lambda::Function', 'Staging')).map((fn) => [String(fn.Properties?.Description).split(':')[1]?.trim().split(' ')[0], fn.Properties?.ReservedConcurrentExecutions]);

      expect(reserved.sort()).toEqual([['GET', 5], ['arms', 2], ['fires', 10], ['opens', 5], ['publishes', 2], ['renews', 5], ['stops', 1]].sort());
    });

    it.each([
      [{ read: 0 }, /reservedConcurrency\.read must be a whole number of at least 1/],
      [{ open: 1.5 }, /reservedConcurrency\.open must be a whole number/],
      [{ timerFire: 5 }, /reservedConcurrency\.timerFire must be at least 10/],
      [{ sweeper: 2 }, /reservedConcurrency\.sweeper is not a function of the broker/],
    ])('refuses %j, naming the prop', (reservedConcurrency, message) => {
      expect(build({ reservedConcurrency: reservedConcurrency as ConnectionBrokerProps['reservedConcurrency'] })).toThrow(message);
    });
  });

  describe('serviceName and metricsNamespace', () => {
    it.each([
      ['a quote in serviceName', { serviceName: 'quote"broker' }, /serviceName must be 1 to 255 letters/],
      ['a blank serviceName', { serviceName: ' ' }, /serviceName must be 1 to 255 letters/],
      ['AWS\'s own namespace', { metricsNamespace: 'AWS/Lambda' }, /metricsNamespace must be .* not start with AWS\//],
      ['a namespace of 256 characters', { metricsNamespace: 'a'.repeat(256) }, /metricsNamespace must be 1 to 255/],
    ] as [string, ConnectionBrokerProps, RegExp][])('refuses %s, naming the prop', (_name, props, message) => {
      expect(build(props)).toThrow(message);
    });
  });

  describe('grantInvoke', () => {
    it('gives the caller a policy cdk-nag reports nothing on, with no acknowledgement anywhere on the caller', () => {
      const onCaller = nagV3Findings(built.app).filter((line) => line.includes('/AppRole/'));
      const acknowledged = built.caller.node.findAll().flatMap((construct) => construct.node.metadata.filter((entry) => /acknowledged|cdk_nag/.test(entry.type)));

      expect(onCaller).toEqual([]);
      expect(acknowledged).toEqual([]);
    });

    it('names the staging routes on its own stage', () => {
      const arns = built.staging.routeArns().map((arn) => built.stack.resolve(arn) as unknown).map(render);

      expect(arns.every((arn) => /\/v1\/(GET|POST|DELETE)\//.test(arn))).toBe(true);
    });

    it('matches ids of exactly the length the API accepts (26-character ULIDs): the `?` pattern and the schemas agree', () => {
      const ulid = '01HZY3V7Q8B6K2M4N5P6R7S8T9';

      for (const schema of [connectionIdSchema, lockIdSchema]) {
        expect(schema.safeParse(ulid).success).toBe(true);
        expect(schema.safeParse(ulid.slice(1)).success).toBe(false);
        expect(schema.safeParse(`${ulid}0`).success).toBe(false);
      }
      expect(ulid).toHaveLength(26);
    });
  });

  describe('cdk-nag', () => {
    it('3 (validation plugin) reports nothing on either broker, warnings included, nor on the team\'s own resources', () => {
      expect(nagV3Findings(built.app)).toEqual([]);
    });

    it('2 (Aspects) reads the construct\'s acknowledgements too: it reports only an unacknowledged queue beside the brokers', () => {
      const { stack } = platform();
      // The same kind of resource as the brokers' dead-letter queues, which acknowledge AwsSolutions-SQS3.
      new sqs.Queue(stack, 'Unacknowledged', { encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true });
      Aspects.of(stack).add(new AwsSolutionsChecksV2({ verbose: true }));
      Aspects.of(stack).add(new ServerlessChecksV2({ verbose: true }));

      const annotations = Annotations.fromStack(stack);
      const nag = Match.stringLikeRegexp('^(AwsSolutions|Serverless)-');
      const reported = [...annotations.findError('*', nag), ...annotations.findWarning('*', nag)].map((message) => `${String(message.entry.data).split(':')[0]} at ${message.id}`);

      expect(reported.sort()).toEqual(['AwsSolutions-SQS3 at /Platform/Unacknowledged/Resource', 'Serverless-SQSRedrivePolicy at /Platform/Unacknowledged/Resource']);
    });
  });
});
