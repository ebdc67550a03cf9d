/**
 * The local stand-in for Lambda's SQS event source mapping: `pollers` loops long-poll the queue with the real
 * `@aws-sdk/client-sqs` and invoke a handler in-process with the event Lambda would send, as the mapping does:
 *
 * - ReceiveMessage with every system attribute and message attribute, up to `batchSize` messages, waiting up
 *   to `waitTimeSeconds`;
 * - records in Lambda's shape (`messageId`, `receiptHandle`, `body`, `attributes`, `messageAttributes` with
 *   lower-case fields, `md5OfBody`, `eventSource` `aws:sqs`, `eventSourceARN`, `awsRegion`);
 * - after the handler returns, every message not named in `batchItemFailures` is deleted (DeleteMessageBatch);
 *   the named ones stay in flight and come back after their visibility timeout. An identifier that names no
 *   message of the batch fails the batch whole (Lambda's rule), and a handler that throws deletes nothing:
 *   the whole batch comes back. Redrive to a dead-letter queue is the queue's own business (maxReceiveCount).
 *
 * A failed receive or delete is reported through `onError` and the loop goes on after a short pause. `stop()`
 * aborts the waiting long polls (the SDK's abortSignal; the stub takes nothing for an aborted poll) and waits
 * for the batches in flight, their deletes included.
 */
import { DeleteMessageBatchCommand, ReceiveMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSMessageAttributes, SQSRecord, SQSRecordAttributes } from 'aws-lambda';
import { lambdaContext } from './gateway';

export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | void>;

export interface SqsPollerOptions {
  client: SQSClient;
  queueUrl: string;
  queueArn: string;
  handler: SqsHandler;
  /** What each record's `awsRegion` says and the context's ARN names. */
  region: string;
  functionName: string;
  /** Concurrent long-poll loops (default 2). */
  pollers?: number;
  /** Messages per receive and invocation, 1..10 (default 10). */
  batchSize?: number;
  /** Long-poll wait, 0..20 s (default 20). */
  waitTimeSeconds?: number;
  /** The function's timeout: what the context's `getRemainingTimeInMillis` counts down from (default 60 s). */
  timeoutMs?: number;
  /** Pause of a loop after a failed receive or delete (default 1 s). */
  errorBackoffMs?: number;
  /** A failed receive, a failed delete, or a handler that threw (its batch comes back after the visibility timeout). */
  onError?: (error: unknown) => void;
}

export interface SqsPoller {
  /** Ends the loops (waiting long polls are aborted) and waits for the batches in flight. Idempotent. */
  stop(): Promise<void>;
}

/** The handler threw: nothing of the batch was deleted. */
export class SqsBatchFailedError extends Error {
  readonly code = 'sqs_batch_failed';
  constructor(
    readonly messageIds: string[],
    options?: { cause?: unknown },
  ) {
    super(`the handler failed a batch of ${messageIds.length} message(s); they come back after the visibility timeout`, options);
    this.name = 'SqsBatchFailedError';
  }
}

/** DeleteMessageBatch refused some entries: those messages come back. */
export class SqsDeleteFailedError extends Error {
  readonly code = 'sqs_delete_failed';
  constructor(readonly failed: Array<{ messageId: string; code: string | undefined; message: string | undefined }>) {
    super(`could not delete ${failed.length} message(s): ${failed.map((entry) => `${entry.messageId} (${entry.code ?? 'unknown'})`).join(', ')}`);
    this.name = 'SqsDeleteFailedError';
  }
}

const DEFAULTS = { pollers: 2, batchSize: 10, waitTimeSeconds: 20, timeoutMs: 60_000, errorBackoffMs: 1_000 } as const;

/** One received message as Lambda's SQS event carries it. */
export function toSqsRecord(message: Message, queueArn: string, region: string): SQSRecord {
  const system = message.Attributes ?? {};
  const attributes: SQSRecordAttributes = {
    ApproximateReceiveCount: system.ApproximateReceiveCount ?? '1',
    SentTimestamp: system.SentTimestamp ?? '',
    SenderId: system.SenderId ?? '',
    ApproximateFirstReceiveTimestamp: system.ApproximateFirstReceiveTimestamp ?? '',
    ...(system.AWSTraceHeader !== undefined && { AWSTraceHeader: system.AWSTraceHeader }),
    ...(system.DeadLetterQueueSourceArn !== undefined && { DeadLetterQueueSourceArn: system.DeadLetterQueueSourceArn }),
  };
  const messageAttributes: SQSMessageAttributes = {};
  for (const [name, value] of Object.entries(message.MessageAttributes ?? {})) {
    messageAttributes[name] = {
      dataType: value.DataType ?? 'String',
      ...(value.StringValue !== undefined && { stringValue: value.StringValue }),
      ...(value.BinaryValue !== undefined && { binaryValue: Buffer.from(value.BinaryValue).toString('base64') }),
      stringListValues: [],
      binaryListValues: [],
    };
  }
  return {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes,
    messageAttributes,
    md5OfBody: message.MD5OfBody ?? '',
    ...(message.MD5OfMessageAttributes !== undefined && { md5OfMessageAttributes: message.MD5OfMessageAttributes }),
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: region,
  };
}

