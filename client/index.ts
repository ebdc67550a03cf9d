/**
 * The broker API client (`@remoteit-broker/client`): `new BrokerClient({endpoint})`, its errors, the API's
 * types and lists, a lease that follows the work (`LeaseKeeper`), a stable local port for a service
 * (`Forwarder`, what `rbroker forward` runs), and the local stack's file for development.
 */
export { BrokerClient, regionOfEndpoint } from './client';
export type { BrokerClientOptions, CallOptions, Credentials, CredentialsProvider, OpenOptions, OpenResult, RenewOptions, RetryEvent, StopResult } from './client';
export { BrokerApiError, BrokerUnreachableError, ClientConfigError, CredentialsError, UnexpectedResponseError } from './errors';
export { Forwarder, LocalPortError, isFatalOpenError } from './forward';
export type { ForwardEvent, ForwardOptions } from './forward';
export { LeaseKeeper, isLive, leaseSecondsOf } from './lease';
export type { LeaseEvent, LeaseKeeperOptions, Usage } from './lease';
export { DEFAULT_STACK_FILE, localCredentials, readStackFile } from './local-stack';
export type { LocalIdentity, LocalStack } from './local-stack';
export { DEFAULT_RETRY } from './retry';
export type { RetryOptions } from './retry';
export { CONNECTION_MODES, CONNECTION_STATUSES } from './types';
export type * from './types';
export { packageVersion } from './version';
