/**
 * remote.it REST emulator (`/apv/v27`: login, connect, stop) and the GraphQL `login` query
 * (`/graphql/v1`, the broker's credential probe) for the local stack and the integration tests. It answers
 * with remote.it's shapes and quirks (200 + `status:"false"` for every connect failure, auth included; 401
 * for a refused login and for every stop refusal; string `expirationsec`, `\/`-escaped JSON), verifies both
 * access-key signature schemes and tokens, opens real proxies, and injects faults on demand.
 */
import { listen } from '../listen';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIPv4 } from 'node:net';
import { secretEquals, verifySignature } from './auth';
import type { FaultDecision } from './faults';
import { appliesTo, decideFault, seededRandom } from './faults';
import type { AccountConfig, EmulatorConfig, EmulatorOptions, Faults, ServiceConfig } from './options';
import {
  DEFAULT_STOP_REFUSAL_REASON,
  EmulatorConfigError,
  parseAccounts,
  parseEmulatorOptions,
  parseFaults,
  SERVICE_ID_PATTERN,
  stopRefusalReasonSchema,
} from './options';
import type { ProxySnapshot } from './proxies';
import { EmulatedProxy } from './proxies';

export const API_PREFIX = '/apv/v27';
export const ADMIN_PREFIX = '/_emulator';
/** remote.it's GraphQL endpoint, on the same origin as the REST API but outside its prefix. */
export const GRAPHQL_PATH = '/graphql/v1';
const MAX_BODY_BYTES = 64 * 1024;
/** Bounds memory under benchmarks: oldest call records and ended proxies are dropped past these. */
const MAX_CALL_RECORDS = 10_000;
const MAX_ENDED_PROXIES = 1_000;

/**
 * remote.it's reasons, verbatim where docs/remoteit-api.md lists them; callers classify failures on them.
 * remote.it publishes no reason for a refused stop: `stopRefused` is only the default of `stopRefusalReason`.
 */
export const REASONS = {
  missingToken: 'missing api token',
  invalidSignature: 'invalid signature',
  invalidDeveloperKey: 'invalid developer key',
  badLogin: '[0102] The username or password is invalid',
  badDeviceAddress: 'bad device address',
  serviceNotFound: '[0861] service not found for UID',
  invalidHostIp: 'invalid hostip',
  /** Default reason of every stop refusal (HTTP 401); configurable, see `stopRefusalReason`. */
  stopRefused: DEFAULT_STOP_REFUSAL_REASON,
  invalidBody: 'invalid request body',
  notFound: 'not found',
  internal: 'internal server error',
  throttled: 'too many requests',
  /** GraphQL: a query other than `login` (the emulator answers nothing else). */
  unsupportedQuery: 'unsupported query',
} as const;

export type CallOutcome =
  | 'ok'
  /** status "false" for a business reason (unknown service, bad address, bad stop parameters). */
  | 'refused'
  | 'unauthorized'
  | 'not_found'
  | 'fault_error'
  | 'fault_throttle'
  | 'fault_hang'
  | 'fault_reset'
  | 'fault_malformed'
  | 'fault_refused';

export interface CallRecord {
  at: string;
  method: string;
  /** Path under /apv/v27, e.g. `/device/connect`, or `/graphql/v1` for GraphQL. */
  path: string;
  deviceaddress?: string;
  connectionid?: string;
  /** Absent while a request hangs. */
  httpStatus?: number;
  outcome: CallOutcome;
  /** For `fault_*` outcomes with `afterEffect`: the request took effect before the fault hit. */
  tookEffect?: boolean;
}

export interface CallLog {
  total: number;
  byPath: Record<string, number>;
  byOutcome: Partial<Record<CallOutcome, number>>;
  /** The most recent records (at most 10 000), oldest first. */
  records: CallRecord[];
}

