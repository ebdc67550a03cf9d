/**
 * LeaseKeeper's decisions on a simulated clock: when it renews (and with what), when it does not, what it
 * says before a lease it cannot extend ends, and how it reports the end. The broker is a small scripted fake
 * here (its real answers are exercised end to end in test/integration/client/forward.test.ts).
 */
import { BrokerApiError } from '../../../client/errors';
import { LeaseKeeper, leaseSecondsOf, type LeaseEvent, type Usage } from '../../../client/lease';
import type { Connection } from '../../../client/types';
import { connection as apiConnection } from './support';

const T0 = Date.parse('2030-01-01T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

/** A live connection opened at T0: its lease ten minutes, its first idle window fifteen. */
function connection(overrides: Partial<Connection> = {}): Connection {
  return apiConnection({
    createdAt: iso(T0),
    leaseExpiresAt: iso(T0 + 600_000),
    idleClosesAt: iso(T0 + 900_000),
    expiresAt: iso(T0 + 8 * 3600_000),
    ...overrides,
  }) as Connection;
}

function refusal(code: string, status = 409): BrokerApiError {
  return new BrokerApiError({
    status,
    method: 'POST',
    path: '/connections/x/renew',
    problem: { type: `urn:remoteit-broker:problem:${code}`, title: code, detail: `refused: ${code}` },
    retryAfterSeconds: undefined,
    requestId: undefined,
  });
}

interface Harness {
  keeper: LeaseKeeper;
  events: LeaseEvent[];
  renews: Array<{ ttlSeconds: number; usedAt: Date | undefined; atMs: number }>;
  usage: Usage;
  /** What the fake broker holds. */
  record: Connection;
  renewAnswer: (record: Connection, ttlSeconds: number) => Connection | Error;
}

function harness(start: Connection = connection(), ttlSeconds = 600): Harness {
  const h = {} as Harness;
  h.events = [];
  h.renews = [];
  h.usage = { busy: true };
  h.record = start;
  h.renewAnswer = (record, ttl) => ({ ...record, leaseExpiresAt: iso(Math.min(Date.now() + ttl * 1000, Date.parse(record.expiresAt))) });
  const client = {
    renew: async (_id: string, ttl: number, options: { usedAt?: Date } = {}) => {
      h.renews.push({ ttlSeconds: ttl, usedAt: options.usedAt, atMs: Date.now() });
      const answer = h.renewAnswer(h.record, ttl);
      if (answer instanceof Error) throw answer;
      h.record = answer;
      return answer;
    },
    get: async () => h.record,
  };
  h.keeper = new LeaseKeeper({ client, connection: start, ttlSeconds, usage: () => h.usage, onEvent: (event) => h.events.push(event) });
  return h;
}

beforeEach(() => {
  jest.useFakeTimers({ now: T0 });
});

afterEach(() => {
  jest.useRealTimers();
});

describe('LeaseKeeper', () => {
  it('renews halfway through the lease while the work goes on, naming the last use', async () => {
    const h = harness();
    h.usage = { busy: true, usedAt: new Date(T0 + 299_000) };
    h.keeper.start();

    await jest.advanceTimersByTimeAsync(299_000);
    expect(h.renews).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(1_000);

    expect(h.renews).toEqual([{ ttlSeconds: 600, usedAt: new Date(T0 + 299_000), atMs: T0 + 300_000 }]);
    expect(h.events).toEqual([{ type: 'renewed', connection: expect.objectContaining({ leaseExpiresAt: iso(T0 + 900_000) }) }]);
    h.keeper.stop();
  });

  it('does not renew work that has stopped, and says how the connection ended after its lease', async () => {
    const h = harness();
    h.usage = { busy: false };
    h.keeper.start();

    await jest.advanceTimersByTimeAsync(600_000);
    h.record = { ...h.record, status: 'stopped', stopReason: 'lease_ended', stoppedAt: iso(T0 + 600_500) };
    await jest.advanceTimersByTimeAsync(2_000);

    expect(h.renews).toHaveLength(0);
    expect(h.events).toEqual([{ type: 'ended', connection: expect.objectContaining({ stopReason: 'lease_ended' }) }]);
  });

  it('renews as soon as work shows again after a quiet renew point', async () => {
    const h = harness();
    h.usage = { busy: false };
    h.keeper.start();

    await jest.advanceTimersByTimeAsync(400_000);
    h.usage = { busy: true };
    await jest.advanceTimersByTimeAsync(5_000);

    expect(h.renews).toHaveLength(1);
    expect(h.renews[0]?.atMs).toBeLessThanOrEqual(T0 + 405_000);
    h.keeper.stop();
  });

  it('warns, with the broker\'s reason and the lease end, when a renew is refused, and renews no more', async () => {
    const h = harness();
    h.renewAnswer = () => refusal('connection_may_be_idle');
    h.keeper.start();

    await jest.advanceTimersByTimeAsync(300_000);
    await jest.advanceTimersByTimeAsync(200_000);

    expect(h.renews).toHaveLength(1);
    expect(h.events).toEqual([{ type: 'renew_refused', connection: expect.objectContaining({ leaseExpiresAt: iso(T0 + 600_000) }), error: expect.objectContaining({ code: 'connection_may_be_idle' }) }]);
    h.keeper.stop();
  });

  it('says when remote.it\'s own expiry caps the lease, and stops renewing', async () => {
    const h = harness(connection({ expiresAt: iso(T0 + 700_000) }));
    h.keeper.start();

    await jest.advanceTimersByTimeAsync(300_000);
    await jest.advanceTimersByTimeAsync(300_000);

    expect(h.renews).toHaveLength(1);
    expect(h.events.map((event) => event.type)).toEqual(['renewed', 'capped']);
    expect(h.events[1]).toMatchObject({ by: 'expiry', connection: { leaseExpiresAt: iso(T0 + 700_000) } });
    h.keeper.stop();
  });

  it('retries a renew that got no answer while the lease lasts', async () => {
    const h = harness();
    let failures = 1;
    const answer = h.renewAnswer;
    h.renewAnswer = (record, ttl) => (failures-- > 0 ? new Error('connect ECONNREFUSED') : answer(record, ttl));
    h.keeper.start();

    await jest.advanceTimersByTimeAsync(300_000);
    await jest.advanceTimersByTimeAsync(30_000);

    expect(h.events.map((event) => event.type)).toEqual(['renew_failed', 'renewed']);
    expect(h.renews).toHaveLength(2);
    h.keeper.stop();
  });

  it('without a use to name, renews before the first idle window closes (after it, a renew would be refused)', async () => {
    const h = harness(connection({ leaseExpiresAt: iso(T0 + 3600_000), idleClosesAt: iso(T0 + 900_000) }), 3600);
    h.keeper.start();

    await jest.advanceTimersByTimeAsync(870_000);

    expect(h.renews.map((renew) => renew.atMs)).toEqual([T0 + 870_000]);
    h.keeper.stop();
  });

  it('reports the end at once when a renew finds the connection already ended', async () => {
    const h = harness();
    h.renewAnswer = (record) => {
      h.record = { ...record, status: 'stopped', stopReason: 'locked' };
      return refusal('connection_not_active');
    };
    h.keeper.start();

    await jest.advanceTimersByTimeAsync(300_000);

    expect(h.events).toEqual([{ type: 'ended', connection: expect.objectContaining({ stopReason: 'locked' }) }]);
  });
});

describe('leaseSecondsOf', () => {
  it('is the lease the connection was opened with, in whole minutes, never above it', () => {
    expect(leaseSecondsOf(connection({ leaseExpiresAt: iso(T0 + 902_300) }))).toBe(900);
    expect(leaseSecondsOf(connection({ leaseExpiresAt: iso(T0 + 30_000) }))).toBe(60);
  });
});
