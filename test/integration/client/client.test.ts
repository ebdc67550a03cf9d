/**
 * The client library against the real local stack (gateway with SigV4, handlers, DynamoDB Local, the remote.it
 * emulator): every call, the typed errors the API's answers become, and a retry that crosses a real fault.
 */
import { BrokerApiError, BrokerClient, type RetryEvent } from '../../../client/index';
import { ECHO, startTestStack, WEB, type TestStack } from '../e2e/support';

const OFFLINE = '80:00:00:00:00:00:00:03';
const ADMIN_ONLY = '80:00:00:00:00:00:01:01';

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack();
});

afterAll(async () => {
  await stack.close();
});

afterEach(() => {
  stack.emulator?.setFaults({});
});

const clientAs = (name: 'app' | 'admin', options: { onRetry?: (event: RetryEvent) => void } = {}) =>
  new BrokerClient({
    endpoint: stack.apiUrl,
    region: stack.region,
    credentials: stack.identity(name),
    retry: { baseDelayMs: 50, maxDelayMs: 500, totalTimeMs: 10_000 },
    timeoutMs: 15_000,
    ...options,
  });

describe('BrokerClient against the local stack', () => {
  it('opens, reads, renews and stops a connection', async () => {
    const client = clientAs('app');

    const opened = await client.open({ serviceId: ECHO.toLowerCase(), ttlSeconds: 120 });
    const read = await client.get(opened.connection.id);
    const renewed = await client.renew(opened.connection.id, 600);
    const stopped = await client.stop(opened.connection.id);
    const stoppedAgain = await client.stop(opened.connection.id);

    expect(opened).toMatchObject({ reused: false, connection: { serviceId: ECHO, status: 'active', proxy: { kind: 'port', host: '127.0.0.1' } } });
    expect(read).toEqual(opened.connection);
    expect(Date.parse(renewed.leaseExpiresAt)).toBeGreaterThan(Date.parse(opened.connection.leaseExpiresAt));
    expect(stopped).toMatchObject({ pending: false, connection: { status: 'stopped', stopReason: 'requested' } });
    expect(stoppedAgain.connection.stoppedAt).toBe(stopped.connection.stoppedAt);
  });

  it('replays the first answer when an open is repeated with the same Idempotency-Key', async () => {
    const client = clientAs('app');

    const first = await client.open({ serviceId: ECHO }, { idempotencyKey: 'client-it-replay-1' });
    const repeated = await client.open({ serviceId: ECHO }, { idempotencyKey: 'client-it-replay-1' });

    expect(repeated.connection.id).toBe(first.connection.id);
    await client.stop(first.connection.id);
  });

  it('answers with the live connection when reuse finds one', async () => {
    const client = clientAs('app');
    const first = await client.open({ serviceId: WEB, ttlSeconds: 300 });

    const again = await client.open({ serviceId: WEB, ttlSeconds: 120, reuse: true });

    expect(again).toMatchObject({ reused: true, connection: { id: first.connection.id } });
    await client.stop(first.connection.id);
  });

  it('walks every page of the list when iterated with a page size of 1', async () => {
    const client = clientAs('admin');
    const opened = [await client.open({ serviceId: ECHO }), await client.open({ serviceId: ECHO })];

    const pages: number[] = [];
    const ids: string[] = [];
    for await (const page of client.listPages({ status: 'active', limit: 1 })) {
      pages.push(page.items.length);
      ids.push(...page.items.map((item) => item.id));
    }

    expect(pages.every((size) => size <= 1)).toBe(true);
    expect(ids).toEqual(expect.arrayContaining(opened.map(({ connection }) => connection.id)));
    expect(new Set(ids).size).toBe(ids.length);
    for (const { connection } of opened) await client.stop(connection.id);
  });

  it('repeats an open that met a throttled remote.it and opens once the throttling ends', async () => {
    stack.emulator?.setFaults({ throttle: { retryAfterSeconds: 0 } });
    const events: RetryEvent[] = [];
    const client = clientAs('app', {
      onRetry: (event) => {
        events.push(event);
        stack.emulator?.setFaults({});
      },
    });

    const opened = await client.open({ serviceId: ECHO });

    expect(events).toEqual([expect.objectContaining({ attempt: 2, error: expect.objectContaining({ status: 503, code: 'upstream_unavailable' }) })]);
    expect(opened.connection.status).toBe('active');
    await client.stop(opened.connection.id);
  });

  it('raises typed errors with the problem fields for policy, unknown ids, refusals and bad input', async () => {
    const client = clientAs('app');
    const failure = (promise: Promise<unknown>) => promise.then(() => undefined, (error: unknown) => error as BrokerApiError);

    const denied = await failure(client.open({ serviceId: ADMIN_ONLY }));
    const unknown = await failure(client.get('01ARZ3NDEKTSV4RRFFQ69G5FAV'));
    const refused = await failure(client.open({ serviceId: OFFLINE }));
    const invalid = await failure(client.open({ serviceId: 'not-a-service', ttlSeconds: 5 }));

    expect(denied).toMatchObject({ status: 403, code: 'policy_denied', title: 'Denied by policy', requestId: expect.any(String) });
    expect(unknown).toMatchObject({ status: 404, code: 'connection_not_found' });
    expect(refused).toMatchObject({ status: 502, code: 'upstream_refused', detail: expect.stringContaining('device is offline') });
    expect(invalid).toBeInstanceOf(BrokerApiError);
    expect(invalid?.errors.map((error) => error.field).sort()).toEqual(['serviceId', 'ttlSeconds']);
  });

  it('raises the gateway\'s 403 when the keys are not the stack\'s', async () => {
    const client = new BrokerClient({ endpoint: stack.apiUrl, region: stack.region, credentials: { accessKeyId: 'AKIANOTLOCAL00000000', secretAccessKey: 'wrong' } });

    const error = await client.get('01ARZ3NDEKTSV4RRFFQ69G5FAV').catch((caught: unknown) => caught);

    expect(error).toMatchObject({ status: 403, fromBroker: false, code: 'http_403', requestId: expect.any(String) });
  });
});
