/** The broker API client: `new BrokerClient({endpoint})`, its errors and the API's types. */
export { BrokerClient, regionOfEndpoint } from './client';
export type { BrokerClientOptions, CallOptions, Credentials, CredentialsProvider, OpenOptions, OpenResult, RetryEvent, StopResult } from './client';
export { BrokerApiError, BrokerUnreachableError, ClientConfigError, CredentialsError, UnexpectedResponseError } from './errors';
export { DEFAULT_STACK_FILE, localCredentials, readStackFile } from './local-stack';
export type { LocalStack } from './local-stack';
export { DEFAULT_RETRY } from './retry';
export type { RetryOptions } from './retry';
export type * from './types';
