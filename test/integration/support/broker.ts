/**
 * The real broker for integration tests: the real handlers (loaded fresh with this file's env) against
 * DynamoDB Local, the Secrets Manager stub and the remote.it emulator on loopback, with demo targets.
 */
import { randomBytes } from 'node:crypto';
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { PolicyDocument } from '../../../lambdas/broker/policy';
import type { SweepSummary } from '../../../lambdas/broker/sweeper';
import { startAppConfigStub, type AppConfigStub } from '../../../dev/appconfig-stub';
import { startSecretsStub, type SecretsStub } from '../../../dev/secrets-stub';
import { startEchoServer, startEmulator, startHttpDemo, type DemoService, type Emulator } from '../../../dev/emulator';
import { apiEvent, lambdaContext, type ApiEventInit } from '../../fixtures/api-events';
import { createTestTables, type TestTables } from './dynamo';
import { apiHandlersOf } from '../../../dev/stack';
import { API_ROUTES } from '../../../lambdas/handlers/routes';
import type * as ReadModule from '../../../lambdas/handlers/connections-read';
import type * as OpenModule from '../../../lambdas/handlers/connections-open';
import type * as WriteModule from '../../../lambdas/handlers/connections-write';
import type * as SweeperModule from '../../../lambdas/handlers/sweeper';

export const SERVICES = {
  /** TCP echo, allowed to the app role. */
  echo: '80:00:00:00:01:00:00:01',
  /** HTTP demo: remote.it always gives it a public reverse proxy. */
  web: '80:00:00:00:01:00:00:02',
  /** Known to remote.it, but no rule lets the app role reach it. */
  restricted: '80:00:00:00:02:00:00:01',
  /** Allowed by policy; remote.it refuses every connect to it (an offline device). */
  offline: '80:00:00:00:01:00:00:0F',
  /** Allowed by policy, unknown to remote.it. */
  unknown: '80:00:00:00:01:FF:FF:FF',
} as const;

export const ROLES = {
  app: 'arn:aws:iam::123456789012:role/app',
  other: 'arn:aws:iam::123456789012:role/other-app',
  admin: 'arn:aws:iam::123456789012:role/ops-admin',
  /** May hold one live connection. */
  limited: 'arn:aws:iam::123456789012:role/limited',
};

export const TEST_POLICY: PolicyDocument = {
  rules: [
    { principals: [ROLES.app], services: ['80:00:00:00:01:*'], modes: ['latching', 'ip'], maxTtlSeconds: 3600, maxActive: 100, opensPerMinute: 100_000 },
    { principals: [ROLES.other], services: ['*'], modes: ['latching', 'ip', 'public'], maxTtlSeconds: 600, maxActive: 100, opensPerMinute: 100_000 },
    { principals: [ROLES.admin], services: ['*'], modes: ['latching'], maxTtlSeconds: 3600, maxActive: 100, opensPerMinute: 100_000 },
    { principals: [ROLES.limited], services: ['*'], modes: ['latching'], maxTtlSeconds: 600, maxActive: 1, opensPerMinute: 100_000 },
  ],
  admins: [ROLES.admin],
};

export interface ApiAnswer {
  status: number;
  headers: Record<string, string>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary response fields
  body: any;
}

export type ApiHandler = (event: ReturnType<typeof apiEvent>, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;
type SweeperHandler = typeof SweeperModule.handler;

export interface BrokerOptions {
  /** Deployed in the AppConfig stub as version 1 (TEST_POLICY by default); `null` deploys nothing. */
  policy?: PolicyDocument | null;
  /** Serve this file's policy instead (watched: edits are deployed as new versions, invalid ones refused). */
  policyFile?: string;
  /** The AppConfig stub's console lines (deployments, refusals). */
  onPolicyLog?: (line: string) => void;
  /** Handler env on top of the defaults (e.g. `REMOTEIT_TIMEOUT_MS`, `AWS_ENDPOINT_URL_DYNAMODB`). */
  env?: Record<string, string>;
  /** remote.it's idle window in the emulator (seconds; remote.it's is 900), e.g. shortened to watch proxies idle out. */
  idleSeconds?: number;
  /** The secret's shape: access keys (default) or username + password (login tokens). */
  credentials?: 'access_key' | 'password';
  /** Give the connections table its stream (tests of what reads it: lease timers); off otherwise. */
  streams?: boolean;
}

export interface Broker {
  emulator: Emulator;
  secrets: SecretsStub;
  /** The AppConfig stub the handlers read the policy from: deploy a new policy, or inject faults. */
  policy: AppConfigStub;
  tables: TestTables;
  echo: DemoService;
  web: DemoService;
  secret: { developerKey: string; accessKeyId: string; secretAccessKey: string };
  /** The account's password login (in the secret when `credentials: 'password'`). */
  login: { username: string; password: string };
  secretId: string;
  /** The env the handlers were loaded with (for a handler in a child process). */
  env: Record<string, string>;
  /** The API functions, as a gateway invokes them. */
  handlers: { read: ApiHandler; open: ApiHandler; write: ApiHandler };
  /** Sends an event to the function API Gateway would route it to. */
  call(init: ApiEventInit): Promise<ApiAnswer>;
  sweep(context?: Partial<Context>): Promise<SweepSummary>;
  /** Another sweeper function instance: its own module registry, clients and caches, as another Lambda container. */
  newSweeper(): (context?: Partial<Context>) => Promise<SweepSummary>;
  /** Stops the servers, drops the tables and gives back the env it replaced. */
  stop(): Promise<void>;
}


function loadSweeper(): SweeperHandler {
  let sweeper: SweeperHandler | undefined;
  jest.isolateModules(() => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- required after the env it reads at load is set
    sweeper = (require('../../../lambdas/handlers/sweeper') as typeof SweeperModule).handler;
  });
  if (!sweeper) throw new Error('sweeper handler did not load');
  return sweeper;
}

