import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { createBrokerStack } from '../../infra/broker-app';
import { BrokerStack } from '../../infra/broker-stack';
import { ConnectionBroker, ConnectionBrokerPropsError, type ConnectionBrokerProps } from '../../infra/connection-broker';
import { configKeys, FUNCTION_CONFIG } from '../../lambdas/config';
import { API_ROUTES } from '../../lambdas/handlers/routes';
import { expectResourceProperties, functionId, permissionsOf, render, resourcesOfType, testApp } from './support';

const secretArn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:remoteit/credentials-AbCdEf';
const alarmTopicArn = 'arn:aws:sns:eu-west-1:123456789012:broker-alarms';

/** Builds the construct alone; props errors surface here, before any synth. */
const build = (props: ConnectionBrokerProps) => () =>
  new ConnectionBroker(new Stack(testApp({ bundling: false }), 'Props'), 'Broker', props);

describe('ConnectionBroker props', () => {
  describe('validation at synth time', () => {
    it('rejects a policy the runtime schema rejects, naming the bad field', () => {
      const policy = { rules: [{ principals: ['*'], services: ['*'], modes: ['tunnel' as 'ip'] }] };

      expect(build({ policy })).toThrow(ConnectionBrokerPropsError);
      expect(build({ policy })).toThrow(/policy is invalid: rules\.0\.modes\.0/);
    });

    it('takes a policy far larger than the Lambda environment\'s 4 KB: it is AppConfig data, not a variable', () => {
      const principals = Array.from({ length: 200 }, (_, n) => `arn:aws:iam::123456789012:role/application-${n}`);

      expect(JSON.stringify(principals).length).toBeGreaterThan(8 * 1024);
      expect(build({ policy: { rules: [{ principals, services: ['*'] }] } })).not.toThrow();
    });

    it.each([Duration.seconds(0), Duration.seconds(61), Duration.millis(1500)])('rejects a policy max age of %s: whole seconds from 1 to 60', (policyMaxAge) => {
      expect(build({ policyMaxAge })).toThrow(/policyMaxAge must be whole seconds from 1 to 60/);
    });

    it('rejects a sweep interval that is not whole minutes', () => {
      expect(build({ sweepInterval: Duration.seconds(90) })).toThrow(/sweepInterval must be whole minutes/);
    });

    it('rejects a setting the functions would fail their cold start on, naming the variable', () => {
      expect(build({ remoteitApiUrl: 'api.remote.it' })).toThrow(/would fail the cold start: REMOTEIT_API_URL/);
    });
  });

  describe('customised deployment', () => {
    // One synth for every customised prop.
    let template: Template;
    beforeAll(() => {
      const stack = new BrokerStack(testApp({ bundling: false }), 'Custom', {
        secretArn,
        alarmTopicArn,
        broker: {
          sweepInterval: Duration.minutes(5),
          dueShards: 16,
          defaultLease: Duration.minutes(10),
          logLevel: 'DEBUG',
          throttle: { rateLimit: 5, burstLimit: 10 },
          routeThrottles: { 'GET /connections': { rateLimit: 2, burstLimit: 4 } },
          policyMaxAge: Duration.seconds(15),
        },
      });
      const caller = new iam.Role(stack, 'CallerRole', { assumedBy: new iam.AccountRootPrincipal() });
      stack.broker.grantInvoke(caller);
      template = Template.fromStack(stack);
    });

    it('grants a caller role execute-api:Invoke on each of the broker\'s routes on its stage, and nothing else', () => {
      const [[, policy] = []] = Object.entries(resourcesOfType(template, 'AWS::IAM::Policy')).filter(([id]) =>
        id.startsWith('CallerRole'),
      );

      const statements = (policy?.Properties?.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement;
      const arns = statements.flatMap((statement) => (statement.Resource as unknown[]).map(render));
      const id = '?'.repeat(26);

      expect(statements.map(({ Effect, Action }) => ({ Effect, Action }))).toEqual([{ Effect: 'Allow', Action: 'execute-api:Invoke' }]);
      expect(arns.map((arn) => arn.replace(/^arn:AWS::Partition:execute-api:AWS::Region:AWS::AccountId:BrokerApi\w+\//, '')).sort()).toEqual(
        API_ROUTES.map((route) => `$default/${route.method}${route.path.replace('{id}', id)}`).sort(),
      );
      expect(arns.filter((arn) => arn.includes('*'))).toEqual([]);
    });

    it('runs the sweeper every interval with a timeout of one interval and lag alarmed above two', () => {
      const sweeper = functionId(template, 'remote.it broker: stops');

      expectResourceProperties(template, 'AWS::Events::Rule', { ScheduleExpression: 'rate(5 minutes)' });
      expectResourceProperties(template, 'AWS::Lambda::Function', { Description: Match.stringLikeRegexp('^remote.it broker: stops'), Timeout: 300 });
      expectResourceProperties(template, 'AWS::Lambda::EventInvokeConfig', { FunctionName: { Ref: sweeper }, MaximumEventAgeInSeconds: 300 });
      expectResourceProperties(template, 'AWS::CloudWatch::Alarm', { MetricName: 'LagSeconds', Period: 300, Threshold: 600 });
    });

    it('passes the log level to every function, the shard count to every function that reads it and the default lease to the open function', () => {
      const functions = resourcesOfType(template, 'AWS::Lambda::Function');
      const variablesOf = (id: string) => (functions[id]?.Properties?.Environment as { Variables: Record<string, unknown> }).Variables;
      const open = functionId(template, 'remote.it broker: opens');
      const readingShards = Object.values(FUNCTION_CONFIG).filter((schema) => (configKeys(schema) as string[]).includes('DUE_SHARDS'));

      expect(Object.keys(functions)).toHaveLength(Object.keys(FUNCTION_CONFIG).length);
      for (const id of Object.keys(functions)) {
        expect(variablesOf(id)).toMatchObject({ POWERTOOLS_LOG_LEVEL: 'DEBUG' });
      }
      expect(Object.keys(functions).filter((id) => variablesOf(id).DUE_SHARDS === '16')).toHaveLength(readingShards.length);
      expect(variablesOf(open)).toMatchObject({ DEFAULT_TTL_SECONDS: '600' });
    });

    it('passes the policy max age to the three API functions, and to no other', () => {
      const functions = resourcesOfType(template, 'AWS::Lambda::Function');
      const withMaxAge = Object.entries(functions)
        .filter(([, fn]) => (fn.Properties?.Environment as { Variables: Record<string, unknown> }).Variables.POLICY_MAX_AGE_SECONDS === '15')
        .map(([id]) => id)
        .sort();

      expect(withMaxAge).toEqual(
        ['remote.it broker: GET', 'remote.it broker: opens', 'remote.it broker: renews'].map((fn) => functionId(template, fn)).sort(),
      );
    });

    it('uses the existing secret instead of creating one, granting read on it alone', () => {
      const open = functionId(template, 'remote.it broker: opens');

      const { actions } = permissionsOf(template, open);

      template.resourceCountIs('AWS::SecretsManager::Secret', 0);
      expect(actions['secretsmanager:GetSecretValue']).toEqual([secretArn]);
      for (const fn of ['remote.it broker: renews', 'remote.it broker: fires']) {
        expect(permissionsOf(template, functionId(template, fn)).actions['secretsmanager:GetSecretValue']).toEqual([secretArn]);
      }
      expectResourceProperties(template, 'AWS::Lambda::Function', {
        Environment: { Variables: Match.objectLike({ REMOTEIT_SECRET_ID: secretArn }) },
      });
    });

    it('notifies the alarm topic from every alarm', () => {
      const alarms = Object.values(resourcesOfType(template, 'AWS::CloudWatch::Alarm'));

      expect(alarms).toHaveLength(18);
      expect(alarms.map((alarm) => alarm.Properties?.AlarmActions)).toEqual(Array(18).fill([alarmTopicArn]));
    });

    it('applies the throttle to the default stage, and a route throttle over that route\'s default only', () => {
      expectResourceProperties(template, 'AWS::ApiGatewayV2::Stage', {
        DefaultRouteSettings: { ThrottlingRateLimit: 5, ThrottlingBurstLimit: 10 },
      });
      const [stage] = Object.values(resourcesOfType(template, 'AWS::ApiGatewayV2::Stage'));
      expect(stage?.Properties?.RouteSettings).toMatchObject({
        'GET /connections': { ThrottlingRateLimit: 2, ThrottlingBurstLimit: 4 },
        'DELETE /connections/{id}': { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
      });
    });

    it('refuses a route throttle for a route the API does not have, naming it', () => {
      expect(() => new BrokerStack(testApp({ bundling: false }), 'BadRoute', {
        secretArn,
        broker: { routeThrottles: { 'GET /connection': { rateLimit: 1 } } as never },
      })).toThrow(/ConnectionBroker: routeThrottles names no route of the API: GET \/connection /);
    });
  });

  describe('app without a policy file', () => {
    it('deploys a deny-all policy and warns at synth', () => {
      const stack = createBrokerStack(testApp({ bundling: false }));
      const versions = Object.values(resourcesOfType(Template.fromStack(stack), 'AWS::AppConfig::HostedConfigurationVersion'));

      Annotations.fromStack(stack).hasWarning(`/${stack.stackName}`, Match.stringLikeRegexp('denies every request'));
      expect(versions.map((version) => JSON.parse(String(version.Properties?.Content)) as unknown)).toEqual([{ rules: [], admins: [] }]);
    });
  });
});
