/**
 * The one way this project builds a Lambda function, so runtime, architecture, bundling, tracing and logging
 * are decided once and every function gets them.
 */
import * as path from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

/** Repository root: the bundler's project root and the home of the lock file it pins dependencies with. */
const projectRoot = path.resolve(__dirname, '..');

/** The newest Node.js Lambda runtime this CDK knows; cdk-nag's AwsSolutions-L1 holds us to it. */
export const BROKER_RUNTIME = lambda.Runtime.NODEJS_24_X;

/**
 * How every function is bundled; exported so `npm run bench` builds and measures exactly what CDK ships.
 * CommonJS: ESM output with `mainFields: module,main` was measured no smaller (docs/PERFORMANCE.md), and the
 * size came from the code graph instead (zod namespace imports, one runtime module per function, no Tracer).
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

export interface BrokerFunctionProps {
  /** Handler file, relative to the repository root, e.g. `lambdas/handlers/sweeper.ts`. It exports `handler`. */
  readonly entry: string;
  readonly description: string;
  /** Environment on top of the wrapper's own (`NODE_OPTIONS`). */
  readonly environment: Record<string, string>;
  /** @default 512: the arm64 CPU share that comes with it keeps cold starts and SigV4/TLS work short. */
  readonly memorySize?: number;
  /** @default Duration.seconds(10) */
  readonly timeout?: Duration;
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** @default - unreserved */
  readonly reservedConcurrentExecutions?: number;
  /** Asynchronous invocation: where failed events go. @default - none (synchronous callers see the error) */
  readonly onFailure?: lambda.IDestination;
  /** Asynchronous invocation retries. @default - Lambda's default (2) */
  readonly retryAttempts?: number;
  /** Asynchronous invocation: how long an event may wait in Lambda's queue. @default - Lambda's default (6 h) */
  readonly maxEventAge?: Duration;
}

export class BrokerFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: BrokerFunctionProps) {
    // An explicit log group gives retention and RETAIN without the log-retention custom resource Lambda.
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Our own role instead of the AWS-managed AWSLambdaBasicExecutionRole: that policy may write to any log
    // group in the account, this one only to the function's own.
    const role = new iam.Role(scope, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${id}`,
    });
    logGroup.grantWrite(role);

    super(scope, id, {
      entry: path.join(projectRoot, props.entry),
      handler: 'handler',
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
      projectRoot,
      depsLockFilePath: path.join(projectRoot, 'package-lock.json'),
      bundling: { ...BROKER_BUNDLING, externalModules: [...BROKER_BUNDLING.externalModules] },
    });
  }
}
