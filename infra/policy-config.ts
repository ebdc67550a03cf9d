/**
 * The broker's policy as live data in AWS AppConfig: an application, a hosted configuration profile whose first
 * version is the policy the construct is given (CDK's `policy` prop, the app's `policyFile` context), a JSON
 * Schema validator generated at synth time from the runtime's own zod schema, an environment that watches the
 * broker's alarms, and a deployment strategy that rolls a change out over a few minutes and back on an alarm.
 * The API functions read the deployed policy through Powertools' AppConfig provider
 * (lambdas/handlers/policy-source.ts); operators change it without a stack deployment (docs/OPERATIONS.md,
 * "Changing the policy").
 *
 * The construct is built in two steps, because the environment watches alarms on the very functions that read
 * it: `BrokerPolicyConfig` (application, profile, strategy, and the environment's name, which the functions are
 * given) before the functions, `deployTo` (the environment with its monitors, and the first deployment) after
 * the alarms. The functions are told the environment by name, not id: an id would make each function depend on
 * the environment, which depends on the alarms, which depend on the functions.
 */
import { Duration } from 'aws-cdk-lib';
import * as appconfig from 'aws-cdk-lib/aws-appconfig';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { toJSONSchema } from 'zod/mini';
import { policyDocumentSchema } from '../lambdas/broker/policy';
import type { BrokerPolicyDocument } from './policy-document';

/**
 * Why a function could not load the policy (the `reason` dimension of `PolicyLoadFailures`): AppConfig did not
 * answer, answered with a document the runtime schema refuses, or has no deployed policy.
 */
export const POLICY_LOAD_FAILURE_REASONS = ['unreachable', 'invalid', 'empty'] as const;

/**
 * How a policy change is rolled out: to a quarter more of the functions' configuration sessions each minute
 * (linear, 25 %, over 4 minutes), then watched for 5 more minutes (bake) before the deployment is complete. An
 * alarm of the environment's monitors during either rolls the deployment back to the previous policy. Five
 * minutes of bake cover the slowest monitor: the API fault-rate alarm fires on 3 of 5 one-minute periods.
 */
export const POLICY_ROLLOUT = {
  growthFactor: 25,
  deploymentDuration: Duration.minutes(4),
  finalBakeTime: Duration.minutes(5),
} as const;

/** The environment the policy is deployed to, one per broker (the application is the broker's own). */
export const POLICY_ENVIRONMENT_NAME = 'live';

/**
 * JSON Schema (Draft 4, what AppConfig's JSON Schema validators take) of the policy document as written:
 * zod's input side, so fields with defaults may be left out, as in a policy file. Generated from the same zod
 * schema the functions parse the document with, so AppConfig and the functions refuse the same documents.
 */
/** The formats Draft 4 defines; zod's others (`cidrv4`) carry a `pattern` too, which says the same to any validator. */
const DRAFT_04_FORMATS = new Set(['date-time', 'email', 'hostname', 'ipv4', 'ipv6', 'uri']);

export function policyJsonSchema(): Record<string, unknown> {
  return toJSONSchema(policyDocumentSchema, {
    target: 'draft-04',
    io: 'input',
    override: ({ jsonSchema }) => {
      if (typeof jsonSchema.format === 'string' && !DRAFT_04_FORMATS.has(jsonSchema.format)) delete jsonSchema.format;
    },
  }) as Record<string, unknown>;
}

export interface BrokerPolicyConfigProps {
  /**
   * The first version of the hosted configuration: the policy, validated, with the schema's defaults (the
   * construct passes what `policyDocumentSchema` parsed).
   */
  readonly policy: BrokerPolicyDocument;
}

/** The AppConfig application, configuration profile and deployment strategy of the broker's policy. */
export class BrokerPolicyConfig extends Construct {
  readonly application: appconfig.Application;
  /** The hosted configuration profile (and its first version, the construct's policy). */
  readonly profile: appconfig.HostedConfiguration;
  readonly strategy: appconfig.DeploymentStrategy;
  /** Set by `deployTo`. */
  private deployedEnvironment?: appconfig.Environment;

  constructor(scope: Construct, id: string, props: BrokerPolicyConfigProps) {
    super(scope, id);
    this.application = new appconfig.Application(this, 'Application', {
      description: 'remote.it broker: who may open what (the broker policy, docs/OPERATIONS.md "Changing the policy")',
    });
    this.strategy = new appconfig.DeploymentStrategy(this, 'Strategy', {
      description: 'remote.it broker policy: linear 25 % a minute over 4 minutes, 5 minutes of bake, rolled back on the broker\'s alarms',
      rolloutStrategy: appconfig.RolloutStrategy.linear(POLICY_ROLLOUT),
    });
    this.profile = new appconfig.HostedConfiguration(this, 'Policy', {
      application: this.application,
      description: 'remote.it broker policy document (lambdas/broker/policy.ts)',
      content: appconfig.ConfigurationContent.fromInlineJson(JSON.stringify(props.policy, null, 2)),
      validators: [appconfig.JsonSchemaValidator.fromInline(JSON.stringify(policyJsonSchema()))],
      deploymentStrategy: this.strategy,
    });
  }

  /** The name the functions are given (POLICY_APPCONFIG_ENVIRONMENT): a literal, known before the environment exists. */
  get environmentName(): string {
    return POLICY_ENVIRONMENT_NAME;
  }

  /** The environment, once `deployTo` created it. */
  get environment(): appconfig.Environment {
    if (!this.deployedEnvironment) throw new Error('BrokerPolicyConfig: deployTo has not run');
    return this.deployedEnvironment;
  }

  /**
   * Creates the environment, watching `monitors` (CDK creates the role AppConfig reads their state with), and
   * deploys the profile's first version to it with the strategy.
   */
  deployTo(monitors: readonly cloudwatch.IAlarm[]): appconfig.Environment {
    if (this.deployedEnvironment) throw new Error('BrokerPolicyConfig: deployTo has already run');
    this.deployedEnvironment = new appconfig.Environment(this, 'Environment', {
      application: this.application,
      environmentName: POLICY_ENVIRONMENT_NAME,
      description: 'remote.it broker: the policy the API functions read; a deployment rolls back on any of its monitors\' alarms',
      monitors: monitors.map((alarm) => appconfig.Monitor.fromCloudWatchAlarm(alarm)),
    });
    this.deployedEnvironment.addDeployment(this.profile);
    return this.deployedEnvironment;
  }

  /**
   * The ARN the functions' AppConfig Data calls are authorised on: the configuration resource type of the
   * service authorization reference, application/APP/environment/ENV/configuration/PROFILE.
   */
  configurationArn(): string {
    return `${this.environment.environmentArn}/configuration/${this.profile.configurationProfileId}`;
  }

  /**
   * Lets `roles` read the deployed policy (StartConfigurationSession, GetLatestConfiguration) and nothing else.
   * In a policy of its own, not the roles' default policies: each function depends on its default policy, and
   * this one names the environment, which depends on the alarms on those functions.
   */
  grantRead(roles: readonly iam.IRole[]): iam.Policy {
    return new iam.Policy(this, 'ReadPolicy', {
      roles: [...roles],
      statements: [
        new iam.PolicyStatement({
          actions: ['appconfig:StartConfigurationSession', 'appconfig:GetLatestConfiguration'],
          resources: [this.configurationArn()],
        }),
      ],
    });
  }

  /** The monitors' role CDK created (the alarm role of the environment's CloudWatch monitors). */
  monitorRole(): iam.Role | undefined {
    return this.environment.node.children.find((child): child is iam.Role => child instanceof iam.Role);
  }
}
