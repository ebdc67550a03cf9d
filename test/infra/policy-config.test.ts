/**
 * The policy in AWS AppConfig, the AWS side (infra/policy-config.ts): the application, the hosted configuration
 * profile with its JSON Schema validator (generated from the runtime's zod schema, and refusing exactly what
 * that schema refuses), the first hosted version (the construct's policy), the environment watching the
 * broker's alarms, the deployment strategy and the deployment, who may read the deployed policy, and the
 * stack's outputs for the CLI.
 */
import { readFileSync } from 'node:fs';
import Ajv from 'ajv';
import { Template } from 'aws-cdk-lib/assertions';
import { BrokerStack } from '../../infra/broker-stack';
import { POLICY_ROLLOUT, policyJsonSchema } from '../../infra/policy-config';
import { policyDocumentSchema } from '../../lambdas/broker/policy';
import { functionId, permissionsOf, render, resourcesOfType, testApp } from './support';

const policy = {
  rules: [{ principals: ['arn:aws:iam::123456789012:role/app-*'], services: ['80:00:00:00:01:*'], maxTtlSeconds: 1800 }],
  admins: ['arn:aws:iam::123456789012:role/broker-admin'],
};

// One synth for the file (bundling skipped: the smoke test bundles for real).
let template: Template;
beforeAll(() => {
  template = Template.fromStack(new BrokerStack(testApp({ bundling: false }), 'Broker', { broker: { policy } }));
});

/** The one resource of `type`: its logical id and properties. */
const only = (type: string) => {
  const found = Object.entries(resourcesOfType(template, type));
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  const [[id, resource]] = found as [[string, (typeof found)[number][1]]];
  return { id, properties: resource.Properties ?? {}, resource };
};
const alarmId = (name: string) => {
  const found = Object.keys(resourcesOfType(template, 'AWS::CloudWatch::Alarm')).filter((id) => new RegExp(`^Broker${name}[0-9A-F]{8}$`).test(id));
  if (found.length !== 1) throw new Error(`expected one alarm ${name}, found ${found.length}`);
  return found[0] as string;
};

