/**
 * Locks end to end on the local stack (dev/stack.ts), over real HTTP through the gateway: the race the lock
 * check cannot close by itself. An open passes its lock check, and while remote.it (the emulator, slowed) is
 * still connecting, an admin places a lock covering it. The placing request finds the connection `pending`,
 * with no proxy to stop yet; once the open makes it active, the activation reaches timer-arm on the table's
 * stream, which finds the lock and sends a lock stop that timer-fire turns into the stop. Without timers,
 * the sweeper's lock pass does the same on its next run. Either way the connection ends `locked`, naming the
 * lock and the admin, and the proxy is closed at remote.it. The sweeper's own period is 10 minutes here.
 */
import '../../timeout-120s';
import type { Emulator } from '../../../dev/emulator';
import { eventually } from '../emulator/helpers';
import { call, ECHO, startTestStack, type CallAnswer, type TestStack } from './support';

const TEN_MINUTES_MS = 10 * 60_000;
const CONNECT_LATENCY_MS = 2_500;

describe('locks on the local stack', () => {
  let stack: TestStack;
  let emulator: Emulator;
  const errors: Array<{ where: string; error: unknown }> = [];

  beforeAll(async () => {
    stack = await startTestStack({ sweepIntervalMs: TEN_MINUTES_MS, onError: (error, where) => errors.push({ where, error }) });
    if (!stack.emulator) throw new Error('the stack started without its emulator');
    emulator = stack.emulator;
  });

  afterEach(async () => {
    emulator.setFaults({});
    // Lift whatever a test left, so the next one starts unlocked.
    const listed = await call(stack, { method: 'GET', path: '/locks', as: stack.identity('admin') });
    for (const lock of listed.body?.items ?? []) {
      await call(stack, { method: 'DELETE', path: `/locks/${lock.id}`, as: stack.identity('admin') });
    }
  });

  afterAll(async () => {
    await stack?.close();
  });

  /** Opens as the app with remote.it slowed, and places a lock on the service while the connect is in flight. */
  async function lockDuringOpen(): Promise<{ opened: CallAnswer; placed: CallAnswer }> {
    emulator.setFaults({ latencyMs: CONNECT_LATENCY_MS, onlyPaths: ['/device/connect'] });
    const opening = call(stack, { method: 'POST', path: '/connections', body: { serviceId: ECHO, ttlSeconds: 600 }, as: stack.identity('app') });
    // The open has passed its lock check once its write-ahead record exists (remote.it is being asked).
    const pending = async () =>
      (await call(stack, { method: 'GET', path: '/connections', query: 'status=pending', as: stack.identity('app') })).body?.items?.length > 0;
    expect(await eventually(pending, 5_000)).toBe(true);
    const placed = await call(stack, {
      method: 'POST',
      path: '/locks',
      body: { serviceId: ECHO, reason: 'race test: device under investigation' },
      as: stack.identity('admin'),
    });
    return { opened: await opening, placed };
  }

  async function viewOf(id: string): Promise<CallAnswer['body']> {
    return (await call(stack, { method: 'GET', path: `/connections/${id}`, as: stack.identity('app') })).body;
  }

  it('stops a connection that was opening when the lock was placed, within 2 s of its activation, through timer-arm', async () => {
    expect(stack.timersEnabled).toBe(true);

    const { opened, placed } = await lockDuringOpen();

    expect(placed.status).toBe(201);
    // The placing request saw it still opening: nothing to stop yet.
    expect(placed.body.enforcement).toEqual({ stopped: 0, remaining: 1, complete: true });
    // The open was allowed when it checked, so it answers 201 ...
    expect(opened.status).toBe(201);
    const activatedAt = Date.now();
    // ... and the connection is stopped soon after it became active.
    const stopped = await eventually(async () => (await viewOf(opened.body.id)).status === 'stopped', 5_000);
    const stoppedWithinMs = Date.now() - activatedAt;

    expect(stopped).toBe(true);
    expect(stoppedWithinMs).toBeLessThanOrEqual(2_000);
    expect(await viewOf(opened.body.id)).toMatchObject({ status: 'stopped', stopReason: 'locked' });
    const proxy = emulator.connections().find((connection) => connection.connectionId === opened.body.remoteConnectionId);
    expect(proxy?.state).toBe('ended');
    // The audit event names the lock and the admin who placed it.
    const ended = await eventually(
      () => stack.events().some((event) => event['detail-type'] === 'Connection Stopped' && event.detail.connectionId === opened.body.id),
      5_000,
    );
    expect(ended).toBe(true);
    const event = stack.events().find((candidate) => candidate['detail-type'] === 'Connection Stopped' && candidate.detail.connectionId === opened.body.id);
    expect(event?.detail).toMatchObject({ stopReason: 'locked', lockId: placed.body.id, actor: stack.identity('admin').principal });
    expect(stack.events().some((candidate) => candidate['detail-type'] === 'Lock Placed' && (candidate.detail as unknown as { lockId: string }).lockId === placed.body.id)).toBe(true);
    // And a new open of the service is refused, naming the lock's reason.
    const refused = await call(stack, { method: 'POST', path: '/connections', body: { serviceId: ECHO }, as: stack.identity('app') });
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ type: 'urn:remoteit-broker:problem:locked' });
    expect(refused.body.detail).toContain('race test: device under investigation');
    expect(errors).toEqual([]);
  });

  it('without timers, the next sweep stops it', async () => {
    await stack.timers.setEnabled(false);
    try {
      const { opened, placed } = await lockDuringOpen();
      expect(placed.body.enforcement).toEqual({ stopped: 0, remaining: 1, complete: true });
      expect(opened.status).toBe(201);
      // Nothing stops it until a sweep runs.
      expect(await eventually(async () => (await viewOf(opened.body.id)).status !== 'active', 1_500)).toBe(false);

      await stack.sweep();

      expect(await viewOf(opened.body.id)).toMatchObject({ status: 'stopped', stopReason: 'locked' });
    } finally {
      await stack.timers.setEnabled(true);
    }
  });
});
