/**
 * An SQS stand-in for the local stack and integration tests: a loopback HTTP server speaking SQS's JSON
 * protocol (AWS JSON 1.0: `POST /`, `X-Amz-Target: AmazonSQS.<Action>`, `Content-Type:
 * application/x-amz-json-1.0`), so the real `@aws-sdk/client-sqs` runs unchanged against it through
 * `AWS_ENDPOINT_URL_SQS`. Standard queues only: delays, visibility timeouts, long polling, receive counts,
 * redrive to a dead-letter queue, batches and purge, with SQS's own limits and error answers.
 *
 * Every request must be SigV4-signed (service `sqs`) by the one key the stub is given; dev/sigv4.ts checks it.
 * Errors are SQS's: the status, `x-amzn-query-error: <query code>;Sender` and `{"__type", "message"}`. The
 * SDK's SQS client is "query compatible": it names the error it throws after that header's code (e.g.
 * `InvalidParameterValue`, `QueueDoesNotExist`), so the header is part of the contract, not decoration.
 *
 * No SQS server on npm fits here: ElasticMQ is a JVM jar from outside npm, fauxqs needs Node 22.5, sqslite
 * speaks only the Query protocol, and local-aws-sqs (one maintainer) checks no signature and injects no fault.
 * So it is hand-written, like dev/secrets-stub.ts.
 *
 * Not modelled: FIFO queues, DeleteQueue/ListQueues/SetQueueAttributes/tags/permissions/move tasks
 * (answered `UnsupportedOperation`), the 12-hour cap on a message's total visibility timeout, KMS.
 * Memory is bounded: messages per queue, stored bytes, queues and waiting long polls (`OverLimit` beyond).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { endpointOf, listen } from './listen';
import { type SigV4FailureKind, type SigningKey } from './sigv4';
import { readBody, sigV4FailureOf } from './stub-http';

export const SQS_TARGET_PREFIX = 'AmazonSQS.';
export const SQS_JSON_CONTENT_TYPE = 'application/x-amz-json-1.0';

/** SQS's own bounds on what callers send (message size as raised to 1 MiB in 2025). */
export const SQS_LIMITS = {
  maxDelaySeconds: 900,
  maxVisibilityTimeoutSeconds: 43_200,
  maxWaitTimeSeconds: 20,
  maxMessagesPerReceive: 10,
  maxBatchEntries: 10,
  maxMessageBytes: 1_048_576,
  maxMessageAttributes: 10,
  purgeIntervalSeconds: 60,
} as const;

const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
/** SigV4 services other than API Gateway accept an `X-Amz-Date` up to 15 minutes off. */
const DEFAULT_ACCOUNT_ID = '000000000000';

/** Status, `__type` and the query code (`x-amzn-query-error`) SQS answers each error with. */
const ERRORS = {
  QueueDoesNotExist: { status: 400, type: 'com.amazonaws.sqs#QueueDoesNotExist', query: 'AWS.SimpleQueueService.NonExistentQueue' },
  QueueNameExists: { status: 400, type: 'com.amazonaws.sqs#QueueNameExists', query: 'QueueAlreadyExists' },
  InvalidParameterValue: { status: 400, type: 'com.amazon.coral.service#InvalidParameterValueException', query: 'InvalidParameterValue' },
  MissingParameter: { status: 400, type: 'com.amazon.coral.service#MissingRequiredParameterException', query: 'MissingParameter' },
  SerializationException: { status: 400, type: 'com.amazon.coral.service#SerializationException', query: 'SerializationException' },
  InvalidAttributeName: { status: 400, type: 'com.amazonaws.sqs#InvalidAttributeName', query: 'InvalidAttributeName' },
  InvalidAttributeValue: { status: 400, type: 'com.amazonaws.sqs#InvalidAttributeValue', query: 'InvalidAttributeValue' },
  InvalidMessageContents: { status: 400, type: 'com.amazonaws.sqs#InvalidMessageContents', query: 'InvalidMessageContents' },
  ReceiptHandleIsInvalid: { status: 404, type: 'com.amazonaws.sqs#ReceiptHandleIsInvalid', query: 'ReceiptHandleIsInvalid' },
  MessageNotInflight: { status: 400, type: 'com.amazonaws.sqs#MessageNotInflight', query: 'AWS.SimpleQueueService.MessageNotInflight' },
  EmptyBatchRequest: { status: 400, type: 'com.amazonaws.sqs#EmptyBatchRequest', query: 'AWS.SimpleQueueService.EmptyBatchRequest' },
  TooManyEntriesInBatchRequest: {
    status: 400,
    type: 'com.amazonaws.sqs#TooManyEntriesInBatchRequest',
    query: 'AWS.SimpleQueueService.TooManyEntriesInBatchRequest',
  },
  BatchEntryIdsNotDistinct: { status: 400, type: 'com.amazonaws.sqs#BatchEntryIdsNotDistinct', query: 'AWS.SimpleQueueService.BatchEntryIdsNotDistinct' },
  InvalidBatchEntryId: { status: 400, type: 'com.amazonaws.sqs#InvalidBatchEntryId', query: 'AWS.SimpleQueueService.InvalidBatchEntryId' },
  BatchRequestTooLong: { status: 400, type: 'com.amazonaws.sqs#BatchRequestTooLong', query: 'AWS.SimpleQueueService.BatchRequestTooLong' },
  PurgeQueueInProgress: { status: 403, type: 'com.amazonaws.sqs#PurgeQueueInProgress', query: 'AWS.SimpleQueueService.PurgeQueueInProgress' },
  OverLimit: { status: 403, type: 'com.amazonaws.sqs#OverLimit', query: 'OverLimit' },
  UnsupportedOperation: { status: 400, type: 'com.amazonaws.sqs#UnsupportedOperation', query: 'AWS.SimpleQueueService.UnsupportedOperation' },
  RequestThrottled: { status: 403, type: 'com.amazonaws.sqs#RequestThrottled', query: 'RequestThrottled' },
  RequestEntityTooLarge: { status: 413, type: 'com.amazon.coral.service#RequestEntityTooLargeException', query: 'RequestEntityTooLarge' },
  InternalFailure: { status: 500, type: 'com.amazon.coral.service#InternalFailure', query: 'InternalFailure' },
  ServiceUnavailable: { status: 503, type: 'com.amazon.coral.availability#ServiceUnavailableException', query: 'ServiceUnavailable' },
  MissingAuthenticationToken: {
    status: 403,
    type: 'com.amazon.coral.service#MissingAuthenticationTokenException',
    query: 'MissingAuthenticationToken',
  },
  IncompleteSignature: { status: 400, type: 'com.amazon.coral.service#IncompleteSignatureException', query: 'IncompleteSignature' },
  InvalidClientTokenId: { status: 403, type: 'com.amazon.coral.service#UnrecognizedClientException', query: 'InvalidClientTokenId' },
  SignatureDoesNotMatch: { status: 403, type: 'com.amazon.coral.service#InvalidSignatureException', query: 'SignatureDoesNotMatch' },
} as const;

