/**
 * What the handlers write to their log stream, captured from stdout and stderr: structured lines carrying the API
 * request id as correlation id, EMF metrics, and never a secret value.
 */
import { SERVICES, startBroker, type Broker } from '../support/broker';

let broker: Broker;
let lines: string[];
let streams: jest.SpyInstance[];

beforeAll(async () => {
  broker = await startBroker({
    env: { POWERTOOLS_LOG_LEVEL: 'DEBUG', POWERTOOLS_METRICS_DISABLED: 'false', POWERTOOLS_METRICS_NAMESPACE: 'RemoteitBrokerTest' },
  });
});

afterAll(async () => {
  await broker.stop();
  // Later files in this worker get the quiet defaults back.
  Object.assign(process.env, { POWERTOOLS_LOG_LEVEL: 'SILENT', POWERTOOLS_METRICS_DISABLED: 'true' });
});

beforeEach(() => {
  lines = [];
  // Powertools writes ERROR and WARN lines to stderr, the rest (and EMF metrics) to stdout.
  streams = [process.stdout, process.stderr].map((stream) =>
    jest.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(...String(chunk).split('\n').filter((line) => line.trim() !== ''));
      return true;
    }),
  );
});

afterEach(() => {
  for (const stream of streams) stream.mockRestore();
});

const parsed = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);

describe('handler logs and metrics', () => {
  it('tags every log line of a request with its API request id', async () => {
    await broker.call({ routeKey: 'POST /connections', body: { serviceId: SERVICES.echo }, requestId: 'req-correlated-1' });

    const logs = parsed().filter((entry) => typeof entry.message === 'string');
    expect(logs.length).toBeGreaterThan(0);
    expect(logs.every((entry) => entry.correlation_id === 'req-correlated-1')).toBe(true);
  });

  it('publishes ConnectionsOpened and RemoteitErrors as EMF metrics', async () => {
    await broker.call({ routeKey: 'POST /connections', body: { serviceId: SERVICES.echo } });
    await broker.call({ routeKey: 'POST /connections', body: { serviceId: SERVICES.offline } });

    const metricNames = parsed()
      .filter((entry) => entry._aws !== undefined)
      .flatMap((entry) => (entry._aws as { CloudWatchMetrics: Array<{ Metrics: Array<{ Name: string }> }> }).CloudWatchMetrics)
      .flatMap((directive) => directive.Metrics.map((metric) => metric.Name));
    expect(metricNames).toEqual(expect.arrayContaining(['ConnectionsOpened', 'RemoteitErrors']));
  });

  it('publishes QuotaRefusals when an open is refused at the caller\'s maxActive', async () => {
    const limited = 'arn:aws:sts::123456789012:assumed-role/limited/session-1';
    const first = await broker.call({ routeKey: 'POST /connections', body: { serviceId: SERVICES.echo }, callerArn: limited });
    lines.length = 0;

    const refused = await broker.call({ routeKey: 'POST /connections', body: { serviceId: SERVICES.echo }, callerArn: limited });

    expect([first.status, refused.status]).toEqual([201, 429]);
    const metrics = parsed()
      .filter((entry) => entry._aws !== undefined)
      .flatMap((entry) => (entry._aws as { CloudWatchMetrics: Array<{ Metrics: Array<{ Name: string }> }> }).CloudWatchMetrics.flatMap((directive) => directive.Metrics.map((metric) => [metric.Name, entry[metric.Name]])));
    expect(metrics).toEqual([['QuotaRefusals', 1]]);
    await broker.call({ routeKey: 'DELETE /connections/{id}', pathParameters: { id: String(first.body.id) }, callerArn: limited });
  });

  it('never writes a secret value, whatever happens', async () => {
    broker.emulator.setFaults({ errorRate: 1, onlyPaths: ['/device/connect/stop'] });
    const opened = await broker.call({ routeKey: 'POST /connections', body: { serviceId: SERVICES.echo } });
    await broker.call({ routeKey: 'DELETE /connections/{id}', pathParameters: { id: opened.body.id } });
    broker.emulator.setFaults({ hang: true, onlyPaths: ['/device/connect'] });
    await broker.call({ routeKey: 'POST /connections', body: { serviceId: SERVICES.echo } });
    broker.emulator.setFaults({});
    await broker.call({ routeKey: 'POST /connections', body: { serviceId: SERVICES.unknown } });
    await broker.sweep();

    const output = lines.join('\n');
    expect(output).toMatch(/"level":"ERROR"/);
    expect(output).toMatch(/"level":"WARN"/);
    expect(output).not.toContain(broker.secret.secretAccessKey);
    expect(output).not.toContain(broker.secret.developerKey);
  });
});
