/**
 * The local stand-in for Lambda's DynamoDB Streams event source mapping: it reads a table's stream with the
 * real `@aws-sdk/client-dynamodb-streams` (DynamoDB Local serves it) and invokes a handler in-process with
 * the event Lambda would send, as the mapping does:
 *
 * - shards from DescribeStream, described again every `describeIntervalMs` and whenever a shard closes (its
 *   GetRecords answers no NextShardIterator); shards that exist at start are read from LATEST, shards that
 *   appear later from TRIM_HORIZON, and a child shard only once its parent is read to its end;
 * - per shard, one batch at a time and in order, at most `batchSize` records, every `pollIntervalMs` (Lambda
 *   polls a stream 4 times a second); shards are read side by side;
 * - `filter` plays FilterCriteria: records it refuses are passed over (checkpointed), never delivered, and a
 *   batch left empty invokes nothing;
 * - a handler that throws has its batch retried whole; `batchItemFailures` retry from the first failed
 *   record (by sequence number), the records before it checkpointed; an item identifier that names no
 *   record of the batch fails the batch whole, as Lambda rules. After `retryAttempts` retries the rest of
 *   the batch is dropped and reported through `onError` (in AWS: the on-failure destination), and the shard
 *   moves on.
 *
 * Records are Lambda's JSON shape: `eventSource` `aws:dynamodb`, the table's region as `awsRegion`, the
 * stream ARN as `eventSourceARN`, `ApproximateCreationDateTime` in epoch seconds, binary attributes base64.
 */
