/**
 * The broker API end to end at the handler boundary: real handlers, DynamoDB Local, the Secrets Manager
 * stub and the remote.it emulator with real proxies on loopback.
 */
import { connect as tcpConnect } from 'node:net';
import { DeleteCommand, GetCommand } from '@aws-sdk/lib-dynamodb';
import { ADMIN_SESSION_ARN, OTHER_SESSION_ARN } from '../../fixtures/api-events';
import { ROLES, SERVICES, startBroker, type Broker } from '../support/broker';

let broker: Broker;

beforeAll(async () => {
  broker = await startBroker();
});

afterAll(async () => {
  await broker.stop();
});

afterEach(() => {
  broker.emulator.setFaults({});
});

const open = (body: object, init: { callerArn?: string; headers?: Record<string, string>; sourceIp?: string } = {}) =>
  broker.call({ routeKey: 'POST /connections', body, ...init });
const get = (id: string, callerArn?: string) =>
  broker.call({ routeKey: 'GET /connections/{id}', pathParameters: { id }, ...(callerArn && { callerArn }) });
const stop = (id: string, callerArn?: string) =>
  broker.call({ routeKey: 'DELETE /connections/{id}', pathParameters: { id }, ...(callerArn && { callerArn }) });

function stopCallsFor(remoteConnectionId: string): number {
  return broker.emulator.calls().records.filter((call) => call.path === '/device/connect/stop' && call.connectionid === remoteConnectionId).length;
}

async function echoThrough(port: number, localAddress: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: '127.0.0.1', port, localAddress }, () => socket.write('ping'));
    const timer = setTimeout(() => socket.destroy(new Error('no echo within 2 s')), 2_000);
    socket.once('data', (data) => {
      clearTimeout(timer);
      socket.end();
      resolve(data.toString());
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      reject(new Error('closed without echo'));
    });
  });
}

