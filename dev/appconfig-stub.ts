/**
 * An AppConfig Data stand-in for the local stack and integration tests: a loopback HTTP server answering
 * StartConfigurationSession and GetLatestConfiguration on AppConfig Data's own wire protocol (REST-JSON), so
 * the real `@aws-sdk/client-appconfigdata` (and Powertools' AppConfig provider on it) runs unchanged against it
 * through `AWS_ENDPOINT_URL_APPCONFIGDATA`. One application, environment and configuration profile, named at
 * start, holding the broker's policy.
 *
 * The wire, as the SDK's serializers and AWS's API reference give it (docs/ARCHITECTURE.md cites them):
 * - StartConfigurationSession: `POST /configurationsessions`, JSON body `{ApplicationIdentifier,
 *   EnvironmentIdentifier, ConfigurationProfileIdentifier, RequiredMinimumPollIntervalInSeconds?}` (15 to 86400)
 *   -> 201 `{"InitialConfigurationToken": ...}`.
 * - GetLatestConfiguration: `GET /configuration?configuration_token=...` -> 200, the configuration's bytes as
 *   the body (empty when this session already received the current version), headers
 *   `Next-Poll-Configuration-Token`, `Next-Poll-Interval-In-Seconds`, `Content-Type`, `Version-Label`.
 * - Errors: the status, `x-amzn-ErrorType: <name>` and `{"Message": ...}`: BadRequestException (400) for a
 *   malformed request, an unknown or already used token, or a poll sooner than the session's minimum interval
 *   (`Details.InvalidParameters.ConfigurationToken.Problem`: `Corrupted`, `PollIntervalNotSatisfied`);
 *   ResourceNotFoundException (404) for an unknown application, environment or profile, or one with nothing
 *   deployed; InternalServerException (500). Each token is good for one call, as AWS's are.
 * Every request must be SigV4-signed (service `appconfig`) by the one key the stub is given.
 *
 * Content comes from a file, watched (fs.watch, and a poll of at most 1 s for editors and file systems it
 * misses), or is deployed in memory (`deploy`). Each new content is validated with the policy's schema, as the
 * profile's JSON Schema validator refuses a bad deployment in AWS: a valid one becomes the next version (a line
 * `policy <file> deployed as version N`), an invalid one is refused with one line naming the file, the field
 * path and the message, and the last good version keeps being served.
 *
 * No maintained library emulates AppConfig Data (LocalStack's is a Docker service, and the npm mocks replace the
 * SDK client instead of speaking the protocol), so it is hand-written, like dev/sqs-stub.ts.
 *
 * Not modelled: token expiry after 24 hours, ThrottlingException, deployment strategies (a deployment is
 * complete at once), configuration versions other than the latest, content types other than JSON.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { basename, dirname } from 'node:path';
import { policyDocumentSchema, type PolicyDocument } from '../lambdas/broker/policy';
import type * as z from '../lambdas/zod';
import { endpointOf, listen } from './listen';
import type { SigningKey, SigV4FailureKind } from './sigv4';
import { readBody, sigV4FailureOf } from './stub-http';

/** RequiredMinimumPollIntervalInSeconds' range (StartConfigurationSession API reference). */
export const APPCONFIG_POLL_INTERVAL_RANGE = { min: 15, max: 86_400 } as const;
/** The interval answered when the session asked for none (AppConfig's default is 60 s). */
const DEFAULT_POLL_INTERVAL_SECONDS = 60;
const MAX_REQUEST_BYTES = 64 * 1024;
/** How long an edited file's text must stay the same before it is judged (a save may truncate, then write). */
const FILE_SETTLE_MS = 100;
/** The longest a file edit waits for the poll when fs.watch misses it. */
const MAX_FILE_POLL_MS = 1000;

const ERRORS = {
  BadRequestException: 400,
  ResourceNotFoundException: 404,
  InternalServerException: 500,
  MissingAuthenticationTokenException: 403,
  IncompleteSignatureException: 400,
  UnrecognizedClientException: 403,
  InvalidSignatureException: 403,
  RequestEntityTooLargeException: 413,
} as const;

export type AppConfigErrorType = keyof typeof ERRORS;

export class AppConfigError extends Error {
  constructor(
    readonly type: AppConfigErrorType,
    message: string,
    /** Extra members of the error body (`Reason`, `Details`, `ResourceType`). */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = type;
  }
}

const AUTH_ERRORS: Record<SigV4FailureKind, AppConfigErrorType> = {
  missing: 'MissingAuthenticationTokenException',
  incomplete: 'IncompleteSignatureException',
  unknown_key: 'UnrecognizedClientException',
  bad_scope: 'InvalidSignatureException',
  expired: 'InvalidSignatureException',
  mismatch: 'InvalidSignatureException',
};

