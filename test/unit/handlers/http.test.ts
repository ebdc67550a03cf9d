import { InvalidRequestError } from '../../../lambdas/broker/errors';
import { errorResponse } from '../../../lambdas/handlers/http/problem';
import { connectionIdOf, idempotencyKeyOf, identityOf, MAX_BODY_BYTES, parseBody, parseQuery } from '../../../lambdas/handlers/http/request';
import { listConnectionsQuerySchema, openConnectionRequestSchema } from '../../../lambdas/handlers/http/schemas';
import { apiEvent } from '../../fixtures/api-events';

function errorsOf(attempt: () => unknown): InvalidRequestError['errors'] {
  try {
    attempt();
  } catch (error) {
    if (error instanceof InvalidRequestError) return error.errors;
    throw error;
  }
  throw new Error('expected an InvalidRequestError');
}

const fieldsOf = (attempt: () => unknown): string[] => errorsOf(attempt).map((fieldError) => fieldError.field);

describe('http request parsing', () => {
  describe('parseBody', () => {
    it('upper-cases the serviceId when the body is valid', () => {
      const event = apiEvent({ routeKey: 'POST /connections', body: { serviceId: '80:00:00:00:01:0a:bb:cc', ttlSeconds: 120 } });

      expect(parseBody(event, openConnectionRequestSchema)).toEqual({ serviceId: '80:00:00:00:01:0A:BB:CC', ttlSeconds: 120 });
    });

    it('names every bad field, unknown ones included, when several are wrong', () => {
      const event = apiEvent({
        routeKey: 'POST /connections',
        body: { serviceId: 'nope', mode: 'tunnel', clientIp: '300.1.1.1', ttlSeconds: 10.5, reuse: 'yes', colour: 'red' },
      });

      expect(fieldsOf(() => parseBody(event, openConnectionRequestSchema)).sort()).toEqual(
        ['clientIp', 'colour', 'mode', 'reuse', 'serviceId', 'ttlSeconds'].sort(),
      );
    });

    it('says a required field is required when it is missing', () => {
      const event = apiEvent({ routeKey: 'POST /connections', body: {} });

      expect(() => parseBody(event, openConnectionRequestSchema)).toThrow('serviceId is required');
    });

    it.each([
      ['a fractional ttlSeconds', { serviceId: '80:00:00:00:01:02:03:04', ttlSeconds: 1.5 }, 'ttlSeconds'],
      ['a number as serviceId', { serviceId: 5 }, 'serviceId'],
      ['null as serviceId', { serviceId: null }, 'serviceId'],
      ['a string as reuse', { serviceId: '80:00:00:00:01:02:03:04', reuse: 'yes' }, 'reuse'],
    ])('says what is wrong, not that it is required, when the body has %s', (_case, body, field) => {
      const event = apiEvent({ routeKey: 'POST /connections', body });

      const errors = errorsOf(() => parseBody(event, openConnectionRequestSchema));

      expect(errors).toEqual([{ field, message: expect.any(String) }]);
      expect(errors[0]?.message).not.toBe('is required');
    });

    it('says a field is required when the body has it only on its prototype chain', () => {
      const event = apiEvent({ routeKey: 'POST /connections', rawBody: '{"__proto__":{"serviceId":"80:00:00:00:01:02:03:04"}}' });

      expect(errorsOf(() => parseBody(event, openConnectionRequestSchema))).toContainEqual({ field: 'serviceId', message: 'is required' });
    });

    it('names the body when it is not JSON', () => {
      const event = apiEvent({ routeKey: 'POST /connections', rawBody: '{"serviceId":' });

      expect(() => parseBody(event, openConnectionRequestSchema)).toThrow('body is not valid JSON');
    });

    it.each([['[]'], ['null'], ['"text"'], ['']])('names the body when it is %p rather than an object', (rawBody) => {
      const event = apiEvent({ routeKey: 'POST /connections', rawBody });

      expect(() => parseBody(event, openConnectionRequestSchema)).toThrow('body must be a JSON object');
    });

    it('decodes a base64-encoded body when API Gateway marks it so', () => {
      const event = { ...apiEvent({ routeKey: 'POST /connections' }), isBase64Encoded: true, body: Buffer.from('{"serviceId":"80:00:00:00:01:02:03:04"}').toString('base64') };

      expect(parseBody(event, openConnectionRequestSchema).serviceId).toBe('80:00:00:00:01:02:03:04');
    });
  });

  describe('parseQuery', () => {
    it('defaults the limit to 50 when absent', () => {
      expect(parseQuery(apiEvent({ routeKey: 'GET /connections' }), listConnectionsQuerySchema)).toEqual({ limit: 50 });
    });

    it('names limit and status when they are out of range or unknown', () => {
      const event = apiEvent({ routeKey: 'GET /connections', query: { limit: '1000', status: 'running', sort: 'asc' } });

      expect(fieldsOf(() => parseQuery(event, listConnectionsQuerySchema)).sort()).toEqual(['limit', 'sort', 'status']);
    });
  });

  describe('connectionIdOf', () => {
    it('names id when the path id is not a ULID', () => {
      const event = apiEvent({ routeKey: 'GET /connections/{id}', pathParameters: { id: '../etc' } });

      expect(fieldsOf(() => connectionIdOf(event))).toEqual(['id']);
    });
  });

  describe('idempotencyKeyOf', () => {
    it('names the header when the key has spaces', () => {
      const event = apiEvent({ routeKey: 'POST /connections', headers: { 'idempotency-key': 'a b' } });

      expect(fieldsOf(() => idempotencyKeyOf(event))).toEqual(['Idempotency-Key']);
    });

    it('returns undefined when the header is absent', () => {
      expect(idempotencyKeyOf(apiEvent({ routeKey: 'POST /connections' }))).toBeUndefined();
    });
  });

  describe('identityOf', () => {
    it('rejects an event without an IAM identity', () => {
      expect(() => identityOf(apiEvent({ routeKey: 'GET /connections', callerArn: null }))).toThrow('not signed');
    });
  });
});

