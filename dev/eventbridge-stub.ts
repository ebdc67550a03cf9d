/**
 * An EventBridge stand-in for the local stack and integration tests: a loopback HTTP server answering
 * `PutEvents` on EventBridge's own wire protocol (AWS JSON 1.1: `POST /`, `X-Amz-Target: AWSEvents.PutEvents`,
 * `Content-Type: application/x-amz-json-1.1`), so the real `@aws-sdk/client-eventbridge` runs unchanged
 * against it through `AWS_ENDPOINT_URL_EVENTBRIDGE`. One event bus, named at start; no rules or targets:
 * what is accepted is kept, in order, in memory and (when a file is given) as one JSON line per event in
 * EventBridge's event envelope (`{"version":"0","id","detail-type","source","account","time","region",
 * "resources","detail"}`), as a rule's target would receive it.
 *
 * Every request must be SigV4-signed (service `events`) by the one key the stub is given; dev/sigv4.ts checks it.
 * Entries are validated as EventBridge does: 1 to 10 entries and under 256 KB of entries in all (counted as
 * EventBridge counts them) or the whole request fails (`ValidationException`); an entry without `Source`,
 * `DetailType` or `Detail` fails alone (`InvalidArgument`), as does a `Detail` that is not a JSON object
 * (`MalformedDetail`); the others are accepted, each answered with its `EventId`, the failed ones counted in
 * `FailedEntryCount`. Two answers are the stub's own choice, not checked against AWS: an entry naming
 * another bus fails alone with `ResourceNotFoundException`, and a request none of whose entries has all
 * three required fields fails whole with `ValidationException`.
 *
 * No EventBridge server on npm runs offline here (LocalStack and moto are Docker/Python services, and the
 * npm mocks replace the SDK client instead of speaking the protocol, so they check no signature and inject
 * no fault), so it is hand-written, like dev/sqs-stub.ts.
 */
import { appendFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { endpointOf, listen } from './listen';
import { type SigV4FailureKind, type SigningKey } from './sigv4';
import { readBody, sigV4FailureOf } from './stub-http';

export const EVENTBRIDGE_TARGET_PREFIX = 'AWSEvents.';
export const EVENTBRIDGE_JSON_CONTENT_TYPE = 'application/x-amz-json-1.1';

/** PutEvents' bounds (API Reference: `Entries` 1 to 10 items; User Guide: entries under 256 KB in all). */
export const EVENTBRIDGE_LIMITS = {
  maxEntries: 10,
  maxEntriesBytes: 256 * 1024,
} as const;

const MAX_REQUEST_BYTES = 1024 * 1024;
/** SigV4 services other than API Gateway accept an `X-Amz-Date` up to 15 minutes off. */
const DEFAULT_ACCOUNT_ID = '000000000000';

/** Status and `__type` of each error the stub answers a whole request with. */
const ERRORS = {
  ValidationException: { status: 400, type: 'ValidationException' },
  SerializationException: { status: 400, type: 'SerializationException' },
  UnknownOperationException: { status: 400, type: 'UnknownOperationException' },
  ThrottlingException: { status: 400, type: 'ThrottlingException' },
  RequestEntityTooLarge: { status: 413, type: 'RequestEntityTooLargeException' },
  InternalException: { status: 500, type: 'InternalException' },
  ServiceUnavailable: { status: 503, type: 'ServiceUnavailableException' },
  MissingAuthenticationToken: { status: 403, type: 'MissingAuthenticationTokenException' },
  IncompleteSignature: { status: 400, type: 'IncompleteSignatureException' },
  UnrecognizedClient: { status: 403, type: 'UnrecognizedClientException' },
  InvalidSignature: { status: 403, type: 'InvalidSignatureException' },
} as const;

export type EventBridgeErrorCode = keyof typeof ERRORS;

export class EventBridgeError extends Error {
  constructor(
    readonly code: EventBridgeErrorCode,
    message: string,
  ) {
    super(message);
    this.name = code;
  }
  get status(): number {
    return ERRORS[this.code].status;
  }
}

const AUTH_ERRORS: Record<SigV4FailureKind, EventBridgeErrorCode> = {
  missing: 'MissingAuthenticationToken',
  incomplete: 'IncompleteSignature',
  unknown_key: 'UnrecognizedClient',
  bad_scope: 'InvalidSignature',
  expired: 'InvalidSignature',
  mismatch: 'InvalidSignature',
};

/**
 * Each fault is off (`false`/absent), on until lifted (`true`), or on for the next N requests (entries, for
 * `failEntries`) and then off by itself: `{ failEntries: 1 }` fails one entry once.
 */
export interface EventBridgeFaults {
  /** 503 ServiceUnavailableException: the SDK retries it as transient, then throws. */
  unavailable?: boolean | number;
  /** 400 ThrottlingException, which the SDK classes as throttling (retried with its throttling backoff). */
  throttle?: boolean | number;
  /** The request succeeds but entries fail alone with `InternalFailure` (retryable, not retried by the SDK). */
  failEntries?: boolean | number;
}

/** An accepted event, as a rule's target receives it. */
export interface EventEnvelope {
  version: '0';
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  /** ISO-8601, whole seconds: the entry's `Time`, or when it was accepted. */
  time: string;
  region: string;
  resources: string[];
  detail: Record<string, unknown>;
}

/** One request received: refused ones included (`status` >= 400, `errorType`). */
export interface PutEventsCall {
  action: string;
  status: number;
  entries: number;
  failedEntryCount: number;
  errorType?: string;
}

export interface EventBridgeStubOptions {
  host?: string;
  port?: number;
  /** The one key every request must be signed with (service `events`, the stub's region). */
  credentials: SigningKey;
  region?: string;
  accountId?: string;
  /** The bus entries may name (by name or ARN); entries naming none go to it too. */
  busName: string;
  /** Each accepted event is appended here as one JSON line; none is written without it. */
  eventsFile?: string;
  /** Called with each accepted event, in order, once it is kept (and written). */
  onEvent?: (event: EventEnvelope) => void;
  /** Events kept in memory at most (default 10,000); the oldest go first. The file keeps them all. */
  maxEvents?: number;
}

export interface EventBridgeStub {
  /** What `AWS_ENDPOINT_URL_EVENTBRIDGE` should be set to. */
  endpoint: string;
  region: string;
  accountId: string;
  busName: string;
  busArn: string;
  /** The accepted events so far, oldest first. */
  events(): EventEnvelope[];
  /** Replaces the faults in force (`{}` lifts them). */
  setFaults(faults: EventBridgeFaults): void;
  /** Requests received since start or the last reset, in order. */
  calls(): PutEventsCall[];
  resetCalls(): void;
  /** Closes the server and every connection (after the answers in flight, a bounded while). */
  stop(): Promise<void>;
}

type Input = Record<string, unknown>;

interface EntryResult {
  EventId?: string;
  ErrorCode?: string;
  ErrorMessage?: string;
}

const isObject = (value: unknown): value is Input => typeof value === 'object' && value !== null && !Array.isArray(value);
const utf8Bytes = (value: unknown) => (typeof value === 'string' ? Buffer.byteLength(value, 'utf8') : 0);

/** An entry's size as EventBridge counts it: Time 14 bytes; Source, DetailType, Detail and each Resource their UTF-8 bytes. */
export function putEventsEntrySize(entry: Input): number {
  const resources = Array.isArray(entry.Resources) ? entry.Resources : [];
  return (
    (entry.Time !== undefined && entry.Time !== null ? 14 : 0) +
    utf8Bytes(entry.Source) +
    utf8Bytes(entry.DetailType) +
    utf8Bytes(entry.Detail) +
    resources.reduce((sum: number, resource) => sum + utf8Bytes(resource), 0)
  );
}

/** `2030-01-01T00:00:00Z`: the envelope's time, whole seconds as EventBridge writes it. */
const envelopeTime = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

const missingArgument = (name: string): EntryResult => ({
  ErrorCode: 'InvalidArgument',
  ErrorMessage: `Parameter ${name} is not valid. Reason: ${name} is a required argument.`,
});

function writeAnswer(response: ServerResponse, status: number, requestId: string, body: unknown, close = false): void {
  if (response.destroyed || response.writableEnded) return;
  const bytes = Buffer.from(JSON.stringify(body), 'utf8');
  response.writeHead(status, {
    'content-type': EVENTBRIDGE_JSON_CONTENT_TYPE,
    'content-length': String(bytes.length),
    'x-amzn-requestid': requestId,
    ...(close && { connection: 'close' }),
  });
  response.end(bytes);
}

export async function startEventBridgeStub(options: EventBridgeStubOptions): Promise<EventBridgeStub> {
  const region = options.region ?? 'us-east-1';
  const accountId = options.accountId ?? DEFAULT_ACCOUNT_ID;
  const key: SigningKey = { accessKeyId: options.credentials.accessKeyId, secretAccessKey: options.credentials.secretAccessKey };
  const busName = options.busName;
  const busArn = `arn:aws:events:${region}:${accountId}:event-bus/${busName}`;
  const maxEvents = options.maxEvents ?? 10_000;

  const kept: EventEnvelope[] = [];
  const callLog: PutEventsCall[] = [];
  const inFlight = new Set<Promise<void>>();
  let faults: EventBridgeFaults = {};
  // Appends one after another, so the file's lines are in the order the events were accepted.
  let writes: Promise<void> = Promise.resolve();

  /** Whether fault `name` fires now, counting a numbered one down. */
  const fires = (name: keyof EventBridgeFaults): boolean => {
    const fault = faults[name];
    if (fault === true) return true;
    if (typeof fault === 'number' && fault > 0) {
      faults = { ...faults, [name]: fault - 1 };
      return true;
    }
    return false;
  };

  const busMatches = (named: unknown) => named === undefined || named === null || named === busName || named === busArn;

  function validate(input: Input): Input[] {
    const entries = input.Entries;
    if (entries !== undefined && entries !== null && !Array.isArray(entries)) throw new EventBridgeError('SerializationException', 'Entries must be a list.');
    const list = (entries ?? []) as unknown[];
    if (list.length < 1) {
      throw new EventBridgeError('ValidationException', "1 validation error detected: Value '[]' at 'entries' failed to satisfy constraint: Member must have length greater than or equal to 1");
    }
    if (list.length > EVENTBRIDGE_LIMITS.maxEntries) {
      throw new EventBridgeError(
        'ValidationException',
        `1 validation error detected: Value '[PutEventsRequestEntry]' at 'entries' failed to satisfy constraint: Member must have length less than or equal to ${EVENTBRIDGE_LIMITS.maxEntries}`,
      );
    }
    if (list.some((entry) => !isObject(entry))) throw new EventBridgeError('SerializationException', 'Each entry must be a structure.');
    const typed = list as Input[];
    const total = typed.reduce((sum, entry) => sum + putEventsEntrySize(entry), 0);
    if (total > EVENTBRIDGE_LIMITS.maxEntriesBytes) throw new EventBridgeError('ValidationException', 'Total size of the entries in the request is over the limit.');
    const complete = (entry: Input) => ['Source', 'DetailType', 'Detail'].every((name) => typeof entry[name] === 'string' && entry[name] !== '');
    if (!typed.some(complete)) {
      throw new EventBridgeError('ValidationException', 'None of the entries has Source, DetailType and Detail: every one of them is required.');
    }
    return typed;
  }

  async function putEvents(input: Input): Promise<{ FailedEntryCount: number; Entries: EntryResult[] }> {
    const entries = validate(input);
    const accepted: EventEnvelope[] = [];
    const results = entries.map((entry): EntryResult => {
      if (typeof entry.Source !== 'string' || entry.Source === '') return missingArgument('Source');
      if (typeof entry.DetailType !== 'string' || entry.DetailType === '') return missingArgument('DetailType');
      if (typeof entry.Detail !== 'string' || entry.Detail === '') return missingArgument('Detail');
      let detail: unknown;
      try {
        detail = JSON.parse(entry.Detail);
      } catch {
        detail = undefined;
      }
      if (!isObject(detail)) return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
      if (!busMatches(entry.EventBusName)) {
        return { ErrorCode: 'ResourceNotFoundException', ErrorMessage: `Event bus ${String(entry.EventBusName)} does not exist.` };
      }
      if (fires('failEntries')) return { ErrorCode: 'InternalFailure', ErrorMessage: 'Internal Failure' };
      const time = typeof entry.Time === 'number' && Number.isFinite(entry.Time) ? entry.Time * 1000 : Date.now();
      const resources = Array.isArray(entry.Resources) ? entry.Resources.filter((resource): resource is string => typeof resource === 'string') : [];
      const envelope: EventEnvelope = {
        version: '0',
        id: randomUUID(),
        'detail-type': entry.DetailType,
        source: entry.Source,
        account: accountId,
        time: envelopeTime(time),
        region,
        resources,
        detail,
      };
      accepted.push(envelope);
      return { EventId: envelope.id };
    });
    if (accepted.length > 0) {
      const lines = accepted.map((event) => `${JSON.stringify(event)}\n`).join('');
      const file = options.eventsFile;
      const written = writes.then(() => (file ? appendFile(file, lines, { mode: 0o600 }) : undefined));
      writes = written.catch(() => undefined);
      // Answered only once written: a caller that saw its EventId finds the event in the file.
      await written;
      for (const event of accepted) {
        kept.push(event);
        if (kept.length > maxEvents) kept.shift();
        try {
          options.onEvent?.(event);
        } catch {
          // A listener that throws must not fail the request: the event is accepted.
        }
      }
    }
    return { FailedEntryCount: results.filter((result) => result.ErrorCode !== undefined).length, Entries: results };
  }

  async function authenticate(request: IncomingMessage, body: Buffer): Promise<void> {
    const failure = await sigV4FailureOf(request, body, { region, service: 'events', key });
    if (!failure) return;
    throw new EventBridgeError(AUTH_ERRORS[failure.kind], failure.kind === 'missing' ? 'Missing Authentication Token' : failure.message);
  }


  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    const target = request.headers['x-amz-target'];
    const action = typeof target === 'string' && target.startsWith(EVENTBRIDGE_TARGET_PREFIX) ? target.slice(EVENTBRIDGE_TARGET_PREFIX.length) : String(target ?? '-');
    const call: PutEventsCall = { action, status: 200, entries: 0, failedEntryCount: 0 };
    callLog.push(call);
    try {
      const body = await readBody(request, MAX_REQUEST_BYTES, () => new EventBridgeError('RequestEntityTooLarge', `Request body larger than ${MAX_REQUEST_BYTES} bytes.`));
      await authenticate(request, body);
      const contentType = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
      if (request.method !== 'POST' || contentType !== EVENTBRIDGE_JSON_CONTENT_TYPE || typeof target !== 'string' || !target.startsWith(EVENTBRIDGE_TARGET_PREFIX)) {
        throw new EventBridgeError(
          'UnknownOperationException',
          `The local EventBridge stub speaks only the JSON protocol: POST with X-Amz-Target: ${EVENTBRIDGE_TARGET_PREFIX}<Action> and Content-Type: ${EVENTBRIDGE_JSON_CONTENT_TYPE}.`,
        );
      }
      if (action !== 'PutEvents') throw new EventBridgeError('UnknownOperationException', `${action} is not implemented by the local EventBridge stub.`);
      let input: unknown;
      try {
        input = JSON.parse(body.length > 0 ? body.toString('utf8') : '{}');
      } catch {
        throw new EventBridgeError('SerializationException', 'The request body is not valid JSON.');
      }
      if (!isObject(input)) throw new EventBridgeError('SerializationException', 'The request body must be a JSON object.');
      if (Array.isArray(input.Entries)) call.entries = input.Entries.length;
      if (fires('unavailable')) throw new EventBridgeError('ServiceUnavailable', 'Service is unavailable. Please try again later.');
      if (fires('throttle')) throw new EventBridgeError('ThrottlingException', 'Rate exceeded');
      const answer = await putEvents(input);
      call.failedEntryCount = answer.FailedEntryCount;
      writeAnswer(response, 200, requestId, answer);
    } catch (caught) {
      const error = caught instanceof EventBridgeError ? caught : new EventBridgeError('InternalException', 'An internal error occurred.');
      call.status = error.status;
      call.errorType = ERRORS[error.code].type;
      writeAnswer(response, error.status, requestId, { __type: ERRORS[error.code].type, message: error.message }, error.code === 'RequestEntityTooLarge');
    }
  }

  const server = createServer((request, response) => {
    const work = handle(request, response)
      .catch(() => {
        response.destroy();
      })
      .finally(() => inFlight.delete(work));
    inFlight.add(work);
  });

  const host = options.host ?? '127.0.0.1';
  const port = await listen(server, options.port ?? 0, host);
  const endpoint = endpointOf(host, port);

  let stopping: Promise<void> | undefined;
  return {
    endpoint,
    region,
    accountId,
    busName,
    busArn,
    events: () => [...kept],
    setFaults(next) {
      faults = { ...next };
    },
    calls: () => callLog.map((call) => ({ ...call })),
    resetCalls() {
      callLog.length = 0;
    },
    stop() {
      stopping ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        let timer: NodeJS.Timeout | undefined;
        const bounded = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, 1000);
        });
        await Promise.race([Promise.allSettled([...inFlight]), bounded]);
        clearTimeout(timer);
        server.closeAllConnections();
        await closed;
        await writes;
      })();
      return stopping;
    },
  };
}
