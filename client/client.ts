/**
 * The typed client of the broker API: SigV4-signed calls (service `execute-api`) with the caller's AWS
 * credentials, an Idempotency-Key on every open, bounded retries where a repeat is safe and may help
 * (client/retry.ts), and `BrokerApiError` carrying the problem+json fields for every other answer.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { BrokerApiError, BrokerUnreachableError, ClientConfigError, CredentialsError, UnexpectedResponseError } from './errors';
import { DEFAULT_RETRY, nextDelayMs, parseRetryAfter, type RetryOptions } from './retry';
import type { Caller, Connection, ConnectionPage, ListConnectionsQuery, Lock, LockList, OpenConnectionInput, PlaceLockInput, PlacedLock, RenewConnectionInput } from './types';

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export type CredentialsProvider = () => Promise<Credentials>;

export interface RetryEvent {
  method: string;
  path: string;
  /** The attempt about to be sent (2 = the first repeat). */
  attempt: number;
  delayMs: number;
  /** Why the previous attempt is repeated. */
  error: Error;
}

export interface BrokerClientOptions {
  /** The API's base URL: `https://<api-id>.execute-api.<region>.amazonaws.com` (plus a stage path, if any). */
  endpoint: string | URL;
  /** Default: the region in an execute-api host name, else AWS_REGION / AWS_DEFAULT_REGION. */
  region?: string;
  /** Default: the AWS SDK's default credential chain (env, SSO, profiles, container and instance roles). */
  credentials?: Credentials | CredentialsProvider;
  retry?: Partial<RetryOptions>;
  /** One attempt's limit. Default 35 s: API Gateway answers 504 itself after 30 s. */
  timeoutMs?: number;
  /** Told before each repeat (a spinner or a log line can say why the call takes longer). */
  onRetry?: (event: RetryEvent) => void;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface OpenOptions extends CallOptions {
  /** Sent as `Idempotency-Key`; a fresh UUID when absent. Reuse it to repeat an open without opening twice. */
  idempotencyKey?: string;
}

export interface RenewOptions extends CallOptions {
  /** When the caller last had a connection open through the proxy (lets a renew pass the first idle window). */
  usedAt?: Date;
}

export interface OpenResult {
  connection: Connection;
  /** 200: `reuse` answered with the caller's live connection instead of opening one. */
  reused: boolean;
  idempotencyKey: string;
}

export interface StopResult {
  connection: Connection;
  /** 202: remote.it could not be reached; the connection is `stopping` and the sweeper retries the stop. */
  pending: boolean;
}

const DEFAULT_TIMEOUT_MS = 35_000;
const EXECUTE_API_HOST = /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/;

/** The region of an `execute-api` endpoint from its host name; undefined for custom domains and local URLs. */
export function regionOfEndpoint(endpoint: URL): string | undefined {
  return EXECUTE_API_HOST.exec(endpoint.hostname)?.[1];
}

/** The default chain, loaded on first use: a local-stack caller never pays for the SDK's providers. */
function defaultCredentials(): CredentialsProvider {
  let chain: Promise<CredentialsProvider> | undefined;
  return async () => {
    chain ??= import('@aws-sdk/credential-providers').then((providers) => providers.fromNodeProviderChain());
    return (await chain)();
  };
}

interface Answer<T> {
  status: number;
  body: T;
}

interface CallInit {
  query?: Record<string, string | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
  /** false: one attempt only, for a request a repeat could apply twice. */
  retry?: boolean;
}

export class BrokerClient {
  readonly endpoint: URL;
  readonly region: string;
  private readonly signer: SignatureV4;
  private readonly retry: RetryOptions;
  private readonly timeoutMs: number;
  private readonly onRetry: ((event: RetryEvent) => void) | undefined;

  constructor(options: BrokerClientOptions) {
    try {
      this.endpoint = new URL(options.endpoint);
    } catch (error) {
      throw new ClientConfigError(`the endpoint is not a URL: ${String(options.endpoint)}`, { cause: error });
    }
    if (this.endpoint.protocol !== 'https:' && this.endpoint.protocol !== 'http:') {
      throw new ClientConfigError(`the endpoint must be an http(s) URL, got ${this.endpoint.protocol}`);
    }
    const region = options.region ?? regionOfEndpoint(this.endpoint) ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
    if (!region) {
      throw new ClientConfigError(`cannot tell the region of ${this.endpoint.host}: set AWS_REGION (or pass region)`);
    }
    this.region = region;
    const credentials = options.credentials ?? defaultCredentials();
    this.signer = new SignatureV4({ credentials, region, service: 'execute-api', sha256: Sha256 });
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.onRetry = options.onRetry;
  }

