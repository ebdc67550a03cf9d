/**
 * The deployable unit: one ConnectionBroker and the outputs an operator and the client need.
 */
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { ConnectionBroker, type ConnectionBrokerProps } from './connection-broker';

export interface BrokerStackProps extends StackProps {
  /** Construct props other than the imported resources below. @default - the construct's defaults */
  readonly broker?: Omit<ConnectionBrokerProps, 'secret' | 'alarmTopic'>;
  /** Complete ARN of an existing remote.it credentials secret. @default - the construct creates a placeholder */
  readonly secretArn?: string;
  /** SNS topic the alarms notify. @default - no notifications */
  readonly alarmTopicArn?: string;
}

export class BrokerStack extends Stack {
  readonly broker: ConnectionBroker;

  constructor(scope: Construct, id: string, props: BrokerStackProps = {}) {
    super(scope, id, props);
    this.broker = new ConnectionBroker(this, 'Broker', {
      ...props.broker,
      ...(props.secretArn && { secret: secretsmanager.Secret.fromSecretCompleteArn(this, 'Secret', props.secretArn) }),
      ...(props.alarmTopicArn && { alarmTopic: sns.Topic.fromTopicArn(this, 'AlarmTopic', props.alarmTopicArn) }),
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
  }
}
