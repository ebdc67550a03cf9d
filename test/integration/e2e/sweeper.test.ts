/**
 * The sweeper on the stack's timer (1 s here): a connection whose lease has ended is stopped at remote.it
 * without anyone asking, and its proxy closes. Time is injected by moving the record's lease end and
 * `dueAt` back in DynamoDB (the smallest lease the API grants is 60 s); no local minimum-TTL override.
 */
import { createDynamoConnectionStore } from '../../../lambdas/store/dynamo-store';
import { closedWithin, eventually, exchange, openSocket, probe } from '../emulator/helpers';
import { createTestDocumentClient } from '../support/dynamo';
import { endLease } from '../sweeper/helpers';
import { call, ECHO, startTestStack, type TestStack } from './support';

let stack: TestStack;
const documents = createTestDocumentClient();

beforeAll(async () => {
  // DUE_SHARDS pinned so the test's store writes the due index exactly as the handlers do.
  stack = await startTestStack({ sweepIntervalMs: 1_000, env: { DUE_SHARDS: '4' } });
});

afterAll(async () => {
  await stack.close();
  documents.destroy();
});

describe('local stack sweeper', () => {
  it('stops a connection and closes its proxy when its lease has ended', async () => {
    const app = stack.identity('app');
    const opened = await call(stack, { method: 'POST', path: '/connections', body: { serviceId: ECHO, ttlSeconds: 60 }, as: app });
    expect(opened.status).toBe(201);
    const socket = await openSocket(opened.body.proxy.port, '127.0.0.2');
    expect(await exchange(socket, 'while leased')).toBe('echoed');
    const store = createDynamoConnectionStore({ client: documents, tableName: stack.tables.connections, dueShardCount: 4 });

    await endLease(store, opened.body.id, 5);
    let view: { status?: string; stopReason?: string } = {};
    const settled = await eventually(async () => {
      view = (await call(stack, { method: 'GET', path: `/connections/${opened.body.id}`, as: app })).body;
      return view.status !== 'active' && view.status !== 'stopping';
    }, 8_000);
    const socketClosed = await closedWithin(socket, 3_000);
    const reconnect = await probe(opened.body.proxy.port, '127.0.0.2');

    expect(settled).toBe(true);
    expect(view).toMatchObject({ status: 'stopped', stopReason: 'lease_ended' });
    expect(socketClosed).toBe('closed');
    expect(reconnect).toBe('refused');
  });

  it('leaves a connection alone when its lease has not ended', async () => {
    const app = stack.identity('app');
    const opened = await call(stack, { method: 'POST', path: '/connections', body: { serviceId: ECHO, ttlSeconds: 60 }, as: app });

    await stack.sweep();
    const current = await call(stack, { method: 'GET', path: `/connections/${opened.body.id}`, as: app });

    expect(current.body.status).toBe('active');
    expect(await probe(opened.body.proxy.port, '127.0.0.3')).toBe('echoed');
  });
});
