/**
 * The request rules the domain left to the edge: the zod schemas, read through parseBody/parseQuery as the
 * handlers read them. What the domain still decides (the client-IP rules, policy) is tested with the use cases.
 */
import { InvalidRequestError, type FieldError } from '../../../lambdas/broker/errors';
import { parseBody, parseQuery } from '../../../lambdas/handlers/http/request';
import {
  listConnectionsQuerySchema,
  openConnectionRequestSchema,
  renewConnectionRequestSchema,
} from '../../../lambdas/handlers/http/schemas';
import { apiEvent } from '../../fixtures/api-events';

const SERVICE = '80:00:00:00:01:02:03:04';

const openEvent = (body: unknown) => apiEvent({ routeKey: 'POST /connections', body });
const renewEvent = (body: unknown) =>
  apiEvent({ routeKey: 'POST /connections/{id}/renew', pathParameters: { id: '01JCONN0000000000000000001' }, body });
const listEvent = (query: Record<string, string>) => apiEvent({ routeKey: 'GET /connections', query });

/** What `attempt` threw, which must be the one invalid-input error. */
function invalidRequestOf(attempt: () => unknown): InvalidRequestError {
  try {
    attempt();
  } catch (error) {
    if (error instanceof InvalidRequestError) return error;
    throw error;
  }
  throw new Error('expected an InvalidRequestError');
}

const fieldsOf = (errors: FieldError[]): string[] => errors.map((fieldError) => fieldError.field);

describe('openConnectionRequestSchema', () => {
  it('upper-cases the service id when given lower-case', () => {
    const request = parseBody(openEvent({ serviceId: '80:00:00:00:01:0a:0b:0c' }), openConnectionRequestSchema);

    expect(request.serviceId).toBe('80:00:00:00:01:0A:0B:0C');
  });

  it.each([0, 59, 90.5])('rejects ttlSeconds %s as invalid when it is not a whole number of at least 60', (ttlSeconds) => {
    const error = invalidRequestOf(() => parseBody(openEvent({ serviceId: SERVICE, ttlSeconds }), openConnectionRequestSchema));

    expect(error.errors).toEqual([{ field: 'ttlSeconds', message: expect.any(String) }]);
  });

  // clientIp '1.1.1.1' is a well-formed IPv4 address: the schema passes it, and whether it may be used is the
  // domain's rule (test/unit/broker/client-ip.test.ts), decided only once the schema has passed.
  it('names every bad schema field when several are wrong', () => {
    const error = invalidRequestOf(() =>
      parseBody(openEvent({ serviceId: '80:00:00', mode: 'tunnel', ttlSeconds: 59.5, clientIp: '1.1.1.1' }), openConnectionRequestSchema),
    );

    expect(error.code).toBe('invalid_request');
    expect(fieldsOf(error.errors)).toEqual(['serviceId', 'mode', 'ttlSeconds']);
    expect(error.message).toMatch(/^invalid request: serviceId .+; mode .+; ttlSeconds .+$/);
  });
});

describe('renewConnectionRequestSchema', () => {
  it.each([30, 60.5])('rejects ttlSeconds %s naming the field', (ttlSeconds) => {
    const error = invalidRequestOf(() => parseBody(renewEvent({ ttlSeconds }), renewConnectionRequestSchema));

    expect(error).toMatchObject({ code: 'invalid_request', errors: [{ field: 'ttlSeconds' }] });
  });
});

describe('listConnectionsQuerySchema', () => {
  it('upper-cases the service id filter when given lower-case, so it matches case-insensitively', () => {
    const query = parseQuery(listEvent({ serviceId: '80:00:00:00:01:00:00:0a' }), listConnectionsQuerySchema);

    expect(query.serviceId).toBe('80:00:00:00:01:00:00:0A');
  });

  it.each([
    ['limit', { limit: '0' }],
    ['limit', { limit: '101' }],
    ['limit', { limit: '2.5' }],
    ['serviceId', { serviceId: 'nope' }],
    ['status', { status: 'alive' }],
  ])('rejects naming %s when it is invalid', (field, query) => {
    const error = invalidRequestOf(() => parseQuery(listEvent(query), listConnectionsQuerySchema));

    expect(error).toMatchObject({ errors: [{ field }] });
  });
});
