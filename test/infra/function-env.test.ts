/**
 * Each function's environment against the config schema it parses at cold start (lambdas/config.ts): no
 * function is given a variable it does not read (the read function is not told the secret's name, the
 * sweeper not the idempotency table's), and none misses a variable its schema requires. Checked for the
 * default deployment and for one with every optional prop set, since props add variables.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { Template } from 'aws-cdk-lib/assertions';
import { BrokerStack } from '../../infra/broker-stack';
import type { ConnectionBroker } from '../../infra/connection-broker';
import { configKeys, FUNCTION_CONFIG, requiredConfigKeys, type BrokerFunctionName } from '../../lambdas/config';
import { resourcesOfType, testApp } from './support';

/** Set by the construct's function wrapper, Powertools' own settings, or AWS's: no config schema parses them. */
const isPlatformVariable = (name: string) => name === 'NODE_OPTIONS' || /^(POWERTOOLS|AWS)_/.test(name);

const functionOf: Record<BrokerFunctionName, (broker: ConnectionBroker) => ConnectionBroker['readFunction']> = {
  'connections-read': (broker) => broker.readFunction,
  'connections-open': (broker) => broker.openFunction,
  'connections-write': (broker) => broker.writeFunction,
  sweeper: (broker) => broker.sweeperFunction,
  'timer-arm': (broker) => broker.timerArmFunction,
  'timer-fire': (broker) => broker.timerFireFunction,
  audit: (broker) => broker.auditFunction,
};

const deployments = {
  default: {},
  'every optional prop set': {
    secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:remoteit/credentials-AbCdEf',
    alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:broker-alarms',
    broker: {
      policy: { rules: [{ principals: ['arn:aws:iam::123456789012:role/app'], services: ['*'] }], admins: [] },
      remoteitApiUrl: 'https://api.example.com/apv/v27',
      signatureScheme: 'rfc9421' as const,
      sweepInterval: Duration.minutes(2),
      dueShards: 4,
      defaultLease: Duration.minutes(30),
      pendingGrace: Duration.minutes(5),
      sweeperConcurrency: 4,
      sweeperMaxAttempts: 3,
      logLevel: 'DEBUG' as const,
      serviceName: 'broker-test',
      metricsNamespace: 'BrokerTest',
    },
  },
};

/** Each function's environment variable names in one synthesised deployment, without the platform's. */
function configVariablesOf(props: ConstructorParameters<typeof BrokerStack>[2]): Record<BrokerFunctionName, string[]> {
  const stack = new BrokerStack(testApp({ bundling: false }), 'Broker', props);
  const functions = resourcesOfType(Template.fromStack(stack), 'AWS::Lambda::Function');
  const variablesOf = (name: BrokerFunctionName) => {
    const logicalId = Stack.of(stack).getLogicalId(functionOf[name](stack.broker).node.defaultChild as CfnFunction);
    const environment = functions[logicalId]?.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined;
    return Object.keys(environment?.Variables ?? {}).filter((variable) => !isPlatformVariable(variable)).sort();
  };
  const names = Object.keys(functionOf) as BrokerFunctionName[];
  return Object.fromEntries(names.map((name) => [name, variablesOf(name)])) as Record<BrokerFunctionName, string[]>;
}

describe.each(Object.entries(deployments))('function environments, %s deployment', (_, props) => {
  let variables: Record<BrokerFunctionName, string[]>;
  beforeAll(() => {
    variables = configVariablesOf(props);
  });

  it.each(Object.keys(FUNCTION_CONFIG) as BrokerFunctionName[])(
    'gives %s only variables its config schema parses, and every one it requires',
    (name) => {
      const schema = FUNCTION_CONFIG[name];
      const parsed: string[] = configKeys(schema);

      expect(variables[name].length).toBeGreaterThan(0);
      expect(variables[name].filter((variable) => !parsed.includes(variable))).toEqual([]);
      expect(requiredConfigKeys(schema).filter((variable) => !variables[name].includes(variable))).toEqual([]);
    },
  );
});
