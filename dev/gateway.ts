/**
 * The local stand-in for API Gateway (HTTP API, IAM authorization, Lambda proxy payload 2.0): an HTTP server
 * on loopback that matches the routes of lambdas/handlers/routes.ts, verifies SigV4 against local identities,
 * turns each request into the event API Gateway would send, invokes the real handler in-process with a
 * Lambda context, and writes its result back. Answers that API Gateway itself gives (404 no route, 403 auth,
 * 413, 500, 503) carry its `{"message": ...}` bodies. No npm package does this for payload 2.0 with IAM auth
 * (serverless-offline and sam local need their frameworks and Docker), so it is hand-written; signatures are
 * checked with the AWS SDK's own signer (dev/sigv4.ts).
 */
import { listen } from './listen';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { APIGatewayProxyResultV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { ApiEvent } from '../lambdas/handlers/http/request';
import type { ApiFunctionName, ApiRoute } from '../lambdas/handlers/routes';
import { LOCAL_ACCOUNT_ID, type LocalIdentity } from './identities';
import { verifySigV4, type SigV4Failure } from './sigv4';
import { flattenHeaders, readBody } from './stub-http';

export const EXECUTE_API = 'execute-api';
/** API Gateway's integration timeout. */
export const DEFAULT_TIMEOUT_MS = 29_000;
/** API Gateway HTTP API's payload limit. */
export const MAX_BODY_BYTES = 10 * 1024 * 1024;
const LOCAL_API_ID = 'local';

export type ApiHandler = (event: ApiEvent, context: Context) => Promise<APIGatewayProxyResultV2>;

// ---- Route matching ------------------------------------------------------------------------------------

export interface RouteMatch {
  route: ApiRoute;
  /** Decoded, as API Gateway passes them. */
  pathParameters: Record<string, string>;
}

const segmentsOf = (path: string) => path.split('/').slice(1);

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/**
 * The route API Gateway would pick for `method` and the raw `path`: same method, same number of segments,
 * literals equal and `{name}` segments non-empty. Routes with more literal segments win (API Gateway
 * prefers the most specific route); greedy `{proxy+}` is not used by this API and not supported.
 */
export function matchRoute(routes: readonly ApiRoute[], method: string, path: string): RouteMatch | undefined {
  const requested = segmentsOf(path);
  let best: { match: RouteMatch; literals: number } | undefined;
  for (const route of routes) {
    if (route.method !== method) continue;
    const template = segmentsOf(route.path);
    if (template.length !== requested.length) continue;
    const pathParameters: Record<string, string> = {};
    let literals = 0;
    const matches = template.every((part, index) => {
      const actual = requested[index] ?? '';
      const parameter = /^\{(\w+)\}$/.exec(part)?.[1];
      if (parameter === undefined) {
        literals += 1;
        return part === actual;
      }
      if (actual === '') return false;
      pathParameters[parameter] = decodeSegment(actual);
      return true;
    });
    if (matches && (!best || literals > best.literals)) best = { match: { route, pathParameters }, literals };
  }
  return best?.match;
}

// ---- Event building ------------------------------------------------------------------------------------

export interface ReceivedHttpRequest {
  method: string;
  /** Path as sent, percent-encoding kept. */
  rawPath: string;
  /** Query as sent, without `?`. */
  rawQuery: string;
  /** Lower-case names, repeated headers joined with `,` (what API Gateway does in payload 2.0). */
  headers: Record<string, string>;
  body: Buffer;
  sourceIp: string;
}

export interface EventInput {
  request: ReceivedHttpRequest;
  match: RouteMatch;
  identity: LocalIdentity;
  requestId: string;
  receivedAt: Date;
}

export { flattenHeaders };

/** Node reports IPv4 peers of a dual-stack socket as `::ffff:a.b.c.d`; API Gateway reports `a.b.c.d`. */
export function normaliseSourceIp(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice('::ffff:'.length) : address;
}

/** `26/Nov/2026:12:00:00 +0000`, API Gateway's `requestContext.time`. */
export function formatRequestTime(date: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (value: number) => String(value).padStart(2, '0');
  return (
    `${pad(date.getUTCDate())}/${months[date.getUTCMonth()] ?? ''}/${date.getUTCFullYear()}:` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`
  );
}

/** API Gateway passes text bodies as is and base64-encodes the rest. */
export function isTextContentType(contentType: string | undefined): boolean {
  if (!contentType) return true;
  const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return (
    type.startsWith('text/') ||
    /^application\/([\w.+-]+\+)?(json|xml)$/.test(type) ||
    type === 'application/javascript' ||
    type === 'application/x-www-form-urlencoded'
  );
}

/**
 * Query parameters as payload 2.0 has them: decoded, repeated names joined with `,`. Gathered in a Map: a
 * plain object would find `constructor` or `toString` on its prototype and join the value onto a function.
 */
export function queryParametersOf(rawQuery: string): Record<string, string> | undefined {
  if (!rawQuery) return undefined;
  const parameters = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(rawQuery)) {
    const previous = parameters.get(name);
    parameters.set(name, previous === undefined ? value : `${previous},${value}`);
  }
  // Object.fromEntries defines each name as an own property, `__proto__` included.
  return parameters.size > 0 ? Object.fromEntries(parameters) : undefined;
}

/** The payload 2.0 event API Gateway sends for `input`, with the IAM authorizer's identity filled in. */
export function buildEvent(input: EventInput): ApiEvent {
  const { request, match, identity, requestId, receivedAt } = input;
  const headers = { ...request.headers };
  // Payload 2.0 moves cookies out of the headers into their own array.
  const cookieHeader = headers.cookie;
  delete headers.cookie;
  const cookies = cookieHeader ? cookieHeader.split(';').map((cookie) => cookie.trim()).filter(Boolean) : undefined;
  const queryStringParameters = queryParametersOf(request.rawQuery);
  const hasPathParameters = Object.keys(match.pathParameters).length > 0;
  const text = isTextContentType(headers['content-type']);
  const domainName = (headers.host ?? '127.0.0.1').replace(/:\d+$/, '');
  // A stable fake unique id per identity, shaped like the role id API Gateway reports (AROA...).
  const userId = `AROA${Buffer.from(identity.name).toString('hex').toUpperCase().padEnd(17, '0').slice(0, 17)}:local`;
  return {
    version: '2.0',
    routeKey: match.route.routeKey,
    rawPath: request.rawPath,
    rawQueryString: request.rawQuery,
    ...(cookies && cookies.length > 0 && { cookies }),
    headers,
    ...(queryStringParameters && { queryStringParameters }),
    ...(hasPathParameters && { pathParameters: match.pathParameters }),
    ...(request.body.length > 0 && { body: text ? request.body.toString('utf8') : request.body.toString('base64') }),
    isBase64Encoded: request.body.length > 0 && !text,
    requestContext: {
      accountId: LOCAL_ACCOUNT_ID,
      apiId: LOCAL_API_ID,
      authorizer: {
        iam: {
          accessKey: identity.accessKeyId,
          accountId: LOCAL_ACCOUNT_ID,
          callerId: userId,
          cognitoIdentity: null,
          principalOrgId: '',
          userArn: identity.principal,
          userId,
        },
      },
      domainName,
      domainPrefix: domainName.split('.')[0] ?? domainName,
      http: {
        method: request.method,
        path: request.rawPath,
        protocol: 'HTTP/1.1',
        sourceIp: request.sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId,
      routeKey: match.route.routeKey,
      stage: '$default',
      time: formatRequestTime(receivedAt),
      timeEpoch: receivedAt.getTime(),
    },
  };
}

/** A Lambda context whose clock runs out at `deadline` (epoch ms). */
export function lambdaContext(functionName: string, region: string, deadline: number, now: () => number = Date.now): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:${LOCAL_ACCOUNT_ID}:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

// ---- Responses -----------------------------------------------------------------------------------------

export interface HttpAnswer {
  statusCode: number;
  headers: Record<string, string>;
  cookies: string[];
  body: Buffer;
}

const isStructured = (result: APIGatewayProxyResultV2): result is APIGatewayProxyStructuredResultV2 =>
  typeof result === 'object' && result !== null && typeof (result as { statusCode?: unknown }).statusCode === 'number';

/** A handler's result as API Gateway writes it; results without `statusCode` get payload 2.0's inference. */
export function toHttpAnswer(result: APIGatewayProxyResultV2): HttpAnswer {
  if (!isStructured(result)) {
    const body = typeof result === 'string' ? result : JSON.stringify(result);
    return { statusCode: 200, headers: { 'content-type': 'application/json' }, cookies: [], body: Buffer.from(body ?? '', 'utf8') };
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) headers[name.toLowerCase()] = String(value);
  const text = result.body ?? '';
  return {
    statusCode: result.statusCode ?? 200,
    headers,
    cookies: result.cookies ?? [],
    body: result.isBase64Encoded ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8'),
  };
}

/** API Gateway's own answers: `{"message": ...}`. */
export function gatewayAnswer(statusCode: number, message: string, errorType?: string): HttpAnswer {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', ...(errorType && { 'x-amzn-errortype': errorType }) },
    cookies: [],
    body: Buffer.from(JSON.stringify({ message }), 'utf8'),
  };
}

const authAnswer = (failure: SigV4Failure) => gatewayAnswer(failure.status, failure.message, failure.errorType);

// ---- Server --------------------------------------------------------------------------------------------

export interface GatewayRequestLog {
  requestId: string;
  method: string;
  path: string;
  status: number;
  durationMs: number;
  /** Name of the verified identity, when the signature checked out. */
  identity?: string;
  /** Why the gateway itself refused (auth failure kind, `no_route`, `timeout`, `handler_error`, ...). */
  refused?: string;
}

export interface GatewayOptions {
  routes: readonly ApiRoute[];
  handlers: Record<ApiFunctionName, ApiHandler>;
  identities: readonly LocalIdentity[];
  region: string;
  host?: string;
  port?: number;
  timeoutMs?: number;
  maxSkewSeconds?: number;
  /** Prefix of the function names in Lambda contexts. */
  functionPrefix?: string;
  onRequest?: (log: GatewayRequestLog) => void;
  /** A handler threw (API Gateway answers 500) or outlived the timeout (503). */
  onHandlerError?: (error: unknown, log: GatewayRequestLog) => void;
}

export interface Gateway {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  url: string;
  port: number;
  /** Stops accepting, waits for handler invocations in flight, closes every socket. Idempotent. */
  stop(): Promise<void>;
}

export class GatewayTimeoutError extends Error {
  readonly code = 'gateway_integration_timeout';
  constructor(timeoutMs: number) {
    super(`the handler did not answer within ${timeoutMs} ms`);
    this.name = 'GatewayTimeoutError';
  }
}

class BodyTooLargeError extends Error {
  readonly code = 'gateway_body_too_large';
}


/** API Gateway request ids look like `JZ9c3gk3IAMEVdw=`. */
const newRequestId = () => randomBytes(10).toString('base64');

function writeAnswer(response: ServerResponse, answer: HttpAnswer, requestId: string): void {
  const headers: Record<string, string | string[]> = { ...answer.headers, 'apigw-requestid': requestId };
  if (answer.cookies.length > 0) headers['set-cookie'] = answer.cookies;
  headers['content-length'] = String(answer.body.length);
  response.writeHead(answer.statusCode, headers);
  response.end(answer.body);
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const byAccessKey = new Map(options.identities.map((identity) => [identity.accessKeyId, identity]));
  const inFlight = new Set<Promise<unknown>>();

  async function invoke(fn: ApiFunctionName, event: ApiEvent, log: GatewayRequestLog): Promise<HttpAnswer> {
    const deadline = Date.now() + timeoutMs;
    const context = lambdaContext(`${options.functionPrefix ?? 'remoteit-broker-local'}-${fn}`, options.region, deadline);
    const invocation = Promise.resolve().then(() => options.handlers[fn](event, context));
    // Kept until it settles, even past the timeout: stop() waits for it, as a Lambda runs on after API Gateway gave up.
    const tracked = invocation.catch(() => undefined).finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new GatewayTimeoutError(timeoutMs)), timeoutMs);
    });
    try {
      return toHttpAnswer(await Promise.race([invocation, timedOut]));
    } catch (error) {
      if (error instanceof GatewayTimeoutError) {
        log.refused = 'timeout';
        options.onHandlerError?.(error, log);
        return gatewayAnswer(503, 'Service Unavailable');
      }
      log.refused = 'handler_error';
      options.onHandlerError?.(error, log);
      return gatewayAnswer(500, 'Internal Server Error');
    } finally {
      clearTimeout(timer);
    }
  }

  async function handle(request: IncomingMessage): Promise<{ answer: HttpAnswer; log: GatewayRequestLog }> {
    const receivedAt = new Date();
    const requestId = newRequestId();
    const url = request.url ?? '/';
    const queryStart = url.indexOf('?');
    const rawPath = queryStart < 0 ? url : url.slice(0, queryStart);
    const rawQuery = queryStart < 0 ? '' : url.slice(queryStart + 1);
    const method = (request.method ?? 'GET').toUpperCase();
    const log: GatewayRequestLog = { requestId, method, path: rawPath, status: 0, durationMs: 0 };

    let body: Buffer;
    try {
      body = await readBody(request, MAX_BODY_BYTES, () => new BodyTooLargeError(`body larger than ${MAX_BODY_BYTES} bytes`));
    } catch (error) {
      if (error instanceof BodyTooLargeError) {
        log.refused = 'body_too_large';
        // The rest of the body was never read: the connection cannot carry another request, so it closes
        // after this answer (kept alive, the unread bytes would be taken for the next request, which a client
        // reusing the socket would see reset).
        const answer = gatewayAnswer(413, 'Request Entity Too Large');
        answer.headers.connection = 'close';
        return { answer, log };
      }
      throw error;
    }
    // HTTP API matches the route before it authorizes: an unknown route is 404 even unsigned.
    const match = rawPath.startsWith('/') ? matchRoute(options.routes, method, rawPath) : undefined;
    if (!match) {
      log.refused = 'no_route';
      return { answer: gatewayAnswer(404, 'Not Found'), log };
    }
    const received: ReceivedHttpRequest = {
      method,
      rawPath,
      rawQuery,
      headers: flattenHeaders(request.headersDistinct),
      body,
      sourceIp: normaliseSourceIp(request.socket.remoteAddress),
    };
    const verdict = await verifySigV4(
      { method, path: rawPath, rawQuery, headers: received.headers, body },
      {
        region: options.region,
        service: EXECUTE_API,
        lookup: (accessKeyId) => byAccessKey.get(accessKeyId),
        ...(options.maxSkewSeconds !== undefined && { maxSkewSeconds: options.maxSkewSeconds }),
      },
    );
    if (!verdict.ok) {
      log.refused = verdict.failure.kind;
      return { answer: authAnswer(verdict.failure), log };
    }
    log.identity = verdict.key.name;
    const event = buildEvent({ request: received, match, identity: verdict.key, requestId, receivedAt });
    return { answer: await invoke(match.route.function, event, log), log };
  }

  const server = createServer((request, response) => {
    const started = Date.now();
    const work = handle(request)
      .catch((error: unknown) => {
        const log: GatewayRequestLog = { requestId: newRequestId(), method: request.method ?? '', path: request.url ?? '', status: 0, durationMs: 0, refused: 'gateway_error' };
        options.onHandlerError?.(error, log);
        return { answer: gatewayAnswer(500, 'Internal Server Error'), log };
      })
      .then(({ answer, log }) => {
        if (response.destroyed) return;
        writeAnswer(response, answer, log.requestId);
        log.status = answer.statusCode;
        log.durationMs = Date.now() - started;
        options.onRequest?.(log);
      })
      .catch(() => undefined)
      .finally(() => inFlight.delete(work));
    // Tracked up to the written answer, so stop() never cuts a response that is being written.
    inFlight.add(work);
  });

  const host = options.host ?? '127.0.0.1';
  const port = await listen(server, options.port ?? 0, host);

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // A kept-alive connection may still bring a request while the first ones drain: wait for those too
      // (a few rounds at most; each invocation is bounded by the gateway timeout), then cut what is left.
      for (let round = 0; round < 5 && inFlight.size > 0; round += 1) {
        await Promise.allSettled([...inFlight]);
        server.closeIdleConnections();
      }
      server.closeAllConnections();
      await closed;
    })();
    return stopping;
  };
  return { url: `http://${host}:${port}`, port, stop };
}