export interface AppConfigFaults {
  /** Connections are destroyed before any answer (the SDK sees a network error, as with AppConfig unreachable). */
  unreachable?: boolean;
  /** Every call answers 500 InternalServerException. */
  serverError?: boolean;
  /** An empty configuration is deployed: sessions get an empty body (a new one gets nothing at all). */
  empty?: boolean;
  /**
   * This text is deployed as it is, unvalidated (a profile without its validator, or a bad deployment that got
   * through): what the functions must refuse by themselves. `empty` wins over it.
   */
  unvalidated?: string;
}

export interface AppConfigStubOptions {
  host?: string;
  port?: number;
  /** The one key every request must be signed with (service `appconfig`, the stub's region). */
  credentials: SigningKey;
  region?: string;
  /** The identifiers sessions may name (each by this name). */
  application: string;
  environment: string;
  profile: string;
  /** Deployed as version 1 (and watched): edits become new versions. */
  file?: string;
  /** Deployed as version 1 when no file is given. */
  content?: PolicyInput | string;
  /** The stub's console lines: deployments, refusals, unreadable file. */
  log?: (line: string) => void;
  /** Period of the file poll (ms, at most 1000). */
  filePollMs?: number;
}

/** A policy as written: defaults may be left out. */
export type PolicyInput = z.input<typeof policyDocumentSchema>;

export type DeployResult = { deployed: true; version: number } | { deployed: false; reason: string };

export interface AppConfigStub {
  /** What `AWS_ENDPOINT_URL_APPCONFIGDATA` should be set to. */
  endpoint: string;
  region: string;
  application: string;
  environment: string;
  profile: string;
  file: string | undefined;
  /** The version served (0: nothing deployed yet). */
  version(): number;
  /** The document served, as deployed. */
  current(): PolicyDocument | undefined;
  /** Validates and deploys `content` as the next version, or refuses it (the last good version stays). */
  deploy(content: PolicyInput | string): DeployResult;
  /** Replaces the faults in force (`{}` lifts them). */
  setFaults(faults: AppConfigFaults): void;
  /** Requests received per operation since start or the last reset, failed ones included. */
  calls(): Record<string, number>;
  resetCalls(): void;
  /** Checks the file now (the watch and the poll do it by themselves). */
  checkFile(): Promise<void>;
  stop(): Promise<void>;
}

interface Session {
  /** The version this session last received (`empty` for the empty configuration), to answer an empty body. */
  received: string | undefined;
  pollSeconds: number;
  requestedPoll: boolean;
  lastPollAt: number | undefined;
}

/** Why `text` is not a policy, as one line (`field.path: message`), or the document. */
export function validatePolicyText(text: string): { ok: true; policy: PolicyDocument } | { ok: false; reason: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { ok: false, reason: `not valid JSON (${error instanceof Error ? error.message : String(error)})` };
  }
  const result = policyDocumentSchema.safeParse(parsed);
  if (!result.success) return { ok: false, reason: result.error.issues.map((issue) => `${issue.path.join('.') || '(document)'}: ${issue.message}`).join('; ') };
  return { ok: true, policy: result.data };
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

