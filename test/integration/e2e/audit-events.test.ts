/**
 * Audit events end to end on the local stack (dev/stack.ts): a connection opened, renewed and stopped through
 * the gateway shows in the connections table's stream, the stream poller hands each change to the audit
 * handler, which publishes to the EventBridge stub; the stub keeps each event in memory (`stack.events()`)
 * and as a JSON line in `<stateDir>/events.jsonl`. A publish that fails is retried by the poller, as Lambda's
 * mapping retries a batch with item failures, so the event still arrives, once.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEnvelope } from '../../../dev/stack';
import { eventually } from '../emulator/helpers';
import { call, ECHO, startTestStack, type TestStack } from './support';

const TEN_MINUTES_MS = 10 * 60_000;

describe('audit events on the local stack', () => {
  let stack: TestStack;
  let stateDir: string;
  const errors: Array<{ where: string; error: unknown }> = [];
  const announced: AuditEnvelope[] = [];

  const eventsOf = (id: string) => stack.events().filter((event) => event.detail.connectionId === id);
  const fileEventsOf = async (id: string) =>
    (await readFile(join(stateDir, 'events.jsonl'), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as AuditEnvelope)
      .filter((event) => event.detail.connectionId === id);

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'audit-e2e-'));
    stack = await startTestStack({
      stateDir,
      sweepIntervalMs: TEN_MINUTES_MS,
      onAuditEvent: (event) => announced.push(event),
      onError: (error, where) => errors.push({ where, error }),
    });
  });

  afterAll(async () => {
    await stack?.close();
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  afterEach(() => {
    stack.audit.setFaults({});
  });

  it('publishes Opened, Renewed and Stopped for a connection, each once, naming who did each', async () => {
    const app = stack.identity('app');
    const admin = stack.identity('admin');

    const opened = await call(stack, { method: 'POST', path: '/connections', body: { serviceId: ECHO, ttlSeconds: 300 }, as: app });
    expect(opened.status).toBe(201);
    const id: string = opened.body.id;
    const renewed = await call(stack, { method: 'POST', path: `/connections/${id}/renew`, body: { ttlSeconds: 600 }, as: app });
    expect(renewed.status).toBe(200);
    const stopped = await call(stack, { method: 'DELETE', path: `/connections/${id}`, as: admin });
    expect(stopped.status).toBe(200);

    expect(await eventually(() => eventsOf(id).length >= 3, 10_000)).toBe(true);
    // Nothing else follows: give a late duplicate the time to show.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const events = eventsOf(id);

    expect(events.map((event) => event['detail-type'])).toEqual(['Connection Opened', 'Connection Renewed', 'Connection Stopped']);
    for (const event of events) {
      expect(event).toMatchObject({ version: '0', source: 'remoteit-broker', region: stack.region, resources: [] });
      expect(event.detail).toMatchObject({ connectionId: id, owner: expect.stringContaining('role/'), callerArn: app.principal, serviceId: ECHO });
    }
    const [openedEvent, renewedEvent, stoppedEvent] = events;
    expect(openedEvent?.detail).toMatchObject({ actor: app.principal, status: 'active', previousStatus: 'pending', leaseExpiresAt: opened.body.leaseExpiresAt });
    expect(renewedEvent?.detail).toMatchObject({
      actor: app.principal,
      previousLeaseExpiresAt: opened.body.leaseExpiresAt,
      leaseExpiresAt: renewed.body.leaseExpiresAt,
    });
    expect(stoppedEvent?.detail).toMatchObject({ actor: admin.principal, status: 'stopped', previousStatus: 'stopping', stopReason: 'requested' });
    // No proxy address, anywhere.
    const text = JSON.stringify(events);
    expect(text).not.toContain(String(opened.body.proxy.port));
    expect(text).not.toContain('"proxy"');
    // The file holds the same events, and they were announced as published.
    expect(await fileEventsOf(id)).toEqual(events);
    expect(announced.filter((event) => event.detail.connectionId === id)).toEqual(events);
    expect(errors).toEqual([]);
  });

  it('loses no event when publishing fails: the poller retries the batch, and the event arrives once', async () => {
    const app = stack.identity('app');
    stack.audit.resetCalls();
    stack.audit.setFaults({ failEntries: 1 });

    const opened = await call(stack, { method: 'POST', path: '/connections', body: { serviceId: ECHO, ttlSeconds: 300 }, as: app });
    expect(opened.status).toBe(201);
    const id: string = opened.body.id;

    expect(await eventually(() => eventsOf(id).length >= 1, 10_000)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 1_000));

    expect(eventsOf(id).map((event) => event['detail-type'])).toEqual(['Connection Opened']);
    const calls = stack.audit.calls();
    expect(calls[0]).toMatchObject({ action: 'PutEvents', status: 200, entries: 1, failedEntryCount: 1 });
    expect(calls.slice(1)).toContainEqual(expect.objectContaining({ status: 200, entries: 1, failedEntryCount: 0 }));
    expect(await fileEventsOf(id)).toEqual(eventsOf(id));

    const stopped = await call(stack, { method: 'DELETE', path: `/connections/${id}`, as: app });
    expect(stopped.status).toBe(200);
    expect(errors).toEqual([]);
  });

  it('loses no event through an outage of EventBridge longer than the SDK retries', async () => {
    const app = stack.identity('app');
    stack.audit.resetCalls();
    stack.audit.setFaults({ unavailable: true });

    const opened = await call(stack, { method: 'POST', path: '/connections', body: { serviceId: ECHO, ttlSeconds: 300 }, as: app });
    expect(opened.status).toBe(201);
    const id: string = opened.body.id;
    // The SDK's own retries (3 attempts) run out, the batch fails, the poller retries it: still out.
    expect(await eventually(() => stack.audit.calls().length >= 6, 15_000)).toBe(true);
    expect(eventsOf(id)).toEqual([]);

    stack.audit.setFaults({});

    expect(await eventually(() => eventsOf(id).length >= 1, 15_000)).toBe(true);
    expect(eventsOf(id).map((event) => event['detail-type'])).toEqual(['Connection Opened']);
    await call(stack, { method: 'DELETE', path: `/connections/${id}`, as: app });
    expect(errors).toEqual([]);
  }, 60_000);
});
