/**
 * Lease timers around a test broker (support/broker.ts), from real parts: the connections table's stream on
 * DynamoDB Local read by the local stream poller into the real timer-arm handler, the SQS stub holding the
 * timer queue, and the real timer-fire handler, which a test invokes with the batches it chooses (received
 * from the queue, as the event source mapping would), so duplicates, failures mid-batch and races are its to
 * arrange.
 */
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSRecord } from 'aws-lambda';
import { toSqsRecord } from '../../../dev/sqs-poller';
import { startSqsStub, type SqsStub } from '../../../dev/sqs-stub';
import { startStreamPoller, timerArmFilter, type StreamPoller } from '../../../dev/stream-poller';
import type * as TimerArmModule from '../../../lambdas/handlers/timer-arm';
import type * as TimerFireModule from '../../../lambdas/handlers/timer-fire';
import { lambdaContext } from '../../fixtures/api-events';
import type { Broker } from './broker';
import { dynamoEndpoint } from './dynamo';

/** The handlers sign for the region of the test env: the stub checks it. */
const REGION = process.env.AWS_REGION ?? 'us-east-1';

export interface TimerRig {
  sqs: SqsStub;
  queueUrl: string;
  /** Arm batches the stream poller gave up on (the arm failed on every retry). */
  droppedArms: unknown[];
  /** SendMessage calls the stub has seen: one per armed timer. */
  sends(): number;
  /** Resolves once `count` sends have been seen (or throws after `timeoutMs`). */
  sendsReach(count: number, timeoutMs?: number): Promise<void>;
  /** Messages visible now, received (in flight for `visibilitySeconds`) as Lambda's SQS records. */
  receive(options?: { waitSeconds?: number; visibilitySeconds?: number; max?: number }): Promise<SQSRecord[]>;
  /** Messages still in the queue, visible or delayed. */
  queued(): Promise<number>;
  /** The real timer-fire handler. */
  fire(records: SQSRecord[]): Promise<SQSBatchResponse>;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The timer functions see the broker's env (its DynamoDB endpoint, its secret) plus the queue's, until `stop`. */
export async function startTimerRig(broker: Broker): Promise<TimerRig> {
  const credentials = { accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? '', secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? '' };
  const sqs = await startSqsStub({ credentials, region: REGION });
  const client = new SQSClient({ region: REGION, endpoint: sqs.endpoint, credentials });
  const created = await client.send(new CreateQueueCommand({ QueueName: `timers-${Date.now()}`, Attributes: { VisibilityTimeout: '30' } }));
  const queueUrl = created.QueueUrl ?? '';
  const queueArn = sqs.queueArn(queueUrl.split('/').pop() ?? '');

  const env: Record<string, string> = {
    AWS_ENDPOINT_URL_SQS: sqs.endpoint,
    TIMER_QUEUE_URL: queueUrl,
    AWS_REGION: REGION,
  };
  const replaced = Object.fromEntries(Object.keys(env).map((name) => [name, process.env[name]]));
  const restoreEnv = () => {
    for (const [name, value] of Object.entries(replaced)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
  // Kept until stop: the SDK clients the handlers built resolve their endpoints from it.
  Object.assign(process.env, env);
  let arm: typeof TimerArmModule.handler | undefined;
  let fire: typeof TimerFireModule.handler | undefined;
  jest.isolateModules(() => {
    /* eslint-disable @typescript-eslint/no-require-imports -- required after the env they read at load is set */
    arm = (require('../../../lambdas/handlers/timer-arm') as typeof TimerArmModule).handler;
    fire = (require('../../../lambdas/handlers/timer-fire') as typeof TimerFireModule).handler;
    /* eslint-enable @typescript-eslint/no-require-imports */
  });
  if (!arm || !fire) {
    restoreEnv();
    throw new Error('the timer handlers did not load');
  }
  const armHandler = arm;
  const fireHandler = fire;

  const dynamodb = new DynamoDBClient({ endpoint: dynamoEndpoint(), region: REGION });
  const table = await dynamodb.send(new DescribeTableCommand({ TableName: broker.tables.connections }));
  dynamodb.destroy();
  const streamArn = table.Table?.LatestStreamArn;
  if (!streamArn) throw new Error(`${broker.tables.connections} has no stream`);
  const streams = new DynamoDBStreamsClient({ endpoint: dynamoEndpoint(), region: REGION });
  const droppedArms: unknown[] = [];
  const poller: StreamPoller = await startStreamPoller({
    client: streams,
    streamArn,
    filter: timerArmFilter,
    handler: (event, context) => armHandler(event, context),
    retryAttempts: 1,
    retryDelayMs: 100,
    pollIntervalMs: 100,
    region: REGION,
    functionName: 'timer-arm',
    onError: (error) => droppedArms.push(error),
  });

  const sends = () => sqs.calls().SendMessage ?? 0;
  return {
    sqs,
    queueUrl,
    droppedArms,
    sends,
    async sendsReach(count, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (sends() < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} SendMessage calls, saw ${sends()}`);
        await sleep(50);
      }
    },
    async receive({ waitSeconds = 0, visibilitySeconds = 30, max = 10 } = {}) {
      const answer = await client.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: max,
          WaitTimeSeconds: waitSeconds,
          VisibilityTimeout: visibilitySeconds,
          MessageSystemAttributeNames: ['All'],
        }),
      );
      return (answer.Messages ?? []).map((message) => toSqsRecord(message, queueArn, REGION));
    },
    async queued() {
      const answer = await client.send(
        new GetQueueAttributesCommand({
          QueueUrl: queueUrl,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesDelayed', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      );
      const attributes = answer.Attributes ?? {};
      return (['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesDelayed', 'ApproximateNumberOfMessagesNotVisible'] as const).reduce(
        (sum, name) => sum + Number(attributes[name] ?? 0),
        0,
      );
    },
    fire: (records) => fireHandler({ Records: records }, lambdaContext({ functionName: 'timer-fire' })),
    async stop() {
      await poller.stop();
      streams.destroy();
      client.destroy();
      await sqs.stop();
      restoreEnv();
    },
  };
}
