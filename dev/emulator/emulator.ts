/**
 * remote.it REST emulator (`/apv/v27`: login, connect, stop) for the local stack and the integration
 * tests. It answers with remote.it's shapes and quirks (200 + `status:"false"`, 401 on bad auth and bad
 * stop parameters, string `expirationsec`, `\/`-escaped JSON), verifies both access-key signature
 * schemes and tokens, opens real proxies, and injects faults on demand.
 */
import { listen } from '../listen';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIPv4 } from 'node:net';
import { secretEquals, verifySignature } from './auth';
import type { FaultDecision } from './faults';
import { appliesTo, decideFault, seededRandom } from './faults';
import type { AccountConfig, EmulatorConfig, EmulatorOptions, Faults, ServiceConfig } from './options';
import { EmulatorConfigError, parseAccounts, parseEmulatorOptions, parseFaults, SERVICE_ID_PATTERN } from './options';
import type { ProxySnapshot } from './proxies';
import { EmulatedProxy } from './proxies';

export const API_PREFIX = '/apv/v27';
export const ADMIN_PREFIX = '/_emulator';
const MAX_BODY_BYTES = 64 * 1024;
/** Bounds memory under benchmarks: oldest call records and ended proxies are dropped past these. */
const MAX_CALL_RECORDS = 10_000;
const MAX_ENDED_PROXIES = 1_000;

/** remote.it's reasons, verbatim where docs/remoteit-api.md lists them; callers classify failures on them. */
export const REASONS = {
  missingToken: 'missing api token',
  invalidSignature: 'invalid signature',
  invalidDeveloperKey: 'invalid developer key',
  badLogin: '[0102] The username or password is invalid',
  badDeviceAddress: 'bad device address',
  serviceNotFound: '[0861] service not found for UID',
  invalidHostIp: 'invalid hostip',
  connectionNotFound: 'connection not found',
  connectionNotActive: 'connection is not active',
  invalidBody: 'invalid request body',
  notFound: 'not found',
  internal: 'internal server error',
  throttled: 'too many requests',
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
  /** Path under /apv/v27, e.g. `/device/connect`. */
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
  /** Base URL of the admin endpoints (`/faults`, `/connections`, `/calls`). */
  readonly adminUrl: string;
  readonly port: number;
  /** Replaces the faults in force (`{}` lifts them). Throws EmulatorConfigError on a bad shape. */
  setFaults(faults: unknown): void;
  faults(): Faults;
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
}

type Body = Record<string, unknown>;

const refuse = (reason: string, httpStatus = 200): ApiAnswer => ({ httpStatus, body: { status: 'false', reason }, outcome: 'refused' });

const unauthorized = (reason: string): ApiAnswer => ({ httpStatus: 401, body: { status: 'false', reason }, outcome: 'unauthorized' });