export type SqsErrorCode = keyof typeof ERRORS;

export class SqsError extends Error {
  constructor(
    readonly code: SqsErrorCode,
    message: string,
  ) {
    super(message);
    this.name = code;
  }
  get status(): number {
    return ERRORS[this.code].status;
  }
  /** The query code: what `x-amzn-query-error` and a batch entry's `Code` carry. */
  get queryCode(): string {
    return ERRORS[this.code].query;
  }
}

const AUTH_ERRORS: Record<SigV4FailureKind, SqsErrorCode> = {
  missing: 'MissingAuthenticationToken',
  incomplete: 'IncompleteSignature',
  unknown_key: 'InvalidClientTokenId',
  bad_scope: 'SignatureDoesNotMatch',
  expired: 'SignatureDoesNotMatch',
  mismatch: 'SignatureDoesNotMatch',
};

export interface SqsFaults {
  /** 503 ServiceUnavailable: the SDK retries it as transient, then throws. */
  unavailable?: boolean;
  /** 500 InternalFailure. */
  internalError?: boolean;
  /** 403 RequestThrottled, which the SDK classes as throttling (retried with its throttling backoff). */
  throttle?: boolean;
  /**
   * ReceiveMessage takes messages as usual (they go in flight, their receive count rises, the visibility
   * timeout runs) but answers none, as if the answer were lost on the way: they come back after the timeout.
   */
  dropReceives?: boolean;
  /** The actions the faults concern (`SendMessage`, ...); every action when absent. */
  actions?: readonly string[];
}

export interface SqsStubOptions {
  host?: string;
  port?: number;
  /** The one key every request must be signed with (service `sqs`, the stub's region). */
  credentials: SigningKey;
  region?: string;
  accountId?: string;
  /**
   * The queues' clock (epoch ms): delays, visibility timeouts, retention, purge interval, timestamps. Real
   * timers still bound long polls, and signatures are checked against the real clock.
   */
  now?: () => number;
  /** Beyond it SendMessage answers OverLimit (default 10,000). */
  maxMessagesPerQueue?: number;
  /** Bytes of bodies and attributes held across all queues (default 64 MiB); OverLimit beyond. */
  maxStoredBytes?: number;
  /** Default 100. */
  maxQueues?: number;
  /** Long polls waiting at once across all queues (default 256); OverLimit beyond. */
  maxWaitingReceives?: number;
}

export interface SqsStub {
  /** What `AWS_ENDPOINT_URL_SQS` should be set to. */
  endpoint: string;
  region: string;
  accountId: string;
  /** The URL CreateQueue answers for `name` (same origin as the endpoint, so the SDK keeps the endpoint). */
  queueUrl(name: string): string;
  queueArn(name: string): string;
  /** Replaces the faults in force (`{}` lifts them). */
  setFaults(faults: SqsFaults): void;
  /** Requests received per action since start or the last reset, failed and refused ones included. */
  calls(): Record<string, number>;
  resetCalls(): void;
  /** Answers waiting long polls (no messages), closes the server and every connection. */
  stop(): Promise<void>;
}

type Input = Record<string, unknown>;

interface AttributeValue {
  DataType: string;
  StringValue?: string;
  BinaryValue?: string;
}

interface Message {
  id: string;
  body: string;
  bodyMd5: string;
  bytes: number;
  attributes: Record<string, AttributeValue>;
  sentAt: number;
  visibleAt: number;
  receiveCount: number;
  firstReceiveAt?: number;
  /** The latest receipt handle: only it deletes the message or changes its visibility. */
  receipt?: string;
  deadLetterSourceArn?: string;
}

interface RedrivePolicy {
  deadLetterTargetArn: string;
  maxReceiveCount: number;
}

interface QueueSettings {
  VisibilityTimeout: number;
  DelaySeconds: number;
  MessageRetentionPeriod: number;
  MaximumMessageSize: number;
  ReceiveMessageWaitTimeSeconds: number;
  RedrivePolicy?: RedrivePolicy;
  /** Attributes stored and echoed only (Policy, SSE, ...). */
  passthrough: Record<string, string>;
}

interface Waiter {
  max: number;
  visibilityMs: number;
  deliver(messages: Message[]): void;
}

interface Queue {
  name: string;
  url: string;
  arn: string;
  createdAt: number;
  settings: QueueSettings;
  /** Keyed by message id, in send order. */
  messages: Map<string, Message>;
  waiters: Set<Waiter>;
  wakeTimer?: NodeJS.Timeout;
  purgedAt?: number;
}

interface Answer {
  status: number;
  requestId: string;
  body: string;
  queryError?: string;
  close?: boolean;
}

const DEFAULT_SETTINGS: Omit<QueueSettings, 'passthrough'> = {
  VisibilityTimeout: 30,
  DelaySeconds: 0,
  MessageRetentionPeriod: 345_600,
  MaximumMessageSize: SQS_LIMITS.maxMessageBytes,
  ReceiveMessageWaitTimeSeconds: 0,
};