describe('POST /connections', () => {
  it('opens a latching port proxy, records it and answers 201 with Location when the policy allows it', async () => {
    const before = Date.now();

    const response = await open({ serviceId: SERVICES.echo.toLowerCase(), ttlSeconds: 300 });

    expect(response.status).toBe(201);
    expect(response.headers.location).toBe(`connections/${response.body.id}`);
    expect(response.body).toMatchObject({
      serviceId: SERVICES.echo,
      mode: 'latching',
      hostIp: '255.255.255.255',
      status: 'active',
      owner: ROLES.app,
      proxy: { kind: 'port', host: '127.0.0.1' },
    });
    const leaseEnd = Date.parse(response.body.leaseExpiresAt);
    expect(leaseEnd).toBeGreaterThanOrEqual(before + 300_000 - 1_000);
    expect(leaseEnd).toBeLessThanOrEqual(Date.now() + 300_000 + 1_000);
    expect(Date.parse(response.body.expiresAt)).toBeGreaterThan(Date.now() + 7 * 3600_000);
    const stored = await broker.tables.documentClient.send(new GetCommand({ TableName: broker.tables.connections, Key: { id: response.body.id } }));
    expect(stored.Item).toMatchObject({ status: 'active', remoteConnectionId: response.body.remoteConnectionId, dueAt: Math.ceil(leaseEnd / 1000) });
    expect(await echoThrough(response.body.proxy.port, '127.0.0.2')).toBe('ping');
  });

  it('sends the clientIp as hostip when mode is ip', async () => {
    const response = await open({ serviceId: SERVICES.echo, mode: 'ip', clientIp: '127.0.0.5' });

    expect(response.status).toBe(201);
    expect(response.body.hostIp).toBe('127.0.0.5');
    expect(broker.emulator.connections().find((proxy) => proxy.connectionId === response.body.remoteConnectionId)?.hostIp).toBe('127.0.0.5');
  });

  it('answers 400 naming every bad field when the body is invalid', async () => {
    const response = await open({ serviceId: '80:00', mode: 'wide-open', ttlSeconds: 5, extra: true });

    expect(response.status).toBe(400);
    expect(response.headers['content-type']).toBe('application/problem+json');
    expect(response.body.errors.map((error: { field: string }) => error.field).sort()).toEqual(['extra', 'mode', 'serviceId', 'ttlSeconds']);
  });

  it('answers 400 naming clientIp when ip mode is asked for a multicast address', async () => {
    const response = await open({ serviceId: SERVICES.echo, mode: 'ip', clientIp: '224.0.0.1' });

    expect(response.status).toBe(400);
    expect(response.body.errors[0].field).toBe('clientIp');
  });

  it('answers 403 without calling remote.it when no rule lets the caller reach the service', async () => {
    broker.emulator.resetCalls();

    const response = await open({ serviceId: SERVICES.restricted });

    expect(response.status).toBe(403);
    expect(response.body.title).toBe('Denied by policy');
    expect(broker.emulator.calls().byPath['/device/connect']).toBeUndefined();
  });

  it('answers 403 when the caller asks for public mode its rules do not allow', async () => {
    expect((await open({ serviceId: SERVICES.echo, mode: 'public' })).status).toBe(403);
  });

  it('answers 403 when the lease asked for is longer than the policy maximum', async () => {
    const response = await open({ serviceId: SERVICES.echo, ttlSeconds: 7200 });

    expect(response.status).toBe(403);
    expect(response.body.detail).toMatch(/3600/);
  });

  it('stops the public reverse proxy remote.it opened for an http service and answers 403 when public is not allowed', async () => {
    broker.emulator.resetCalls();

    const response = await open({ serviceId: SERVICES.web });

    expect(response.status).toBe(403);
    expect(response.body.detail).toMatch(/public reverse proxy/);
    const [proxy] = broker.emulator.connections().filter((snapshot) => snapshot.serviceId === SERVICES.web);
    expect(proxy?.state).toBe('ended');
    expect(broker.emulator.calls().byPath['/device/connect/stop']).toBe(1);
  });

  it('opens the reverse proxy when the caller may have public connections', async () => {
    const response = await open({ serviceId: SERVICES.web }, { callerArn: OTHER_SESSION_ARN });

    expect(response.status).toBe(201);
    expect(response.body.proxy.kind).toBe('reverse');
  });

  it('answers 404 when remote.it does not know the service', async () => {
    const response = await open({ serviceId: SERVICES.unknown });

    expect(response.status).toBe(404);
    expect(response.body.title).toBe('Service not found');
  });

  it('answers 502 with remote.it\'s reason and records the connection failed when remote.it refuses', async () => {
    const response = await open({ serviceId: SERVICES.offline });

    expect(response.status).toBe(502);
    expect(response.body.detail).toMatch(/device is offline/);
    const listed = await broker.call({ routeKey: 'GET /connections', query: { serviceId: SERVICES.offline } });
    expect(listed.body.items[0]).toMatchObject({ status: 'failed', failureReason: 'device is offline' });
  });

  it('answers 504 and records the connection failed when remote.it does not answer in time', async () => {
    broker.emulator.setFaults({ hang: true, onlyPaths: ['/device/connect'] });

    const response = await open({ serviceId: SERVICES.echo }, { callerArn: OTHER_SESSION_ARN });

    expect(response.status).toBe(504);
    expect(JSON.stringify(response.body)).not.toMatch(/127\.0\.0\.1|apv/);
    const listed = await broker.call({ routeKey: 'GET /connections', query: { status: 'failed' }, callerArn: OTHER_SESSION_ARN });
    expect(listed.body.items[0]).toMatchObject({ serviceId: SERVICES.echo, status: 'failed' });
  });

  it('answers 503 with Retry-After when remote.it throttles the broker', async () => {
    broker.emulator.setFaults({ throttle: { retryAfterSeconds: 30 }, onlyPaths: ['/device/connect'] });

    const response = await open({ serviceId: SERVICES.echo });

    expect(response.status).toBe(503);
    expect(response.headers['retry-after']).toBe('30');
  });

  it('answers 503 without internals when remote.it fails with 5xx', async () => {
    broker.emulator.setFaults({ errorRate: 1, onlyPaths: ['/device/connect'] });

    const response = await open({ serviceId: SERVICES.echo });

    expect(response.status).toBe(503);
    expect(response.body.detail).not.toMatch(/500|internal server error/i);
  });

  it('answers 429 when the caller already holds the most live connections its policy allows', async () => {
    const limited = 'arn:aws:sts::123456789012:assumed-role/limited/s1';
    expect((await open({ serviceId: SERVICES.echo }, { callerArn: limited })).status).toBe(201);

    const response = await open({ serviceId: SERVICES.echo }, { callerArn: limited });

    expect(response.status).toBe(429);
    expect(response.body.title).toBe('Too many connections');
  });

  it('returns the live connection with 200 when reuse is asked and its lease covers the request', async () => {
    const first = await open({ serviceId: SERVICES.echo, ttlSeconds: 1200 }, { callerArn: ADMIN_SESSION_ARN });

    const again = await open({ serviceId: SERVICES.echo, ttlSeconds: 600, reuse: true }, { callerArn: ADMIN_SESSION_ARN });

    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
  });

  it('stops the remote.it connection at once when recording it fails after connect (compensation)', async () => {
    broker.emulator.setFaults({ latencyMs: 1_500, onlyPaths: ['/device/connect'] });
    broker.emulator.resetCalls();
    const pending = open({ serviceId: SERVICES.echo });
    // While remote.it is opening the proxy, the pending record disappears: the write to active must fail.
    const pendingId = await waitForPendingRecord();
    await broker.tables.documentClient.send(new DeleteCommand({ TableName: broker.tables.connections, Key: { id: pendingId } }));

    const response = await pending;

    expect(response.status).toBeGreaterThanOrEqual(500);
    const [connectCall] = broker.emulator.calls().records.filter((call) => call.path === '/device/connect');
    const opened = broker.emulator.connections().filter((proxy) => proxy.serviceId === SERVICES.echo && proxy.state === 'active' && proxy.createdAt >= (connectCall?.at ?? ''));
    expect(opened).toEqual([]);
    expect(broker.emulator.calls().byPath['/device/connect/stop']).toBe(1);
  });
});