  /** POST /connections. Repeats (409 in flight, 5xx) carry the same key, so at most one connection opens. */
  async open(input: OpenConnectionInput, options: OpenOptions = {}): Promise<OpenResult> {
    const idempotencyKey = options.idempotencyKey ?? randomUUID();
    const answer = await this.call<Connection>('POST', '/connections', {
      body: input,
      headers: { 'idempotency-key': idempotencyKey },
      signal: options.signal,
    });
    return { connection: answer.body, reused: answer.status === 200, idempotencyKey };
  }

  async get(id: string, options: CallOptions = {}): Promise<Connection> {
    return (await this.call<Connection>('GET', connectionPath(id), { signal: options.signal })).body;
  }

  /** One page of the caller's connections (admins: everyone's), newest first. */
  async listPage(query: ListConnectionsQuery = {}, options: CallOptions = {}): Promise<ConnectionPage> {
    const { status, serviceId, limit, cursor } = query;
    const answer = await this.call<ConnectionPage>('GET', '/connections', {
      query: { status, serviceId, limit: limit === undefined ? undefined : String(limit), cursor },
      signal: options.signal,
    });
    if (!Array.isArray(answer.body.items)) throw new UnexpectedResponseError(answer.status, 'GET /connections answered without items');
    return answer.body;
  }

  /** Every page from `query.cursor` on, fetched as the caller iterates (`limit` is the page size). */
  async *listPages(query: ListConnectionsQuery = {}, options: CallOptions = {}): AsyncGenerator<ConnectionPage, void, undefined> {
    let cursor = query.cursor;
    for (;;) {
      const page = await this.listPage({ ...query, cursor }, options);
      yield page;
      if (!page.nextCursor) return;
      // A cursor that does not move would never end the iteration.
      if (page.nextCursor === cursor) throw new UnexpectedResponseError(200, 'GET /connections answered the same cursor again');
      cursor = page.nextCursor;
    }
  }

  /** Every connection across pages: `for await (const connection of client.list({status: 'active'}))`. */
  async *list(query: ListConnectionsQuery = {}, options: CallOptions = {}): AsyncGenerator<Connection, void, undefined> {
    for await (const page of this.listPages(query, options)) yield* page.items;
  }

  /**
   * POST /connections/{id}/renew: the lease ends `ttlSeconds` from now, never past remote.it's expiry. Past the
   * connection's first idle window, pass `usedAt`: when you last had a connection open through the proxy.
   */
  async renew(id: string, ttlSeconds: number, options: RenewOptions = {}): Promise<Connection> {
    const body: RenewConnectionInput = { ttlSeconds, ...(options.usedAt && { usedAt: options.usedAt.toISOString() }) };
    return (await this.call<Connection>('POST', `${connectionPath(id)}/renew`, { body, signal: options.signal })).body;
  }

  /** DELETE /connections/{id}: idempotent; stopping an ended connection answers it as it is. */
  async stop(id: string, options: CallOptions = {}): Promise<StopResult> {
    const answer = await this.call<Connection>('DELETE', connectionPath(id), { signal: options.signal });
    return { connection: answer.body, pending: answer.status === 202 };
  }

  /**
   * POST /locks (admins): places an operator's lock, and the broker stops every live connection it covers at
   * once. Never repeated by the client: a repeat after an answer that may have been applied (a 5xx, a lost
   * answer) would place a second lock. Check `listLocks()` before placing it again.
   */
  async placeLock(input: PlaceLockInput, options: CallOptions = {}): Promise<PlacedLock> {
    return (await this.call<PlacedLock>('POST', '/locks', { body: input, signal: options.signal, retry: false })).body;
  }

  /** GET /locks (admins): every live lock, oldest first. */
  async listLocks(options: CallOptions = {}): Promise<Lock[]> {
    const answer = await this.call<LockList>('GET', '/locks', { signal: options.signal });
    if (!Array.isArray(answer.body.items)) throw new UnexpectedResponseError(answer.status, 'GET /locks answered without items');
    return answer.body.items;
  }