describe('the policy in AppConfig', () => {
  it('is one application with one hosted configuration profile, guarded by the generated JSON Schema validator', () => {
    const application = only('AWS::AppConfig::Application');
    const profile = only('AWS::AppConfig::ConfigurationProfile');

    expect(profile.properties).toMatchObject({
      ApplicationId: { Ref: application.id },
      LocationUri: 'hosted',
      Validators: [{ Type: 'JSON_SCHEMA', Content: JSON.stringify(policyJsonSchema()) }],
    });
    expect(profile.properties.Type ?? 'AWS.Freeform').toBe('AWS.Freeform');
  });

  it('deploys the construct\'s policy, validated and with the schema\'s defaults, as the first hosted version (JSON)', () => {
    const version = only('AWS::AppConfig::HostedConfigurationVersion');

    expect(version.properties).toMatchObject({
      ApplicationId: { Ref: only('AWS::AppConfig::Application').id },
      ConfigurationProfileId: { Ref: only('AWS::AppConfig::ConfigurationProfile').id },
      ContentType: 'application/json',
    });
    expect(JSON.parse(String(version.properties.Content))).toEqual({
      rules: [{ ...policy.rules[0], modes: ['latching', 'ip'], maxActive: 10, opensPerMinute: 60 }],
      admins: policy.admins,
    });
    expect(policyDocumentSchema.parse(JSON.parse(String(version.properties.Content)))).toEqual(JSON.parse(String(version.properties.Content)));
  });

  it('deploys it to the one environment, `live`, with the rollout strategy', () => {
    const environment = only('AWS::AppConfig::Environment');
    const deployment = only('AWS::AppConfig::Deployment');

    expect(environment.properties).toMatchObject({ ApplicationId: { Ref: only('AWS::AppConfig::Application').id }, Name: 'live' });
    expect(deployment.properties).toMatchObject({
      ApplicationId: { Ref: only('AWS::AppConfig::Application').id },
      EnvironmentId: { Ref: environment.id },
      ConfigurationProfileId: { Ref: only('AWS::AppConfig::ConfigurationProfile').id },
      ConfigurationVersion: { Ref: only('AWS::AppConfig::HostedConfigurationVersion').id },
      DeploymentStrategyId: { Ref: only('AWS::AppConfig::DeploymentStrategy').id },
    });
  });

  it('rolls a change out linearly, a quarter at a time over 4 minutes, then bakes it for 5', () => {
    expect(only('AWS::AppConfig::DeploymentStrategy').properties).toMatchObject({
      GrowthType: 'LINEAR',
      GrowthFactor: 25,
      DeploymentDurationInMinutes: 4,
      FinalBakeTimeInMinutes: 5,
      ReplicateTo: 'NONE',
    });
    // The bake outlasts the slowest monitor: the fault-rate alarm needs 3 of 5 one-minute periods.
    expect(POLICY_ROLLOUT.finalBakeTime.toMinutes()).toBeGreaterThanOrEqual(5);
  });

  it('rolls back on the API\'s fault-rate alarm, the API functions\' error alarms and the policy-load alarm, read with a role AppConfig alone assumes', () => {
    const monitors = only('AWS::AppConfig::Environment').properties.Monitors as { AlarmArn: unknown; AlarmRoleArn: unknown }[];
    const roleIds = [...new Set(monitors.map((monitor) => render(monitor.AlarmRoleArn).replace(/\.Arn$/, '')))];
    const role = resourcesOfType(template, 'AWS::IAM::Role')[roleIds[0] ?? ''];

    expect(monitors.map((monitor) => render(monitor.AlarmArn)).sort()).toEqual(
      ['ApiFaultRateAlarm', 'ReadFunctionErrorsAlarm', 'OpenFunctionErrorsAlarm', 'WriteFunctionErrorsAlarm', 'PolicyLoadFailuresAlarm']
        .map((name) => `${alarmId(name)}.Arn`)
        .sort(),
    );
    expect(roleIds).toHaveLength(1);
    expect(role?.Properties?.AssumeRolePolicyDocument).toEqual({
      Statement: [{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'appconfig.amazonaws.com' } }],
      Version: '2012-10-17',
    });
    expect((role?.Properties?.Policies as { PolicyDocument: unknown }[]).map((entry) => entry.PolicyDocument)).toEqual([
      { Statement: [{ Action: 'cloudwatch:DescribeAlarms', Effect: 'Allow', Resource: '*' }], Version: '2012-10-17' },
    ]);
  });

  it('lets the three API functions, and no other, read the deployed configuration, on its ARN alone', () => {
    const configurationArn =
      `arn:AWS::Partition:appconfig:AWS::Region:AWS::AccountId:application/${only('AWS::AppConfig::Application').id}` +
      `/environment/${only('AWS::AppConfig::Environment').id}/configuration/${only('AWS::AppConfig::ConfigurationProfile').id}`;
    const apiFunctions = ['remote.it broker: GET', 'remote.it broker: opens', 'remote.it broker: renews'].map((fn) => functionId(template, fn));

    const appConfigActions = Object.fromEntries(
      Object.keys(resourcesOfType(template, 'AWS::Lambda::Function')).map((fn) => [
        fn,
        Object.fromEntries(Object.entries(permissionsOf(template, fn).actions).filter(([action]) => action.startsWith('appconfig:'))),
      ]),
    );

    for (const [fn, actions] of Object.entries(appConfigActions)) {
      expect(actions).toEqual(
        apiFunctions.includes(fn)
          ? { 'appconfig:GetLatestConfiguration': [configurationArn], 'appconfig:StartConfigurationSession': [configurationArn] }
          : {},
      );
    }
  });

  it('outputs the ids the AppConfig CLI takes to deploy a new policy', () => {
    const outputs = template.findOutputs('*');

    expect({
      application: render(outputs.PolicyApplicationId?.Value),
      environment: render(outputs.PolicyEnvironmentId?.Value),
      profile: render(outputs.PolicyConfigurationProfileId?.Value),
      strategy: render(outputs.PolicyDeploymentStrategyId?.Value),
    }).toEqual({
      application: only('AWS::AppConfig::Application').id,
      environment: only('AWS::AppConfig::Environment').id,
      profile: only('AWS::AppConfig::ConfigurationProfile').id,
      strategy: only('AWS::AppConfig::DeploymentStrategy').id,
    });
  });
});

