import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { MISMATCH_MESSAGE, parseAmzDate, parseAuthorization, parseQueryForSigning, verifySigV4, type ReceivedRequest } from '../../../dev/sigv4';

const KEY = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret', name: 'app' };
const REGION = 'us-east-1';
const SIGNED_AT = new Date('2026-11-26T13:15:50Z');

const verify = (request: ReceivedRequest, now = SIGNED_AT) =>
  verifySigV4(request, { region: REGION, service: 'execute-api', lookup: (id) => (id === KEY.accessKeyId ? KEY : undefined), now: () => now });

/**
 * Requests as curl 7.88 sent them (`curl --aws-sigv4 "aws:amz:us-east-1:execute-api" --user AKIDEXAMPLE:secret`),
 * captured on the wire: signatures computed by an implementation that shares no code with the gateway's.
 */
const curlPost = (): ReceivedRequest => ({
  method: 'POST',
  path: '/connections',
  rawQuery: '',
  headers: {
    host: '127.0.0.1:45991',
    authorization:
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/us-east-1/execute-api/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=d15ebc0ada6d44ce3ac7c3f1c169eaae7a8a854ed6b48409390f64ee565d3699',
    'x-amz-date': '20261126T131550Z',
    'user-agent': 'curl/7.88.1',
    accept: '*/*',
    'content-type': 'application/json',
    'content-length': '17',
  },
  body: Buffer.from('{"serviceId":"x"}'),
});

const curlUnsignedPayloadDelete = (): ReceivedRequest => ({
  method: 'DELETE',
  path: '/connections/01ABC',
  rawQuery: '',
  headers: {
    host: '127.0.0.1:45991',
    authorization:
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/us-east-1/execute-api/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=801fc4acdd212a0709a2b85d235938dc7a91a3ab33c9799e67063420c862b6ed',
    'x-amz-date': '20261126T131550Z',
    'user-agent': 'curl/7.88.1',
    accept: '*/*',
    'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
  },
  body: Buffer.alloc(0),
});

/** Signed by the AWS SDK's signer, as the TypeScript client does. */
async function sdkSigned(init: { method: string; path: string; query?: Record<string, string | string[]>; rawQuery?: string; body?: string }): Promise<ReceivedRequest> {
  const signer = new SignatureV4({ credentials: KEY, region: REGION, service: 'execute-api', sha256: Sha256 });
  const body = init.body ?? '';
  const signed = await signer.sign(
    new HttpRequest({
      method: init.method,
      protocol: 'http:',
      hostname: '127.0.0.1',
      port: 4000,
      path: init.path,
      query: init.query ?? {},
      headers: { host: '127.0.0.1:4000', 'content-type': 'application/json', ...(body && { 'content-length': String(Buffer.byteLength(body)) }) },
      ...(body && { body }),
    }),
    { signingDate: SIGNED_AT },
  );
  const headers = Object.fromEntries(Object.entries(signed.headers).map(([name, value]) => [name.toLowerCase(), value]));
  return { method: init.method, path: init.path, rawQuery: init.rawQuery ?? '', headers, body: Buffer.from(body) };
}