/** Numeric queue attributes and their valid ranges. */
const NUMERIC_SETTINGS = {
  VisibilityTimeout: [0, SQS_LIMITS.maxVisibilityTimeoutSeconds],
  DelaySeconds: [0, SQS_LIMITS.maxDelaySeconds],
  MessageRetentionPeriod: [60, 1_209_600],
  MaximumMessageSize: [1024, SQS_LIMITS.maxMessageBytes],
  ReceiveMessageWaitTimeSeconds: [0, SQS_LIMITS.maxWaitTimeSeconds],
} as const;
type NumericSetting = keyof typeof NUMERIC_SETTINGS;
const isNumericSetting = (name: string): name is NumericSetting => Object.hasOwn(NUMERIC_SETTINGS, name);

const PASSTHROUGH_ATTRIBUTES = new Set(['Policy', 'RedriveAllowPolicy', 'SqsManagedSseEnabled', 'KmsMasterKeyId', 'KmsDataKeyReusePeriodSeconds']);
const FIFO_ATTRIBUTES = new Set(['FifoQueue', 'ContentBasedDeduplication', 'DeduplicationScope', 'FifoThroughputLimit']);
const COMPUTED_ATTRIBUTES = [
  'ApproximateNumberOfMessages',
  'ApproximateNumberOfMessagesNotVisible',
  'ApproximateNumberOfMessagesDelayed',
  'CreatedTimestamp',
  'LastModifiedTimestamp',
  'QueueArn',
] as const;
const QUEUE_ATTRIBUTE_NAMES = new Set<string>([...COMPUTED_ATTRIBUTES, ...Object.keys(NUMERIC_SETTINGS), 'RedrivePolicy', ...PASSTHROUGH_ATTRIBUTES]);

const QUEUE_NAME = /^[A-Za-z0-9_-]{1,80}$/;
const BATCH_ENTRY_ID = /^[A-Za-z0-9_-]{1,80}$/;
const ATTRIBUTE_NAME = /^[A-Za-z0-9_.-]{1,256}$/;
/** The characters SQS allows in a body: #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF. */
const FORBIDDEN_CHARACTER = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

const md5Hex = (data: string | Buffer) => createHash('md5').update(data).digest('hex');

/**
 * SQS's MD5 of message attributes: by name in ascending order, each as length-prefixed name, length-prefixed
 * data type, a transport byte (1 string/number, 2 binary) and the length-prefixed value (4-byte big-endian
 * lengths).
 */
export function md5OfMessageAttributes(attributes: Record<string, AttributeValue>): string {
  const hash = createHash('md5');
  const prefixed = (bytes: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    hash.update(length);
    hash.update(bytes);
  };
  for (const name of Object.keys(attributes).sort()) {
    const value = attributes[name];
    if (!value) continue;
    prefixed(Buffer.from(name, 'utf8'));
    prefixed(Buffer.from(value.DataType, 'utf8'));
    if (value.BinaryValue !== undefined) {
      hash.update(Buffer.from([2]));
      prefixed(Buffer.from(value.BinaryValue, 'base64'));
    } else {
      hash.update(Buffer.from([1]));
      prefixed(Buffer.from(value.StringValue ?? '', 'utf8'));
    }
  }
  return hash.digest('hex');
}

const isObject = (value: unknown): value is Input => typeof value === 'object' && value !== null && !Array.isArray(value);

function requiredString(input: Input, name: string): string {
  const value = input[name];
  if (value === undefined || value === null || value === '') throw new SqsError('MissingParameter', `The request must contain the parameter ${name}.`);
  if (typeof value !== 'string') throw new SqsError('SerializationException', `${name} must be a string.`);
  return value;
}

/** An optional integer parameter, checked against SQS's range with SQS's wording. */
function rangeParam(input: Input, name: string, min: number, max: number, reason: string): number | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new SqsError('SerializationException', `${name} must be an integer.`);
  if (value < min || value > max) {
    throw new SqsError('InvalidParameterValue', `Value ${value} for parameter ${name} is invalid. Reason: ${reason}`);
  }
  return value;
}

function stringList(input: Input, name: string): string[] {
  const value = input[name];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) throw new SqsError('SerializationException', `${name} must be a list of strings.`);
  return value as string[];
}

function stringMap(value: unknown, name: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isObject(value) || Object.values(value).some((item) => typeof item !== 'string')) {
    throw new SqsError('SerializationException', `${name} must be a map of strings.`);
  }
  return value as Record<string, string>;
}

function parseMessageAttributes(value: unknown): Record<string, AttributeValue> {
  if (value === undefined || value === null) return {};
  if (!isObject(value)) throw new SqsError('SerializationException', 'MessageAttributes must be a map.');
  const names = Object.keys(value);
  if (names.length > SQS_LIMITS.maxMessageAttributes) {
    throw new SqsError('InvalidParameterValue', `Number of message attributes [${names.length}] exceeds the allowed maximum [${SQS_LIMITS.maxMessageAttributes}].`);
  }
  const attributes: Record<string, AttributeValue> = {};
  for (const name of names) {
    const raw = value[name];
    if (!ATTRIBUTE_NAME.test(name) || /^(aws|amazon)\./i.test(name) || name.startsWith('.') || name.endsWith('.') || name.includes('..')) {
      throw new SqsError('InvalidParameterValue', `Message (user) attribute name '${name}' is invalid.`);
    }
    if (!isObject(raw) || typeof raw.DataType !== 'string') {
      throw new SqsError('InvalidParameterValue', `The message attribute '${name}' must contain a non-empty attribute type.`);
    }
    const dataType = raw.DataType;
    if (!/^(String|Number|Binary)(\..+)?$/.test(dataType)) {
      throw new SqsError('InvalidParameterValue', `The type of message (user) attribute '${name}' is invalid. You must use only the following supported type prefixes: Binary, Number, String.`);
    }
    const binary = dataType.startsWith('Binary');
    const text = binary ? raw.BinaryValue : raw.StringValue;
    if (typeof text !== 'string' || text === '') {
      throw new SqsError(
        'InvalidParameterValue',
        `The message attribute '${name}' must contain non-empty message attribute value for message attribute type '${dataType}'.`,
      );
    }
    attributes[name] = binary ? { DataType: dataType, BinaryValue: text } : { DataType: dataType, StringValue: text };
  }
  return attributes;
}

