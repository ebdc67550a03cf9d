/**
 * One sweeper invocation in a process of its own, so a test can kill it mid-run (SIGKILL: what a Lambda
 * timeout or a lost container does to an invocation): the real handler, with the env the test passes.
 * Prints `started` once loaded, and the summary if it is ever allowed to finish.
 */
import { handler } from '../../../lambdas/handlers/sweeper';

const context = {
  callbackWaitsForEmptyEventLoop: false,
  functionName: 'remoteit-broker-sweeper-child',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:remoteit-broker-sweeper-child',
  memoryLimitInMB: '256',
  awsRequestId: 'sweeper-child',
  logGroupName: '/aws/lambda/remoteit-broker-sweeper-child',
  logStreamName: 'stream',
  getRemainingTimeInMillis: () => 60_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
};

process.stderr.write('started\n');
handler(undefined, context).then(
  (summary) => process.stderr.write(`finished ${JSON.stringify(summary)}\n`),
  (error: unknown) => process.stderr.write(`failed ${error instanceof Error ? error.name : 'unknown'}\n`),
);
