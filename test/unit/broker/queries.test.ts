import { ConnectionNotFoundError } from '../../../lambdas/broker/errors';
import {
  NOW_MS,
  NOW_S,
  adminCaller,
  appCaller,
  appConnection,
  createHarness,
  otherCaller,
  rejectionOf,
} from './use-case-harness';


describe('getConnection', () => {
  it('returns the record when the caller owns it', async () => {
    const { service, store } = createHarness();
    const record = appConnection();
    store.seed(record);

    await expect(service.get(appCaller, record.id)).resolves.toEqual(record);
  });

  it('answers not found when another caller asks, exactly as for an unknown id', async () => {
    const { service, store } = createHarness();
    const record = appConnection();
    store.seed(record);

    const foreign = await rejectionOf(service.get(otherCaller, record.id));
    const unknown = await rejectionOf(service.get(otherCaller, '01JUNKNOWN0000000000000000'));

    expect(foreign).toBeInstanceOf(ConnectionNotFoundError);
    expect(unknown).toBeInstanceOf(ConnectionNotFoundError);
    expect((foreign as Error).message).toBe(`connection ${record.id} not found`);
  });

  it("returns another owner's record when the caller is an admin", async () => {
    const { service, store } = createHarness();
    const record = appConnection();
    store.seed(record);

    await expect(service.get(adminCaller, record.id)).resolves.toEqual(record);
  });

  it.each(['active', 'stopping', 'pending'] as const)(
    'reads a %s record as expired without writing when its expiry has passed',
    async (status) => {
      const { service, store } = createHarness();
      const record = appConnection({ status, expiresAt: NOW_S });
      store.seed(record);

      const seen = await service.get(appCaller, record.id);

      expect(seen).toEqual({ ...record, status: 'expired' });
      expect(store.peek(record.id)?.status).toBe(status);
      expect(store.updates).toHaveLength(0);
    },
  );

  it('keeps a terminal status when the expiry has passed', async () => {
    const { service, store } = createHarness();
    const record = appConnection({ status: 'stopped', expiresAt: NOW_S - 10, dueAt: undefined });
    store.seed(record);

    await expect(service.get(appCaller, record.id)).resolves.toMatchObject({ status: 'stopped' });
  });
});

describe('listConnections', () => {
  function seedMixed(store: ReturnType<typeof createHarness>['store']) {
    const own = [
      appConnection({ createdAt: new Date(NOW_MS - 30_000).toISOString() }),
      appConnection({ createdAt: new Date(NOW_MS - 20_000).toISOString(), serviceId: '80:00:00:00:01:00:00:0A' }),
    ];
    const foreign = appConnection({ owner: otherCaller.principal, createdAt: new Date(NOW_MS - 10_000).toISOString() });
    store.seed(...own, foreign);
    return { own, foreign };
  }

  it("returns only the caller's connections, newest first", async () => {
    const { service, store } = createHarness();
    const { own } = seedMixed(store);

    const page = await service.list(appCaller);

    expect(page.items.map((record) => record.id)).toEqual([own[1]?.id, own[0]?.id]);
    expect(page.cursor).toBeUndefined();
  });

  it("returns every owner's connections when the caller is an admin", async () => {
    const { service, store } = createHarness();
    const { own, foreign } = seedMixed(store);

    const page = await service.list(adminCaller);

    expect(page.items.map((record) => record.id)).toEqual([foreign.id, own[1]?.id, own[0]?.id]);
  });

  // The edge upper-cases the filter (test/unit/handlers/schemas.test.ts), so a lower-case one matches too.
  it('filters by service id when given the upper-case id the edge passes on', async () => {
    const { service, store } = createHarness();
    const { own } = seedMixed(store);

    const page = await service.list(appCaller, { serviceId: '80:00:00:00:01:00:00:0A' });

    expect(page.items.map((record) => record.id)).toEqual([own[1]?.id]);
  });

  it('drops records that read as expired when filtering on a live status', async () => {
    const { service, store } = createHarness();
    const live = appConnection();
    const lapsed = appConnection({ expiresAt: NOW_S - 1 });
    store.seed(live, lapsed);

    const page = await service.list(appCaller, { status: 'active' });

    expect(page.items.map((record) => record.id)).toEqual([live.id]);
  });

  it('shows lapsed records as expired when not filtering', async () => {
    const { service, store } = createHarness();
    const lapsed = appConnection({ expiresAt: NOW_S - 1 });
    store.seed(lapsed);

    const page = await service.list(appCaller);

    expect(page.items).toEqual([{ ...lapsed, status: 'expired' }]);
  });

  it('pages with the cursor when there are more than limit', async () => {
    const { service, store } = createHarness();
    const { own } = seedMixed(store);

    const first = await service.list(appCaller, { limit: 1 });
    const second = await service.list(appCaller, { limit: 1, cursor: first.cursor });

    expect(first.items.map((record) => record.id)).toEqual([own[1]?.id]);
    expect(first.cursor).toEqual(expect.any(String));
    expect(second.items.map((record) => record.id)).toEqual([own[0]?.id]);
    expect(second.cursor).toBeUndefined();
  });
});
