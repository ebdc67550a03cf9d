/**
 * `npm run bench`: the broker's cost claims, each measured side by side with its alternative in one run,
 * on the real local parts (DynamoDB Local, the remote.it emulator). Prints ratios; docs/PERFORMANCE.md
 * records a run. Every loop is bounded in count and time.
 *
 * 1. Finding due work: the sharded sparse "due" index vs the table scan it replaces, as the table grows.
 * 2. Sweeper memory: peak heap while sweeping 2,000 due connections vs 200 (paging keeps it flat).
 * 3. POST /connections with and without an Idempotency-Key: what the extra DynamoDB round trips cost.
 */
import { randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { monotonicFactory } from 'ulid';
import type { ConnectionRecord, ConnectionStore } from '../lambdas/broker/model';
import { sweep } from '../lambdas/broker/sweeper';
import { createRemoteitClient } from '../lambdas/remoteit/client';
import { toItem } from '../lambdas/store/codec';
import { createDynamoConnectionStore } from '../lambdas/store/dynamo-store';
import { createTables, startDynamoDbLocal, type DynamoDbLocal } from '../dev/dynamodb-local';
import { startEchoServer, startEmulator, type DemoService, type Emulator } from '../dev/emulator';
import { startSecretsStub, type SecretsStub } from '../dev/secrets-stub';

const SHARDS = 8;
const DUE = 200;
const SERVICE_ID = '80:00:00:00:01:00:00:01';
const OWNER = 'arn:aws:iam::000000000000:role/bench';
const newId = monotonicFactory();

interface Parts {
  dynamo: DynamoDbLocal;
  client: DynamoDBClient;
  documents: DynamoDBDocumentClient;
  emulator: Emulator;
  echo: DemoService;
  secret: { developerKey: string; accessKeyId: string; secretAccessKey: string };
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

function record(overrides: Partial<ConnectionRecord>): ConnectionRecord {
  const createdAt = new Date().toISOString();
  return {
    id: newId(),
    owner: OWNER,
    callerArn: `${OWNER}/bench`,
    serviceId: SERVICE_ID,
    mode: 'latching',
    hostIp: '255.255.255.255',
    status: 'active',
    createdAt,
    updatedAt: createdAt,
    leaseExpiresAt: createdAt,
    expiresAt: nowSeconds() + 28_800,
    stopAttempts: 0,
    version: 1,
    ...overrides,
  };
}

async function load(parts: Parts, tableName: string, records: ConnectionRecord[]): Promise<void> {
  const batches: ConnectionRecord[][] = [];
  for (let index = 0; index < records.length; index += 25) batches.push(records.slice(index, index + 25));
  const deadline = Date.now() + 120_000;
  let next = 0;
  const worker = async () => {
    while (next < batches.length && Date.now() < deadline) {
      const batch = batches[next++] ?? [];
      let requests = batch.map((item) => ({ PutRequest: { Item: toItem(item, SHARDS) } }));
      for (let attempt = 0; requests.length > 0 && attempt < 10; attempt += 1) {
        const result = await parts.documents.send(new BatchWriteCommand({ RequestItems: { [tableName]: requests } }));
        requests = (result.UnprocessedItems?.[tableName] ?? []) as typeof requests;
      }
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  if (next < batches.length) throw new Error('loading did not finish within 120 s');
}

async function freshTables(parts: Parts, label: string) {
  const names = { connections: `bench-${label}-connections`, idempotency: `bench-${label}-idempotency` };
  await createTables(parts.client, names);
  return names;
}

/** The one-time-per-sweep question "what is due?", answered by the index (what the sweeper does). */
async function findDueByIndex(store: ConnectionStore): Promise<{ found: number; read: number }> {
  let found = 0;
  let read = 0;
  for (let shard = 0; shard < store.dueShardCount; shard += 1) {
    let cursor: string | undefined;
    do {
      const page = await store.queryDue(shard, nowSeconds(), { limit: 100, ...(cursor && { cursor }) });
      found += page.items.length;
      read += page.scannedCount;
      cursor = page.cursor;
    } while (cursor);
  }
  return { found, read };
}

/** The same question answered by a filtered scan: what a broker without the sparse index would do. */
async function findDueByScan(parts: Parts, tableName: string): Promise<{ found: number; read: number }> {
  let found = 0;
  let read = 0;
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await parts.documents.send(
      new ScanCommand({
        TableName: tableName,
        FilterExpression: 'dueAt <= :now',
        ExpressionAttributeValues: { ':now': nowSeconds() },
        ...(startKey && { ExclusiveStartKey: startKey }),
      }),
    );
    found += page.Count ?? 0;
    read += page.ScannedCount ?? 0;
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return { found, read };
}

async function timed<T>(action: () => Promise<T>): Promise<{ result: T; ms: number }> {
  const started = performance.now();
  const result = await action();
  return { result, ms: performance.now() - started };
}

async function dueDiscovery(parts: Parts): Promise<string[]> {
  const lines = ['1. Finding due work: sparse sharded "due" index vs filtered table scan (200 due, median of 5)'];
  lines.push('   table size | index: items read, ms | scan: items read, ms | read ratio | time ratio');
  for (const notDue of [2_000, 20_000]) {
    const names = await freshTables(parts, `due-${notDue}`);
    const waiting = Array.from({ length: notDue }, (_, index) =>
      index % 2 === 0 ? record({ dueAt: nowSeconds() + 600 + (index % 3_600) }) : record({ status: 'stopped', stopReason: 'requested' }),
    );
    const due = Array.from({ length: DUE }, (_, index) => record({ dueAt: nowSeconds() - 60 - index }));
    await load(parts, names.connections, [...waiting, ...due]);
    const store = createDynamoConnectionStore({ client: parts.documents, tableName: names.connections, dueShardCount: SHARDS });
    const runs: Array<{ index: { ms: number; read: number }; scan: { ms: number; read: number } }> = [];
    for (let run = 0; run < 5; run += 1) {
      const index = await timed(() => findDueByIndex(store));
      const scan = await timed(() => findDueByScan(parts, names.connections));
      if (index.result.found !== DUE || scan.result.found !== DUE) throw new Error(`found ${index.result.found} / ${scan.result.found}, expected ${DUE}`);
      runs.push({ index: { ms: index.ms, read: index.result.read }, scan: { ms: scan.ms, read: scan.result.read } });
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
    const indexMs = median(runs.map((run) => run.index.ms));
    const scanMs = median(runs.map((run) => run.scan.ms));
    const indexRead = runs[0]?.index.read ?? 0;
    const scanRead = runs[0]?.scan.read ?? 0;
    lines.push(
      `   ${String(notDue + DUE).padStart(10)} | ${String(indexRead).padStart(6)}, ${indexMs.toFixed(0).padStart(5)} ms | ${String(scanRead).padStart(6)}, ${scanMs.toFixed(0).padStart(5)} ms | ${(scanRead / indexRead).toFixed(1).padStart(9)}x | ${(scanMs / indexMs).toFixed(1).padStart(9)}x`,
    );
  }
  return lines;
}

async function sweepMemory(parts: Parts): Promise<string[]> {
  const lines = ['2. Sweeper peak heap above its start while sweeping N due connections (pages of 100, concurrency 16)'];
  lines.push('   due | peak heap growth | swept+expired | ms');
  const remoteit = createRemoteitClient({
    apiUrl: parts.emulator.url,
    credentials: { get: async () => ({ kind: 'access_key', ...parts.secret }), refresh: async () => ({ kind: 'access_key', ...parts.secret }) },
    signatureScheme: 'cavage',
    timeoutMs: 5_000,
  });
  const peaks: number[] = [];
  for (const dueCount of [200, 2_000]) {
    const names = await freshTables(parts, `memory-${dueCount}`);
    // Unknown remote ids: the emulator answers 401 "connection not found", and the sweeper settles each as
    // expired after a real signed round trip, without holding thousands of real proxies open.
    await load(parts, names.connections, Array.from({ length: dueCount }, (_, index) =>
      record({ dueAt: nowSeconds() - 60 - index, remoteConnectionId: randomBytes(8).toString('hex') })));
    const store = createDynamoConnectionStore({ client: parts.documents, tableName: names.connections, dueShardCount: SHARDS });
    global.gc?.();
    const baseline = process.memoryUsage().heapUsed;
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().heapUsed);
    }, 5);
    const started = performance.now();
    const summary = await sweep(
      { store, stop: { store, remoteit, now: Date.now, random: Math.random, maxAttempts: 8, claimSeconds: 60 }, concurrency: 16, pendingGraceSeconds: 120 },
      { remainingMs: () => 120_000 - (performance.now() - started), safetyMarginMs: 10_000 },
    );
    const ms = performance.now() - started;
    clearInterval(sampler);
    peaks.push(peak - baseline);
    lines.push(`   ${String(dueCount).padStart(5)} | ${((peak - baseline) / 1024 / 1024).toFixed(1).padStart(13)} MB | ${String(summary.swept + summary.expired).padStart(13)} | ${ms.toFixed(0)}`);
  }
  const [small = 1, large = 0] = peaks;
  lines.push(`   10x the due work -> ${(large / small).toFixed(2)}x the peak heap growth`);
  return lines;
}

type ApiHandler = (event: unknown, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

async function idempotencyOverhead(parts: Parts, secrets: SecretsStub): Promise<string[]> {
  const names = await freshTables(parts, 'api');
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
    CONNECTIONS_TABLE_NAME: names.connections,
    IDEMPOTENCY_TABLE_NAME: names.idempotency,
    REMOTEIT_SECRET_ID: 'bench',
    REMOTEIT_API_URL: parts.emulator.url,
    BROKER_POLICY: JSON.stringify({ rules: [{ principals: [OWNER], services: ['*'], modes: ['latching'], maxTtlSeconds: 3600, maxActive: 10_000 }] }),
  });
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded after the env its config reads
  const { handler } = require('../lambdas/handlers/connections-write') as { handler: ApiHandler };
  const context = { getRemainingTimeInMillis: () => 29_000, functionName: 'bench', awsRequestId: 'bench' } as Context;
  const open = (key?: string) =>
    handler(
      {
        version: '2.0',
        routeKey: 'POST /connections',
        rawPath: '/connections',
        headers: { 'content-type': 'application/json', ...(key && { 'idempotency-key': key }) },
        body: JSON.stringify({ serviceId: SERVICE_ID }),
        isBase64Encoded: false,
        requestContext: { requestId: newId(), http: { method: 'POST', path: '/connections', sourceIp: '127.0.0.2' }, authorizer: { iam: { userArn: `${OWNER}` } } },
      },
      context,
    );
  const measure = async (withKey: boolean) => {
    const samples: number[] = [];
    const deadline = Date.now() + 60_000;
    for (let index = 0; index < 100 && Date.now() < deadline; index += 1) {
      const { result, ms } = await timed(() => open(withKey ? `bench-${index}-${newId()}` : undefined));
      if (result.statusCode !== 201) throw new Error(`open answered ${result.statusCode}: ${result.body}`);
      samples.push(ms);
    }
    samples.sort((a, b) => a - b);
    return { p50: samples[Math.floor(samples.length * 0.5)] ?? 0, p95: samples[Math.floor(samples.length * 0.95)] ?? 0, count: samples.length };
  };
  await open(); // warm: secret fetch, first connections
  const plain = await measure(false);
  const keyed = await measure(true);
  return [
    '3. POST /connections in process (DynamoDB Local + emulator), 100 sequential opens each',
    `   without Idempotency-Key: p50 ${plain.p50.toFixed(1)} ms, p95 ${plain.p95.toFixed(1)} ms (${plain.count})`,
    `   with Idempotency-Key:    p50 ${keyed.p50.toFixed(1)} ms, p95 ${keyed.p95.toFixed(1)} ms (${keyed.count})`,
    `   overhead of the key: ${(keyed.p50 / plain.p50).toFixed(2)}x at p50, ${(keyed.p95 / plain.p95).toFixed(2)}x at p95`,
  ];
}

async function main(): Promise<void> {
  Object.assign(process.env, {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'BENCHACCESSKEY',
    AWS_SECRET_ACCESS_KEY: 'bench',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_TRACE_ENABLED: 'false',
  });
  const dynamo = await startDynamoDbLocal();
  process.env.AWS_ENDPOINT_URL_DYNAMODB = dynamo.endpoint;
  const client = new DynamoDBClient({});
  const documents = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  const echo = await startEchoServer();
  const secret = { developerKey: 'bench-dev-key', accessKeyId: 'BENCHKEY', secretAccessKey: randomBytes(32).toString('base64') };
  const emulator = await startEmulator({ accounts: [secret], services: [{ serviceId: SERVICE_ID, name: 'echo', kind: 'tcp', target: echo.target }] });
  const secrets = await startSecretsStub({ bench: JSON.stringify(secret) });
  const parts: Parts = { dynamo, client, documents, emulator, echo, secret };
  try {
    const output = [
      `remoteit-broker benchmarks, ${new Date().toISOString()}, Node ${process.version}, DynamoDB Local ${dynamo.endpoint}`,
      ...(await dueDiscovery(parts)),
      ...(await sweepMemory(parts)),
      ...(await idempotencyOverhead(parts, secrets)),
    ];
    process.stdout.write(`${output.join('\n')}\n`);
  } finally {
    await Promise.allSettled([emulator.stop(), secrets.stop(), echo.close()]);
    documents.destroy();
    await dynamo.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});
