/**
 * 5. Cold start: each function bundled exactly as CDK bundles it (infra/broker-function.ts BROKER_BUNDLING,
 * the runtime's target), its size, and its module init time: a fresh `node` process requiring the bundle
 * (with the env the stack gives it and the source maps Lambda loads) against one requiring a bundle of only
 * the AWS SDK clients that function uses, built the same way. Median of N, the two kinds alternating.
 * The AWS SDK stays external as in Lambda, where the runtime provides it: here it resolves from node_modules.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { build, type Metafile } from 'esbuild';
import { functionBuildOptions, functionTarget } from '../infra/build';
import { goal, type GoalCheck } from './support/report';
import { median, round } from './support/stats';

const run = promisify(execFile);
const ROOT = resolve(__dirname, '..');
export const BUNDLE_GOAL_KIB = 200;
export const INIT_GOAL_RATIO = 2;

/** The functions and the AWS SDK clients each constructs at load (the baseline builds the same ones). */
export const FUNCTIONS = [
  {
    name: 'connections-read',
    entry: 'lambdas/handlers/connections-read.ts',
    // The store unmarshalls the item a failed condition returns with util-dynamodb; the policy comes from AppConfig.
    sdk: `const { DynamoDBClient } = require('@aws-sdk/client-dynamodb');
const { DynamoDBDocumentClient } = require('@aws-sdk/lib-dynamodb');
const { AppConfigDataClient } = require('@aws-sdk/client-appconfigdata');
require('@aws-sdk/util-dynamodb');
module.exports = [DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } }), new AppConfigDataClient({})];`,
  },
  {
    name: 'connections-open',
    entry: 'lambdas/handlers/connections-open.ts',
    // Powertools idempotency's DynamoDB layer and the store marshal with util-dynamodb.
    sdk: `const { DynamoDBClient } = require('@aws-sdk/client-dynamodb');
const { DynamoDBDocumentClient } = require('@aws-sdk/lib-dynamodb');
const { SecretsManagerClient } = require('@aws-sdk/client-secrets-manager');
const { AppConfigDataClient } = require('@aws-sdk/client-appconfigdata');
require('@aws-sdk/util-dynamodb');
module.exports = [DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } }), new SecretsManagerClient({}), new AppConfigDataClient({})];`,
  },
  {
    name: 'connections-write',
    entry: 'lambdas/handlers/connections-write.ts',
    sdk: `const { DynamoDBClient } = require('@aws-sdk/client-dynamodb');
const { DynamoDBDocumentClient } = require('@aws-sdk/lib-dynamodb');
const { SecretsManagerClient } = require('@aws-sdk/client-secrets-manager');
const { AppConfigDataClient } = require('@aws-sdk/client-appconfigdata');
require('@aws-sdk/util-dynamodb');
module.exports = [DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } }), new SecretsManagerClient({}), new AppConfigDataClient({})];`,
  },
  {
    name: 'sweeper',
    entry: 'lambdas/handlers/sweeper.ts',
    sdk: `const { DynamoDBClient } = require('@aws-sdk/client-dynamodb');
const { DynamoDBDocumentClient } = require('@aws-sdk/lib-dynamodb');
const { SecretsManagerClient } = require('@aws-sdk/client-secrets-manager');
require('@aws-sdk/util-dynamodb');
module.exports = [DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } }), new SecretsManagerClient({})];`,
  },
  {
    name: 'timer-arm',
    entry: 'lambdas/handlers/timer-arm.ts',
    // It decodes the stream's images with util-dynamodb, reads the live locks, and sends with the SQS client; no secret.
    sdk: `const { DynamoDBClient } = require('@aws-sdk/client-dynamodb');
const { DynamoDBDocumentClient } = require('@aws-sdk/lib-dynamodb');
const { SQSClient } = require('@aws-sdk/client-sqs');
require('@aws-sdk/util-dynamodb');
module.exports = [DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } }), new SQSClient({})];`,
  },
  {
    name: 'timer-fire',
    entry: 'lambdas/handlers/timer-fire.ts',
    sdk: `const { DynamoDBClient } = require('@aws-sdk/client-dynamodb');
const { DynamoDBDocumentClient } = require('@aws-sdk/lib-dynamodb');
const { SecretsManagerClient } = require('@aws-sdk/client-secrets-manager');
const { SQSClient } = require('@aws-sdk/client-sqs');
require('@aws-sdk/util-dynamodb');
module.exports = [DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } }), new SecretsManagerClient({}), new SQSClient({})];`,
  },
  {
    name: 'audit',
    entry: 'lambdas/handlers/audit.ts',
    // It decodes the stream's images with util-dynamodb and publishes with the EventBridge client; no store, no secret.
    sdk: `const { EventBridgeClient } = require('@aws-sdk/client-eventbridge');
require('@aws-sdk/util-dynamodb');
module.exports = new EventBridgeClient({});`,
  },
] as const;