describe('errorResponse', () => {
  it('answers 400 problem+json listing the fields when input is invalid', () => {
    const response = errorResponse(new InvalidRequestError([{ field: 'ttlSeconds', message: 'must be at least 60 seconds' }]), 'req-1');

    expect(response.statusCode).toBe(400);
    expect(response.headers).toMatchObject({ 'content-type': 'application/problem+json' });
    expect(JSON.parse(String(response.body))).toEqual({
      type: 'urn:remoteit-broker:problem:invalid_request',
      title: 'Invalid request',
      status: 400,
      detail: 'invalid request: ttlSeconds must be at least 60 seconds',
      instance: 'req-1',
      errors: [{ field: 'ttlSeconds', message: 'must be at least 60 seconds' }],
    });
  });

  it('answers 500 with a generic detail and never the message when the error is unknown', () => {
    const response = errorResponse(new Error('ECONNRESET talking to dynamodb with key AKIASECRET'), 'req-2');

    expect(response.statusCode).toBe(500);
    expect(String(response.body)).not.toContain('AKIASECRET');
    expect(JSON.parse(String(response.body)).detail).toMatch(/has been logged/);
  });

  it('sets Retry-After when the error carries one', () => {
    const error = Object.assign(new Error('throttled'), { code: 'upstream_unavailable', retryAfterSeconds: 2.2 });

    expect(errorResponse(error, 'req-3').headers).toMatchObject({ 'retry-after': '3' });
  });
});

describe('bounded error answers', () => {
  it('refuses a body above 16 KiB with 413 naming the body, before parsing it', () => {
    const event = apiEvent({ routeKey: 'POST /connections', rawBody: `{"serviceId":"${'x'.repeat(MAX_BODY_BYTES)}"}` });

    const answer = errorResponse(rejectionOf(() => parseBody(event, openConnectionRequestSchema)), 'req-1');

    expect(answer.statusCode).toBe(413);
    expect(JSON.parse(String(answer.body))).toMatchObject({
      type: 'urn:remoteit-broker:problem:payload_too_large',
      errors: [{ field: 'body', message: expect.stringContaining(`at most ${MAX_BODY_BYTES}`) }],
    });
  });

  it('counts a base64-encoded body by its decoded size', () => {
    const body = JSON.stringify({ serviceId: '80:00:00:00:01:0A:BB:CC', pad: 'y'.repeat(MAX_BODY_BYTES - 100) });
    const event = { ...apiEvent({ routeKey: 'POST /connections', rawBody: Buffer.from(body).toString('base64') }), isBase64Encoded: true };

    expect(rejectionOf(() => parseBody(event, openConnectionRequestSchema))).toMatchObject({ code: 'invalid_request' });
  });

  it('names at most 20 bad fields, clips long names and counts the rest, so 100,000 unknown keys answer a small 400', () => {
    const keys = Array.from({ length: 100_000 }, (_, n) => `${'k'.repeat(200)}${n}`);
    const error = new InvalidRequestError(keys.map((field) => ({ field, message: 'is not a known field' })));

    const answer = errorResponse(error, 'req-2');
    const body = JSON.parse(String(answer.body)) as { errors: Array<{ field: string; message: string }>; detail: string };

    expect(answer.statusCode).toBe(400);
    expect(body.errors).toHaveLength(21);
    expect(body.errors.slice(0, 20).every((entry) => entry.field.length === 64 && entry.field.endsWith('…'))).toBe(true);
    expect(body.errors[20]).toEqual({ field: 'body', message: 'and 99980 more problems (the first 20 are named)' });
    expect(String(answer.body).length).toBeLessThan(8_000);
  });
});

function rejectionOf(attempt: () => unknown): Error {
  try {
    attempt();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}