const attributesBytes = (attributes: Record<string, AttributeValue>) =>
  Object.entries(attributes).reduce(
    (sum, [name, value]) =>
      sum +
      Buffer.byteLength(name) +
      Buffer.byteLength(value.DataType) +
      (value.BinaryValue !== undefined ? Buffer.from(value.BinaryValue, 'base64').length : Buffer.byteLength(value.StringValue ?? '')),
    0,
  );

/** Attributes whose name is asked for: `All`, `.*`, an exact name or a `prefix.*`. */
function selectAttributes(attributes: Record<string, AttributeValue>, names: readonly string[]): Record<string, AttributeValue> {
  const selected: Record<string, AttributeValue> = {};
  for (const [name, value] of Object.entries(attributes)) {
    const wanted = names.some(
      (pattern) => pattern === 'All' || pattern === '.*' || pattern === name || (pattern.endsWith('.*') && name.startsWith(pattern.slice(0, -1))),
    );
    if (wanted) selected[name] = value;
  }
  return selected;
}

function writeAnswer(response: ServerResponse, answer: Answer): void {
  if (response.destroyed || response.writableEnded) return;
  const body = Buffer.from(answer.body, 'utf8');
  const headers: Record<string, string> = {
    'content-type': SQS_JSON_CONTENT_TYPE,
    'content-length': String(body.length),
    'x-amzn-requestid': answer.requestId,
  };
  if (answer.queryError !== undefined) headers['x-amzn-query-error'] = answer.queryError;
  if (answer.close) headers.connection = 'close';
  response.writeHead(answer.status, headers);
  response.end(body);
}