/**
 * The required variables of the functions' schemas (lambdas/config.ts: each parses its own and ignores
 * the rest), with placeholder values, and Lambda's own.
 */
const FUNCTION_ENV: Record<string, string> = {
  CONNECTIONS_TABLE_NAME: 'remoteit-broker-connections',
  IDEMPOTENCY_TABLE_NAME: 'remoteit-broker-idempotency',
  LOCKS_TABLE_NAME: 'remoteit-broker-locks',
  REMOTEIT_SECRET_ID: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:remoteit-AbCdEf',
  POLICY_APPCONFIG_APPLICATION: 'remoteit-broker',
  POLICY_APPCONFIG_ENVIRONMENT: 'bench',
  POLICY_APPCONFIG_PROFILE: 'policy',
  TIMER_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/remoteit-broker-timers',
  AUDIT_BUS_NAME: 'remoteit-broker-audit',
  POWERTOOLS_SERVICE_NAME: 'remoteit-broker',
  POWERTOOLS_METRICS_NAMESPACE: 'RemoteitBroker',
  POWERTOOLS_LOG_LEVEL: 'INFO',
  AWS_REGION: 'us-east-1',
  AWS_LAMBDA_FUNCTION_NAME: 'remoteit-broker-bench',
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
  AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

/** Times one `require` in a fresh process: node's own start-up is outside the figure. */
const TIMER = `const started = performance.now();
require(process.argv[1]);
process.stdout.write(JSON.stringify({ ms: performance.now() - started }));`;

export interface ColdStartOptions {
  /** Fresh processes per bundle. */
  runs: number;
}

export interface BundleFigures {
  bytes: number;
  kib: number;
  /** The packages (or our own directories) that weigh most in the bundle, KiB. */
  largest: Array<{ module: string; kib: number }>;
}

export interface ColdStartRow {
  function: string;
  bundle: BundleFigures;
  /** The same entry as ESM with mainFields module,main: the alternative format, measured. */
  esmKib: number;
  baselineKib: number;
  /** The AWS SDK packages the bundle requires at load (the baseline requires the same). */
  sdkModules: string[];
  initMs: { median: number; baselineMedian: number; ratio: number; runs: number };
}

export interface ColdStartResult {
  target: string;
  rows: ColdStartRow[];
  goals: GoalCheck[];
}

/**
 * esbuild with the options NodejsFunction derives from BROKER_BUNDLING (infra/build.ts `functionBuildOptions`,
 * which the package build uses too); `overrides` for the ESM variant measured beside it.
 */
export async function bundleLikeCdk(entry: string, outfile: string, overrides: { format?: 'cjs' | 'esm'; mainFields?: string[] } = {}): Promise<Metafile> {
  const result = await build({
    ...functionBuildOptions(entry, outfile),
    ...(overrides.format && { format: overrides.format }),
    ...(overrides.mainFields && { mainFields: overrides.mainFields }),
    metafile: true,
  });
  return result.metafile;
}

const kib = (bytes: number) => round(bytes / 1024, 1);

function largestModules(metafile: Metafile, top: number): Array<{ module: string; kib: number }> {
  const totals = new Map<string, number>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [file, input] of Object.entries(output.inputs)) {
      const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file)?.[1];
      const key = pkg ?? file.split('/').slice(0, 2).join('/');
      totals.set(key, (totals.get(key) ?? 0) + input.bytesInOutput);
    }
  }
  return [...totals.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([module, bytes]) => ({ module, kib: kib(bytes) }));
}

