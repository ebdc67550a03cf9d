/**
 * The local stack the benchmarks measure (dev/stack.ts: the real gateway with SigV4, the real handlers
 * in-process, the remote.it emulator, the Secrets Manager stub, DynamoDB Local), plus what they measure it
 * against: a remote.it client of the broker's own making (lambdas/remoteit/client.ts, the same signing)
 * talking straight to the emulator, and handles on the clients the handlers built, to count their calls.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Emulator } from '../../dev/emulator';
import { roleArnOf, type LocalIdentity } from '../../dev/identities';
import { LOCAL_SECRET_ID, startStack, type Stack } from '../../dev/stack';
import type { PolicyDocument } from '../../lambdas/broker/policy';
import type { RemoteitApi } from '../../lambdas/broker/ports';
import type * as RemoteitRuntime from '../../lambdas/handlers/remoteit-runtime';
import type * as Runtime from '../../lambdas/handlers/runtime';
import { createRemoteitClient } from '../../lambdas/remoteit/client';
import { parseRemoteitCredentials, type RemoteitCredentials } from '../../lambdas/remoteit/credentials';

/** The echo demo service: a TCP service, so every connect opens a real port proxy in the emulator. */
export const SERVICE_ID = '80:00:00:00:00:00:00:01';
export const IDENTITY_NAME = 'bench';
/** The caller of the quota burst (bench/quota-burst.ts), and the live connections its rule allows. */
export const QUOTA_IDENTITY_NAME = 'bench-quota';
export const QUOTA_MAX_ACTIVE = 10;
/** The caller of the open-rate burst (bench/quota-burst.ts), and the new connections a minute its rule allows. */
export const RATE_IDENTITY_NAME = 'bench-rate';
export const RATE_OPENS_PER_MINUTE = 10;
/** Room for every benchmark's connections: the quota is not what is measured, but by the quota burst's own caller. */
export const BENCH_POLICY: PolicyDocument = {
  rules: [
    { principals: [roleArnOf(IDENTITY_NAME)], services: ['*'], modes: ['latching', 'ip'], maxTtlSeconds: 3600, maxActive: 100_000, opensPerMinute: 100_000 },
    { principals: [roleArnOf(QUOTA_IDENTITY_NAME)], services: ['*'], modes: ['latching'], maxTtlSeconds: 3600, maxActive: QUOTA_MAX_ACTIVE, opensPerMinute: 100_000 },
    { principals: [roleArnOf(RATE_IDENTITY_NAME)], services: ['*'], modes: ['latching'], maxTtlSeconds: 3600, maxActive: 100_000, opensPerMinute: RATE_OPENS_PER_MINUTE },
  ],
  admins: [],
};
const REGION = 'us-east-1';

export interface BenchStack {
  stack: Stack;
  emulator: Emulator;
  identity: LocalIdentity;
  /** The remote.it account the broker signs with, read from the Secrets Manager stub as the broker reads it. */
  credentials: RemoteitCredentials;
  /** Straight to the emulator, signed like the broker signs (cavage, the broker's default scheme). */
  remoteit: RemoteitApi;
  /** The bench's own DynamoDB clients on the stack's DynamoDB Local (loading tables, baselines). */
  dynamodb: DynamoDBClient;
  documents: DynamoDBDocumentClient;
  stop(): Promise<void>;
}

export interface BenchStackOptions {
  /** A running DynamoDB Local (the smoke test's); otherwise one is started. */
  dynamoDbEndpoint?: string;
}

export async function startBenchStack(options: BenchStackOptions = {}): Promise<BenchStack> {
  const stack = await startStack({
    region: REGION,
    ...(options.dynamoDbEndpoint && { dynamoDb: { endpoint: options.dynamoDbEndpoint } }),
    tablePrefix: `bench-${randomUUID().slice(0, 8)}`,
    // The benchmarks sweep when they mean to; the timer must not interleave its own sweeps.
    sweepIntervalMs: 24 * 3_600_000,
    // Lease timers run elsewhere in AWS (their own functions), not beside the API: off, so the API and sweep
    // figures measure the API and the sweeper alone; the lease-overrun benchmark turns them on.
    timers: false,
    policy: BENCH_POLICY,
    services: [{ serviceId: SERVICE_ID, name: 'bench-echo', kind: 'tcp', target: 'demo:echo' }],
    identities: [
      { name: IDENTITY_NAME, admin: false },
      { name: QUOTA_IDENTITY_NAME, admin: false },
      { name: RATE_IDENTITY_NAME, admin: false },
    ],
    env: { POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'ERROR', DEFAULT_TTL_SECONDS: '900' },
  });
  const closers: Array<() => void> = [];
  try {
    const emulator = stack.emulator;
    const identity = stack.identities.find((candidate) => candidate.name === IDENTITY_NAME);
    if (!emulator || !identity) throw new Error('the bench stack started without its emulator or identity');
    const secrets = new SecretsManagerClient({ region: REGION, endpoint: stack.secretsEndpoint });
    closers.push(() => secrets.destroy());
    const secret = await secrets.send(new GetSecretValueCommand({ SecretId: LOCAL_SECRET_ID }));
    const credentials = parseRemoteitCredentials(LOCAL_SECRET_ID, JSON.parse(secret.SecretString ?? 'null'));
    const remoteit = createRemoteitClient({
      apiUrl: stack.remoteitApiUrl,
      credentials: { get: async () => credentials, refresh: async () => credentials },
      signatureScheme: 'cavage',
      timeoutMs: 12_000,
    });
    const dynamodb = new DynamoDBClient({ region: REGION, endpoint: stack.dynamoDbEndpoint });
    const documents = DynamoDBDocumentClient.from(dynamodb, { marshallOptions: { removeUndefinedValues: true } });
    closers.push(() => documents.destroy());
    return {
      stack,
      emulator,
      identity,
      credentials,
      remoteit,
      dynamodb,
      documents,
      async stop() {
        for (const close of closers) close();
        await stack.stop();
      },
    };
  } catch (error) {
    for (const close of closers) close();
    await stack.stop();
    throw error;
  }
}

export interface HandlerClients {
  /** The DynamoDB client every function's store and idempotency layer send through. */
  dynamodb: DynamoDBClient;
  /** The Secrets Manager client behind the write and sweeper functions' cached secret. */
  secretsManager: SecretsManagerClient;
}

/**
 * The clients the handlers built at load, from the same module instances the stack loaded (the module
 * cache), so middleware added to them sees the handlers' own calls.
 */
export function handlerClients(): HandlerClients {
  /* eslint-disable @typescript-eslint/no-require-imports -- the modules startStack loaded, after their env was set */
  const runtime = require('../../lambdas/handlers/runtime') as typeof Runtime;
  const remote = require('../../lambdas/handlers/remoteit-runtime') as typeof RemoteitRuntime;
  /* eslint-enable @typescript-eslint/no-require-imports */
  return { dynamodb: runtime.dynamodb, secretsManager: remote.secretsManager };
}
