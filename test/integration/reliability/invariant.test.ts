/**
 * The invariant checker itself: it must see each way the promise can break, on the real parts. Each case
 * breaks it behind the broker's back (a proxy opened or stopped directly at the emulator, a record written
 * without its due time) and reads the report.
 */
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { SERVICES, startBroker, type Broker } from '../support/broker';
import { brokerTarget, checkInvariant } from '../support/invariant';
import { remoteitClient } from '../sweeper/helpers';

let broker: Broker;

beforeAll(async () => {
  broker = await startBroker();
}, 30_000);

afterAll(async () => {
  await broker?.stop();
});

const open = async () => {
  const answer = await broker.call({ routeKey: 'POST /connections', body: { serviceId: SERVICES.echo, ttlSeconds: 300 } });
  if (answer.status !== 201) throw new Error(`open failed: ${answer.status}`);
  return answer.body as { id: string; remoteConnectionId: string };
};

describe('invariant checker', () => {
  it('reports nothing when every proxy is recorded and every lease runs', async () => {
    await open();

    const report = await checkInvariant(brokerTarget(broker));

    expect([report.unrecorded, report.phantom, report.overdue, report.duplicated, report.orphans, report.stopFailed, report.falseStopFailed]).toEqual([
      [], [], [], [], [], [], [],
    ]);
  });

  it('reports a live proxy the broker was told about but did not record as unrecorded', async () => {
    const remote = await remoteitClient(broker.emulator.url, broker.secret).connect(SERVICES.echo, '255.255.255.255');

    const report = await checkInvariant(brokerTarget(broker));

    expect(report.unrecorded.map((proxy) => proxy.connectionId)).toEqual([remote.remoteConnectionId.toUpperCase()]);
    await remoteitClient(broker.emulator.url, broker.secret).stop(SERVICES.echo, remote.remoteConnectionId);
  });

  it('reports an active record whose proxy is gone as phantom', async () => {
    const connection = await open();
    await remoteitClient(broker.emulator.url, broker.secret).stop(SERVICES.echo, connection.remoteConnectionId);

    const report = await checkInvariant(brokerTarget(broker));

    expect(report.phantom.map((record) => record.id)).toEqual([connection.id]);
    await broker.call({ routeKey: 'DELETE /connections/{id}', pathParameters: { id: connection.id } });
  });

  it('reports a lease the sweeper cannot see (no due time) as overdue after its sweep', async () => {
    const connection = await open();
    await broker.tables.documentClient.send(
      new UpdateCommand({
        TableName: broker.tables.connections,
        Key: { id: connection.id },
        UpdateExpression: 'SET leaseExpiresAt = :ended REMOVE dueAt, dueShard',
        ExpressionAttributeValues: { ':ended': new Date(Date.now() - 60_000).toISOString() },
      }),
    );

    const report = await checkInvariant(brokerTarget(broker));

    expect(report.overdue.map((record) => record.id)).toEqual([connection.id]);
    await broker.call({ routeKey: 'DELETE /connections/{id}', pathParameters: { id: connection.id } });
  });

  it('reports a stop_failed record whose proxy remote.it no longer has as a false stop_failed', async () => {
    const connection = await open();
    await remoteitClient(broker.emulator.url, broker.secret).stop(SERVICES.echo, connection.remoteConnectionId);
    await broker.tables.documentClient.send(
      new UpdateCommand({
        TableName: broker.tables.connections,
        Key: { id: connection.id },
        UpdateExpression: 'SET #status = :failed, failureReason = :why REMOVE dueAt, dueShard, liveOwner',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':failed': 'stop_failed', ':why': "remote.it rejected the broker's credentials: gone" },
      }),
    );

    const report = await checkInvariant(brokerTarget(broker));

    expect(report.falseStopFailed.map((record) => record.id)).toEqual([connection.id]);
    expect(report.stopFailed).toEqual([]);
  });

  it('counts a proxy whose connect answer was lost as an orphan, not as unrecorded', async () => {
    broker.emulator.setFaults({ status: 500, afterEffect: true, onlyPaths: ['/device/connect'] });
    const answer = await broker.call({ routeKey: 'POST /connections', body: { serviceId: SERVICES.echo } });
    broker.emulator.setFaults({});

    const report = await checkInvariant(brokerTarget(broker));

    expect(answer.status).toBe(503);
    expect([report.orphans.length, report.unrecorded]).toEqual([1, []]);
  });
});