import {
  DescribeStreamCommand,
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  TrimmedDataAccessException,
  type _Record as StreamsRecord,
  type AttributeValue as StreamsAttributeValue,
  type DynamoDBStreamsClient,
  type Shard,
  type ShardIteratorType,
} from '@aws-sdk/client-dynamodb-streams';
import type { AttributeValue, Context, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { TIMER_ARM_FILTER_PATTERN } from '../lambdas/timers/settings';
import { lambdaContext } from './gateway';

export type StreamHandler = (event: DynamoDBStreamEvent, context: Context) => Promise<DynamoDBBatchResponse | void>;

/** FilterCriteria as a predicate: true keeps the record. */
export type StreamFilter = (record: DynamoDBRecord) => boolean;

/** A FilterCriteria pattern of exact values (`{"field": ["value", ...]}`, nested), the only kind the broker uses. */
export interface EqualityPattern {
  readonly [field: string]: readonly (string | number | boolean)[] | EqualityPattern;
}

/**
 * `pattern` as Lambda applies it: every field it names must be present with one of the listed values. Other
 * FilterCriteria rules (prefix, numeric, exists...) are refused when the pattern is read, not ignored.
 */
export function patternFilter(pattern: EqualityPattern): StreamFilter {
  const check = (part: EqualityPattern | readonly unknown[], path: string): void => {
    if (Array.isArray(part)) {
      if (part.some((allowed) => typeof allowed === 'object' && allowed !== null)) {
        throw new TypeError(`${path}: only exact values are supported in a local filter pattern`);
      }
      return;
    }
    for (const [field, inner] of Object.entries(part as EqualityPattern)) check(inner, path ? `${path}.${field}` : field);
  };
  check(pattern, '');
  const matches = (value: unknown, part: EqualityPattern | readonly unknown[]): boolean => {
    if (Array.isArray(part)) return part.includes(value);
    if (typeof value !== 'object' || value === null) return false;
    return Object.entries(part as EqualityPattern).every(([field, inner]) => matches((value as Record<string, unknown>)[field], inner));
  };
  return (record) => matches(record, pattern);
}

/** The timer-arm function's filter: infra's pattern (lambdas/timers/settings.ts), applied as Lambda would. */
export const timerArmFilter: StreamFilter = patternFilter(TIMER_ARM_FILTER_PATTERN);

export interface StreamPollerOptions {
  client: DynamoDBStreamsClient;
  /** The table's `LatestStreamArn`. */
  streamArn: string;
  handler: StreamHandler;
  filter?: StreamFilter;
  /** Records per invocation (Lambda's default for streams: 100). */
  batchSize?: number;
  /** Between reads of a shard that had nothing new (default 250 ms). */
  pollIntervalMs?: number;
  /** Between DescribeStream calls looking for new shards (default 10 s). */
  describeIntervalMs?: number;
  /** Retries of a failed batch before it is dropped (default 2; Lambda's MaximumRetryAttempts). */
  retryAttempts?: number;
  /** First wait before a retry, doubled per retry up to 10 s (default 500 ms). */
  retryDelayMs?: number;
  /** A dropped batch, or a stream read that failed (retried on the next poll). */
  onError?: (error: unknown) => void;
  /** The table's region: what each record's `awsRegion` says and the context's ARN names. */
  region: string;
  functionName: string;
  /** The function's timeout: what the context's `getRemainingTimeInMillis` counts down from (default 60 s). */
  timeoutMs?: number;
}

export interface StreamPoller {
  /** Ends the polling and waits for the batch in flight. Idempotent. */
  stop(): Promise<void>;
}

/** A batch given up on: the records are lost to the handler (they stay in the stream for 24 h). */
export class StreamBatchDroppedError extends Error {
  readonly code = 'stream_batch_dropped';
  constructor(
    readonly shardId: string,
    readonly sequenceNumbers: string[],
    options?: { cause?: unknown },
  ) {
    super(`dropped ${sequenceNumbers.length} stream record(s) of ${shardId} after the retries ran out (first ${sequenceNumbers[0] ?? '-'})`, options);
    this.name = 'StreamBatchDroppedError';
  }
}

const DEFAULTS = { batchSize: 100, pollIntervalMs: 250, describeIntervalMs: 10_000, retryAttempts: 2, retryDelayMs: 500, timeoutMs: 60_000 } as const;
const MAX_RETRY_DELAY_MS = 10_000;
const READ_ERROR_PAUSE_MS = 1_000;

/** A binary attribute as Lambda's JSON carries it: base64. */
const base64 = (bytes: Uint8Array | string) => (typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('base64'));

/** The SDK's attribute value in Lambda's event shape (the same JSON, binary values base64). */
export function toLambdaAttribute(value: StreamsAttributeValue): AttributeValue {
  if (value.B !== undefined) return { B: base64(value.B) };
  if (value.BS !== undefined) return { BS: value.BS.map(base64) };
  if (value.L !== undefined) return { L: value.L.map(toLambdaAttribute) };
  if (value.M !== undefined) return { M: toLambdaImage(value.M) };
  if (value.S !== undefined) return { S: value.S };
  if (value.N !== undefined) return { N: value.N };
  if (value.SS !== undefined) return { SS: value.SS };
  if (value.NS !== undefined) return { NS: value.NS };
  if (value.BOOL !== undefined) return { BOOL: value.BOOL };
  if (value.NULL !== undefined) return { NULL: value.NULL };
  // A type this SDK does not know: passed on as it came.
  return value as unknown as AttributeValue;
}

function toLambdaImage(image: Record<string, StreamsAttributeValue>): Record<string, AttributeValue> {
  return Object.fromEntries(Object.entries(image).map(([name, value]) => [name, toLambdaAttribute(value)]));
}

/** One stream record as Lambda delivers it. */
export function toLambdaRecord(record: StreamsRecord, streamArn: string, region: string): DynamoDBRecord {
  const change = record.dynamodb ?? {};
  const created = change.ApproximateCreationDateTime;
  return {
    eventID: record.eventID,
    eventName: record.eventName,
    eventVersion: record.eventVersion ?? '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: region,
    eventSourceARN: streamArn,
    dynamodb: {
      ...(created !== undefined && { ApproximateCreationDateTime: Math.floor(new Date(created).getTime() / 1000) }),
      ...(change.Keys && { Keys: toLambdaImage(change.Keys) }),
      ...(change.NewImage && { NewImage: toLambdaImage(change.NewImage) }),
      ...(change.OldImage && { OldImage: toLambdaImage(change.OldImage) }),
      ...(change.SequenceNumber !== undefined && { SequenceNumber: change.SequenceNumber }),
      ...(change.SizeBytes !== undefined && { SizeBytes: change.SizeBytes }),
      ...(change.StreamViewType !== undefined && { StreamViewType: change.StreamViewType }),
    },
    ...(record.userIdentity && { userIdentity: record.userIdentity }),
  };
}

interface ShardState {
  id: string;
  parentId: string | undefined;
  /** Where the next GetRecords reads; undefined once the shard is closed and read to its end. */
  iterator: string | undefined;
  /** How the iterator was first taken, to take it again when it expires before anything was read. */
  start: ShardIteratorType;
  /** The last sequence number read: an expired iterator is taken again after it. */
  lastRead: string | undefined;
  /** Records read, kept by the filter, not yet handled: the batch (or what is left of it after a partial failure). */
  pending: DynamoDBRecord[];
  /** Retries made of `pending`. */
  retries: number;
  /** No batch before this time (a retry's backoff). */
  notBefore: number;
  /** Closed and read to its end, everything handled. */
  done: boolean;
  /** Iterator not taken yet (a child waiting for its parent). */
  opened: boolean;
}

const sequenceOf = (record: DynamoDBRecord) => record.dynamodb?.SequenceNumber ?? '';

/** Starts polling once the stream's shards are known and their iterators taken: a change written after this resolves is delivered. */
export async function startStreamPoller(options: StreamPollerOptions): Promise<StreamPoller> {
  const batchSize = options.batchSize ?? DEFAULTS.batchSize;
  const pollIntervalMs = options.pollIntervalMs ?? DEFAULTS.pollIntervalMs;
  const describeIntervalMs = options.describeIntervalMs ?? DEFAULTS.describeIntervalMs;
  const retryAttempts = options.retryAttempts ?? DEFAULTS.retryAttempts;
  const retryDelayMs = options.retryDelayMs ?? DEFAULTS.retryDelayMs;
  const timeoutMs = options.timeoutMs ?? DEFAULTS.timeoutMs;
  if (!(batchSize >= 1 && batchSize <= 1000)) throw new RangeError(`batchSize must be 1..1000, got ${batchSize}`);
  if (!(pollIntervalMs > 0)) throw new RangeError(`pollIntervalMs must be positive, got ${pollIntervalMs}`);
  if (!(retryAttempts >= 0)) throw new RangeError(`retryAttempts must be >= 0, got ${retryAttempts}`);
  const { client, streamArn } = options;
  const report = (error: unknown) => {
    try {
      options.onError?.(error);
    } catch {
      // A reporter that throws must not stop the polling.
    }
  };

  const shards = new Map<string, ShardState>();
  let lastDescribed = 0;
  let redescribe = false;

  async function listShards(): Promise<Shard[]> {
    const found: Shard[] = [];
    let exclusiveStart: string | undefined;
    do {
      const { StreamDescription } = await client.send(
        new DescribeStreamCommand({ StreamArn: streamArn, ...(exclusiveStart !== undefined && { ExclusiveStartShardId: exclusiveStart }) }),
      );
      found.push(...(StreamDescription?.Shards ?? []));
      exclusiveStart = StreamDescription?.LastEvaluatedShardId;
    } while (exclusiveStart !== undefined);
    return found;
  }

  async function iteratorFor(shard: ShardState): Promise<string | undefined> {
    const type: ShardIteratorType = shard.lastRead !== undefined ? 'AFTER_SEQUENCE_NUMBER' : shard.start;
    const { ShardIterator } = await client.send(
      new GetShardIteratorCommand({
        StreamArn: streamArn,
        ShardId: shard.id,
        ShardIteratorType: type,
        ...(type === 'AFTER_SEQUENCE_NUMBER' && { SequenceNumber: shard.lastRead }),
      }),
    );
    return ShardIterator;
  }

  /** Adds the shards not known yet: at start from LATEST (closed ones are history), later from TRIM_HORIZON. */
  async function discover(atStart: boolean): Promise<void> {
    lastDescribed = Date.now();
    redescribe = false;
    for (const shard of await listShards()) {
      if (!shard.ShardId || shards.has(shard.ShardId)) continue;
      const closed = shard.SequenceNumberRange?.EndingSequenceNumber !== undefined;
      const state: ShardState = {
        id: shard.ShardId,
        parentId: shard.ParentShardId,
        iterator: undefined,
        start: atStart ? 'LATEST' : 'TRIM_HORIZON',
        lastRead: undefined,
        pending: [],
        retries: 0,
        notBefore: 0,
        done: atStart && closed,
        opened: atStart && closed,
      };
      shards.set(state.id, state);
    }
    // Iterators are taken at once for the shards that may be read now, so nothing written after start is missed.
    await Promise.all([...shards.values()].filter((shard) => !shard.opened && parentDone(shard)).map(open));
  }

  function parentDone(shard: ShardState): boolean {
    const parent = shard.parentId === undefined ? undefined : shards.get(shard.parentId);
    return !parent || parent.done;
  }

  async function open(shard: ShardState): Promise<void> {
    shard.iterator = await iteratorFor(shard);
    shard.opened = true;
    if (shard.iterator === undefined) shard.done = true;
  }

  /** One step of one shard: read a batch if none is pending, then hand it to the function. */
  async function stepShard(shard: ShardState): Promise<boolean> {
    if (shard.done || Date.now() < shard.notBefore) return false;
    if (!shard.opened) {
      if (!parentDone(shard)) return false;
      await open(shard);
    }
    let readMore = false;
    if (shard.pending.length === 0) {
      if (shard.iterator === undefined) {
        shard.done = true;
        redescribe = true;
        return false;
      }
      let answer;
      try {
        answer = await client.send(new GetRecordsCommand({ ShardIterator: shard.iterator, Limit: batchSize }));
      } catch (error) {
        if (error instanceof ExpiredIteratorException) {
          shard.iterator = await iteratorFor(shard);
          return true;
        }
        if (error instanceof TrimmedDataAccessException) {
          // Past the stream's retention: read from the oldest record still there.
          shard.lastRead = undefined;
          shard.start = 'TRIM_HORIZON';
          shard.iterator = await iteratorFor(shard);
          return true;
        }
        throw error;
      }
      const records = answer.Records ?? [];
      shard.iterator = answer.NextShardIterator;
      const last = records.at(-1)?.dynamodb?.SequenceNumber;
      if (last !== undefined) shard.lastRead = last;
      const converted = records.map((record) => toLambdaRecord(record, streamArn, options.region));
      shard.pending = options.filter ? converted.filter((record) => options.filter?.(record)) : converted;
      shard.retries = 0;
      // A full page, or a page all filtered out: there may be more right behind it.
      readMore = records.length > 0;
      if (shard.iterator === undefined) redescribe = true;
    }
    if (shard.pending.length === 0) {
      if (shard.iterator === undefined) shard.done = true;
      return readMore;
    }
    await invoke(shard);
    return true;
  }

  async function invoke(shard: ShardState): Promise<void> {
    const batch = shard.pending;
    let failedFrom: number;
    let cause: unknown;
    try {
      const context = lambdaContext(options.functionName, options.region, Date.now() + timeoutMs);
      const response = await options.handler({ Records: batch }, context);
      failedFrom = firstFailed(batch, response);
    } catch (error) {
      cause = error;
      failedFrom = 0;
    }
    if (failedFrom < 0) {
      shard.pending = [];
      shard.retries = 0;
      return;
    }
    const rest = batch.slice(failedFrom);
    if (shard.retries >= retryAttempts) {
      report(new StreamBatchDroppedError(shard.id, rest.map(sequenceOf), { cause }));
      shard.pending = [];
      shard.retries = 0;
      return;
    }
    shard.retries += 1;
    shard.pending = rest;
    shard.notBefore = Date.now() + Math.min(MAX_RETRY_DELAY_MS, retryDelayMs * 2 ** (shard.retries - 1));
  }

  let stopped = false;
  let wake: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      }
      wake = done;
    });

  const loop = async () => {
    while (!stopped) {
      let busy = false;
      if (redescribe || Date.now() - lastDescribed >= describeIntervalMs) {
        // A failed describe is tried again at the next interval; the shards already known are read meanwhile.
        await discover(false).catch(report);
      }
      // Settled, not raced: a shard whose read failed must not be stepped again while another is mid-batch.
      const stepping = [...shards.values()];
      const stepped = await Promise.allSettled(stepping.map((shard) => stepShard(shard)));
      stepped.forEach((result, index) => {
        if (result.status === 'fulfilled') {
          busy ||= result.value;
          return;
        }
        report(result.reason);
        // A read that failed is tried again (the same iterator) after a pause, not at every poll.
        const shard = stepping[index];
        if (shard) shard.notBefore = Date.now() + READ_ERROR_PAUSE_MS;
      });
      if (!stopped) await sleep(busy ? 0 : pollIntervalMs);
    }
  };

  await discover(true);
  const running = loop();

  let stopping: Promise<void> | undefined;
  return {
    stop() {
      stopping ??= (async () => {
        stopped = true;
        wake?.();
        await running;
      })();
      return stopping;
    },
  };
}

/**
 * The index of the first record to retry, by sequence number, or -1 when the batch succeeded. An identifier
 * that is empty or names no record of the batch fails the batch whole, as Lambda treats it.
 */
function firstFailed(batch: readonly DynamoDBRecord[], response: DynamoDBBatchResponse | void): number {
  const failures = response?.batchItemFailures ?? [];
  if (failures.length === 0) return -1;
  let first = Number.POSITIVE_INFINITY;
  for (const failure of failures) {
    const index = typeof failure?.itemIdentifier === 'string' && failure.itemIdentifier !== '' ? batch.findIndex((record) => sequenceOf(record) === failure.itemIdentifier) : -1;
    if (index < 0) return 0;
    first = Math.min(first, index);
  }
  return first;
}