describe('sigv4', () => {
  describe('verifySigV4', () => {
    it('accepts a request when curl signed it', async () => {
      const result = await verify(curlPost());

      expect(result).toEqual({ ok: true, key: KEY });
    });

    it('accepts a request when curl signed x-amz-content-sha256: UNSIGNED-PAYLOAD', async () => {
      const result = await verify(curlUnsignedPayloadDelete());

      expect(result.ok).toBe(true);
    });

    it('accepts a request when the SDK signer signed it with a query in any order', async () => {
      const request = await sdkSigned({ method: 'GET', path: '/connections', query: { status: 'active', limit: '5' }, rawQuery: 'status=active&limit=5' });

      const result = await verify(request);

      expect(result.ok).toBe(true);
    });

    it('accepts a request when a header that was not signed is added on the way', async () => {
      const request = curlPost();
      request.headers['x-forwarded-for'] = '198.51.100.7';

      const result = await verify(request);

      expect(result.ok).toBe(true);
    });

    it.each([
      ['the body was changed', (request: ReceivedRequest) => ({ ...request, body: Buffer.from('{"serviceId":"y"}') })],
      ['the path was changed', (request: ReceivedRequest) => ({ ...request, path: '/connections/x' })],
      ['the method was changed', (request: ReceivedRequest) => ({ ...request, method: 'PUT' })],
      ['a query was added', (request: ReceivedRequest) => ({ ...request, rawQuery: 'all=true' })],
      ['a signed header was changed', (request: ReceivedRequest) => ({ ...request, headers: { ...request.headers, 'content-type': 'text/plain' } })],
      ['the signature is one digit off', (request: ReceivedRequest) => ({
        ...request,
        headers: { ...request.headers, authorization: (request.headers.authorization ?? '').replace(/3699$/, '3698') },
      })],
    ])('answers 403 with API Gateway\'s mismatch message when %s', async (_case, tamper) => {
      const result = await verify(tamper(curlPost()));

      expect(result).toEqual({
        ok: false,
        failure: { kind: 'mismatch', status: 403, errorType: 'InvalidSignatureException', message: MISMATCH_MESSAGE },
      });
    });

    it('refuses a request when the body does not match the signed x-amz-content-sha256', async () => {
      const request = await sdkSigned({ method: 'POST', path: '/connections', body: '{"serviceId":"a"}' });

      const result = await verify({ ...request, body: Buffer.from('{"serviceId":"b"}') });

      expect(request.headers['x-amz-content-sha256']).toMatch(/^[0-9a-f]{64}$/);
      expect(result.ok ? undefined : result.failure).toMatchObject({ kind: 'mismatch', message: MISMATCH_MESSAGE });
    });

    it('accepts a request when the SDK signer signed its body hash', async () => {
      const result = await verify(await sdkSigned({ method: 'POST', path: '/connections', body: '{"serviceId":"a"}' }));

      expect(result.ok).toBe(true);
    });

    it('answers a mismatch when the secret used to sign is not the identity\'s', async () => {
      const result = await verifySigV4(curlPost(), {
        region: REGION,
        service: 'execute-api',
        lookup: () => ({ accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'another-secret' }),
        now: () => SIGNED_AT,
      });

      expect(result.ok ? undefined : result.failure.kind).toBe('mismatch');
    });

    it('answers Forbidden when there is no Authorization header', async () => {
      const request = curlPost();
      delete request.headers.authorization;

      const result = await verify(request);

      expect(result).toEqual({ ok: false, failure: { kind: 'missing', status: 403, errorType: 'ForbiddenException', message: 'Forbidden' } });
    });

    it('names every missing part when the Authorization header is not SigV4', async () => {
      const request = { ...curlPost(), headers: { ...curlPost().headers, authorization: 'Bearer abc' } };

      const result = await verify(request);

      expect(result.ok ? undefined : result.failure).toMatchObject({
        kind: 'incomplete',
        errorType: 'IncompleteSignatureException',
        message: expect.stringContaining("requires 'Credential' parameter"),
      });
    });

    it('answers an invalid security token when the access key is unknown', async () => {
      const request = curlPost();
      request.headers.authorization = (request.headers.authorization ?? '').replace('AKIDEXAMPLE', 'AKIDUNKNOWN');

      const result = await verify(request);

      expect(result.ok ? undefined : result.failure).toMatchObject({
        kind: 'unknown_key',
        errorType: 'UnrecognizedClientException',
        message: 'The security token included in the request is invalid.',
      });
    });

    it('answers an expired signature when X-Amz-Date is more than 5 minutes old', async () => {
      const result = await verify(curlPost(), new Date(SIGNED_AT.getTime() + 5 * 60_000 + 1_000));

      expect(result.ok ? undefined : result.failure.message).toBe(
        'Signature expired: 20261126T131550Z is now earlier than 20261126T131551Z (20261126T132051Z - 5 min.)',
      );
    });

    it('accepts a signature when X-Amz-Date is just under 5 minutes old', async () => {
      const result = await verify(curlPost(), new Date(SIGNED_AT.getTime() + 5 * 60_000 - 1_000));

      expect(result.ok).toBe(true);
    });

    it('answers not yet current when X-Amz-Date is more than 5 minutes ahead', async () => {
      const result = await verify(curlPost(), new Date(SIGNED_AT.getTime() - 6 * 60_000));

      expect(result.ok ? undefined : result.failure.message).toMatch(/^Signature not yet current/);
    });

    it('answers a scope error when the credential is scoped to another region', async () => {
      const result = await verifySigV4(curlPost(), { region: 'eu-west-1', service: 'execute-api', lookup: () => KEY, now: () => SIGNED_AT });

      expect(result.ok ? undefined : result.failure).toMatchObject({ kind: 'bad_scope', message: 'Credential should be scoped to a valid region. ' });
    });

    it('answers a scope error when the credential is scoped to another service', async () => {
      const result = await verifySigV4(curlPost(), { region: REGION, service: 'lambda', lookup: () => KEY, now: () => SIGNED_AT });

      expect(result.ok ? undefined : result.failure.message).toBe("Credential should be scoped to correct service: 'lambda'. ");
    });

    it('refuses a signature when host is not among the signed headers', async () => {
      const request = curlPost();
      request.headers.authorization = (request.headers.authorization ?? '').replace('content-type;host;x-amz-date', 'content-type;x-amz-date');

      const result = await verify(request);

      expect(result.ok ? undefined : result.failure.message).toBe("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
    });

    it('refuses a request when it carries a session token (local keys have none)', async () => {
      const request = curlPost();
      request.headers['x-amz-security-token'] = 'token';

      const result = await verify(request);

      expect(result.ok ? undefined : result.failure.kind).toBe('unknown_key');
    });
  });

  describe('parseAuthorization', () => {
    it('reads every part when the header is well formed', () => {
      const parsed = parseAuthorization(curlPost().headers.authorization ?? '');

      expect(parsed).toEqual({
        accessKeyId: 'AKIDEXAMPLE',
        scopeDate: '20261126',
        scopeRegion: 'us-east-1',
        scopeService: 'execute-api',
        scopeTerminator: 'aws4_request',
        signedHeaders: ['content-type', 'host', 'x-amz-date'],
        signature: 'd15ebc0ada6d44ce3ac7c3f1c169eaae7a8a854ed6b48409390f64ee565d3699',
      });
    });

    it('lists what is missing when parts are absent', () => {
      expect(parseAuthorization('AWS4-HMAC-SHA256 Credential=A/b/c/d/aws4_request')).toEqual({ missing: ['Signature', 'SignedHeaders'] });
    });
  });

  describe('parseQueryForSigning', () => {
    it('decodes values and keeps repeated names as arrays', () => {
      expect(parseQueryForSigning('a=1&b=x%20y&a=2&flag')).toEqual({ a: ['1', '2'], b: 'x y', flag: '' });
    });

    it('keeps a malformed escape as sent rather than failing', () => {
      expect(parseQueryForSigning('a=%E0%A4%A')).toEqual({ a: '%E0%A4%A' });
    });
  });

  describe('parseAmzDate', () => {
    it('reads the ISO-8601 basic format', () => {
      expect(parseAmzDate('20261126T131550Z')?.toISOString()).toBe('2026-11-26T13:15:50.000Z');
    });

    it('refuses anything else', () => {
      expect(parseAmzDate('2026-11-26T13:15:50Z')).toBeUndefined();
    });
  });
});