export async function startAppConfigStub(options: AppConfigStubOptions): Promise<AppConfigStub> {
  const region = options.region ?? 'us-east-1';
  const key: SigningKey = { accessKeyId: options.credentials.accessKeyId, secretAccessKey: options.credentials.secretAccessKey };
  const log = options.log ?? (() => undefined);
  const file = options.file;
  const label = file ?? 'in memory';

  let version = 0;
  let served: { bytes: Buffer; policy: PolicyDocument } | undefined;
  let faults: AppConfigFaults = {};
  /** Token -> session; a token is deleted when used. */
  const tokens = new Map<string, Session>();
  const callCounts = new Map<string, number>();
  const sockets = new Set<Socket>();
  /** The file's last text seen, valid or not: the same text is not deployed or refused twice. */
  let lastText: string | undefined;
  let fileError: string | undefined;

  function deploy(content: PolicyInput | string, source = label): DeployResult {
    const text = typeof content === 'string' ? content : JSON.stringify(content);
    const verdict = validatePolicyText(text);
    if (!verdict.ok) {
      log(`policy ${source} refused: ${verdict.reason}; ${version > 0 ? `version ${version} stays in force` : 'nothing is deployed'}`);
      return { deployed: false, reason: verdict.reason };
    }
    version += 1;
    served = { bytes: Buffer.from(text, 'utf8'), policy: verdict.policy };
    log(`policy ${source} deployed as version ${version}`);
    return { deployed: true, version };
  }

  async function checkFile(): Promise<void> {
    if (!file) return;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      const message = `policy ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)}); ${version > 0 ? `version ${version} stays in force` : 'nothing is deployed'}`;
      if (message !== fileError) log(message);
      fileError = message;
      return;
    }
    fileError = undefined;
    if (text === lastText) return;
    // A save in progress (the file truncated, or half written) is not judged: an edit counts once its text
    // has stayed the same for FILE_SETTLE_MS. Still changing: the next check (watch or poll) sees the rest.
    await sleep(FILE_SETTLE_MS);
    const settled = await readFile(file, 'utf8').catch(() => undefined);
    if (settled !== text) return;
    lastText = text;
    deploy(text, file);
  }

  if (file) await checkFile();
  else if (options.content !== undefined) deploy(options.content);

  // Checks run one after another, so two of them never deploy the same edit twice.
  let checking: Promise<void> = Promise.resolve();
  const scheduleCheck = () => {
    checking = checking.then(checkFile).catch(() => undefined);
  };
  let watcher: FSWatcher | undefined;
  let poll: NodeJS.Timeout | undefined;
  if (file) {
    try {
      // The directory, not the file: editors that save by rename replace the file the watch would hold.
      watcher = watch(dirname(file), (_event, name) => {
        if (name === null || name === basename(file)) scheduleCheck();
      });
      watcher.on('error', () => undefined);
    } catch {
      watcher = undefined;
    }
    poll = setInterval(scheduleCheck, Math.min(options.filePollMs ?? MAX_FILE_POLL_MS, MAX_FILE_POLL_MS));
    poll.unref();
  }

  /** What a fault deploys in place of the current version, if one does. */
  const faultContent = () => (faults.empty ? '' : faults.unvalidated);

  const newToken = (session: Session) => {
    const token = `AYADe${randomBytes(24).toString('base64url')}`;
    tokens.set(token, session);
    return token;
  };

  function startSession(input: unknown): { status: number; headers: Record<string, string>; body: Buffer } {
    if (!isObject(input)) throw new AppConfigError('BadRequestException', 'The request body must be a JSON object.');
    for (const name of ['ApplicationIdentifier', 'EnvironmentIdentifier', 'ConfigurationProfileIdentifier']) {
      const value = input[name];
      if (typeof value !== 'string' || value.length < 1 || value.length > 128) {
        throw new AppConfigError('BadRequestException', `${name} is required: a string of 1 to 128 characters.`);
      }
    }
    const poll = input.RequiredMinimumPollIntervalInSeconds;
    if (poll !== undefined && (typeof poll !== 'number' || !Number.isInteger(poll) || poll < APPCONFIG_POLL_INTERVAL_RANGE.min || poll > APPCONFIG_POLL_INTERVAL_RANGE.max)) {
      throw new AppConfigError(
        'BadRequestException',
        `RequiredMinimumPollIntervalInSeconds must be an integer from ${APPCONFIG_POLL_INTERVAL_RANGE.min} to ${APPCONFIG_POLL_INTERVAL_RANGE.max}.`,
      );
    }
    const resources = [
      ['Application', input.ApplicationIdentifier, options.application],
      ['Environment', input.EnvironmentIdentifier, options.environment],
      ['ConfigurationProfile', input.ConfigurationProfileIdentifier, options.profile],
    ] as const;
    for (const [type, named, known] of resources) {
      if (named !== known) throw new AppConfigError('ResourceNotFoundException', `${type} ${String(named)} not found.`, { ResourceType: type });
    }
    if (!served && faultContent() === undefined) throw new AppConfigError('ResourceNotFoundException', 'No deployment found for this environment and configuration profile.', { ResourceType: 'Deployment' });
    const session: Session = {
      received: undefined,
      pollSeconds: typeof poll === 'number' ? poll : DEFAULT_POLL_INTERVAL_SECONDS,
      requestedPoll: typeof poll === 'number',
      lastPollAt: undefined,
    };
    return { status: 201, headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify({ InitialConfigurationToken: newToken(session) })) };
  }

  function getLatest(url: URL): { status: number; headers: Record<string, string>; body: Buffer } {
    const token = url.searchParams.get('configuration_token');
    const badToken = (problem: string, message: string) =>
      new AppConfigError('BadRequestException', message, {
        Reason: 'InvalidParameters',
        Details: { InvalidParameters: { ConfigurationToken: { Problem: problem } } },
      });
    if (!token) throw new AppConfigError('BadRequestException', 'ConfigurationToken is required.');
    const session = tokens.get(token);
    if (!session) throw badToken('Corrupted', 'The configuration token is not valid, or was already used.');
    tokens.delete(token);
    const now = Date.now();
    // Only a session that asked for an interval is held to it here (the stub does not guess AWS's default).
    if (session.requestedPoll && session.lastPollAt !== undefined && now - session.lastPollAt < session.pollSeconds * 1000) {
      throw badToken('PollIntervalNotSatisfied', `Polled sooner than the session's minimum poll interval of ${session.pollSeconds} s.`);
    }
    session.lastPollAt = now;
    const fault = faultContent();
    const currentKey = fault !== undefined ? `fault:${fault}` : String(version);
    const content = fault !== undefined ? Buffer.from(fault, 'utf8') : (served?.bytes ?? Buffer.alloc(0));
    const bytes = session.received === currentKey ? Buffer.alloc(0) : content;
    session.received = currentKey;
    return {
      status: 200,
      headers: {
        'next-poll-configuration-token': newToken(session),
        'next-poll-interval-in-seconds': String(session.pollSeconds),
        'content-type': 'application/json',
        ...(fault === undefined && version > 0 && { 'version-label': String(version) }),
      },
      body: bytes,
    };
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    const url = new URL(request.url ?? '/', 'http://stub');
    const method = (request.method ?? 'GET').toUpperCase();
    const operation =
      method === 'POST' && url.pathname === '/configurationsessions'
        ? 'StartConfigurationSession'
        : method === 'GET' && url.pathname === '/configuration'
          ? 'GetLatestConfiguration'
          : `${method} ${url.pathname}`;
    callCounts.set(operation, (callCounts.get(operation) ?? 0) + 1);
    if (faults.unreachable) {
      request.socket.destroy();
      return;
    }
    let answer: { status: number; headers: Record<string, string>; body: Buffer };
    try {
      const body = await readBody(request, MAX_REQUEST_BYTES, () => new AppConfigError('RequestEntityTooLargeException', `Request body larger than ${MAX_REQUEST_BYTES} bytes.`));
      const failure = await sigV4FailureOf(request, body, { region, service: 'appconfig', key });
      if (failure) throw new AppConfigError(AUTH_ERRORS[failure.kind], failure.kind === 'missing' ? 'Missing Authentication Token' : failure.message);
      if (faults.serverError) throw new AppConfigError('InternalServerException', 'An internal error occurred.');
      if (operation === 'StartConfigurationSession') {
        let input: unknown;
        try {
          input = JSON.parse(body.length > 0 ? body.toString('utf8') : '{}');
        } catch {
          throw new AppConfigError('BadRequestException', 'The request body is not valid JSON.');
        }
        answer = startSession(input);
      } else if (operation === 'GetLatestConfiguration') {
        answer = getLatest(url);
      } else {
        throw new AppConfigError('BadRequestException', `${operation} is not an AppConfig Data operation the local stub answers.`);
      }
    } catch (caught) {
      const error = caught instanceof AppConfigError ? caught : new AppConfigError('InternalServerException', 'An internal error occurred.');
      answer = {
        status: ERRORS[error.type],
        headers: { 'content-type': 'application/json', 'x-amzn-errortype': error.type },
        body: Buffer.from(JSON.stringify({ Message: error.message, ...error.extra })),
      };
    }
    if (response.destroyed || response.writableEnded) return;
    response.writeHead(answer.status, { ...answer.headers, 'content-length': String(answer.body.length), 'x-amzn-requestid': requestId });
    response.end(answer.body);
  }

  const server = createServer((request, response) => {
    handle(request, response).catch(() => response.destroy());
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const host = options.host ?? '127.0.0.1';
  const port = await listen(server, options.port ?? 0, host);
  const endpoint = endpointOf(host, port);

  let stopping: Promise<void> | undefined;
  return {
    endpoint,
    region,
    application: options.application,
    environment: options.environment,
    profile: options.profile,
    file,
    version: () => version,
    current: () => served?.policy,
    deploy: (content) => deploy(content),
    setFaults(next) {
      faults = { ...next };
      // Connections kept alive would otherwise still reach the stub.
      if (faults.unreachable) for (const socket of sockets) socket.destroy();
    },
    calls: () => Object.fromEntries(callCounts),
    resetCalls() {
      callCounts.clear();
    },
    checkFile: () => {
      scheduleCheck();
      return checking;
    },
    stop() {
      stopping ??= (async () => {
        watcher?.close();
        if (poll) clearInterval(poll);
        await checking;
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await closed;
      })();
      return stopping;
    },
  };
}
