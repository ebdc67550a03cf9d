/**
 * CDK app entry (`cdk.json`: `npx tsx infra/app.ts`). Deployment choices come from context, so nothing here
 * is edited per account:
 *   -c policyFile=policy.json                  the broker policy document (default: deny everything)
 *   -c secretArn=arn:aws:secretsmanager:...    an existing remote.it credentials secret (complete ARN)
 *   -c alarmTopicArn=arn:aws:sns:...           the SNS topic alarms notify
 *   -c eventBusArn=arn:aws:events:...          the EventBridge bus audit events go to (default: a new one)
 *   -c stackName=RemoteitBroker
 */
import { App } from 'aws-cdk-lib';
import { createBrokerStack } from './broker-app';

const app = new App();
createBrokerStack(app);
app.synth();