export interface Emulator {
  /** Base URL of the REST API, e.g. `http://127.0.0.1:41234/apv/v27` (what `REMOTEIT_API_URL` takes). */
  readonly url: string;
  /** remote.it's GraphQL endpoint on the same server, e.g. `http://127.0.0.1:41234/graphql/v1`. */
  readonly graphqlUrl: string;
  /** Base URL of the admin endpoints (`/faults`, `/connections`, `/calls`, `/tokens`, `/stop-refusal`). */
  readonly adminUrl: string;
  /**
   * What every admin request must carry as `Authorization: Bearer <token>` (401 otherwise): the `adminToken`
   * option, else random per start. A secret: in process and in the local stack's 0600 file only, never logged.
   */
  readonly adminToken: string;
  readonly port: number;
  /** Replaces the faults in force (`{}` lifts them). Throws EmulatorConfigError on a bad shape. */
  setFaults(faults: unknown): void;
  faults(): Faults;
  /**
   * Sets the reason of every stop refusal (HTTP 401); undefined restores the default
   * (`connectionid incorrect or missing`). Throws EmulatorConfigError when it is not a non-empty string.
   */
  setStopRefusalReason(reason?: unknown): void;
  stopRefusalReason(): string;
  /** Every proxy opened (active and ended, most recent 1 000 ended ones kept). */
  connections(): ProxySnapshot[];
  calls(): CallLog;
  resetCalls(): void;
  /** Expires every login token now: the next call carrying one gets remote.it's 401 `missing api token`. */
  expireTokens(): void;
  /**
   * Replaces the accounts (key rotation: the old keys stop working at once). Proxies stay as they are; login
   * tokens are dropped. Throws EmulatorConfigError on a bad shape.
   */
  setAccounts(accounts: unknown): void;
  /** The live login tokens, in process only (never over HTTP): lets a test check that none leaked into a log. */
  tokens(): string[];
  /** Closes the API, every proxy and socket, and drops hanging requests. Idempotent. */
  stop(): Promise<void>;
}

interface ApiAnswer {
  httpStatus: number;
  body: Record<string, unknown>;
  outcome: CallOutcome;
  headers?: Record<string, string>;
  /** When set, the answer is this text (`text/plain`) instead of `body`. */
  plainText?: string;
}

type Body = Record<string, unknown>;

const refuse = (reason: string, httpStatus = 200): ApiAnswer => ({ httpStatus, body: { status: 'false', reason }, outcome: 'refused' });

const unauthorized = (reason: string): ApiAnswer => ({ httpStatus: 401, body: { status: 'false', reason }, outcome: 'unauthorized' });

/** A GraphQL-level failure, as GraphQL servers answer them (remote.it's desktop reads `errors`). */
const graphqlErrors = (message: string): Body => ({ errors: [{ message }], data: null });

/** The shape of a failure on `path`: remote.it's REST envelope, or GraphQL `errors`. */
const failureBody = (path: string, reason: string): Body =>
  path === GRAPHQL_PATH ? graphqlErrors(reason) : { status: 'false', reason };

/** GraphQL's refusal of unauthenticated requests: a bare text body (remote.it's SDK compares it with `Unauthorized`). */
const graphqlUnauthorized: ApiAnswer = { httpStatus: 401, body: {}, plainText: 'Unauthorized', outcome: 'unauthorized' };

