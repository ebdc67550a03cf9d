/**
 * Builds the app's stack from context. Separate from `app.ts` so tests build exactly what `cdk synth` does.
 */
import { readFileSync } from 'node:fs';
import { Annotations, type App } from 'aws-cdk-lib';
import { BrokerStack } from './broker-stack';
import type { BrokerPolicyInput } from './connection-broker';
import { addNagPacks } from './nag';

export const DEFAULT_STACK_NAME = 'RemoteitBroker';

export function createBrokerStack(app: App): BrokerStack {
  const context = (key: string): string | undefined => {
    const value: unknown = app.node.tryGetContext(key);
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  const policyFile = context('policyFile');
  const secretArn = context('secretArn');
  const alarmTopicArn = context('alarmTopicArn');
  const eventBusArn = context('eventBusArn');

  const stack = new BrokerStack(app, context('stackName') ?? DEFAULT_STACK_NAME, {
    description: 'remote.it connection broker: short-lived proxy connections behind an IAM-authorised API',
    // Environment-agnostic unless the CLI knows the account: synth works offline, without credentials.
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
    // The construct validates the document's shape; here it only has to be JSON.
    broker: policyFile ? { policy: JSON.parse(readFileSync(policyFile, 'utf8')) as BrokerPolicyInput } : {},
    ...(secretArn && { secretArn }),
    ...(alarmTopicArn && { alarmTopicArn }),
    ...(eventBusArn && { eventBusArn }),
  });
  if (!policyFile) {
    Annotations.of(stack).addWarningV2(
      'remoteit-broker:denyAllPolicy',
      'No -c policyFile=...: the broker denies every request until a policy is deployed (docs/OPERATIONS.md).',
    );
  }
  addNagPacks(app);
  return stack;
}
