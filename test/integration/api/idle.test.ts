/**
 * remote.it's idle close, on the real handlers with the emulator's idle window shortened to 2 s: the connection
 * says when remote.it closes it if nobody connects (`idleClosesAt`), `reuse` never hands out one that may have
 * idled out, and renew refuses to extend one (409 connection_may_be_idle) instead of reviving a dead proxy.
 */
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
const renew = (id: string) => broker.call({ routeKey: 'POST /connections/{id}/renew', pathParameters: { id }, body: { ttlSeconds: 600 } });
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
});
