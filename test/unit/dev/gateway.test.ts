import {
  buildEvent,
  flattenHeaders,
  formatRequestTime,
  gatewayAnswer,
  isTextContentType,
  lambdaContext,
  matchRoute,
  normaliseSourceIp,
  queryParametersOf,
  toHttpAnswer,
  type EventInput,
} from '../../../dev/gateway';
import { generateIdentity } from '../../../dev/identities';
import { API_ROUTES, type ApiRouteKey } from '../../../lambdas/handlers/routes';

const identity = { ...generateIdentity({ name: 'app', admin: false }), accessKeyId: 'AKIAAPPAPPAPPAPPAPP1' };

function eventInput(overrides: Partial<EventInput['request']> = {}): EventInput {
  const request = {
    method: 'POST',
    rawPath: '/connections/01ABC%3A1/renew',
    rawQuery: '',
    headers: { host: '127.0.0.1:4000', 'content-type': 'application/json', 'user-agent': 'curl/8' },
    body: Buffer.from('{"ttlSeconds":600}'),
    sourceIp: '127.0.0.2',
    ...overrides,
  };
  const match = matchRoute(API_ROUTES, request.method, request.rawPath);
  if (!match) throw new Error('test route does not match');
  return { request, match, identity, requestId: 'req-1', receivedAt: new Date('2026-11-26T12:00:05Z') };
}