async function waitForPendingRecord(): Promise<string> {
  const { ScanCommand } = await import('@aws-sdk/lib-dynamodb');
  const deadline = Date.now() + 2_000;
  while (Date.now() < deadline) {
    const page = await broker.tables.documentClient.send(
      new ScanCommand({ TableName: broker.tables.connections, FilterExpression: '#s = :p', ExpressionAttributeNames: { '#s': 'status' }, ExpressionAttributeValues: { ':p': 'pending' } }),
    );
    const id = page.Items?.[0]?.id;
    if (typeof id === 'string') return id;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('no pending record appeared within 2 s');
}

describe('GET /connections/{id}', () => {
  it('answers the owner and an admin, and 404 to another caller without revealing the id exists', async () => {
    const { body: created } = await open({ serviceId: SERVICES.echo });

    const owner = await get(created.id);
    const admin = await get(created.id, ADMIN_SESSION_ARN);
    const stranger = await get(created.id, OTHER_SESSION_ARN);
    const unknown = await get('01ARZ3NDEKTSV4RRFFQ69G5FAV');

    expect(owner.status).toBe(200);
    expect(owner.body).toEqual(created);
    expect(admin.status).toBe(200);
    expect(stranger.status).toBe(404);
    // The same answer as for an id that never existed, but for the id itself.
    expect({ ...stranger.body, detail: stranger.body.detail.replace(created.id, 'ID'), instance: undefined }).toEqual({
      ...unknown.body,
      detail: unknown.body.detail.replace('01ARZ3NDEKTSV4RRFFQ69G5FAV', 'ID'),
      instance: undefined,
    });
  });

  it('answers 400 naming id when the id is malformed', async () => {
    const response = await get('not-an-id');

    expect(response.status).toBe(400);
    expect(response.body.errors).toEqual([{ field: 'id', message: 'is not a connection id' }]);
  });

  it('answers 403 when the request carries no IAM identity', async () => {
    const response = await broker.call({ routeKey: 'GET /connections/{id}', pathParameters: { id: '01ARZ3NDEKTSV4RRFFQ69G5FAV' }, callerArn: null });

    expect(response.status).toBe(403);
  });
});

describe('GET /connections', () => {
  it('lists only the caller\'s connections, newest first, across pages', async () => {
    const isolated = await startBroker();
    try {
      const ids: string[] = [];
      for (let index = 0; index < 3; index += 1) ids.push((await isolated.call({ routeKey: 'POST /connections', body: { serviceId: SERVICES.echo } })).body.id);
      await isolated.call({ routeKey: 'POST /connections', body: { serviceId: SERVICES.echo }, callerArn: OTHER_SESSION_ARN });

      const first = await isolated.call({ routeKey: 'GET /connections', query: { limit: '2' } });
      const second = await isolated.call({ routeKey: 'GET /connections', query: { limit: '2', cursor: first.body.nextCursor } });
      const admin = await isolated.call({ routeKey: 'GET /connections', callerArn: ADMIN_SESSION_ARN });

      expect([...first.body.items, ...second.body.items].map((item: { id: string }) => item.id)).toEqual([...ids].reverse());
      expect(second.body.nextCursor).toBeUndefined();
      expect(admin.body.items).toHaveLength(4);
    } finally {
      await isolated.stop();
    }
  });

  it('filters by status and serviceId', async () => {
    const { body: created } = await open({ serviceId: SERVICES.echo });
    await stop(created.id);

    const stopped = await broker.call({ routeKey: 'GET /connections', query: { status: 'stopped', serviceId: SERVICES.echo.toLowerCase() } });

    expect(stopped.status).toBe(200);
    expect(stopped.body.items.length).toBeGreaterThan(0);
    expect(stopped.body.items.every((item: { status: string; serviceId: string }) => item.status === 'stopped' && item.serviceId === SERVICES.echo)).toBe(true);
  });

  it('answers 400 naming cursor when the cursor is not one the broker issued', async () => {
    const response = await broker.call({ routeKey: 'GET /connections', query: { cursor: 'bm90LWEtY3Vyc29y' } });

    expect(response.status).toBe(400);
    expect(response.body.errors[0].field).toBe('cursor');
  });

  it('answers 400 naming limit when it is out of range', async () => {
    const response = await broker.call({ routeKey: 'GET /connections', query: { limit: '0' } });

    expect(response.status).toBe(400);
    expect(response.body.errors[0].field).toBe('limit');
  });
});

describe('POST /connections/{id}/renew', () => {
  it('extends the lease and the sweeper\'s due time when the connection is active', async () => {
    const { body: created } = await open({ serviceId: SERVICES.echo, ttlSeconds: 120 });

    const response = await broker.call({ routeKey: 'POST /connections/{id}/renew', pathParameters: { id: created.id }, body: { ttlSeconds: 1800 } });

    expect(response.status).toBe(200);
    expect(Date.parse(response.body.leaseExpiresAt)).toBeGreaterThan(Date.parse(created.leaseExpiresAt) + 1500_000);
    const stored = await broker.tables.documentClient.send(new GetCommand({ TableName: broker.tables.connections, Key: { id: created.id } }));
    expect(stored.Item?.dueAt).toBe(Math.ceil(Date.parse(response.body.leaseExpiresAt) / 1000));
  });

  it('answers 409 when the connection is no longer active', async () => {
    const { body: created } = await open({ serviceId: SERVICES.echo });
    await stop(created.id);

    const response = await broker.call({ routeKey: 'POST /connections/{id}/renew', pathParameters: { id: created.id }, body: { ttlSeconds: 600 } });

    expect(response.status).toBe(409);
  });

  it('answers 400 naming ttlSeconds when it is missing', async () => {
    const response = await broker.call({ routeKey: 'POST /connections/{id}/renew', pathParameters: { id: '01ARZ3NDEKTSV4RRFFQ69G5FAV' }, body: {} });

    expect(response.status).toBe(400);
    expect(response.body.errors).toEqual([{ field: 'ttlSeconds', message: 'is required' }]);
  });

  it('answers 404 to another caller', async () => {
    const { body: created } = await open({ serviceId: SERVICES.echo });

    const response = await broker.call({ routeKey: 'POST /connections/{id}/renew', pathParameters: { id: created.id }, body: { ttlSeconds: 600 }, callerArn: OTHER_SESSION_ARN });

    expect(response.status).toBe(404);
  });
});

describe('DELETE /connections/{id}', () => {
  it('stops the proxy once and answers the stopped record again when repeated', async () => {
    const { body: created } = await open({ serviceId: SERVICES.echo });

    const first = await stop(created.id);
    const second = await stop(created.id);

    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ status: 'stopped', stopReason: 'requested' });
    expect(second.status).toBe(200);
    expect(second.body.status).toBe('stopped');
    expect(stopCallsFor(created.remoteConnectionId)).toBe(1);
    await expect(echoThrough(created.proxy.port, '127.0.0.2')).rejects.toThrow();
  });

  it('answers 202 stopping when remote.it cannot be reached, leaving the stop to the sweeper', async () => {
    const { body: created } = await open({ serviceId: SERVICES.echo });
    broker.emulator.setFaults({ errorRate: 1, onlyPaths: ['/device/connect/stop'] });

    const response = await stop(created.id);

    expect(response.status).toBe(202);
    expect(response.body.status).toBe('stopping');
    const stored = await broker.tables.documentClient.send(new GetCommand({ TableName: broker.tables.connections, Key: { id: created.id } }));
    expect(stored.Item?.dueAt).toBeGreaterThan(Date.now() / 1000);
  });

  it('answers 409 with Retry-After while remote.it is still opening the connection, and stops it once open', async () => {
    broker.emulator.setFaults({ latencyMs: 1_500, onlyPaths: ['/device/connect'] });
    const opening = open({ serviceId: SERVICES.echo });
    const pendingId = await waitForPendingRecord();

    const early = await stop(pendingId);
    const opened = await opening;
    const late = await stop(pendingId);

    expect(early.status).toBe(409);
    expect(early.headers['retry-after']).toBe('2');
    expect(opened.status).toBe(201);
    expect(late.body.status).toBe('stopped');
  });

  it('answers 404 to another caller and leaves the connection running', async () => {
    const { body: created } = await open({ serviceId: SERVICES.echo });

    const response = await stop(created.id, OTHER_SESSION_ARN);

    expect(response.status).toBe(404);
    expect((await get(created.id)).body.status).toBe('active');
  });

  it('lets an admin stop anyone\'s connection', async () => {
    const { body: created } = await open({ serviceId: SERVICES.echo });

    expect((await stop(created.id, ADMIN_SESSION_ARN)).body.status).toBe('stopped');
  });
});
