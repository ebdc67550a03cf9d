/**
 * The one way this project builds a Lambda function, so runtime, architecture, bundling, tracing and logging
 * are decided once and every function gets them.
 *
 * Where the code comes from: the published package (`npm pack`, infra/build.ts) ships every function already
 * bundled, next to the construct's own build (dist/lambda/<name>/index.js beside dist/index.js), and the
 * construct deploys those files as they are: an app that installs the package needs no lock file, no esbuild
 * and no Docker. Run from this repository's sources (infra/*.ts: `npm run synth`, the tests), there is no such
 * directory next to the module, and NodejsFunction bundles each handler from lambdas/ at synth time, with the
 * same esbuild settings (BROKER_BUNDLING) the build uses; test/infra/synth.test.ts holds the two byte-identical.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

/** Repository root: the bundler's project root and the home of the lock file it pins dependencies with. */
const projectRoot = path.resolve(__dirname, '..');

/**
 * Where the prebuilt bundles are, relative to the module that runs: dist/lambda/ beside dist/index.js in the
 * package. From the sources (infra/), infra/lambda/ does not exist, and the functions are bundled at synth.
 */
export const PREBUILT_DIRECTORY = 'lambda';

/**
 * The newest Node.js Lambda runtime this CDK knows; cdk-nag's AwsSolutions-L1 holds us to it. aws-cdk-lib has it
 * from 2.224.0, the package's lowest peer version: an older one (installed with `--force`) lacks it, and
 * NodejsFunction would quietly pick another runtime than the bundles target, so BrokerFunction refuses to build.
 */
export const BROKER_RUNTIME = lambda.Runtime.NODEJS_24_X;

/**
 * How every function is bundled; exported so `npm run bench` and the package build (infra/build.ts) build
 * exactly what CDK ships. CommonJS: ESM output with `mainFields: module,main` was measured no smaller
 * (docs/PERFORMANCE.md), and the size came from the code graph instead (zod namespace imports, one runtime
 * module per function, no Tracer).
 */
export const BROKER_BUNDLING = {
  format: OutputFormat.CJS,
  minify: true,
  sourceMap: true,
  // Maps without the sources keep the bundle small; line numbers are what a stack trace needs.
  sourcesContent: false,
  // The runtime ships AWS SDK v3; Powertools and everything else are bundled (and tree-shaken).
  externalModules: ['@aws-sdk/*'],
  // The dependencies' `@preserve` comments (coverage hints such as `v8 ignore next`, no licence text) are
  // dropped rather than gathered at the end of every bundle: 0.8 KiB of the write function's 200 KiB budget.
  esbuildArgs: { '--legal-comments': 'none' },
  // There is no Docker where this synthesises: esbuild from node_modules does the work.
  forceDockerBundling: false,
} as const satisfies BundlingOptions;

/** Every function's handler file, relative to the repository root; the file's name is the function's name. */
export const BROKER_FUNCTION_ENTRIES = [
  'lambdas/handlers/connections-read.ts',
  'lambdas/handlers/connections-open.ts',
  'lambdas/handlers/connections-write.ts',
  'lambdas/handlers/sweeper.ts',
  'lambdas/handlers/timer-arm.ts',
  'lambdas/handlers/timer-fire.ts',
  'lambdas/handlers/audit.ts',
] as const;

export type BrokerFunctionEntry = (typeof BROKER_FUNCTION_ENTRIES)[number];

/** `lambdas/handlers/sweeper.ts` -> `sweeper`: the directory of its prebuilt bundle. */
export function functionNameOf(entry: BrokerFunctionEntry): string {
  return path.basename(entry, '.ts');
}

/** How the function and access logs are kept. */
export interface BrokerLogSettings {
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly retention?: logs.RetentionDays;
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /** @default - CloudWatch Logs' own encryption */
  readonly encryptionKey?: kms.IKey;
}