  /** DELETE /locks/{id} (admins): lifts a live lock; an unknown or already lifted one is a 404 (`lock_not_found`). */
  async liftLock(id: string, options: CallOptions = {}): Promise<Lock> {
    if (id === '') throw new RangeError('a lock id must not be empty');
    return (await this.call<Lock>('DELETE', `/locks/${encodeURIComponent(id)}`, { signal: options.signal })).body;
  }

  /** GET /me: who the broker sees calling (its role), whether it is an admin, the rules that name it, its live count. */
  async me(options: CallOptions = {}): Promise<Caller> {
    const answer = await this.call<Caller>('GET', '/me', { signal: options.signal });
    if (!Array.isArray(answer.body.rules)) throw new UnexpectedResponseError(answer.status, 'GET /me answered without rules');
    return answer.body;
  }

  private async call<T>(method: string, path: string, init: CallInit): Promise<Answer<T>> {
    const started = Date.now();
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.attempt<T>(method, path, init);
      } catch (error) {
        if (init.signal?.aborted || init.retry === false) throw error;
        const delayMs = nextDelayMs(error, attempt, Date.now() - started, this.retry);
        if (delayMs === undefined) throw error;
        this.onRetry?.({ method, path, attempt: attempt + 1, delayMs, error: error as Error });
        await sleep(delayMs, undefined, { signal: init.signal });
      }
    }
  }

  private async attempt<T>(method: string, path: string, init: CallInit): Promise<Answer<T>> {
    const url = new URL(this.endpoint);
    url.pathname = `${this.endpoint.pathname.replace(/\/+$/, '')}${path}`;
    const query = Object.fromEntries(Object.entries(init.query ?? {}).filter((entry): entry is [string, string] => entry[1] !== undefined));
    // encodeURIComponent, not URLSearchParams: a space must be %20, as SigV4 canonicalises it.
    url.search = Object.entries(query).map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`).join('&');
    const body = init.body === undefined ? undefined : JSON.stringify(init.body);
    const headers: Record<string, string> = {
      host: url.host,
      accept: 'application/json',
      ...(body !== undefined && { 'content-type': 'application/json' }),
      ...init.headers,
    };

    let signed: Record<string, string>;
    try {
      const request = new HttpRequest({
        method,
        protocol: url.protocol,
        hostname: url.hostname,
        ...(url.port && { port: Number(url.port) }),
        path: url.pathname,
        query,
        headers,
        ...(body !== undefined && { body }),
      });
      signed = (await this.signer.sign(request)).headers;
    } catch (error) {
      throw new CredentialsError(`no AWS credentials to sign with: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    // fetch sets Host itself, to the same value (it refuses to be told).
    const { host: _host, ...sent } = signed;

    const timeout = AbortSignal.timeout(this.timeoutMs);
    const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    let status: number;
    let responseHeaders: Headers;
    let text: string;
    try {
      const response = await fetch(url, { method, headers: sent, body, redirect: 'manual', signal });
      status = response.status;
      responseHeaders = response.headers;
      text = await response.text();
    } catch (error) {
      if (init.signal?.aborted) throw error;
      throw new BrokerUnreachableError(url.origin, timeout.aborted ? 'timeout' : 'unreachable', { cause: error });
    }

    const parsed = parseJson(text);
    if (status >= 200 && status < 300) {
      if (parsed === undefined || typeof parsed !== 'object' || parsed === null) {
        throw new UnexpectedResponseError(status, `${method} ${path} answered ${status} without a JSON object`);
      }
      return { status, body: parsed as T };
    }
    throw new BrokerApiError({
      status,
      method,
      path,
      problem: typeof parsed === 'object' && parsed !== null ? parsed : {},
      retryAfterSeconds: parseRetryAfter(responseHeaders.get('retry-after')),
      requestId: responseHeaders.get('apigw-requestid') ?? responseHeaders.get('x-amzn-requestid') ?? undefined,
    });
  }
}

function connectionPath(id: string): string {
  if (id === '') throw new RangeError('a connection id must not be empty');
  return `/connections/${encodeURIComponent(id)}`;
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
