/**
 * The gateway's server on its own, with stand-in handlers: what reaches a handler (event and context), and
 * what API Gateway answers when a handler throws or outlives the integration timeout.
 */
import { Agent, request } from 'node:http';
import type { Context } from 'aws-lambda';
import { MAX_BODY_BYTES, startGateway, type ApiHandler, type Gateway, type GatewayRequestLog } from '../../../dev/gateway';
import { generateIdentity } from '../../../dev/identities';
import type { ApiEvent } from '../../../lambdas/handlers/http/request';
import { MISMATCH_MESSAGE } from '../../../dev/sigv4';
import { API_ROUTES } from '../../../lambdas/handlers/routes';
import { call } from './support';

const app = generateIdentity({ name: 'app', admin: false });
const REGION = 'eu-west-1';

let gateway: Gateway;
let read: jest.MockedFunction<ApiHandler>;
let write: jest.MockedFunction<ApiHandler>;
const logs: GatewayRequestLog[] = [];
const handlerErrors: unknown[] = [];
let releaseHung: (() => void) | undefined;

beforeAll(async () => {
  read = jest.fn();
  write = jest.fn();
  gateway = await startGateway({
    routes: API_ROUTES,
    handlers: { 'connections-read': read, 'connections-open': write, 'connections-write': write },
    identities: [app],
    region: REGION,
    timeoutMs: 300,
    onRequest: (log) => logs.push(log),
    onHandlerError: (error) => handlerErrors.push(error),
  });
});

afterAll(async () => {
  releaseHung?.();
  await gateway.stop();
});

const stack = () => ({ apiUrl: gateway.url, region: REGION });