describe('gateway', () => {
  describe('matchRoute', () => {
    it('picks the literal route when the path has no parameters', () => {
      expect(matchRoute(API_ROUTES, 'GET', '/connections')).toEqual({ route: expect.objectContaining({ routeKey: 'GET /connections' }), pathParameters: {} });
    });

    it('fills and decodes path parameters when the route has them', () => {
      const match = matchRoute(API_ROUTES, 'POST', '/connections/01ABC%3A1/renew');

      expect(match?.route.routeKey).toBe('POST /connections/{id}/renew');
      expect(match?.pathParameters).toEqual({ id: '01ABC:1' });
    });

    it('routes to the function the route table names', () => {
      expect(matchRoute(API_ROUTES, 'DELETE', '/connections/01ABC')?.route.function).toBe('connections-write');
      expect(matchRoute(API_ROUTES, 'GET', '/connections/01ABC')?.route.function).toBe('connections-read');
    });

    it.each([
      ['an unknown method', 'PUT', '/connections'],
      ['an unknown path', 'GET', '/nope'],
      ['a trailing slash', 'GET', '/connections/'],
      ['an empty parameter', 'POST', '/connections//renew'],
      ['an extra segment', 'GET', '/connections/a/b'],
    ])('finds nothing when the request has %s', (_case, method, path) => {
      expect(matchRoute(API_ROUTES, method, path)).toBeUndefined();
    });

    it('prefers the route with more literal segments when two match', () => {
      const routes = [
        { method: 'GET' as const, path: '/connections/{id}', routeKey: 'GET /connections/{id}' as const, function: 'connections-read' as const },
        // A route the API does not have, to show the precedence.
        { method: 'GET' as const, path: '/connections/latest', routeKey: 'GET /connections/latest' as ApiRouteKey, function: 'connections-read' as const },
      ];

      expect(matchRoute(routes, 'GET', '/connections/latest')?.route.routeKey).toBe('GET /connections/latest');
    });
  });

  describe('buildEvent', () => {
    it('builds a payload 2.0 event with the IAM authorizer identity when the request was verified', () => {
      const event = buildEvent(eventInput());

      expect(event).toMatchObject({
        version: '2.0',
        routeKey: 'POST /connections/{id}/renew',
        rawPath: '/connections/01ABC%3A1/renew',
        rawQueryString: '',
        pathParameters: { id: '01ABC:1' },
        body: '{"ttlSeconds":600}',
        isBase64Encoded: false,
        requestContext: {
          accountId: '000000000000',
          domainName: '127.0.0.1',
          http: { method: 'POST', path: '/connections/01ABC%3A1/renew', protocol: 'HTTP/1.1', sourceIp: '127.0.0.2', userAgent: 'curl/8' },
          requestId: 'req-1',
          routeKey: 'POST /connections/{id}/renew',
          stage: '$default',
          time: '26/Nov/2026:12:00:05 +0000',
          timeEpoch: Date.parse('2026-11-26T12:00:05Z'),
          authorizer: { iam: { accessKey: 'AKIAAPPAPPAPPAPPAPP1', accountId: '000000000000', userArn: identity.principal } },
        },
      });
      expect(event.queryStringParameters).toBeUndefined();
    });

    it('joins repeated query parameters with commas when the query repeats a name', () => {
      const event = buildEvent(eventInput({ rawQuery: 'status=active&status=stopped&limit=5' }));

      expect(event.queryStringParameters).toEqual({ status: 'active,stopped', limit: '5' });
      expect(event.rawQueryString).toBe('status=active&status=stopped&limit=5');
    });

    it('base64-encodes the body when the content type is binary', () => {
      const event = buildEvent(eventInput({ headers: { host: 'h', 'content-type': 'application/octet-stream' }, body: Buffer.from([0xff, 0x00]) }));

      expect(event).toMatchObject({ body: '/wA=', isBase64Encoded: true });
    });

    it('leaves the body out when the request has none', () => {
      const event = buildEvent(eventInput({ body: Buffer.alloc(0) }));

      expect(event.body).toBeUndefined();
      expect(event.isBase64Encoded).toBe(false);
    });

    it('moves cookies out of the headers when the request sends them', () => {
      const event = buildEvent(eventInput({ headers: { host: 'h', cookie: 'a=1; b=2' } }));

      expect(event.cookies).toEqual(['a=1', 'b=2']);
      expect(event.headers.cookie).toBeUndefined();
    });
  });

  describe('toHttpAnswer', () => {
    it('writes status, lower-cased headers and body when the handler returns a structured result', () => {
      const answer = toHttpAnswer({ statusCode: 201, headers: { Location: '/connections/1', 'X-Count': 2 }, body: '{"id":"1"}' });

      expect(answer).toEqual({ statusCode: 201, headers: { location: '/connections/1', 'x-count': '2' }, cookies: [], body: Buffer.from('{"id":"1"}') });
    });

    it('decodes the body when the result is base64-encoded', () => {
      expect(toHttpAnswer({ statusCode: 200, body: '/wA=', isBase64Encoded: true }).body).toEqual(Buffer.from([0xff, 0x00]));
    });

    it('infers a 200 JSON answer when the handler returns a plain object', () => {
      const answer = toHttpAnswer({ ok: true } as never);

      expect(answer).toMatchObject({ statusCode: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from('{"ok":true}') });
    });
  });

  describe('gatewayAnswer', () => {
    it('answers API Gateway\'s message body with its error type when one is given', () => {
      expect(gatewayAnswer(403, 'Forbidden', 'ForbiddenException')).toEqual({
        statusCode: 403,
        headers: { 'content-type': 'application/json', 'x-amzn-errortype': 'ForbiddenException' },
        cookies: [],
        body: Buffer.from('{"message":"Forbidden"}'),
      });
    });
  });

  describe('helpers', () => {
    it('strips the IPv4-mapped prefix when the socket reports one', () => {
      expect(normaliseSourceIp('::ffff:127.0.0.2')).toBe('127.0.0.2');
      expect(normaliseSourceIp('::1')).toBe('::1');
    });

    it('joins repeated headers when node reports them as an array', () => {
      expect(flattenHeaders({ 'x-a': ['1', '2'], host: 'h', absent: undefined })).toEqual({ 'x-a': '1,2', host: 'h' });
    });

    it.each([
      ['application/json; charset=utf-8', true],
      ['application/problem+json', true],
      ['text/plain', true],
      [undefined, true],
      ['application/octet-stream', false],
      ['image/png', false],
    ])('tells %s is text: %s', (contentType, expected) => {
      expect(isTextContentType(contentType)).toBe(expected);
    });

    it('returns no parameters when the query is empty', () => {
      expect(queryParametersOf('')).toBeUndefined();
    });

    it('formats the request time as API Gateway does', () => {
      expect(formatRequestTime(new Date('2026-01-02T03:04:05Z'))).toBe('02/Jan/2026:03:04:05 +0000');
    });

    it('counts the remaining time down to the deadline when asked', () => {
      let now = 1_000;
      const context = lambdaContext('fn', 'us-east-1', 30_000, () => now);

      const before = context.getRemainingTimeInMillis();
      now = 40_000;

      expect([before, context.getRemainingTimeInMillis()]).toEqual([29_000, 0]);
      expect(context.invokedFunctionArn).toBe('arn:aws:lambda:us-east-1:000000000000:function:fn');
    });
  });
});
