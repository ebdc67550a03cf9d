import { BrokerApiError, BrokerClient, BrokerUnreachableError, CredentialsError, regionOfEndpoint, type RetryEvent } from '../../../client/index';
import { connection, KEY, problem, REGION, startScriptedServer, type Reply, type ScriptedServer } from './support';

const FAST_RETRY = { maxAttempts: 4, baseDelayMs: 5, maxDelayMs: 20, totalTimeMs: 10_000 };

let server: ScriptedServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function clientFor(script: (index: number) => Reply, options: { retry?: object; timeoutMs?: number; onRetry?: (event: RetryEvent) => void; path?: string } = {}) {
  server = await startScriptedServer(script);
  return new BrokerClient({
    endpoint: `${server.url}${options.path ?? ''}`,
    region: REGION,
    credentials: KEY,
    retry: { ...FAST_RETRY, ...options.retry },
    ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }),
    ...(options.onRetry && { onRetry: options.onRetry }),
  });
}

const received = () => server?.received ?? [];

describe('BrokerClient', () => {
  describe('open', () => {
    it('sends a SigV4-signed POST with the body and a generated Idempotency-Key when none is given', async () => {
      const client = await clientFor(() => ({ status: 201, body: connection(), headers: { location: '/connections/x' } }));

      const result = await client.open({ serviceId: '80:00:00:00:00:00:00:01', ttlSeconds: 600 });

      expect(result).toEqual({ connection: connection(), reused: false, idempotencyKey: expect.stringMatching(/^[0-9a-f-]{36}$/) });
      expect(received()).toEqual([
        expect.objectContaining({
          method: 'POST',
          path: '/connections',
          signed: true,
          body: JSON.stringify({ serviceId: '80:00:00:00:00:00:00:01', ttlSeconds: 600 }),
          headers: expect.objectContaining({ 'idempotency-key': result.idempotencyKey, 'content-type': 'application/json' }),
        }),
      ]);
    });

    it('sends the given Idempotency-Key and reports reuse when the API answers 200', async () => {
      const client = await clientFor(() => ({ status: 200, body: connection() }));

      const result = await client.open({ serviceId: '80:00:00:00:00:00:00:01', reuse: true }, { idempotencyKey: 'my-key-1' });

      expect(result.reused).toBe(true);
      expect(received()[0]?.headers['idempotency-key']).toBe('my-key-1');
    });

    it('repeats with the same key while the first request is in flight (409) and returns the replayed answer', async () => {
      const inFlight = problem('idempotency_in_progress', 409, 'Request in progress', 'still in progress');
      const client = await clientFor((index) => (index < 2 ? { status: 409, body: inFlight, headers: { 'retry-after': '0' } } : { status: 201, body: connection() }));

      const result = await client.open({ serviceId: '80:00:00:00:00:00:00:01' });

      const keys = received().map((request) => request.headers['idempotency-key']);
      expect(keys).toEqual([result.idempotencyKey, result.idempotencyKey, result.idempotencyKey]);
      expect(received().every((request) => request.signed)).toBe(true);
    });

    it('does not repeat when remote.it refused (502 from the broker) and raises the problem fields', async () => {
      const refused = problem('upstream_refused', 502, 'remote.it refused the connection', 'remote.it refused the connection: device is offline');
      const client = await clientFor(() => ({ status: 502, body: refused }));

      const error = await client.open({ serviceId: '80:00:00:00:00:00:00:03' }).catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(BrokerApiError);
      expect(error).toMatchObject({
        status: 502,
        type: 'urn:remoteit-broker:problem:upstream_refused',
        code: 'upstream_refused',
        title: 'remote.it refused the connection',
        detail: 'remote.it refused the connection: device is offline',
        errors: [],
        requestId: 'instance-upstream_refused',
        fromBroker: true,
      });
      expect(received()).toHaveLength(1);
    });

    it('does not repeat a quota 429 but repeats a throttling 429 from API Gateway', async () => {
      const quota = await clientFor(() => ({ status: 429, body: problem('quota_exceeded', 429, 'Too many connections', 'stop one first') }));
      await expect(quota.open({ serviceId: '80:00:00:00:00:00:00:01' })).rejects.toMatchObject({ status: 429, code: 'quota_exceeded' });
      expect(received()).toHaveLength(1);
      await server?.close();

      const throttled = await clientFor((index) => (index === 0 ? { status: 429, body: { message: 'Too Many Requests' } } : { status: 201, body: connection() }));
      await expect(throttled.open({ serviceId: '80:00:00:00:00:00:00:01' })).resolves.toMatchObject({ reused: false });
      expect(received()).toHaveLength(2);
    });
  });

  describe('retries', () => {
    it('gives up after maxAttempts on repeated 500s and raises the last answer', async () => {
      const events: RetryEvent[] = [];
      const client = await clientFor(() => ({ status: 500, body: problem('internal', 500, 'Internal error', 'logged') }), { onRetry: (event) => events.push(event) });

      await expect(client.get('01JDTESTCONNECTION00000001')).rejects.toMatchObject({ status: 500, title: 'Internal error' });

      expect(received()).toHaveLength(FAST_RETRY.maxAttempts);
      expect(events.map((event) => event.attempt)).toEqual([2, 3, 4]);
      expect(events.every((event) => event.delayMs >= 0 && event.delayMs <= FAST_RETRY.maxDelayMs)).toBe(true);
    });

    it('waits at least Retry-After before repeating a 503', async () => {
      const unavailable = problem('upstream_unavailable', 503, 'remote.it unavailable', 'retry later');
      const client = await clientFor((index) => (index === 0 ? { status: 503, body: unavailable, headers: { 'retry-after': '1' } } : { status: 200, body: connection() }));
      const started = Date.now();

      await client.get('01JDTESTCONNECTION00000001');

      expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
      expect(received()).toHaveLength(2);
    });

    it('gives up at once when Retry-After would end past the time budget, carrying it in the error', async () => {
      const unavailable = problem('upstream_unavailable', 503, 'remote.it unavailable', 'retry later');
      const client = await clientFor(() => ({ status: 503, body: unavailable, headers: { 'retry-after': '30' } }), { retry: { totalTimeMs: 5_000 } });

      await expect(client.stop('01JDTESTCONNECTION00000001')).rejects.toMatchObject({ status: 503, retryAfterSeconds: 30 });
      expect(received()).toHaveLength(1);
    });

    it('repeats after the connection is cut and returns the next answer', async () => {
      const client = await clientFor((index) => (index === 0 ? 'destroy' : { status: 200, body: connection() }));

      await expect(client.get('01JDTESTCONNECTION00000001')).resolves.toEqual(connection());
      expect(received()).toHaveLength(2);
    });

    it('raises a timeout when no attempt is answered within timeoutMs', async () => {
      const client = await clientFor(() => 'hang', { timeoutMs: 200, retry: { maxAttempts: 2 } });

      const error = await client.get('01JDTESTCONNECTION00000001').catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(BrokerUnreachableError);
      expect(error).toMatchObject({ code: 'timeout' });
      expect(received()).toHaveLength(2);
    });

    it('stops repeating when the caller aborts', async () => {
      const controller = new AbortController();
      const client = await clientFor(
        () => {
          controller.abort();
          return { status: 503, body: problem('upstream_unavailable', 503, 'remote.it unavailable', 'retry later') };
        },
        { retry: { baseDelayMs: 1_000, maxDelayMs: 1_000 } },
      );

      await expect(client.get('01JDTESTCONNECTION00000001', { signal: controller.signal })).rejects.toThrow();
      expect(received()).toHaveLength(1);
    });
  });

  describe('errors', () => {
    it('carries every bad field of a 400', async () => {
      const invalid = problem('invalid_request', 400, 'Invalid request', 'invalid request: ttlSeconds must be at least 60 seconds', {
        errors: [{ field: 'ttlSeconds', message: 'must be at least 60 seconds' }],
      });
      const client = await clientFor(() => ({ status: 400, body: invalid }));

      await expect(client.renew('01JDTESTCONNECTION00000001', 5)).rejects.toMatchObject({
        status: 400,
        code: 'invalid_request',
        errors: [{ field: 'ttlSeconds', message: 'must be at least 60 seconds' }],
      });
      expect(received()[0]).toMatchObject({ path: '/connections/01JDTESTCONNECTION00000001/renew', body: '{"ttlSeconds":5}' });
    });

    it('reads API Gateway\'s own answers into the same fields, with its request id', async () => {
      const client = await clientFor(() => ({ status: 403, body: { message: 'Forbidden' } }));

      const error = await client.get('01JDTESTCONNECTION00000001').catch((caught: unknown) => caught);

      expect(error).toMatchObject({ status: 403, type: 'about:blank', code: 'http_403', title: 'Forbidden', requestId: 'req-1', fromBroker: false });
    });

    it('raises CredentialsError without sending anything when no credentials can be had', async () => {
      server = await startScriptedServer(() => ({ status: 200, body: connection() }));
      const client = new BrokerClient({
        endpoint: server.url,
        region: REGION,
        credentials: () => Promise.reject(new Error('Could not load credentials from any providers')),
      });

      await expect(client.get('01JDTESTCONNECTION00000001')).rejects.toBeInstanceOf(CredentialsError);
      expect(received()).toHaveLength(0);
    });
  });

  describe('list', () => {
    it('follows nextCursor across pages, signing each query, when iterated', async () => {
      const cursors = ['a+b/c=', 'second page'];
      const client = await clientFor((index) => ({
        status: 200,
        body: { items: [connection({ id: `01JDTESTCONNECTION0000000${index}` })], ...(cursors[index] && { nextCursor: cursors[index] }) },
      }));

      const ids: string[] = [];
      for await (const item of client.list({ status: 'active', serviceId: '80:00:00:00:00:00:00:01', limit: 1 })) ids.push(item.id);

      expect(ids).toEqual(['01JDTESTCONNECTION00000000', '01JDTESTCONNECTION00000001', '01JDTESTCONNECTION00000002']);
      expect(received().every((request) => request.signed)).toBe(true);
      expect(received().map((request) => new URLSearchParams(request.rawQuery).get('cursor'))).toEqual([null, 'a+b/c=', 'second page']);
      expect(new URLSearchParams(received()[0]?.rawQuery).get('serviceId')).toBe('80:00:00:00:00:00:00:01');
    });

    it('refuses a cursor that does not move instead of iterating forever', async () => {
      const client = await clientFor(() => ({ status: 200, body: { items: [], nextCursor: 'same' } }));

      const pages = async () => {
        for await (const _page of client.listPages({ cursor: 'same' })) {
          // iterate
        }
      };

      await expect(pages()).rejects.toThrow('the same cursor again');
      expect(received()).toHaveLength(1);
    });
  });

  describe('stop', () => {
    it('reports a pending stop when the API answers 202', async () => {
      const client = await clientFor(() => ({ status: 202, body: connection({ status: 'stopping' }) }));

      await expect(client.stop('01JDTESTCONNECTION00000001')).resolves.toMatchObject({ pending: true, connection: { status: 'stopping' } });
      expect(received()[0]).toMatchObject({ method: 'DELETE', path: '/connections/01JDTESTCONNECTION00000001', signed: true });
    });
  });

  describe('endpoint', () => {
    it('keeps the stage path of the endpoint in every request', async () => {
      const client = await clientFor(() => ({ status: 200, body: connection() }), { path: '/prod/' });

      await client.get('01JDTESTCONNECTION00000001');

      expect(received()[0]).toMatchObject({ path: '/prod/connections/01JDTESTCONNECTION00000001', signed: true });
    });

    it('takes the region from an execute-api host name and none from other hosts', () => {
      expect(regionOfEndpoint(new URL('https://abc123.execute-api.eu-west-1.amazonaws.com/prod'))).toBe('eu-west-1');
      expect(regionOfEndpoint(new URL('https://broker.example.com'))).toBeUndefined();
      expect(new BrokerClient({ endpoint: 'https://abc123.execute-api.ap-south-1.amazonaws.com', credentials: KEY }).region).toBe('ap-south-1');
    });
  });
});