describe('the policy\'s JSON Schema validator', () => {
  // AppConfig's JSON Schema validators take Draft 4; ajv 6 checks it with the Draft 4 meta-schema added.
  const ajv = new Ajv({ schemaId: 'id', meta: false, allErrors: true });
  ajv.addMetaSchema(JSON.parse(readFileSync(require.resolve('ajv/lib/refs/json-schema-draft-04.json'), 'utf8')) as object);
  const schema = policyJsonSchema();
  const validate = ajv.compile(schema);

  it('is a Draft 4 schema that Draft 4\'s meta-schema accepts', () => {
    expect(schema.$schema).toBe('http://json-schema.org/draft-04/schema#');
    expect(ajv.validateSchema(schema)).toBe(true);
  });

  const rule = { principals: ['arn:aws:iam::123456789012:role/app'], services: ['*'] };
  const documents: [string, unknown][] = [
    ['an empty document (deny all)', {}],
    ['the defaults written out', { rules: [], admins: [] }],
    ['a rule with its defaults left out', { rules: [rule] }],
    ['a rule with every field', { rules: [{ ...rule, modes: ['public'], maxTtlSeconds: 60, maxActive: 1, opensPerMinute: 1 }], admins: ['arn:aws:iam::1:role/a'] }],
    ['the longest lease', { rules: [{ ...rule, maxTtlSeconds: 86_400 }] }],
    ['a lease above the longest', { rules: [{ ...rule, maxTtlSeconds: 86_401 }] }],
    ['a lease below the shortest', { rules: [{ ...rule, maxTtlSeconds: 59 }] }],
    ['a fractional lease', { rules: [{ ...rule, maxTtlSeconds: 600.5 }] }],
    ['a lease as a string', { rules: [{ ...rule, maxTtlSeconds: '600' }] }],
    ['no live connection allowed', { rules: [{ ...rule, maxActive: 0 }] }],
    ['no open allowed a minute', { rules: [{ ...rule, opensPerMinute: 0 }] }],
    ['the most opens a minute', { rules: [{ ...rule, opensPerMinute: 100_000 }] }],
    ['more opens a minute than the most', { rules: [{ ...rule, opensPerMinute: 100_001 }] }],
    ['an unknown mode', { rules: [{ ...rule, modes: ['tunnel'] }] }],
    ['no mode', { rules: [{ ...rule, modes: [] }] }],
    ['no principal', { rules: [{ ...rule, principals: [] }] }],
    ['an empty principal', { rules: [{ ...rule, principals: [''] }] }],
    ['a rule without services', { rules: [{ principals: rule.principals }] }],
    ['an unknown rule field', { rules: [{ ...rule, effect: 'allow' }] }],
    ['an unknown top-level field', { rules: [], version: 2 }],
    ['an empty admin', { admins: [''] }],
    ['admins as a string', { admins: 'arn:aws:iam::1:role/a' }],
    ['rules as an object', { rules: rule }],
    ['a lifetime and client CIDRs', { rules: [{ ...rule, maxLifetimeSeconds: 14_400, clientCidrs: ['203.0.113.0/24', '198.51.100.7/32'] }] }],
    ['a lifetime above a week', { rules: [{ ...rule, maxLifetimeSeconds: 604_801 }] }],
    ['a client address without its prefix', { rules: [{ ...rule, clientCidrs: ['203.0.113.7'] }] }],
    ['a prefix above 32', { rules: [{ ...rule, clientCidrs: ['203.0.113.0/33'] }] }],
    ['no client CIDR', { rules: [{ ...rule, clientCidrs: [] }] }],
    ['an array', [rule]],
    ['null', null],
  ];

  it.each(documents)('agrees with the runtime schema on %s', (_, document) => {
    expect(validate(document)).toBe(policyDocumentSchema.safeParse(document).success);
  });

  it('accepts and refuses documents in the table: it is no accept-all or refuse-all', () => {
    const verdicts = documents.map(([, document]) => validate(document));

    expect(verdicts.filter(Boolean).length).toBeGreaterThanOrEqual(5);
    expect(verdicts.filter((valid) => !valid).length).toBeGreaterThanOrEqual(15);
  });
});