/**
 * The messages to delete after the handler answered: all but those named in `batchItemFailures`, or none
 * when an identifier is empty or names no message of the batch (Lambda then fails the batch whole).
 */
export function messagesToDelete(records: readonly SQSRecord[], response: SQSBatchResponse | void): SQSRecord[] {
  const failures = response?.batchItemFailures ?? [];
  const failed = new Set<string>();
  for (const failure of failures) {
    const id = failure?.itemIdentifier;
    if (typeof id !== 'string' || !records.some((record) => record.messageId === id)) return [];
    failed.add(id);
  }
  return records.filter((record) => !failed.has(record.messageId));
}

export function startSqsPoller(options: SqsPollerOptions): SqsPoller {
  const pollers = options.pollers ?? DEFAULTS.pollers;
  const batchSize = options.batchSize ?? DEFAULTS.batchSize;
  const waitTimeSeconds = options.waitTimeSeconds ?? DEFAULTS.waitTimeSeconds;
  const timeoutMs = options.timeoutMs ?? DEFAULTS.timeoutMs;
  const errorBackoffMs = options.errorBackoffMs ?? DEFAULTS.errorBackoffMs;
  if (!(Number.isInteger(pollers) && pollers >= 1)) throw new RangeError(`pollers must be a positive integer, got ${pollers}`);
  if (!(Number.isInteger(batchSize) && batchSize >= 1 && batchSize <= 10)) throw new RangeError(`batchSize must be 1..10, got ${batchSize}`);
  if (!(Number.isInteger(waitTimeSeconds) && waitTimeSeconds >= 0 && waitTimeSeconds <= 20)) {
    throw new RangeError(`waitTimeSeconds must be 0..20, got ${waitTimeSeconds}`);
  }
  const { client, queueUrl } = options;
  const report = (error: unknown) => {
    try {
      options.onError?.(error);
    } catch {
      // A reporter that throws must not end a loop.
    }
  };

  let stopped = false;
  // Aborts the waiting long polls (and the pauses) on stop; a batch already received is handled to the end.
  const stopSignal = new AbortController();

  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      if (stopSignal.signal.aborted) return resolve();
      const timer = setTimeout(done, ms);
      stopSignal.signal.addEventListener('abort', done, { once: true });
      function done() {
        clearTimeout(timer);
        stopSignal.signal.removeEventListener('abort', done);
        resolve();
      }
    });

  async function receive(): Promise<Message[]> {
    const { Messages = [] } = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: batchSize,
        WaitTimeSeconds: waitTimeSeconds,
        AttributeNames: ['All'],
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
      { abortSignal: stopSignal.signal },
    );
    return Messages;
  }

  async function handle(messages: Message[]): Promise<void> {
    const records = messages.map((message) => toSqsRecord(message, options.queueArn, options.region));
    let toDelete: SQSRecord[];
    try {
      const context = lambdaContext(options.functionName, options.region, Date.now() + timeoutMs);
      toDelete = messagesToDelete(records, await options.handler({ Records: records }, context));
    } catch (error) {
      report(new SqsBatchFailedError(records.map((record) => record.messageId), { cause: error }));
      return;
    }
    if (toDelete.length === 0) return;
    const { Failed = [] } = await client.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: toDelete.map((record, index) => ({ Id: String(index), ReceiptHandle: record.receiptHandle })),
      }),
    );
    if (Failed.length > 0) {
      report(
        new SqsDeleteFailedError(
          Failed.map((entry) => ({ messageId: toDelete[Number(entry.Id)]?.messageId ?? String(entry.Id), code: entry.Code, message: entry.Message })),
        ),
      );
    }
  }

  async function loop(): Promise<void> {
    while (!stopped) {
      try {
        const messages = await receive();
        if (messages.length > 0) await handle(messages);
      } catch (error) {
        if (stopped) break;
        report(error);
        await pause(errorBackoffMs);
      }
    }
  }

  const loops = Array.from({ length: pollers }, () => loop());

  let stopping: Promise<void> | undefined;
  return {
    stop() {
      stopping ??= (async () => {
        stopped = true;
        stopSignal.abort();
        await Promise.all(loops);
      })();
      return stopping;
    },
  };
}
