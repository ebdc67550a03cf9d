/**
 * Races between the writers of one record, through the real handlers on DynamoDB Local and the emulator:
 * DELETE against the sweeper, renew against the sweeper at the lease's last instant, 50 opens sharing one
 * Idempotency-Key (then 50 DELETEs of the result), three sweeper instances and DELETEs at once. Whoever wins,
 * each remote.it connection is stopped exactly once (the emulator counts stop calls per connection id), and
 * the invariant holds afterwards.
 */
import type { ConnectionStore } from '../../../lambdas/broker/ports';
import { createDynamoConnectionStore } from '../../../lambdas/store/dynamo-store';
import { SERVICES, startBroker, type ApiAnswer, type Broker } from '../support/broker';
import { brokerTarget, expectInvariant, scanAll } from '../support/invariant';
import { captureOutput, secretLeaks, type OutputCapture } from '../support/log-capture';
import { stopCallsById } from '../sweeper/helpers';

const DUE_SHARDS = 4;
const STOP = '/device/connect/stop';
/** Bound of one race (tens of connections opened, raced and settled; seconds on an idle machine). */
const RACE_TIMEOUT_MS = 30_000;

let broker: Broker;
let store: ConnectionStore;
let output: OutputCapture;

beforeAll(async () => {
  output = captureOutput();
  // A small stop concurrency, so that each sweeper instance works a share of the due leases and they race.
  broker = await startBroker({ env: { DUE_SHARDS: String(DUE_SHARDS), SWEEPER_CONCURRENCY: '4', POWERTOOLS_LOG_LEVEL: 'DEBUG' } });
  store = createDynamoConnectionStore({ client: broker.tables.documentClient, tableName: broker.tables.connections, dueShardCount: DUE_SHARDS });
}, 30_000);

afterAll(async () => {
  await broker?.stop();
  output.restore();
});

afterEach(async () => {
  broker.emulator.setFaults({});
  await expectInvariant(brokerTarget(broker));
}, RACE_TIMEOUT_MS);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const at = (epochMs: number) => sleep(Math.max(0, epochMs - Date.now()));

interface Opened {
  id: string;
  remoteConnectionId: string;
}

