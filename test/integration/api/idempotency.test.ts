/** Idempotency-Key on POST /connections, through Powertools idempotency on DynamoDB Local. */
import { OTHER_SESSION_ARN } from '../../fixtures/api-events';
import { SERVICES, startBroker, type Broker } from '../support/broker';
import { brokerTarget, expectInvariant } from '../support/invariant';

let broker: Broker;

beforeAll(async () => {
  broker = await startBroker();
});

afterAll(async () => {
  await broker.stop();
});

// The broker's promise after every test: nothing live unrecorded, nothing recorded left running (support/invariant.ts).
afterEach(async () => {
  broker.emulator.setFaults({});
  await expectInvariant(brokerTarget(broker));
});

beforeEach(() => {
  broker.emulator.setFaults({});
  broker.emulator.resetCalls();
});

const openWithKey = (key: string, body: object, callerArn?: string) =>
  broker.call({ routeKey: 'POST /connections', body, headers: { 'idempotency-key': key }, ...(callerArn && { callerArn }) });
const connectCalls = () => broker.emulator.calls().byPath['/device/connect'] ?? 0;

describe('Idempotency-Key', () => {
  it('replays the first answer without a second remote.it connect when the same request is retried', async () => {
    const first = await openWithKey('retry-1', { serviceId: SERVICES.echo, ttlSeconds: 300 });

    const again = await openWithKey('retry-1', { serviceId: SERVICES.echo, ttlSeconds: 300 });

    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(again.headers.location).toBe(first.headers.location);
    expect(connectCalls()).toBe(1);
  });

  it('answers 422 naming the header when the key is reused with another body', async () => {
    await openWithKey('reused-1', { serviceId: SERVICES.echo, ttlSeconds: 300 });

    const response = await openWithKey('reused-1', { serviceId: SERVICES.echo, ttlSeconds: 600 });

    expect(response.status).toBe(422);
    expect(response.body.errors).toEqual([{ field: 'Idempotency-Key', message: expect.stringMatching(/different request body/) }]);
    expect(connectCalls()).toBe(1);
  });

  it('keeps two callers\' identical keys apart', async () => {
    const mine = await openWithKey('shared-key', { serviceId: SERVICES.echo });

    const theirs = await openWithKey('shared-key', { serviceId: SERVICES.echo }, OTHER_SESSION_ARN);

    expect(theirs.status).toBe(201);
    expect(theirs.body.id).not.toBe(mine.body.id);
    expect(connectCalls()).toBe(2);
  });

  it('connects once when 20 requests with one key arrive at once; the others replay it or get 409 with Retry-After', async () => {
    // A slow remote.it keeps the first request in flight while the others arrive.
    broker.emulator.setFaults({ latencyMs: 1_000, onlyPaths: ['/device/connect'] });

    const responses = await Promise.all(
      Array.from({ length: 20 }, () => openWithKey('burst-1', { serviceId: SERVICES.echo, ttlSeconds: 300 })),
    );

    expect(connectCalls()).toBe(1);
    const created = responses.filter((response) => response.status === 201);
    const inFlight = responses.filter((response) => response.status === 409);
    expect(created.length + inFlight.length).toBe(20);
    expect(created.length).toBeGreaterThanOrEqual(1);
    expect(new Set(created.map((response) => response.body.id)).size).toBe(1);
    expect(inFlight.length).toBeGreaterThan(0);
    expect(inFlight.every((response) => response.headers['retry-after'] === '2')).toBe(true);
    const replay = await openWithKey('burst-1', { serviceId: SERVICES.echo, ttlSeconds: 300 });
    expect(replay.body.id).toBe(created[0]?.body.id);
  });

  it('lets a retry run again when the first attempt failed', async () => {
    broker.emulator.setFaults({ errorRate: 1, onlyPaths: ['/device/connect'] });
    const failed = await openWithKey('after-failure', { serviceId: SERVICES.echo });
    broker.emulator.setFaults({});

    const retried = await openWithKey('after-failure', { serviceId: SERVICES.echo });

    expect(failed.status).toBe(503);
    expect(retried.status).toBe(201);
  });

  describe('a replay answers what is true now, never the first answer alone', () => {
    it('answers 409 connection_ended, with no proxy, when the connection the key opened has been stopped', async () => {
      const first = await openWithKey('replay-stopped', { serviceId: SERVICES.echo, ttlSeconds: 300 });
      expect(first.status).toBe(201);
      const stopped = await broker.call({ routeKey: 'DELETE /connections/{id}', pathParameters: { id: first.body.id } });
      expect(stopped.body.status).toBe('stopped');

      const replay = await openWithKey('replay-stopped', { serviceId: SERVICES.echo, ttlSeconds: 300 });

      expect(replay.status).toBe(409);
      expect(replay.headers['content-type']).toBe('application/problem+json');
      expect(replay.body).toMatchObject({
        type: 'urn:remoteit-broker:problem:connection_ended',
        status: 409,
        detail: `the connection this Idempotency-Key opened, ${first.body.id}, is stopped now; its proxy is no longer yours: open a new connection with a new Idempotency-Key`,
      });
      expect(replay.headers.location).toBeUndefined();
      // Neither the first answer's proxy address nor its port is in the answer.
      expect(JSON.stringify(replay.body)).not.toContain(first.body.proxy.host);
      expect(JSON.stringify(replay.body)).not.toContain(String(first.body.proxy.port));
      expect(connectCalls()).toBe(1);
    });

    it('answers 201 with the connection as it is now while it is still active: a renewed lease shows', async () => {
      const first = await openWithKey('replay-renewed', { serviceId: SERVICES.echo, ttlSeconds: 300 });
      const renewed = await broker.call({ routeKey: 'POST /connections/{id}/renew', pathParameters: { id: first.body.id }, body: { ttlSeconds: 900 } });
      expect(renewed.status).toBe(200);

      const replay = await openWithKey('replay-renewed', { serviceId: SERVICES.echo, ttlSeconds: 300 });

      expect(replay.status).toBe(201);
      expect(replay.headers.location).toBe(`connections/${first.body.id}`);
      expect(replay.body).toEqual({ ...first.body, leaseExpiresAt: renewed.body.leaseExpiresAt });
      expect(replay.body.leaseExpiresAt).not.toBe(first.body.leaseExpiresAt);
      expect(connectCalls()).toBe(1);
      await broker.call({ routeKey: 'DELETE /connections/{id}', pathParameters: { id: first.body.id } });
    });
  });

  it('answers 400 naming the header when the key is malformed', async () => {
    const response = await openWithKey('has spaces', { serviceId: SERVICES.echo });

    expect(response.status).toBe(400);
    expect(response.body.errors[0].field).toBe('Idempotency-Key');
  });
});