export interface BrokerFunctionProps {
  /** Handler file, relative to the repository root, e.g. `lambdas/handlers/sweeper.ts`. It exports `handler`. */
  readonly entry: BrokerFunctionEntry;
  readonly description: string;
  /** Environment on top of the wrapper's own (`NODE_OPTIONS`). */
  readonly environment: Record<string, string>;
  /** @default 512: the arm64 CPU share that comes with it keeps cold starts and SigV4/TLS work short. */
  readonly memorySize?: number;
  /** @default Duration.seconds(10) */
  readonly timeout?: Duration;
  /** Retention, removal and encryption of the function's log group. @default - one month, retained */
  readonly logs?: BrokerLogSettings;
  /** @default - unreserved */
  readonly reservedConcurrentExecutions?: number;
  /** Asynchronous invocation: where failed events go. @default - none (synchronous callers see the error) */
  readonly onFailure?: lambda.IDestination;
  /** Asynchronous invocation retries. @default - Lambda's default (2) */
  readonly retryAttempts?: number;
  /** Asynchronous invocation: how long an event may wait in Lambda's queue. @default - Lambda's default (6 h) */
  readonly maxEventAge?: Duration;
}

/** A log group kept as `settings` say: an explicit one gives retention and removal without the log-retention custom resource. */
export function brokerLogGroup(scope: Construct, id: string, settings: BrokerLogSettings = {}): logs.LogGroup {
  return new logs.LogGroup(scope, id, {
    retention: settings.retention ?? logs.RetentionDays.ONE_MONTH,
    removalPolicy: settings.removalPolicy ?? RemovalPolicy.RETAIN,
    ...(settings.encryptionKey && { encryptionKey: settings.encryptionKey }),
  });
}

export class BrokerFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: BrokerFunctionProps) {
    if ((BROKER_RUNTIME as lambda.Runtime | undefined) === undefined) {
      throw new Error(`ConnectionBroker needs aws-cdk-lib 2.224.0 or later (lambda.Runtime.NODEJS_24_X); this app has ${installedCdkVersion()}`);
    }
    const logGroup = brokerLogGroup(scope, `${id}Logs`, props.logs);
    // Our own role instead of the AWS-managed AWSLambdaBasicExecutionRole: that policy may write to any log
    // group in the account, this one only to the function's own.
    const role = new iam.Role(scope, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${id}`,
    });
    logGroup.grantWrite(role);

    super(scope, id, {
      ...functionCode(props.entry),
      description: props.description,
      runtime: BROKER_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(10),
      tracing: lambda.Tracing.ACTIVE,
      logGroup,
      role,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      onFailure: props.onFailure,
      retryAttempts: props.retryAttempts,
      maxEventAge: props.maxEventAge,
      environment: {
        // Stack traces point at the TypeScript source through the bundled source maps.
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
    });
  }
}

/** The prebuilt bundle when the package ships one beside this module, else bundling from the handler's source. */
function functionCode(entry: BrokerFunctionEntry) {
  const prebuilt = path.join(__dirname, PREBUILT_DIRECTORY, functionNameOf(entry));
  if (existsSync(path.join(prebuilt, 'index.js'))) {
    return { code: lambda.Code.fromAsset(prebuilt), handler: 'index.handler' };
  }
  const source = path.join(projectRoot, entry);
  if (!existsSync(source)) {
    throw new Error(
      `ConnectionBroker: the code of the ${functionNameOf(entry)} function is missing: neither its bundle (${path.join(prebuilt, 'index.js')}) nor its source (${source}). ` +
        'An installed remoteit-broker package ships every bundle: install it again from a tarball or registry built with `npm pack`.',
    );
  }
  return {
    entry: source,
    handler: 'handler',
    projectRoot,
    depsLockFilePath: path.join(projectRoot, 'package-lock.json'),
    bundling: { ...BROKER_BUNDLING, externalModules: [...BROKER_BUNDLING.externalModules] },
  };
}

/** The aws-cdk-lib version the app loaded, for an error message. */
function installedCdkVersion(): string {
  try {
    return (JSON.parse(readFileSync(require.resolve('aws-cdk-lib/package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'an older one';
  }
}