describe('gateway server', () => {
  describe('invocation', () => {
    it('hands the handler the route, identity, source address and a context ending at the integration timeout when a signed request arrives', async () => {
      read.mockResolvedValueOnce({ statusCode: 200, headers: { 'content-type': 'application/json', 'x-extra': 'yes' }, body: '{"items":[]}' });

      const answer = await call(stack(), { method: 'GET', path: '/connections/01ABC', query: 'verbose=1', as: app, localAddress: '127.0.0.9' });

      const [event, context] = read.mock.calls[0] as [ApiEvent, Context];
      expect(answer).toMatchObject({ status: 200, body: { items: [] }, headers: { 'x-extra': 'yes', 'apigw-requestid': event.requestContext.requestId } });
      expect(event).toMatchObject({
        routeKey: 'GET /connections/{id}',
        pathParameters: { id: '01ABC' },
        queryStringParameters: { verbose: '1' },
        requestContext: { http: { sourceIp: '127.0.0.9', method: 'GET' }, authorizer: { iam: { userArn: app.principal, accessKey: app.accessKeyId } } },
      });
      expect(context.functionName).toBe('remoteit-broker-local-connections-read');
      expect(context.getRemainingTimeInMillis()).toBeGreaterThan(0);
      expect(context.getRemainingTimeInMillis()).toBeLessThanOrEqual(300);
    });

    it('verifies a signed header sent on several lines as its values joined by a comma, as SigV4 canonicalises it', async () => {
      read.mockResolvedValueOnce({ statusCode: 200, body: '{}' });

      const answer = await call(stack(), {
        method: 'GET',
        path: '/connections',
        as: app,
        headers: { 'x-trace-tag': 'a,b' },
        afterSigning: (sent) => {
          sent.headers['x-trace-tag'] = ['a', 'b'];
        },
      });

      expect(answer.status).toBe(200);
      const [event] = read.mock.calls.at(-1) as [ApiEvent, Context];
      expect(event.headers['x-trace-tag']).toBe('a,b');
    });

    it('calls no handler when the request is not signed', async () => {
      const calls = write.mock.calls.length;

      const answer = await call(stack(), { method: 'POST', path: '/connections', body: {}, as: null });

      expect(answer.status).toBe(403);
      expect(write.mock.calls.length).toBe(calls);
      expect(logs.at(-1)).toMatchObject({ status: 403, refused: 'missing' });
    });
  });

  describe('where API Gateway is strict', () => {
    it('answers 403 with the mismatch message, calling no handler, when a body is sent under a signed x-amz-content-sha256: UNSIGNED-PAYLOAD', async () => {
      const calls = write.mock.calls.length;

      const answer = await call(stack(), {
        method: 'POST',
        path: '/connections',
        body: { serviceId: '80:00:00:00:00:00:00:01' },
        as: app,
        headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
      });

      expect(answer).toMatchObject({ status: 403, body: { message: MISMATCH_MESSAGE } });
      expect(answer.headers['x-amzn-errortype']).toBe('InvalidSignatureException');
      expect(write.mock.calls.length).toBe(calls);
      expect(logs.at(-1)).toMatchObject({ status: 403, refused: 'mismatch' });
    });

    it('accepts UNSIGNED-PAYLOAD on a request without a body, as curl sends it on a DELETE: nothing goes unsigned', async () => {
      write.mockResolvedValueOnce({ statusCode: 200, body: '{}' });

      const answer = await call(stack(), { method: 'DELETE', path: '/connections/01ABC', as: app, headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } });

      expect(answer.status).toBe(200);
    });

    it('verifies a signed query whose names are those of Object.prototype, and hands them to the handler as they were sent', async () => {
      read.mockResolvedValueOnce({ statusCode: 200, body: '{}' });
      const calls = read.mock.calls.length;

      const answer = await call(stack(), {
        method: 'GET',
        path: '/connections',
        query: '__proto__=p&constructor=c&hasOwnProperty=h&toString=t&valueOf=v',
        as: app,
      });

      expect(answer.status).toBe(200);
      expect(read.mock.calls.length).toBe(calls + 1);
      const [event] = read.mock.calls.at(-1) as [ApiEvent, Context];
      expect(Object.entries(event.queryStringParameters ?? {}).sort()).toEqual([
        ['__proto__', 'p'],
        ['constructor', 'c'],
        ['hasOwnProperty', 'h'],
        ['toString', 't'],
        ['valueOf', 'v'],
      ]);
      expect(Object.getPrototypeOf(event.queryStringParameters)).toBe(Object.prototype);
    });

    it('verifies a signed header named like a prototype property, and refuses one that was signed but not sent', async () => {
      read.mockResolvedValueOnce({ statusCode: 200, body: '{}' });

      const sent = await call(stack(), { method: 'GET', path: '/connections', as: app, headers: { constructor: 'x', tostring: 'y' } });
      const dropped = await call(stack(), {
        method: 'GET',
        path: '/connections',
        as: app,
        headers: { constructor: 'x' },
        afterSigning: (request) => {
          Reflect.deleteProperty(request.headers, 'constructor');
        },
      });

      expect([sent.status, dropped.status]).toEqual([200, 403]);
      expect(dropped.body).toEqual({ message: MISMATCH_MESSAGE });
    });

    it('answers 413 with connection: close when the body passes the limit, so the next request on a kept-alive socket is answered', async () => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const send = (body: Buffer) =>
        new Promise<{ status: number; connection: string | undefined; text: string }>((resolve, reject) => {
          const outgoing = request(`${gateway.url}/connections`, { method: 'POST', agent, headers: { 'content-length': String(body.length) } }, (response) => {
            const chunks: Buffer[] = [];
            response.on('data', (chunk: Buffer) => chunks.push(chunk));
            response.on('end', () => resolve({ status: response.statusCode ?? 0, connection: response.headers.connection, text: Buffer.concat(chunks).toString('utf8') }));
            response.on('error', reject);
          });
          outgoing.setTimeout(15_000, () => outgoing.destroy(new Error('no answer within 15 s')));
          outgoing.on('error', reject);
          outgoing.end(body);
        });
      try {
        const tooLarge = await send(Buffer.alloc(MAX_BODY_BYTES + 1024 * 1024, 0x61));
        const next = await send(Buffer.from('{}'));

        expect([tooLarge.status, tooLarge.connection, JSON.parse(tooLarge.text)]).toEqual([413, 'close', { message: 'Request Entity Too Large' }]);
        expect([next.status, JSON.parse(next.text)]).toEqual([403, { message: 'Forbidden' }]);
        expect(logs.at(-2)).toMatchObject({ status: 413, refused: 'body_too_large' });
      } finally {
        agent.destroy();
      }
    });
  });

  describe('handler failures', () => {
    it('answers 500 Internal Server Error when the handler throws', async () => {
      write.mockRejectedValueOnce(new Error('boom'));

      const answer = await call(stack(), { method: 'POST', path: '/connections', body: {}, as: app });

      expect(answer).toMatchObject({ status: 500, body: { message: 'Internal Server Error' } });
      expect(handlerErrors).toContainEqual(new Error('boom'));
    });

    it('answers 503 Service Unavailable when the handler outlives the integration timeout', async () => {
      write.mockImplementationOnce(() => new Promise((resolve) => {
        releaseHung = () => resolve({ statusCode: 201, body: '{}' });
      }));

      const answer = await call(stack(), { method: 'POST', path: '/connections', body: {}, as: app });

      expect(answer).toMatchObject({ status: 503, body: { message: 'Service Unavailable' } });
      expect(logs.at(-1)).toMatchObject({ status: 503, refused: 'timeout' });
    });

    it('waits for an invocation still running when stopped', async () => {
      let stopped = false;
      const stopping = gateway.stop().then(() => {
        stopped = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      const stoppedWhileRunning = stopped;

      releaseHung?.();
      await stopping;

      expect([stoppedWhileRunning, stopped]).toEqual([false, true]);
    });
  });
});