export async function startBroker(options: BrokerOptions = {}): Promise<Broker> {
  const secret = {
    developerKey: `dev-${randomBytes(6).toString('hex')}`,
    accessKeyId: `AK${randomBytes(6).toString('hex').toUpperCase()}`,
    secretAccessKey: randomBytes(32).toString('base64'),
  };
  const login = { username: `broker-${randomBytes(4).toString('hex')}@example.com`, password: randomBytes(18).toString('base64') };
  const [tables, echo, web] = await Promise.all([createTestTables('api', { streams: options.streams ?? false }), startEchoServer(), startHttpDemo()]);
  const emulator = await startEmulator({
    ...(options.idleSeconds !== undefined && { idleSeconds: options.idleSeconds }),
    accounts: [{ ...secret, ...login }],
    services: [
      { serviceId: SERVICES.echo, name: 'echo', kind: 'tcp', target: echo.target },
      { serviceId: SERVICES.web, name: 'web', kind: 'http', target: web.target },
      { serviceId: SERVICES.restricted, name: 'restricted', kind: 'tcp', target: echo.target },
      { serviceId: SERVICES.offline, name: 'offline', kind: 'tcp', target: echo.target, refuseReason: 'device is offline' },
    ],
  });
  const secretId = 'remoteit/broker-test';
  const secretValue = options.credentials === 'password' ? { developerKey: secret.developerKey, ...login } : secret;
  // The handlers sign with the run's AWS credentials (test/integration/global-setup.ts): the stubs check them.
  const awsCredentials = { accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? '', secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? '' };
  const region = process.env.AWS_REGION ?? 'us-east-1';
  const secrets = await startSecretsStub({ [secretId]: JSON.stringify(secretValue) }, { credentials: awsCredentials, region });
  const policy = await startAppConfigStub({
    credentials: awsCredentials,
    region,
    application: 'remoteit-broker-test',
    environment: 'test',
    profile: 'policy',
    ...(options.policyFile ? { file: options.policyFile } : options.policy !== null && { content: options.policy ?? TEST_POLICY }),
    ...(options.onPolicyLog && { log: options.onPolicyLog }),
  });

  const env: Record<string, string> = {
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
    CONNECTIONS_TABLE_NAME: tables.connections,
    IDEMPOTENCY_TABLE_NAME: tables.idempotency,
    LOCKS_TABLE_NAME: tables.locks,
    REMOTEIT_SECRET_ID: secretId,
    REMOTEIT_API_URL: emulator.url,
    REMOTEIT_TIMEOUT_MS: '3000',
    AWS_ENDPOINT_URL_APPCONFIGDATA: policy.endpoint,
    POLICY_APPCONFIG_APPLICATION: policy.application,
    POLICY_APPCONFIG_ENVIRONMENT: policy.environment,
    POLICY_APPCONFIG_PROFILE: policy.profile,
    // Short, so a test's policy change or fault takes effect within a second.
    POLICY_MAX_AGE_SECONDS: '1',
    ALLOW_PRIVATE_CLIENT_IPS: 'true',
    DUE_SHARDS: '4',
    ...options.env,
  };
  const replaced = Object.fromEntries(Object.keys(env).map((name) => [name, process.env[name]]));
  Object.assign(process.env, env);
  // Loaded after the env is set, in a registry of their own: each broker is its own cold start.
  let open: ApiHandler | undefined;
  let write: ApiHandler | undefined;
  let read: ApiHandler | undefined;
  let sweeper: SweeperHandler | undefined;
  jest.isolateModules(() => {
    /* eslint-disable @typescript-eslint/no-require-imports -- required here, after the env they read at load is set */
    open = (require('../../../lambdas/handlers/connections-open') as typeof OpenModule).handler as ApiHandler;
    write = (require('../../../lambdas/handlers/connections-write') as typeof WriteModule).handler as ApiHandler;
    read = (require('../../../lambdas/handlers/connections-read') as typeof ReadModule).handler as ApiHandler;
    sweeper = (require('../../../lambdas/handlers/sweeper') as typeof SweeperModule).handler;
    /* eslint-enable @typescript-eslint/no-require-imports */
  });
  if (!open || !write || !read || !sweeper) throw new Error('handlers did not load');
  const sweeperHandler = sweeper;
  const apiHandlers = apiHandlersOf({ read, open, write });

  return {
    emulator,
    secrets,
    policy,
    tables,
    echo,
    web,
    secret,
    login,
    secretId,
    env,
    handlers: { read, open, write },
    async call(init) {
      const route = API_ROUTES.find((candidate) => candidate.routeKey === init.routeKey);
      if (!route) throw new Error(`no route ${init.routeKey}`);
      const handler = apiHandlers[route.function];
      const result = (await handler(apiEvent(init), lambdaContext())) as APIGatewayProxyStructuredResultV2;
      const text = result.body ?? '';
      return {
        status: result.statusCode ?? 200,
        headers: Object.fromEntries(Object.entries(result.headers ?? {}).map(([name, value]) => [name, String(value)])),
        body: text ? JSON.parse(text) : undefined,
      };
    },
    sweep: (context = {}) => sweeperHandler(undefined, lambdaContext(context)),
    newSweeper() {
      const instance = loadSweeper();
      return (context = {}) => instance(undefined, lambdaContext(context));
    },
    async stop() {
      await Promise.allSettled([emulator.stop(), secrets.stop(), policy.stop(), echo.close(), web.close()]);
      await tables.drop();
      for (const [name, value] of Object.entries(replaced)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    },
  };
}