function accountName(account: AccountConfig, index: number): string {
  return account.username ?? account.accessKeyId ?? `account-${index + 1}`;
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
  adminUrl = '';
  port = 0;

  private currentFaults: Faults;
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
    this.accounts = config.accounts;
    this.random = config.random ?? (config.seed === undefined ? Math.random : seededRandom(config.seed));
    this.services = new Map(config.services.map((service) => [service.serviceId, service]));
  }

  async start(): Promise<this> {
    this.port = await listen(this.server, this.config.port, this.config.host);
    const origin = `http://${this.config.host}:${this.port}`;
    this.url = `${origin}${API_PREFIX}`;
    this.adminUrl = `${origin}${ADMIN_PREFIX}`;
    return this;
  }

  setFaults(faults: unknown): void {
    this.currentFaults = parseFaults(faults);
  }

  faults(): Faults {
    return structuredClone(this.currentFaults);
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
      if (!pathname.startsWith(`${API_PREFIX}/`)) {
        response.writeHead(404, { 'content-type': 'application/json' }).end(remoteitJson({ status: 'false', reason: REASONS.notFound }));
        return;
      }
      await this.handleApi(request, response, pathname.slice(API_PREFIX.length));
    } catch (error) {
      if (!response.headersSent && !response.destroyed) {
        const reason = error instanceof BodyError ? REASONS.invalidBody : REASONS.internal;
        response.writeHead(error instanceof BodyError ? 400 : 500, { 'content-type': 'application/json' });
        response.end(remoteitJson({ status: 'false', reason }));
      }
    }
  }

  private async handleApi(request: IncomingMessage, response: ServerResponse, path: string): Promise<void> {
    const method = request.method ?? 'GET';
    let body: Body;
    try {
      body = await readJsonBody(request);
    } catch (error) {
      if (!(error instanceof BodyError)) throw error;
      // remote.it answers unusable bodies like other business failures: 200 + status "false".
      this.answer(response, { method, path }, refuse(REASONS.invalidBody));
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

    const answer = await this.route(request, method, path, body);
    if (answer.outcome === 'ok' && typeof answer.body.connectionid === 'string') called.connectionid = answer.body.connectionid;
    if (this.applyFault(response, called, fault, true)) return;
    const missing = appliesTo(faults, path) ? faults.missingFields : undefined;
    this.answer(response, called, answer.outcome === 'ok' && missing !== undefined ? withoutFields(answer, missing) : answer);
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
          body: { status: 'false', reason: REASONS.throttled },
          outcome: 'fault_throttle',
          headers: { 'retry-after': String(fault.retryAfterSeconds) },
        });
        return true;
      case 'error':
        this.answer(response, { ...called, ...afterEffect }, { httpStatus: fault.httpStatus, body: { status: 'false', reason: REASONS.internal }, outcome: 'fault_error' });
        return true;
      case 'refuse':
        this.answer(response, called, { httpStatus: fault.httpStatus, body: { status: 'false', reason: fault.reason }, outcome: 'fault_refused' });
        return true;
      case 'reset':
        this.record({ ...called, ...afterEffect, outcome: 'fault_reset' });
        response.socket?.destroy();
        return true;
      case 'malformed': {
        this.record({ ...called, ...afterEffect, httpStatus: 200, outcome: 'fault_malformed' });
        // Cut mid-object, as a truncated answer would be.
        const text = '{"status":"true","connectionid":';
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
    const text = remoteitJson(answer.body);
    response.writeHead(answer.httpStatus, {
      'content-type': 'application/json',
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
    const auth = await this.authenticate(request, path);
    if (typeof auth !== 'number') return auth;
    return handler(auth);
  }

  private accountIndexOf(request: IncomingMessage): number | ApiAnswer {
    const developerKey = request.headers.developerkey;
    if (typeof developerKey !== 'string' || developerKey === '') return unauthorized(REASONS.missingToken);
    const index = this.accounts.findIndex((account) => secretEquals(developerKey, account.developerKey));
    return index === -1 ? unauthorized(REASONS.invalidDeveloperKey) : index;
  }

  /** developerkey, then a live token or a valid access-key signature of the same account. */
  private async authenticate(request: IncomingMessage, path: string): Promise<number | ApiAnswer> {
    const accountIndex = this.accountIndexOf(request);
    if (typeof accountIndex !== 'number') return accountIndex;
    const token = request.headers.token;
    if (typeof token === 'string' && token !== '') {
      const session = this.sessions.get(token);
      if (session !== undefined && session.accountIndex === accountIndex && session.expiresAt > Date.now()) return accountIndex;
    }
    const account = this.accounts[accountIndex];
    const check = await verifySignature(
      {
        method: request.method ?? 'POST',
        origin: `http://${request.headers.host ?? `${this.config.host}:${this.port}`}`,
        target: request.url ?? `${API_PREFIX}${path}`,
        headers: request.headers,
      },
      {
        lookupSecret: (keyId) =>
          account?.accessKeyId === keyId && account.secretAccessKey !== undefined
            ? Buffer.from(account.secretAccessKey, 'base64')
            : undefined,
        now: Date.now(),
        maxSkewSeconds: this.config.maxSkewSeconds,
      },
    );
    if (check.ok) return accountIndex;
    return unauthorized(check.reason === 'no_signature' ? REASONS.missingToken : REASONS.invalidSignature);
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
        auth_token: token,
        auth_expiration: Math.floor(expiresAt / 1000),
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
    const concurrent = isTrue(body.concurrent);
    return this.serialised(`${name} ${service.serviceId}`, () => this.openProxy(service, name, hostIp, concurrent));
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

  private async openProxy(service: ServiceConfig, name: string, hostIp: string, concurrent: boolean): Promise<ApiAnswer> {
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
    // remote.it answers bad stop parameters with 401, not 200 like other refusals.
    if (
      proxy === undefined ||
      deviceAddress === undefined ||
      deviceAddress.toUpperCase() !== proxy.options.service.serviceId ||
      proxy.options.account !== name
    ) {
      return refuse(REASONS.connectionNotFound, 401);
    }
    if (proxy.state !== 'active') return refuse(REASONS.connectionNotActive, 401);
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
    if (path === '/tokens' && method === 'DELETE') {
      this.expireTokens();
      return void response.writeHead(204).end();
    }
    send(404, { error: `no admin route ${method} ${path}` });
  }
}