/** A stable, UUID-shaped account id (GraphQL `login.id`), derived one-way from the developer key. */
function accountId(account: AccountConfig): string {
  const hex = createHash('sha256').update(`remoteit-emulator account ${account.developerKey}`).digest('hex');
  const variant = (8 | (parseInt(hex.charAt(16), 16) & 3)).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`.toUpperCase();
}

/** Who owns a proxy, in process only (overrides and stops match on it): stable across a key rotation that keeps the username. */
function accountName(account: AccountConfig, index: number): string {
  return account.username ?? account.accessKeyId ?? `account-${index + 1}`;
}

/** What the admin API shows as a proxy's account: never a key id, a username or a developer key. */
function accountLabel(account: AccountConfig | undefined, index: number): string {
  return account?.label ?? `account-${index + 1}`;
}

/** `Authorization: Bearer <token>` -> the token, or undefined. */
function bearerToken(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer +(\S+) *$/i.exec(header) : null;
  return match?.[1];
}

/** remote.it's `requested` looks like `10/14/2018T6:51 AM` (UTC here). */
function requestedStamp(epochMs: number): string {
  const date = new Date(epochMs);
  const pad = (value: number) => String(value).padStart(2, '0');
  const hours = date.getUTCHours();
  const meridiem = hours < 12 ? 'AM' : 'PM';
  return `${pad(date.getUTCMonth() + 1)}/${pad(date.getUTCDate())}/${date.getUTCFullYear()}T${hours % 12 || 12}:${pad(date.getUTCMinutes())} ${meridiem}`;
}

/** remote.it's PHP-style JSON escapes every `/` (`"http:\/\/proxy18.rt3.io:38575"`); clients must cope. */
function remoteitJson(body: unknown): string {
  return JSON.stringify(body).replace(/\//g, '\\/');
}

/** The successful answer without `fields`, at the top level and inside `connection`. */
function withoutFields(answer: ApiAnswer, fields: readonly string[]): ApiAnswer {
  const strip = (object: Body): Body => Object.fromEntries(Object.entries(object).filter(([name]) => !fields.includes(name)));
  const body = strip(answer.body);
  const connection = answer.body.connection;
  if (typeof connection === 'object' && connection !== null && !fields.includes('connection')) body.connection = strip(connection as Body);
  return { ...answer, body };
}

/** The successful GraphQL answer without `fields` inside `data.login`. */
function withoutLoginFields(answer: ApiAnswer, fields: readonly string[]): ApiAnswer {
  const data = answer.body.data as { login?: Body } | null | undefined;
  if (typeof data?.login !== 'object' || data.login === null) return answer;
  const login = Object.fromEntries(Object.entries(data.login).filter(([name]) => !fields.includes(name)));
  return { ...answer, body: { ...answer.body, data: { ...data, login } } };
}

function connectionIdIn(body: Body): string | undefined {
  const nested = typeof body.connection === 'object' && body.connection !== null ? (body.connection as Body).connectionid : undefined;
  const id = typeof body.connectionid === 'string' ? body.connectionid : nested;
  return typeof id === 'string' ? id.toUpperCase() : undefined;
}

function isTrue(value: unknown): boolean {
  return value === true || value === 'true';
}

function stringField(body: Body, name: string): string | undefined {
  const value = body[name];
  return typeof value === 'string' ? value : undefined;
}

class BodyError extends Error {
  readonly code = 'emulator_bad_body';
}

async function readJsonBody(request: IncomingMessage): Promise<Body> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) throw new BodyError('body too large');
    chunks.push(buffer);
  }
  if (size === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (error) {
    throw new BodyError('body is not JSON', { cause: error });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new BodyError('body is not an object');
  return parsed as Body;
}

export async function startEmulator(options: EmulatorOptions): Promise<Emulator> {
  const config: EmulatorConfig = parseEmulatorOptions(options);
  return new EmulatorServer(config).start();
}

class EmulatorServer implements Emulator {
  url = '';
  graphqlUrl = '';
  adminUrl = '';
  port = 0;
  readonly adminToken: string;

  private currentFaults: Faults;
  private stopRefusal: string;
  private accounts: AccountConfig[];
  private readonly random: () => number;
  private readonly services: Map<string, ServiceConfig>;
  private readonly sessions = new Map<string, { accountIndex: number; expiresAt: number }>();
  private readonly proxies = new Map<string, EmulatedProxy>();
  private readonly server = createServer((request, response) => void this.handle(request, response));
  private readonly pendingDelays = new Set<() => void>();
  /** Tail of the connects in flight per account and service, so that overrides happen one at a time. */
  private readonly connectQueues = new Map<string, Promise<unknown>>();
  private log: CallLog = { total: 0, byPath: {}, byOutcome: {}, records: [] };
  private stopping?: Promise<void>;

  constructor(private readonly config: EmulatorConfig) {
    this.currentFaults = config.faults;
    this.stopRefusal = config.stopRefusalReason;
    this.accounts = config.accounts;
    this.random = config.random ?? (config.seed === undefined ? Math.random : seededRandom(config.seed));
    this.services = new Map(config.services.map((service) => [service.serviceId, service]));
    this.adminToken = config.adminToken ?? randomBytes(32).toString('base64url');
  }

  async start(): Promise<this> {
    this.port = await listen(this.server, this.config.port, this.config.host);
    const origin = `http://${this.config.host}:${this.port}`;
    this.url = `${origin}${API_PREFIX}`;
    this.graphqlUrl = `${origin}${GRAPHQL_PATH}`;
    this.adminUrl = `${origin}${ADMIN_PREFIX}`;
    return this;
  }

  setFaults(faults: unknown): void {
    this.currentFaults = parseFaults(faults);
  }

  faults(): Faults {
    return structuredClone(this.currentFaults);
  }

  setStopRefusalReason(reason?: unknown): void {
    if (reason === undefined) {
      this.stopRefusal = DEFAULT_STOP_REFUSAL_REASON;
      return;
    }
    const result = stopRefusalReasonSchema.safeParse(reason);
    if (!result.success) throw new EmulatorConfigError(`stopRefusalReason: ${result.error.issues.map((issue) => issue.message).join('; ')}`);
    this.stopRefusal = result.data;
  }

  stopRefusalReason(): string {
    return this.stopRefusal;
  }

  connections(): ProxySnapshot[] {
    return [...this.proxies.values()].map((proxy) => proxy.snapshot());
  }

  calls(): CallLog {
    return structuredClone(this.log);
  }

  resetCalls(): void {
    this.log = { total: 0, byPath: {}, byOutcome: {}, records: [] };
  }

  expireTokens(): void {
    for (const session of this.sessions.values()) session.expiresAt = 0;
  }

  setAccounts(accounts: unknown): void {
    this.accounts = parseAccounts(accounts);
    this.sessions.clear();
  }

  tokens(): string[] {
    return [...this.sessions.keys()];
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const release of this.pendingDelays) release();
      this.pendingDelays.clear();
      await Promise.all([...this.proxies.values()].map((proxy) => proxy.close('shutdown')));
      // Hanging and kept-alive requests would hold close() open forever.
      const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      this.server.closeAllConnections();
      await closed;
    })();
    return this.stopping;
  }

  private record(entry: Omit<CallRecord, 'at'>): CallRecord {
    const record: CallRecord = { at: new Date().toISOString(), ...entry };
    this.log.total += 1;
    this.log.byPath[record.path] = (this.log.byPath[record.path] ?? 0) + 1;
    this.log.byOutcome[record.outcome] = (this.log.byOutcome[record.outcome] ?? 0) + 1;
    if (this.log.records.length >= MAX_CALL_RECORDS) this.log.records.splice(0, MAX_CALL_RECORDS / 10);
    this.log.records.push(record);
    return record;
  }

  /** Resolves after `ms`, or at once when the emulator stops (the caller then gives up). */
  private delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const release = () => {
        clearTimeout(timer);
        this.pendingDelays.delete(release);
        resolve();
      };
      const timer = setTimeout(release, ms);
      this.pendingDelays.add(release);
    });
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    try {
      const { pathname } = new URL(request.url ?? '/', 'http://emulator');
      if (pathname.startsWith(`${ADMIN_PREFIX}/`)) {
        await this.handleAdmin(request, response, pathname.slice(ADMIN_PREFIX.length));
        return;
      }
      if (pathname === GRAPHQL_PATH) {
        await this.serve(request, response, GRAPHQL_PATH, (body) => this.graphql(request, body));
        return;
      }
      if (!pathname.startsWith(`${API_PREFIX}/`)) {
        response.writeHead(404, { 'content-type': 'application/json' }).end(remoteitJson({ status: 'false', reason: REASONS.notFound }));
        return;
      }
      const path = pathname.slice(API_PREFIX.length);
      await this.serve(request, response, path, (body) => this.route(request, request.method ?? 'GET', path, body));
    } catch (error) {
      if (!response.headersSent && !response.destroyed) {
        const reason = error instanceof BodyError ? REASONS.invalidBody : REASONS.internal;
        response.writeHead(error instanceof BodyError ? 400 : 500, { 'content-type': 'application/json' });
        response.end(remoteitJson({ status: 'false', reason }));
      }
    }
  }

  /** One API call (REST or GraphQL): bounded body, call log, faults, then `route`. */
  private async serve(
    request: IncomingMessage,
    response: ServerResponse,
    path: string,
    route: (body: Body) => Promise<ApiAnswer>,
  ): Promise<void> {
    const method = request.method ?? 'GET';
    let body: Body;
    try {
      body = await readJsonBody(request);
    } catch (error) {
      if (!(error instanceof BodyError)) throw error;
      // remote.it answers unusable REST bodies like other business failures: 200 + status "false". GraphQL
      // servers answer an unreadable request 400 with `errors`.
      const invalid = path === GRAPHQL_PATH
        ? { httpStatus: 400, body: graphqlErrors(REASONS.invalidBody), outcome: 'refused' as const }
        : refuse(REASONS.invalidBody);
      this.answer(response, { method, path }, invalid);
      return;
    }
    const called = {
      method,
      path,
      ...(stringField(body, 'deviceaddress') === undefined ? {} : { deviceaddress: stringField(body, 'deviceaddress') }),
      ...(stringField(body, 'connectionid') === undefined ? {} : { connectionid: stringField(body, 'connectionid') }),
    };
    const faults = this.currentFaults;
    if (appliesTo(faults, path) && faults.latencyMs !== undefined && faults.latencyMs > 0) {
      await this.delay(faults.latencyMs);
      if (this.stopping !== undefined) return;
    }
    const fault = decideFault(faults, path, this.random);
    if (this.applyFault(response, called, fault, false)) return;

    const answer = await route(body);
    if (answer.outcome === 'ok' && typeof answer.body.connectionid === 'string') called.connectionid = answer.body.connectionid;
    if (this.applyFault(response, called, fault, true)) return;
    const missing = appliesTo(faults, path) ? faults.missingFields : undefined;
    const strip = path === GRAPHQL_PATH ? withoutLoginFields : withoutFields;
    this.answer(response, called, answer.outcome === 'ok' && missing !== undefined ? strip(answer, missing) : answer);
  }

  /** Returns true when the fault answered (or swallowed) the request. */
  private applyFault(
    response: ServerResponse,
    called: Omit<CallRecord, 'at' | 'outcome'>,
    fault: FaultDecision,
    tookEffect: boolean,
  ): boolean {
    if (fault.kind === 'none') return false;
    const phase = fault.kind !== 'throttle' && fault.kind !== 'refuse' && fault.afterEffect;
    if (phase !== tookEffect) return false;
    const afterEffect = tookEffect ? { tookEffect: true } : {};
    switch (fault.kind) {
      case 'hang':
        // No answer at all: the socket stays open until the client gives up or stop() cuts it.
        this.record({ ...called, ...afterEffect, outcome: 'fault_hang' });
        return true;
      case 'throttle':
        this.answer(response, called, {
          httpStatus: 429,
          body: failureBody(called.path, REASONS.throttled),
          outcome: 'fault_throttle',
          headers: { 'retry-after': String(fault.retryAfterSeconds) },
        });
        return true;
      case 'error':
        this.answer(response, { ...called, ...afterEffect }, { httpStatus: fault.httpStatus, body: failureBody(called.path, REASONS.internal), outcome: 'fault_error' });
        return true;
      case 'refuse':
        this.answer(response, called, { httpStatus: fault.httpStatus, body: failureBody(called.path, fault.reason), outcome: 'fault_refused' });
        return true;
      case 'reset':
        this.record({ ...called, ...afterEffect, outcome: 'fault_reset' });
        response.socket?.destroy();
        return true;
      case 'malformed': {
        this.record({ ...called, ...afterEffect, httpStatus: 200, outcome: 'fault_malformed' });
        // Cut mid-object, as a truncated answer would be.
        const text = called.path === GRAPHQL_PATH ? '{"data":{"login":{"id":' : '{"status":"true","connectionid":';
        if (!response.destroyed) {
          response.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) }).end(text);
        }
        return true;
      }
    }
  }

  private answer(response: ServerResponse, called: Omit<CallRecord, 'at' | 'outcome'>, answer: ApiAnswer): void {
    this.record({ ...called, httpStatus: answer.httpStatus, outcome: answer.outcome });
    if (response.destroyed) return;
    // The client learns a proxy's id only from a connect answer that reaches it: only then can it record it.
    if (answer.outcome === 'ok' && called.path === '/device/connect') {
      const named = connectionIdIn(answer.body);
      const proxy = named === undefined ? undefined : this.proxies.get(named);
      if (proxy !== undefined) proxy.announced = true;
    }
    // GraphQL is not remote.it's PHP: plain JSON there.
    const text = answer.plainText ?? (called.path === GRAPHQL_PATH ? JSON.stringify(answer.body) : remoteitJson(answer.body));
    response.writeHead(answer.httpStatus, {
      'content-type': answer.plainText === undefined ? 'application/json' : 'text/plain',
      'content-length': String(Buffer.byteLength(text)),
      ...answer.headers,
    });
    response.end(text);
  }

  private async route(request: IncomingMessage, method: string, path: string, body: Body): Promise<ApiAnswer> {
    const routes: Record<string, ((accountIndex: number) => Promise<ApiAnswer>) | undefined> = {
      '/device/connect': (accountIndex) => this.connect(request, accountIndex, body),
      '/device/connect/stop': (accountIndex) => this.stopConnection(accountIndex, body),
    };
    if (method === 'POST' && path === '/user/login') return this.login(request, body);
    const handler = method === 'POST' ? routes[path] : undefined;
    if (handler === undefined) return { httpStatus: 404, body: { status: 'false', reason: REASONS.notFound }, outcome: 'not_found' };
    const auth = await this.authenticate(request);
    // remote.it documents connect failures, "not authorized" ones included, as 200 + status "false"; stop's as 401.
    if (typeof auth !== 'number') return path === '/device/connect' ? { ...auth, httpStatus: 200 } : auth;
    return handler(auth);
  }

  private accountIndexOf(request: IncomingMessage): number | ApiAnswer {
    const developerKey = request.headers.developerkey;
    if (typeof developerKey !== 'string' || developerKey === '') return unauthorized(REASONS.missingToken);
    const index = this.accounts.findIndex((account) => secretEquals(developerKey, account.developerKey));
    return index === -1 ? unauthorized(REASONS.invalidDeveloperKey) : index;
  }

  /** The account index of a live login token, or undefined. */
  private tokenAccount(request: IncomingMessage): number | undefined {
    const token = request.headers.token;
    if (typeof token !== 'string' || token === '') return undefined;
    const session = this.sessions.get(token);
    return session !== undefined && session.expiresAt > Date.now() ? session.accountIndex : undefined;
  }

  /** Verifies the request's access-key signature against the secrets of `accounts`. */
  private verify(request: IncomingMessage, accounts: readonly (AccountConfig | undefined)[]) {
    return verifySignature(
      {
        method: request.method ?? 'POST',
        origin: `http://${request.headers.host ?? `${this.config.host}:${this.port}`}`,
        target: request.url ?? '/',
        headers: request.headers,
      },
      {
        lookupSecret: (keyId) => {
          const account = accounts.find((candidate) => candidate?.accessKeyId === keyId && candidate.secretAccessKey !== undefined);
          return account?.secretAccessKey === undefined ? undefined : Buffer.from(account.secretAccessKey, 'base64');
        },
        now: Date.now(),
        maxSkewSeconds: this.config.maxSkewSeconds,
      },
    );
  }

  /** REST: developerkey, then a live token or a valid access-key signature of the same account. */
  private async authenticate(request: IncomingMessage): Promise<number | ApiAnswer> {
    const accountIndex = this.accountIndexOf(request);
    if (typeof accountIndex !== 'number') return accountIndex;
    if (this.tokenAccount(request) === accountIndex) return accountIndex;
    const check = await this.verify(request, [this.accounts[accountIndex]]);
    if (check.ok) return accountIndex;
    return unauthorized(check.reason === 'no_signature' ? REASONS.missingToken : REASONS.invalidSignature);
  }

  /**
   * GraphQL: a live login token (`token` header, as remote.it's Go SDK sends it) or an access-key signature
   * over the GraphQL request; no developer key (remote.it's GraphQL examples send none). The account is the
   * token's, or the one whose access key signed.
   */
  private async graphqlAccount(request: IncomingMessage): Promise<number | undefined> {
    const byToken = this.tokenAccount(request);
    if (byToken !== undefined) return byToken;
    const check = await this.verify(request, this.accounts);
    if (!check.ok) return undefined;
    const index = this.accounts.findIndex((account) => account.accessKeyId === check.keyId);
    return index === -1 ? undefined : index;
  }

  /** `POST /graphql/v1`: the `login` query only (the broker's credential probe). */
  private async graphql(request: IncomingMessage, body: Body): Promise<ApiAnswer> {
    if (request.method !== 'POST') return { httpStatus: 404, body: graphqlErrors(REASONS.notFound), outcome: 'not_found' };
    const accountIndex = await this.graphqlAccount(request);
    const account = accountIndex === undefined ? undefined : this.accounts[accountIndex];
    if (accountIndex === undefined || account === undefined) return graphqlUnauthorized;
    const query = stringField(body, 'query');
    if (query === undefined || !/\blogin\b/.test(query)) {
      return { httpStatus: 200, body: graphqlErrors(REASONS.unsupportedQuery), outcome: 'refused' };
    }
    const email = account.email ?? account.username ?? `${accountName(account, accountIndex)}@emulator.invalid`;
    return {
      httpStatus: 200,
      outcome: 'ok',
      body: { data: { login: { id: accountId(account), email, apiKey: { key: account.developerKey } } } },
    };
  }

  private async login(request: IncomingMessage, body: Body): Promise<ApiAnswer> {
    const accountIndex = this.accountIndexOf(request);
    if (typeof accountIndex !== 'number') return accountIndex;
    const account = this.accounts[accountIndex];
    const username = stringField(body, 'username');
    const password = stringField(body, 'password');
    if (
      account?.username === undefined ||
      account.password === undefined ||
      username === undefined ||
      password === undefined ||
      !secretEquals(username, account.username) ||
      !secretEquals(password, account.password)
    ) {
      return unauthorized(REASONS.badLogin);
    }
    const token = randomBytes(24).toString('hex');
    const expiresAt = Date.now() + this.config.tokenLifetimeSeconds * 1000;
    this.sessions.set(token, { accountIndex, expiresAt });
    for (const [known, session] of this.sessions) if (session.expiresAt <= Date.now()) this.sessions.delete(known);
    return {
      httpStatus: 200,
      outcome: 'ok',
      body: {
        status: 'true',
        token,
        // remote.it's desktop reads `auth_token` as a fallback for another call's answer. Here it is a
        // different value that no call accepts: a client must use the documented `token`.
        auth_token: randomBytes(24).toString('hex'),
        email: account.email ?? account.username,
      },
    };
  }

  private async connect(request: IncomingMessage, accountIndex: number, body: Body): Promise<ApiAnswer> {
    const deviceAddress = stringField(body, 'deviceaddress');
    if (deviceAddress === undefined || !SERVICE_ID_PATTERN.test(deviceAddress)) return refuse(REASONS.badDeviceAddress);
    const service = this.services.get(deviceAddress.toUpperCase());
    if (service === undefined) return refuse(`${REASONS.serviceNotFound} ${deviceAddress}`);
    if (service.refuseReason !== undefined) return refuse(service.refuseReason);
    // Without hostip remote.it restricts the proxy to the caller's address.
    const hostIp = stringField(body, 'hostip') ?? (request.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    if (!isIPv4(hostIp)) return refuse(REASONS.invalidHostIp);
    const account = this.accounts[accountIndex];
    const name = account === undefined ? `account-${accountIndex + 1}` : accountName(account, accountIndex);
    const label = accountLabel(account, accountIndex);
    const concurrent = isTrue(body.concurrent);
    return this.serialised(`${name} ${service.serviceId}`, () => this.openProxy(service, { name, label }, hostIp, concurrent));
  }

  /** Runs `work` after every earlier one queued under `key` (two racing connects must not both survive an override). */
  private serialised<T>(key: string, work: () => Promise<T>): Promise<T> {
    const result = (this.connectQueues.get(key) ?? Promise.resolve()).then(work);
    const tail = result.catch(() => undefined);
    this.connectQueues.set(key, tail);
    void tail.then(() => {
      if (this.connectQueues.get(key) === tail) this.connectQueues.delete(key);
    });
    return result;
  }

  private async openProxy(service: ServiceConfig, owner: { name: string; label: string }, hostIp: string, concurrent: boolean): Promise<ApiAnswer> {
    const { name } = owner;
    // Without `concurrent`, remote.it replaces the account's earlier proxy to the same service.
    const replaced = concurrent
      ? []
      : [...this.proxies.values()].filter(
          (proxy) => proxy.state === 'active' && proxy.options.account === name && proxy.options.service.serviceId === service.serviceId,
        );
    await Promise.all(replaced.map((proxy) => proxy.close('overridden')));

    const proxy = await EmulatedProxy.open({
      service,
      account: name,
      accountLabel: owner.label,
      hostIp,
      concurrent,
      proxyHost: this.config.proxyHost,
      lifetimeSeconds: this.config.lifetimeSeconds,
      idleSeconds: this.config.idleSeconds,
    });
    if (this.stopping !== undefined) {
      await proxy.close('shutdown');
      return { httpStatus: 500, body: { status: 'false', reason: REASONS.internal }, outcome: 'fault_error' };
    }
    this.proxies.set(proxy.connectionId, proxy);
    this.pruneEnded();

    const previous = replaced.at(-1);
    const lifeLeft = this.config.lifetimeSeconds;
    const connection = {
      deviceaddress: service.serviceId,
      connectionid: proxy.connectionId,
      status: 'running',
      requested: requestedStamp(proxy.createdAt),
      requestedAt: new Date(proxy.createdAt).toISOString(),
      proxy: proxy.url,
      proxyserver: this.config.proxyHost,
      proxyport: String(proxy.port),
      proxyServerPort: proxy.port,
      proxyURL: `${this.config.proxyHost}:${proxy.port}`,
      reverseProxy: service.kind === 'http',
      expirationsec: String(lifeLeft),
      proxyExpirationSec: lifeLeft,
      filteredIP: hostIp,
      latchedIP: null,
      lifeLeft,
      idleLeft: this.config.idleSeconds,
      ...(previous === undefined ? {} : { connectionOverridden: 'true', previousConnection: previous.connectionId }),
    };
    return { httpStatus: 200, outcome: 'ok', body: { status: 'true', connectionid: proxy.connectionId, connection } };
  }

  private async stopConnection(accountIndex: number, body: Body): Promise<ApiAnswer> {
    const deviceAddress = stringField(body, 'deviceaddress');
    const connectionId = stringField(body, 'connectionid');
    const proxy = connectionId === undefined ? undefined : this.proxies.get(connectionId.toUpperCase());
    const account = this.accounts[accountIndex];
    const name = account === undefined ? '' : accountName(account, accountIndex);
    // remote.it documents one refusal for a stop: 401 when connectionid or deviceaddress is "incorrect or
    // missing". An ended proxy's id is no longer correct; remote.it says nothing more, so one reason for all.
    if (
      proxy === undefined ||
      proxy.state !== 'active' ||
      deviceAddress === undefined ||
      deviceAddress.toUpperCase() !== proxy.options.service.serviceId ||
      proxy.options.account !== name
    ) {
      return refuse(this.stopRefusal, 401);
    }
    await proxy.close('stopped');
    return { httpStatus: 200, outcome: 'ok', body: { status: 'true', connectionid: proxy.connectionId } };
  }

  private pruneEnded(): void {
    const ended = [...this.proxies.values()].filter((proxy) => proxy.state === 'ended');
    for (const proxy of ended.slice(0, Math.max(0, ended.length - MAX_ENDED_PROXIES))) this.proxies.delete(proxy.connectionId);
  }

  private async handleAdmin(request: IncomingMessage, response: ServerResponse, path: string): Promise<void> {
    const send = (status: number, body: unknown) =>
      response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    const method = request.method ?? 'GET';
    const token = bearerToken(request);
    if (token === undefined || !secretEquals(token, this.adminToken)) {
      // The body (if any) is not read: the connection closes after this answer. The answer names no token.
      response
        .writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer realm="remoteit-emulator admin"', connection: 'close' })
        .end(JSON.stringify({ error: "the emulator's admin API needs its admin token: Authorization: Bearer <token> (the local stack keeps it in its stack file, emulatorAdmin.token)" }));
      return;
    }
    if (path === '/faults' && method === 'GET') return void send(200, { faults: this.faults() });
    if (path === '/faults' && method === 'POST') {
      try {
        this.setFaults(await readJsonBody(request));
      } catch (error) {
        if (error instanceof BodyError || error instanceof EmulatorConfigError) return void send(400, { error: error.message });
        throw error;
      }
      return void send(200, { faults: this.faults() });
    }
    if (path === '/connections' && method === 'GET') return void send(200, { connections: this.connections() });
    if (path === '/calls' && method === 'GET') return void send(200, this.calls());
    if (path === '/calls' && method === 'DELETE') {
      this.resetCalls();
      return void response.writeHead(204).end();
    }
    if (path === '/stop-refusal' && method === 'GET') return void send(200, { reason: this.stopRefusal });
    if (path === '/stop-refusal' && method === 'POST') {
      try {
        const body = await readJsonBody(request);
        this.setStopRefusalReason(body.reason === null ? undefined : body.reason);
      } catch (error) {
        if (error instanceof BodyError || error instanceof EmulatorConfigError) return void send(400, { error: error.message });
        throw error;
      }
      return void send(200, { reason: this.stopRefusal });
    }
    if (path === '/tokens' && method === 'DELETE') {
      this.expireTokens();
      return void response.writeHead(204).end();
    }
    send(404, { error: `no admin route ${method} ${path}` });
  }
}
