/**
 * The deployable unit: one ConnectionBroker and the outputs an operator and the client need.
 */
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { ConnectionBroker, type ConnectionBrokerProps } from './connection-broker';
import { dashboardUrl } from './dashboard';

export interface BrokerStackProps extends StackProps {
  /** Construct props other than the imported resources below. @default - the construct's defaults */
  readonly broker?: Omit<ConnectionBrokerProps, 'secret' | 'alarmTopic' | 'eventBus'>;
  /** Complete ARN of an existing remote.it credentials secret. @default - the construct creates a placeholder */
  readonly secretArn?: string;
  /** SNS topic the alarms notify. @default - no notifications */
  readonly alarmTopicArn?: string;
  /** EventBridge bus audit events go to. @default - the construct creates one */
  readonly eventBusArn?: string;
}

export class BrokerStack extends Stack {
  readonly broker: ConnectionBroker;

  constructor(scope: Construct, id: string, props: BrokerStackProps = {}) {
    super(scope, id, props);
    this.broker = new ConnectionBroker(this, 'Broker', {
      ...props.broker,
      ...(props.secretArn && { secret: secretsmanager.Secret.fromSecretCompleteArn(this, 'Secret', props.secretArn) }),
      ...(props.alarmTopicArn && { alarmTopic: sns.Topic.fromTopicArn(this, 'AlarmTopic', props.alarmTopicArn) }),
      ...(props.eventBusArn && { eventBus: events.EventBus.fromEventBusArn(this, 'EventBus', props.eventBusArn) }),
    });

    new CfnOutput(this, 'ApiUrl', {
      description: 'Base URL of the broker API (SigV4-signed requests, service execute-api)',
      value: this.broker.url,
    });
    new CfnOutput(this, 'ExecuteApiArn', {
      description: 'Resource for the execute-api:Invoke permission callers need',
      value: this.broker.api.arnForExecuteApi(),
    });
    new CfnOutput(this, 'ConnectionsTableName', { value: this.broker.connectionsTable.tableName });
    new CfnOutput(this, 'IdempotencyTableName', { value: this.broker.idempotencyTable.tableName });
    new CfnOutput(this, 'LocksTableName', { value: this.broker.locksTable.tableName });
    // What `aws appconfig create-hosted-configuration-version` and `start-deployment` take (docs/OPERATIONS.md).
    const policy = this.broker.policyConfig;
    new CfnOutput(this, 'PolicyApplicationId', {
      description: 'AppConfig application of the broker policy (docs/OPERATIONS.md, "Changing the policy")',
      value: policy.application.applicationId,
    });
    new CfnOutput(this, 'PolicyEnvironmentId', { value: policy.environment.environmentId });
    new CfnOutput(this, 'PolicyConfigurationProfileId', { value: policy.profile.configurationProfileId });
    new CfnOutput(this, 'PolicyDeploymentStrategyId', { value: policy.strategy.deploymentStrategyId });
    new CfnOutput(this, 'SecretArn', {
      description: 'Put the remote.it credentials JSON here (docs/OPERATIONS.md)',
      value: this.broker.secret.secretArn,
    });
    new CfnOutput(this, 'DeadLetterQueueUrl', {
      description: 'Failed sweeper runs',
      value: this.broker.deadLetterQueue.queueUrl,
    });
    new CfnOutput(this, 'TimerDeadLetterQueueUrl', {
      description: 'Lost lease timers: timers that kept failing, and changes no timer could be armed for (docs/OPERATIONS.md)',
      value: this.broker.timerDeadLetterQueue.queueUrl,
    });
    new CfnOutput(this, 'AuditEventBusArn', {
      description: 'Audit events (docs/EVENTS.md): rules, archives and other accounts read them from this bus',
      value: this.broker.auditBus.eventBusArn,
    });
    new CfnOutput(this, 'AuditEventBusName', { value: this.broker.auditBus.eventBusName });
    new CfnOutput(this, 'AuditDeadLetterQueueUrl', {
      description: 'Audit events that were never published: the changes the audit stream mapping gave up on (docs/OPERATIONS.md)',
      value: this.broker.auditDeadLetterQueue.queueUrl,
    });
    new CfnOutput(this, 'DashboardUrl', {
      description: 'The broker\'s CloudWatch dashboard',
      value: dashboardUrl(this.broker.dashboard),
    });
  }
}