export async function startSqsStub(options: SqsStubOptions): Promise<SqsStub> {
  const region = options.region ?? 'us-east-1';
  const accountId = options.accountId ?? DEFAULT_ACCOUNT_ID;
  const key: SigningKey = { accessKeyId: options.credentials.accessKeyId, secretAccessKey: options.credentials.secretAccessKey };
  const clock = options.now ?? Date.now;
  const maxMessagesPerQueue = options.maxMessagesPerQueue ?? 10_000;
  const maxStoredBytes = options.maxStoredBytes ?? 64 * 1024 * 1024;
  const maxQueues = options.maxQueues ?? 100;
  const maxWaiting = options.maxWaitingReceives ?? 256;

  const queues = new Map<string, Queue>();
  const callCounts = new Map<string, number>();
  const inFlight = new Set<Promise<void>>();
  let faults: SqsFaults = {};
  let storedBytes = 0;
  let closing = false;
  let endpoint = '';

  const queueUrl = (name: string) => `${endpoint}/${accountId}/${name}`;
  const queueArn = (name: string) => `arn:aws:sqs:${region}:${accountId}:${name}`;
  const queueByArn = (arn: string) => {
    const prefix = queueArn('');
    return arn.startsWith(prefix) ? queues.get(arn.slice(prefix.length)) : undefined;
  };

  function queueOf(input: Input): Queue {
    const url = requiredString(input, 'QueueUrl');
    let path: string;
    try {
      path = new URL(url).pathname;
    } catch {
      throw new SqsError('QueueDoesNotExist', 'The specified queue does not exist.');
    }
    // Any origin: the SDK may reach us as localhost or 127.0.0.1; the path names the queue.
    const [, account, name, ...rest] = path.split('/');
    const queue = account === accountId && name && rest.length === 0 ? queues.get(name) : undefined;
    if (!queue) throw new SqsError('QueueDoesNotExist', 'The specified queue does not exist.');
    return queue;
  }

  function remove(queue: Queue, message: Message): void {
    if (queue.messages.delete(message.id)) storedBytes -= message.bytes;
  }

  function expire(queue: Queue, now: number): void {
    const retentionMs = queue.settings.MessageRetentionPeriod * 1000;
    for (const message of queue.messages.values()) if (now - message.sentAt >= retentionMs) remove(queue, message);
  }

  // --- delivery ---

  /** Takes up to `max` visible messages into flight, redriving those past maxReceiveCount on the way. */
  function take(queue: Queue, max: number, visibilityMs: number, now: number): Message[] {
    const taken: Message[] = [];
    const retentionMs = queue.settings.MessageRetentionPeriod * 1000;
    const redrive = queue.settings.RedrivePolicy;
    for (const message of queue.messages.values()) {
      if (taken.length >= max) break;
      if (message.visibleAt > now) continue;
      if (now - message.sentAt >= retentionMs) {
        remove(queue, message);
        continue;
      }
      const deadLetter = redrive && message.receiveCount >= redrive.maxReceiveCount ? queueByArn(redrive.deadLetterTargetArn) : undefined;
      if (deadLetter && deadLetter !== queue) {
        // SQS moves it when a receive finds it past maxReceiveCount; id, body, attributes, sent time and
        // receive count go with it.
        queue.messages.delete(message.id);
        message.visibleAt = now;
        message.receipt = undefined;
        message.deadLetterSourceArn = queue.arn;
        deadLetter.messages.set(message.id, message);
        queueMicrotask(() => serve(deadLetter));
        continue;
      }
      message.receiveCount += 1;
      message.firstReceiveAt ??= now;
      message.visibleAt = now + visibilityMs;
      message.receipt = Buffer.from(JSON.stringify([queue.name, message.id, randomBytes(12).toString('hex')])).toString('base64');
      taken.push(message);
    }
    return taken;
  }

  /** Hands visible messages to waiting long polls, oldest first, and arms the wake-up for the next due one. */
  function serve(queue: Queue): void {
    const now = clock();
    for (const waiter of queue.waiters) {
      const taken = take(queue, waiter.max, waiter.visibilityMs, now);
      if (taken.length === 0) break;
      queue.waiters.delete(waiter);
      waiter.deliver(taken);
    }
    scheduleWake(queue, now);
  }

  function scheduleWake(queue: Queue, now: number): void {
    if (queue.wakeTimer) clearTimeout(queue.wakeTimer);
    queue.wakeTimer = undefined;
    if (queue.waiters.size === 0 || closing) return;
    let next = Number.POSITIVE_INFINITY;
    for (const message of queue.messages.values()) if (message.visibleAt > now && message.visibleAt < next) next = message.visibleAt;
    if (next === Number.POSITIVE_INFINITY) return;
    // Capped: no long poll waits longer, and an injected clock may move under us.
    const delay = Math.min(Math.max(next - now, 1), SQS_LIMITS.maxWaitTimeSeconds * 1000);
    queue.wakeTimer = setTimeout(() => {
      queue.wakeTimer = undefined;
      serve(queue);
    }, delay);
    queue.wakeTimer.unref();
  }

  const waitingCount = () => [...queues.values()].reduce((sum, queue) => sum + queue.waiters.size, 0);

  function systemAttributes(message: Message, names: readonly string[]): Record<string, string> {
    const all = names.includes('All');
    const wants = (name: string) => all || names.includes(name);
    const attributes: Record<string, string> = {};
    if (wants('ApproximateReceiveCount')) attributes.ApproximateReceiveCount = String(message.receiveCount);
    if (wants('ApproximateFirstReceiveTimestamp') && message.firstReceiveAt !== undefined) {
      attributes.ApproximateFirstReceiveTimestamp = String(message.firstReceiveAt);
    }
    if (wants('SentTimestamp')) attributes.SentTimestamp = String(message.sentAt);
    if (wants('SenderId')) attributes.SenderId = key.accessKeyId;
    if (wants('DeadLetterQueueSourceArn') && message.deadLetterSourceArn !== undefined) attributes.DeadLetterQueueSourceArn = message.deadLetterSourceArn;
    return attributes;
  }

  function view(message: Message, systemNames: readonly string[], userNames: readonly string[]): Input {
    const out: Input = { MessageId: message.id, ReceiptHandle: message.receipt, MD5OfBody: message.bodyMd5, Body: message.body };
    const system = systemAttributes(message, systemNames);
    if (Object.keys(system).length > 0) out.Attributes = system;
    const user = selectAttributes(message.attributes, userNames);
    if (Object.keys(user).length > 0) {
      out.MessageAttributes = user;
      out.MD5OfMessageAttributes = md5OfMessageAttributes(user);
    }
    return out;
  }

  // --- queues ---

  function parseSettings(attributes: Record<string, string>): QueueSettings {
    const settings: QueueSettings = { ...DEFAULT_SETTINGS, passthrough: {} };
    for (const [name, value] of Object.entries(attributes)) {
      if (isNumericSetting(name)) {
        const [min, max] = NUMERIC_SETTINGS[name];
        const number = /^\d{1,10}$/.test(value) ? Number(value) : Number.NaN;
        if (!(number >= min && number <= max)) throw new SqsError('InvalidAttributeValue', `Invalid value for the parameter ${name}.`);
        settings[name] = number;
      } else if (name === 'RedrivePolicy') {
        settings.RedrivePolicy = parseRedrivePolicy(value);
      } else if (PASSTHROUGH_ATTRIBUTES.has(name)) {
        settings.passthrough[name] = value;
      } else if (FIFO_ATTRIBUTES.has(name)) {
        throw new SqsError('InvalidAttributeName', `Unknown Attribute ${name}: FIFO queues are not supported by the local SQS stub.`);
      } else {
        throw new SqsError('InvalidAttributeName', `Unknown Attribute ${name}.`);
      }
    }
    return settings;
  }

  function parseRedrivePolicy(value: string): RedrivePolicy {
    const invalid = (reason: string) => new SqsError('InvalidParameterValue', `Value ${value} for parameter RedrivePolicy is invalid. Reason: ${reason}`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      throw invalid('Redrive policy is not a valid JSON map.');
    }
    if (!isObject(parsed) || typeof parsed.deadLetterTargetArn !== 'string') throw invalid('Redrive policy does not contain mandatory attribute: deadLetterTargetArn.');
    const count = typeof parsed.maxReceiveCount === 'string' && /^\d{1,5}$/.test(parsed.maxReceiveCount) ? Number(parsed.maxReceiveCount) : parsed.maxReceiveCount;
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > 1000) {
      throw invalid(`Invalid value for maxReceiveCount: ${String(parsed.maxReceiveCount)}, valid values are from 1 to 1000 both inclusive.`);
    }
    if (!queueByArn(parsed.deadLetterTargetArn)) throw invalid('Dead letter target does not exist.');
    return { deadLetterTargetArn: parsed.deadLetterTargetArn, maxReceiveCount: count };
  }

  function settingText(settings: QueueSettings, name: string): string | undefined {
    if (isNumericSetting(name)) return String(settings[name]);
    if (name === 'RedrivePolicy') return settings.RedrivePolicy && JSON.stringify(settings.RedrivePolicy);
    return settings.passthrough[name];
  }

  function queueAttributes(queue: Queue, now: number): Record<string, string> {
    expire(queue, now);
    let visible = 0;
    let notVisible = 0;
    let delayed = 0;
    for (const message of queue.messages.values()) {
      if (message.visibleAt <= now) visible += 1;
      else if (message.receiveCount > 0) notVisible += 1;
      else delayed += 1;
    }
    const attributes: Record<string, string> = {
      ApproximateNumberOfMessages: String(visible),
      ApproximateNumberOfMessagesNotVisible: String(notVisible),
      ApproximateNumberOfMessagesDelayed: String(delayed),
      CreatedTimestamp: String(Math.floor(queue.createdAt / 1000)),
      LastModifiedTimestamp: String(Math.floor(queue.createdAt / 1000)),
      QueueArn: queue.arn,
    };
    for (const name of QUEUE_ATTRIBUTE_NAMES) {
      const text = settingText(queue.settings, name);
      if (text !== undefined) attributes[name] = text;
    }
    return attributes;
  }

  // --- messages ---

  function enqueue(queue: Queue, entry: Input, now: number): Input {
    const body = requiredString(entry, 'MessageBody');
    const forbidden = FORBIDDEN_CHARACTER.exec(body);
    if (forbidden) {
      const code = forbidden[0].codePointAt(0) ?? 0;
      throw new SqsError(
        'InvalidMessageContents',
        `Invalid binary character '#x${code.toString(16).toUpperCase()}' was found in the message body, the set of allowed characters is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF`,
      );
    }
    const delay =
      rangeParam(entry, 'DelaySeconds', 0, SQS_LIMITS.maxDelaySeconds, `DelaySeconds must be >= 0 and <= ${SQS_LIMITS.maxDelaySeconds}.`) ??
      queue.settings.DelaySeconds;
    const attributes = parseMessageAttributes(entry.MessageAttributes);
    const bytes = Buffer.byteLength(body, 'utf8') + attributesBytes(attributes);
    if (bytes > queue.settings.MaximumMessageSize) {
      throw new SqsError('InvalidParameterValue', `One or more parameters are invalid. Reason: Message must be shorter than ${queue.settings.MaximumMessageSize} bytes.`);
    }
    if (queue.messages.size >= maxMessagesPerQueue) expire(queue, now);
    if (queue.messages.size >= maxMessagesPerQueue || storedBytes + bytes > maxStoredBytes) {
      throw new SqsError('OverLimit', `The local SQS stub holds at most ${maxMessagesPerQueue} messages per queue and ${maxStoredBytes} bytes in all.`);
    }
    const message: Message = { id: randomUUID(), body, bodyMd5: md5Hex(body), bytes, attributes, sentAt: now, visibleAt: now + delay * 1000, receiveCount: 0 };
    queue.messages.set(message.id, message);
    storedBytes += bytes;
    const result: Input = { MessageId: message.id, MD5OfMessageBody: message.bodyMd5 };
    if (Object.keys(attributes).length > 0) result.MD5OfMessageAttributes = md5OfMessageAttributes(attributes);
    return result;
  }

  /** The message a receipt handle names, and whether the handle is its latest. */
  function byReceipt(queue: Queue, handle: string): { message?: Message; current: boolean } {
    let parts: unknown;
    try {
      parts = JSON.parse(Buffer.from(handle, 'base64').toString('utf8'));
    } catch {
      parts = undefined;
    }
    if (!Array.isArray(parts) || parts.length !== 3 || parts[0] !== queue.name || typeof parts[1] !== 'string') {
      throw new SqsError('ReceiptHandleIsInvalid', `The input receipt handle "${handle}" is not a valid receipt handle.`);
    }
    const message = queue.messages.get(parts[1]);
    return { message, current: message !== undefined && message.receipt === handle };
  }

  /**
   * SQS: "you must provide the most recently received ReceiptHandle for the message (otherwise, the request
   * succeeds, but the message will not be deleted)". A message already gone is a success too.
   */
  function deleteByReceipt(queue: Queue, handle: string): void {
    const { message, current } = byReceipt(queue, handle);
    if (message && current) remove(queue, message);
  }

  function changeVisibility(queue: Queue, handle: string, seconds: number, now: number): void {
    const { message, current } = byReceipt(queue, handle);
    if (!message || !current) {
      throw new SqsError(
        'InvalidParameterValue',
        `Value ${handle} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change.`,
      );
    }
    if (message.visibleAt <= now) throw new SqsError('MessageNotInflight', 'The message referred to is not in flight.');
    message.visibleAt = now + seconds * 1000;
  }

  function batchEntries(input: Input, entryName: string): Input[] {
    const raw = input.Entries;
    if (raw === undefined || raw === null || (Array.isArray(raw) && raw.length === 0)) {
      throw new SqsError('EmptyBatchRequest', `There should be at least one ${entryName} in the request.`);
    }
    if (!Array.isArray(raw) || !raw.every(isObject)) throw new SqsError('SerializationException', 'Entries must be a list of structures.');
    if (raw.length > SQS_LIMITS.maxBatchEntries) {
      throw new SqsError('TooManyEntriesInBatchRequest', `Maximum number of entries per request are ${SQS_LIMITS.maxBatchEntries}. You have sent ${raw.length}.`);
    }
    const seen = new Set<string>();
    for (const entry of raw) {
      const id = entry.Id;
      if (typeof id !== 'string' || !BATCH_ENTRY_ID.test(id)) {
        throw new SqsError(
          'InvalidBatchEntryId',
          'A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.',
        );
      }
      if (seen.has(id)) throw new SqsError('BatchEntryIdsNotDistinct', `Id ${id} repeated.`);
      seen.add(id);
    }
    return raw;
  }

  /** Runs `apply` per entry: an SQS error fails that entry only, reported in `Failed` as SQS does. */
  function perEntry(entries: Input[], apply: (entry: Input) => Input): { Successful: Input[]; Failed: Input[] } {
    const Successful: Input[] = [];
    const Failed: Input[] = [];
    for (const entry of entries) {
      try {
        Successful.push({ Id: entry.Id, ...apply(entry) });
      } catch (error) {
        if (!(error instanceof SqsError)) throw error;
        Failed.push({ Id: entry.Id, SenderFault: error.status < 500, Code: error.queryCode, Message: error.message });
      }
    }
    return { Successful, Failed };
  }

  // --- actions ---

  async function receiveMessage(input: Input, signal: AbortSignal): Promise<Input> {
    const queue = queueOf(input);
    const max =
      rangeParam(input, 'MaxNumberOfMessages', 1, SQS_LIMITS.maxMessagesPerReceive, `Must be between 1 and ${SQS_LIMITS.maxMessagesPerReceive}, if provided.`) ?? 1;
    const wait =
      rangeParam(input, 'WaitTimeSeconds', 0, SQS_LIMITS.maxWaitTimeSeconds, `Must be >= 0 and <= ${SQS_LIMITS.maxWaitTimeSeconds}, if provided.`) ??
      queue.settings.ReceiveMessageWaitTimeSeconds;
    const visibility =
      rangeParam(input, 'VisibilityTimeout', 0, SQS_LIMITS.maxVisibilityTimeoutSeconds, `Must be >= 0 and <= ${SQS_LIMITS.maxVisibilityTimeoutSeconds}, if provided.`) ??
      queue.settings.VisibilityTimeout;
    const systemNames = [...stringList(input, 'AttributeNames'), ...stringList(input, 'MessageSystemAttributeNames')];
    const userNames = stringList(input, 'MessageAttributeNames');
    // Faults are read when the answer is made, so a long poll that started before them still loses its answer.
    const render = (messages: Message[]): Input =>
      messages.length === 0 || faults.dropReceives ? {} : { Messages: messages.map((message) => view(message, systemNames, userNames)) };

    const now = clock();
    const taken = take(queue, max, visibility * 1000, now);
    if (taken.length > 0 || wait === 0 || closing) return render(taken);
    if (signal.aborted) return {};
    if (waitingCount() >= maxWaiting) throw new SqsError('OverLimit', `The local SQS stub holds at most ${maxWaiting} waiting long polls.`);

    return new Promise<Input>((resolve) => {
      const finish = (messages: Message[]) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        queue.waiters.delete(waiter);
        resolve(render(messages));
      };
      const waiter: Waiter = { max, visibilityMs: visibility * 1000, deliver: finish };
      const timer = setTimeout(() => finish([]), wait * 1000);
      // The caller went away: take nothing for it.
      const onAbort = () => finish([]);
      signal.addEventListener('abort', onAbort, { once: true });
      queue.waiters.add(waiter);
      scheduleWake(queue, now);
    });
  }

  const actions = new Map<string, (input: Input, signal: AbortSignal) => Input | Promise<Input>>([
    [
      'CreateQueue',
      (input) => {
        const name = requiredString(input, 'QueueName');
        if (name.endsWith('.fifo')) throw new SqsError('InvalidParameterValue', 'FIFO queues are not supported by the local SQS stub.');
        if (!QUEUE_NAME.test(name)) {
          throw new SqsError('InvalidParameterValue', 'Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length');
        }
        const attributes = stringMap(input.Attributes, 'Attributes');
        const settings = parseSettings(attributes);
        const existing = queues.get(name);
        if (existing) {
          for (const attribute of Object.keys(attributes)) {
            if (settingText(existing.settings, attribute) !== settingText(settings, attribute)) {
              throw new SqsError('QueueNameExists', `A queue already exists with the same name and a different value for attribute ${attribute}`);
            }
          }
          return { QueueUrl: existing.url };
        }
        if (queues.size >= maxQueues) throw new SqsError('OverLimit', `The local SQS stub holds at most ${maxQueues} queues.`);
        const queue: Queue = { name, url: queueUrl(name), arn: queueArn(name), createdAt: clock(), settings, messages: new Map(), waiters: new Set() };
        queues.set(name, queue);
        return { QueueUrl: queue.url };
      },
    ],
    [
      'GetQueueUrl',
      (input) => {
        const name = requiredString(input, 'QueueName');
        const owner = input.QueueOwnerAWSAccountId;
        const queue = owner === undefined || owner === accountId ? queues.get(name) : undefined;
        if (!queue) throw new SqsError('QueueDoesNotExist', 'The specified queue does not exist.');
        return { QueueUrl: queue.url };
      },
    ],
    [
      'GetQueueAttributes',
      (input) => {
        const queue = queueOf(input);
        const names = stringList(input, 'AttributeNames');
        for (const name of names) if (name !== 'All' && !QUEUE_ATTRIBUTE_NAMES.has(name)) throw new SqsError('InvalidAttributeName', `Unknown Attribute ${name}.`);
        if (names.length === 0) return {};
        const all = queueAttributes(queue, clock());
        const wanted = names.includes('All') ? all : Object.fromEntries(Object.entries(all).filter(([name]) => names.includes(name)));
        return { Attributes: wanted };
      },
    ],
    [
      'SendMessage',
      (input) => {
        const queue = queueOf(input);
        const result = enqueue(queue, input, clock());
        serve(queue);
        return result;
      },
    ],
    [
      'SendMessageBatch',
      (input) => {
        const queue = queueOf(input);
        const entries = batchEntries(input, 'SendMessageBatchRequestEntry');
        const total = entries.reduce((sum, entry) => sum + (typeof entry.MessageBody === 'string' ? Buffer.byteLength(entry.MessageBody) : 0), 0);
        if (total > SQS_LIMITS.maxMessageBytes) {
          throw new SqsError('BatchRequestTooLong', `Batch requests cannot be longer than ${SQS_LIMITS.maxMessageBytes} bytes. You have sent ${total} bytes.`);
        }
        const now = clock();
        const result = perEntry(entries, (entry) => enqueue(queue, entry, now));
        serve(queue);
        return result;
      },
    ],
    ['ReceiveMessage', receiveMessage],
    [
      'DeleteMessage',
      (input) => {
        deleteByReceipt(queueOf(input), requiredString(input, 'ReceiptHandle'));
        return {};
      },
    ],
    [
      'DeleteMessageBatch',
      (input) => {
        const queue = queueOf(input);
        return perEntry(batchEntries(input, 'DeleteMessageBatchRequestEntry'), (entry) => {
          deleteByReceipt(queue, requiredString(entry, 'ReceiptHandle'));
          return {};
        });
      },
    ],
    [
      'ChangeMessageVisibility',
      (input) => {
        const queue = queueOf(input);
        const handle = requiredString(input, 'ReceiptHandle');
        const seconds = rangeParam(input, 'VisibilityTimeout', 0, SQS_LIMITS.maxVisibilityTimeoutSeconds, 'VisibilityTimeout must be an integer between 0 and 43200.');
        if (seconds === undefined) throw new SqsError('MissingParameter', 'The request must contain the parameter VisibilityTimeout.');
        changeVisibility(queue, handle, seconds, clock());
        serve(queue);
        return {};
      },
    ],
    [
      'ChangeMessageVisibilityBatch',
      (input) => {
        const queue = queueOf(input);
        const now = clock();
        const result = perEntry(batchEntries(input, 'ChangeMessageVisibilityBatchRequestEntry'), (entry) => {
          const seconds = rangeParam(entry, 'VisibilityTimeout', 0, SQS_LIMITS.maxVisibilityTimeoutSeconds, 'VisibilityTimeout must be an integer between 0 and 43200.');
          if (seconds === undefined) throw new SqsError('MissingParameter', 'The request must contain the parameter VisibilityTimeout.');
          changeVisibility(queue, requiredString(entry, 'ReceiptHandle'), seconds, now);
          return {};
        });
        serve(queue);
        return result;
      },
    ],
    [
      'PurgeQueue',
      (input) => {
        const queue = queueOf(input);
        const now = clock();
        if (queue.purgedAt !== undefined && now - queue.purgedAt < SQS_LIMITS.purgeIntervalSeconds * 1000) {
          throw new SqsError('PurgeQueueInProgress', `Only one PurgeQueue operation on ${queue.name} is allowed every ${SQS_LIMITS.purgeIntervalSeconds} seconds.`);
        }
        for (const message of [...queue.messages.values()]) remove(queue, message);
        queue.purgedAt = now;
        return {};
      },
    ],
  ]);

  // --- HTTP ---

  async function authenticate(request: IncomingMessage, body: Buffer): Promise<void> {
    const failure = await sigV4FailureOf(request, body, { region, service: 'sqs', key });
    if (!failure) return;
    throw new SqsError(AUTH_ERRORS[failure.kind], failure.kind === 'missing' ? 'Missing Authentication Token' : failure.message);
  }


  function injectFault(action: string): void {
    if (faults.actions !== undefined && !faults.actions.includes(action)) return;
    if (faults.unavailable) throw new SqsError('ServiceUnavailable', 'Service is unavailable. Please try again later.');
    if (faults.internalError) throw new SqsError('InternalFailure', 'The request processing has failed because of an unknown error, exception or failure.');
    if (faults.throttle) throw new SqsError('RequestThrottled', 'Request is throttled.');
  }

  async function handle(request: IncomingMessage, signal: AbortSignal): Promise<Answer> {
    const requestId = randomUUID();
    try {
      const body = await readBody(request, MAX_REQUEST_BYTES, () => new SqsError('RequestEntityTooLarge', `Request body larger than ${MAX_REQUEST_BYTES} bytes.`));
      const target = request.headers['x-amz-target'];
      const action = typeof target === 'string' && target.startsWith(SQS_TARGET_PREFIX) ? target.slice(SQS_TARGET_PREFIX.length) : undefined;
      if (action !== undefined) callCounts.set(action, (callCounts.get(action) ?? 0) + 1);
      await authenticate(request, body);
      const contentType = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
      if (request.method !== 'POST' || action === undefined || contentType !== SQS_JSON_CONTENT_TYPE) {
        throw new SqsError(
          'UnsupportedOperation',
          `The local SQS stub speaks only the JSON protocol: POST with X-Amz-Target: ${SQS_TARGET_PREFIX}<Action> and Content-Type: ${SQS_JSON_CONTENT_TYPE}.`,
        );
      }
      injectFault(action);
      const run = actions.get(action);
      if (!run) throw new SqsError('UnsupportedOperation', `${action} is not implemented by the local SQS stub.`);
      let input: unknown;
      try {
        input = JSON.parse(body.length > 0 ? body.toString('utf8') : '{}');
      } catch {
        throw new SqsError('SerializationException', 'The request body is not valid JSON.');
      }
      if (!isObject(input)) throw new SqsError('SerializationException', 'The request body must be a JSON object.');
      return { status: 200, requestId, body: JSON.stringify(await run(input, signal)) };
    } catch (caught) {
      const error = caught instanceof SqsError ? caught : new SqsError('InternalFailure', 'The request processing has failed because of an unknown error, exception or failure.');
      return {
        status: error.status,
        requestId,
        body: JSON.stringify({ __type: ERRORS[error.code].type, message: error.message }),
        queryError: `${error.queryCode};${error.status >= 500 ? 'Receiver' : 'Sender'}`,
        close: error.code === 'RequestEntityTooLarge',
      };
    }
  }

  const server = createServer((request, response) => {
    const aborted = new AbortController();
    response.on('close', () => aborted.abort());
    const work = handle(request, aborted.signal)
      .then((answer) => writeAnswer(response, answer))
      .catch(() => {
        response.destroy();
      })
      .finally(() => inFlight.delete(work));
    inFlight.add(work);
  });

  const host = options.host ?? '127.0.0.1';
  const port = await listen(server, options.port ?? 0, host);
  endpoint = endpointOf(host, port);

  let stopping: Promise<void> | undefined;
  return {
    endpoint,
    region,
    accountId,
    queueUrl,
    queueArn,
    setFaults(next) {
      faults = { ...next };
    },
    calls: () => Object.fromEntries(callCounts),
    resetCalls() {
      callCounts.clear();
    },
    stop() {
      stopping ??= (async () => {
        closing = true;
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const queue of queues.values()) {
          if (queue.wakeTimer) clearTimeout(queue.wakeTimer);
          queue.wakeTimer = undefined;
          for (const waiter of [...queue.waiters]) waiter.deliver([]);
        }
        server.closeIdleConnections();
        // Let the answers just made (and any request mid-way) be written, a bounded while, then cut the rest.
        let timer: NodeJS.Timeout | undefined;
        const bounded = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, 1000);
        });
        await Promise.race([Promise.allSettled([...inFlight]), bounded]);
        clearTimeout(timer);
        server.closeAllConnections();
        await closed;
      })();
      return stopping;
    },
  };
}