async function openMany(count: number): Promise<Opened[]> {
  const answers = await Promise.all(
    Array.from({ length: count }, () => broker.call({ routeKey: 'POST /connections', body: { serviceId: SERVICES.echo, ttlSeconds: 300 } })),
  );
  for (const answer of answers) if (answer.status !== 201) throw new Error(`open failed: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answers.map((answer) => ({ id: answer.body.id, remoteConnectionId: answer.body.remoteConnectionId }));
}

/** Moves the lease end (and the sweeper's due time) to `leaseEndMs`, a whole second. */
async function setLeaseEnd(id: string, leaseEndMs: number): Promise<void> {
  const record = await store.get(id);
  if (!record) throw new Error(`${id} is not recorded`);
  await store.update(id, { status: ['active'], version: record.version }, { leaseExpiresAt: new Date(leaseEndMs).toISOString(), dueAt: Math.ceil(leaseEndMs / 1000) });
}

const stopOf = (id: string) => broker.call({ routeKey: 'DELETE /connections/{id}', pathParameters: { id } });
const stopsOf = (connections: Opened[]) => {
  const counts = stopCallsById(broker.emulator);
  return Object.fromEntries(connections.map((connection) => [connection.id, counts.get(connection.remoteConnectionId.toUpperCase()) ?? 0]));
};
const once = (connections: Opened[]) => Object.fromEntries(connections.map((connection) => [connection.id, 1]));
const statusesOf = (answers: ApiAnswer[]) => [...new Set(answers.map((answer) => answer.status))].sort();

describe('races', () => {
  it('stops each connection exactly once when DELETEs race two sweepers over ended leases', async () => {
    // Arrange: ended leases, and slow stops so that claims and calls overlap.
    const connections = await openMany(12);
    const endedMs = (Math.floor(Date.now() / 1000) - 2) * 1000;
    await Promise.all(connections.map((connection) => setLeaseEnd(connection.id, endedMs)));
    broker.emulator.setFaults({ latencyMs: 150, onlyPaths: [STOP] });
    broker.emulator.resetCalls();
    const otherSweeper = broker.newSweeper();

    // Act
    const [answers] = await Promise.all([
      Promise.all(connections.map((connection, index) => sleep(index * 10).then(() => stopOf(connection.id)))),
      broker.sweep(),
      sleep(30).then(() => otherSweeper()),
    ]);

    // Assert: a DELETE answers 200 (it stopped it, or found it stopped) or 202 (a sweeper's stop was in flight).
    expect(statusesOf(answers).every((status) => status === 200 || status === 202)).toBe(true);
    expect(stopsOf(connections)).toEqual(once(connections));
    const records = await scanAll(broker.tables);
    for (const connection of connections) {
      expect(records.find((record) => record.id === connection.id)).toMatchObject({ status: 'stopped', stopAttempts: 1 });
    }
  }, RACE_TIMEOUT_MS);

  it('either renews or stops each connection, never both, when renews race the sweeper at the lease\'s last instant', async () => {
    // Arrange: ten leases ending at the same whole second; the renews straddle it, the sweep runs just after it.
    const connections = await openMany(10);
    const leaseEndMs = (Math.floor(Date.now() / 1000) + 2) * 1000;
    await Promise.all(connections.map((connection) => setLeaseEnd(connection.id, leaseEndMs)));
    broker.emulator.resetCalls();

    // Act
    const [renewals] = await Promise.all([
      Promise.all(
        connections.map((connection, index) =>
          at(leaseEndMs - 150 + index * 16).then(() =>
            broker.call({ routeKey: 'POST /connections/{id}/renew', pathParameters: { id: connection.id }, body: { ttlSeconds: 600 } }),
          ),
        ),
      ),
      at(leaseEndMs + 5).then(() => broker.sweep()),
    ]);

    // Assert: a 200 renewal means a live, untouched connection with the new lease; a 409 means the sweeper won
    // and stopped it once. Nothing else, and never a renewed lease on a stopped connection.
    const stops = stopsOf(connections);
    const records = await scanAll(broker.tables);
    const observed = connections.map((connection, index) => {
      const renewal = renewals[index] as ApiAnswer;
      const record = records.find((candidate) => candidate.id === connection.id);
      return {
        renewal: renewal.status,
        status: record?.status,
        stopReason: record?.stopReason,
        stops: stops[connection.id],
        leaseRenewed: record?.leaseExpiresAt === renewal.body.leaseExpiresAt && Date.parse(record?.leaseExpiresAt ?? '') > Date.now() + 500_000,
      };
    });
    const renewed = { renewal: 200, status: 'active', stopReason: undefined, stops: 0, leaseRenewed: true };
    const stopped = { renewal: 409, status: 'stopped', stopReason: 'lease_ended', stops: 1, leaseRenewed: false };
    expect(observed).toEqual(observed.map((outcome) => (outcome.renewal === 200 ? renewed : stopped)));
  }, RACE_TIMEOUT_MS);

  it('connects once for 50 parallel opens with one Idempotency-Key, and stops once for 50 parallel DELETEs of it', async () => {
    // Arrange: a slow remote.it keeps the first open in flight while the other 49 arrive.
    broker.emulator.setFaults({ latencyMs: 600, onlyPaths: ['/device/connect'] });
    broker.emulator.resetCalls();
    const before = new Set((await scanAll(broker.tables)).map((record) => record.id));
    const body = { serviceId: SERVICES.echo, ttlSeconds: 300 };

    // Act
    const opens = await Promise.all(
      Array.from({ length: 50 }, () => broker.call({ routeKey: 'POST /connections', body, headers: { 'idempotency-key': 'race-50' } })),
    );
    broker.emulator.setFaults({ latencyMs: 100, onlyPaths: [STOP] });
    const created = opens.filter((answer) => answer.status === 201);
    const id = created[0]?.body.id as string;
    const stops = await Promise.all(Array.from({ length: 50 }, () => stopOf(id)));

    // Assert: one connect, one record; every open is that connection (201) or told to come back (409).
    expect(broker.emulator.calls().byPath['/device/connect']).toBe(1);
    expect(statusesOf(opens).every((status) => status === 201 || status === 409)).toBe(true);
    expect(new Set(created.map((answer) => answer.body.id))).toEqual(new Set([id]));
    expect(opens.filter((answer) => answer.status === 409).every((answer) => answer.headers['retry-after'] === '2')).toBe(true);
    expect((await scanAll(broker.tables)).filter((record) => !before.has(record.id)).map((record) => record.id)).toEqual([id]);
    // ...and one stop, whatever each DELETE saw (stopping in flight: 202; stopped: 200).
    expect(statusesOf(stops).every((status) => status === 200 || status === 202)).toBe(true);
    expect(stopsOf([{ id, remoteConnectionId: created[0]?.body.remoteConnectionId }])).toEqual({ [id]: 1 });
    expect(await store.get(id)).toMatchObject({ status: 'stopped', stopReason: 'requested' });
  }, RACE_TIMEOUT_MS);

  it('stops each connection exactly once when three sweeper instances and DELETEs work the same due leases', async () => {
    // Arrange: 30 ended leases; three sweeper function instances (own module registries and clients).
    const connections = await openMany(30);
    const endedMs = (Math.floor(Date.now() / 1000) - 5) * 1000;
    await Promise.all(connections.map((connection) => setLeaseEnd(connection.id, endedMs)));
    const sweepers = [broker.newSweeper(), broker.newSweeper(), broker.newSweeper()];
    broker.emulator.setFaults({ latencyMs: 50, onlyPaths: [STOP] });
    broker.emulator.resetCalls();

    // Act
    const [summaries, answers] = await Promise.all([
      Promise.all(sweepers.map((sweeper) => sweeper())),
      Promise.all(connections.filter((_, index) => index % 3 === 0).map((connection) => stopOf(connection.id))),
    ]);

    // Assert
    expect(stopsOf(connections)).toEqual(once(connections));
    expect(statusesOf(answers).every((status) => status === 200 || status === 202)).toBe(true);
    expect(summaries.reduce((sum, summary) => sum + summary.errors, 0)).toBe(0);
    expect(summaries.filter((summary) => summary.swept > 0).length).toBeGreaterThan(1);
    const records = await scanAll(broker.tables);
    for (const connection of connections) {
      expect(records.find((record) => record.id === connection.id)).toMatchObject({ status: 'stopped', stopAttempts: 1 });
    }
  }, RACE_TIMEOUT_MS);
});

describe('logs of the races', () => {
  it('carry no secret value in any line', () => {
    expect(output.lines.length).toBeGreaterThan(50);
    expect(secretLeaks(output.lines, { ...broker.secret, ...broker.login })).toEqual([]);
  });
});
