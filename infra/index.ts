/**
 * The package's entry (`import { ConnectionBroker } from 'remoteit-broker'`): the construct, its props and their
 * types. infra/build.ts bundles it into dist/index.js, with its declarations, for `npm pack`.
 */
export {
  ConnectionBroker,
  ConnectionBrokerPropsError,
  DEFAULT_ROUTE_THROTTLES,
  type BrokerLogLevel,
  type BrokerPolicyInput,
  type BrokerReservedConcurrency,
  type ConnectionBrokerProps,
} from './connection-broker';
export type { BrokerConnectionMode, BrokerPolicyDocument, BrokerPolicyRule } from './policy-document';
export { BROKER_RUNTIME, BrokerFunction } from './broker-function';
export { BrokerPolicyConfig, POLICY_ROLLOUT } from './policy-config';
export type { ApiRouteKey } from '../lambdas/handlers/routes';