function externalImports(metafile: Metafile): string[] {
  const names = new Set<string>();
  for (const output of Object.values(metafile.outputs)) {
    for (const imported of output.imports) if (imported.external && imported.path.startsWith('@aws-sdk/')) names.add(imported.path);
  }
  return [...names].sort();
}

async function initTime(bundle: string): Promise<number> {
  const { stdout } = await run(process.execPath, ['--enable-source-maps', '-e', TIMER, bundle], {
    cwd: tmpdir(),
    // A clean environment: the function's, not the bench process's (which holds the local stack's).
    env: { PATH: process.env.PATH ?? '', NODE_PATH: join(ROOT, 'node_modules'), ...FUNCTION_ENV },
    timeout: 30_000,
  });
  return (JSON.parse(stdout) as { ms: number }).ms;
}

export async function runColdStart(options: ColdStartOptions): Promise<ColdStartResult> {
  const dir = await mkdtemp(join(tmpdir(), 'remoteit-broker-bench-'));
  const rows: ColdStartRow[] = [];
  try {
    for (const fn of FUNCTIONS) {
      const bundle = join(dir, fn.name, 'index.js');
      const metafile = await bundleLikeCdk(fn.entry, bundle);
      const bytes = (await stat(bundle)).size;
      const esm = join(dir, `${fn.name}-esm`, 'index.mjs');
      await bundleLikeCdk(fn.entry, esm, { format: 'esm', mainFields: ['module', 'main'] });
      const baselineEntry = join(dir, `${fn.name}-sdk.js`);
      await writeFile(baselineEntry, `${fn.sdk}\n`);
      const baseline = join(dir, `${fn.name}-sdk`, 'index.js');
      const baselineMeta = await bundleLikeCdk(baselineEntry, baseline);
      const sdkModules = externalImports(metafile);
      const baselineModules = externalImports(baselineMeta);
      if (sdkModules.join() !== baselineModules.join()) {
        throw new Error(`${fn.name} requires ${sdkModules.join(', ')} but its baseline ${baselineModules.join(', ')}: update FUNCTIONS`);
      }
      const own: number[] = [];
      const base: number[] = [];
      for (let index = 0; index < options.runs; index += 1) {
        own.push(await initTime(bundle));
        base.push(await initTime(baseline));
      }
      const ownMedian = median(own);
      const baseMedian = median(base);
      rows.push({
        function: fn.name,
        bundle: { bytes, kib: kib(bytes), largest: largestModules(metafile, 8) },
        esmKib: kib((await stat(esm)).size),
        baselineKib: kib((await stat(baseline)).size),
        sdkModules,
        initMs: { median: round(ownMedian, 1), baselineMedian: round(baseMedian, 1), ratio: round(ownMedian / baseMedian, 2), runs: own.length },
      });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return {
    target: functionTarget(),
    rows,
    goals: rows.flatMap((row) => [
      goal(`${row.function}: bundle <= ${BUNDLE_GOAL_KIB} KiB minified`, `${row.bundle.kib} KiB`, row.bundle.kib <= BUNDLE_GOAL_KIB),
      goal(`${row.function}: init <= ${INIT_GOAL_RATIO}x the SDK-only bundle`, `${row.initMs.ratio}x (${row.initMs.median} vs ${row.initMs.baselineMedian} ms)`, row.initMs.ratio <= INIT_GOAL_RATIO),
    ]),
  };
}
