/**
 * remote.it's idle close, on the real handlers with the emulator's idle window shortened to 2 s: the connection
 * says when remote.it closes it if nobody connects (`idleClosesAt`), `reuse` never hands out one that may have
 * idled out, and renew refuses to extend one (409 connection_may_be_idle) instead of reviving a dead proxy,
 * unless the caller says when it last used the proxy (`usedAt`), as `rbroker forward` does while it carries
 * traffic: remote.it keeps a proxy with an open connection, so the window then runs from that use.
 */
import { connect, type Socket } from 'node:net';
import { SERVICES, startBroker, type Broker } from '../support/broker';

const IDLE_SECONDS = 2;

let broker: Broker;

beforeAll(async () => {
  broker = await startBroker({ idleSeconds: IDLE_SECONDS });
}, 30_000);

afterAll(async () => {
  await broker?.stop();
});

const open = (body: object) => broker.call({ routeKey: 'POST /connections', body: { serviceId: SERVICES.echo, ttlSeconds: 300, ...body } });
const renew = (id: string, usedAt?: string) =>
  broker.call({ routeKey: 'POST /connections/{id}/renew', pathParameters: { id }, body: { ttlSeconds: 600, ...(usedAt && { usedAt }) } });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('remote.it idle close', () => {
  it("shows when remote.it closes the unused proxy, from remote.it's idleLeft counted from the connect", async () => {
    const before = Date.now();

    const answer = await open({});

    expect(answer.status).toBe(201);
    const idleClosesAt = Date.parse(answer.body.idleClosesAt);
    expect(idleClosesAt).toBeGreaterThanOrEqual(before + IDLE_SECONDS * 1000 - 1_000);
    expect(idleClosesAt).toBeLessThanOrEqual(Date.now() + IDLE_SECONDS * 1000);
  });

  it('refuses to renew with 409 connection_may_be_idle once the proxy may have idled out, and opens anew instead of reusing it', async () => {
    const first = await open({});
    await sleep(IDLE_SECONDS * 1000 + 500);

    const renewed = await renew(first.body.id);
    const reused = await open({ reuse: true });

    expect(renewed.status).toBe(409);
    expect(renewed.headers['content-type']).toBe('application/problem+json');
    expect(renewed.body).toMatchObject({ type: 'urn:remoteit-broker:problem:connection_may_be_idle', title: 'Connection may have idled out' });
    expect(reused.status).toBe(201);
    expect(reused.body.id).not.toBe(first.body.id);
    // remote.it (the emulator) did close the unused proxy: the refusal was right.
    expect(broker.emulator.connections().find((proxy) => proxy.connectionId === first.body.remoteConnectionId.toUpperCase())?.state).toBe('ended');
  }, 20_000);

  it('renews past the first window when the caller names a use, while a connection through the proxy keeps it open', async () => {
    const first = await open({});
    const socket: Socket = await new Promise((resolve, reject) => {
      const opened = connect({ host: first.body.proxy.host, port: first.body.proxy.port }, () => resolve(opened));
      opened.once('error', reject);
    });
    try {
      await sleep(IDLE_SECONDS * 1000 + 500);

      const withoutUse = await renew(first.body.id);
      const withUse = await renew(first.body.id, new Date().toISOString());

      expect(withoutUse.status).toBe(409);
      expect(withUse.status).toBe(200);
      expect(Date.parse(withUse.body.idleClosesAt)).toBeGreaterThan(Date.now());
      // The proxy is open at remote.it (the emulator): the renew was right.
      expect(broker.emulator.connections().find((proxy) => proxy.connectionId === first.body.remoteConnectionId.toUpperCase())?.state).not.toBe('ended');
    } finally {
      socket.destroy();
    }
  }, 20_000);

  it('answers 400 naming usedAt when it is not a time or is in the future', async () => {
    const first = await open({});

    const notTime = await renew(first.body.id, 'yesterday');
    const future = await renew(first.body.id, new Date(Date.now() + 3_600_000).toISOString());

    expect(notTime.status).toBe(400);
    expect(notTime.body.errors).toEqual([expect.objectContaining({ field: 'usedAt' })]);
    expect(future.status).toBe(400);
    expect(future.body.errors).toEqual([expect.objectContaining({ field: 'usedAt', message: expect.stringContaining('future') })]);
  });
});
