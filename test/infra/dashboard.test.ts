/**
 * The broker's CloudWatch dashboard (infra/dashboard.ts), read from the synthesised body: each graph shows the
 * metric it is for, in the construct's namespace and `service` dimension, alarm thresholds are drawn where the
 * alarm watches, and the alarm status widget lists every alarm of the construct.
 */
import { Duration } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { BrokerStack, type BrokerStackProps } from '../../infra/broker-stack';
import { REMOTEIT_FAILURE_KINDS } from '../../lambdas/broker/ports';
import { functionId, render, resourcesOfType, testApp } from './support';

/** A metric line of a graph: `[namespace, name, dimension, value, ..., {stat, label, ...}]`, or `[{expression}]`. */
type MetricLine = (string | Record<string, unknown>)[];
interface Widget {
  type: string;
  properties: {
    title?: string;
    metrics?: MetricLine[];
    alarms?: string[];
    annotations?: { horizontal?: { label: string; value: number }[] };
  };
}

function synth(props: BrokerStackProps = {}) {
  const template = Template.fromStack(new BrokerStack(testApp({ bundling: false }), 'Broker', props));
  const dashboards = resourcesOfType(template, 'AWS::CloudWatch::Dashboard');
  if (Object.keys(dashboards).length !== 1) throw new Error('expected one dashboard');
  const [[dashboardId, dashboard]] = Object.entries(dashboards) as [[string, (typeof dashboards)[string]]];
  // The body's tokens rendered as `LogicalId.Attribute` strings inside it: still JSON.
  const body = JSON.parse(render(dashboard.Properties?.DashboardBody)) as { widgets: Widget[] };
  const graph = (title: RegExp) => {
    const found = body.widgets.filter((widget) => widget.type === 'metric' && title.test(widget.properties.title ?? ''));
    if (found.length !== 1) throw new Error(`expected one graph titled ${title}, found ${found.length}`);
    return (found[0] as Widget).properties;
  };
  /** The graph's lines as `namespace name [dimension=value ...] stat`. */
  const lines = (title: RegExp) =>
    (graph(title).metrics ?? []).map((line) => {
      const options = line[line.length - 1] as { stat?: string; expression?: string };
      if (options.expression) return options.expression;
      const [namespace, name, ...dimensions] = line.slice(0, -1) as string[];
      const pairs = [];
      for (let i = 0; i < dimensions.length; i += 2) pairs.push(`${dimensions[i]}=${dimensions[i + 1]}`);
      return [namespace, name, ...pairs.sort(), options.stat].join(' ');
    });
  return { template, dashboardId, dashboard, body, graph, lines };
}

describe('dashboard', () => {
  let deployed: ReturnType<typeof synth>;
  beforeAll(() => {
    deployed = synth();
  });
  const service = 'service=Broker/Broker';

  it('is one dashboard with no physical name: CloudFormation names it', () => {
    expect(deployed.dashboard.Properties?.DashboardName).toBeUndefined();
  });

  it('shows connections opened and stopped per minute', () => {
    expect(deployed.lines(/opened and stopped/)).toEqual([
      `RemoteitBroker ConnectionsOpened ${service} Sum`,
      `RemoteitBroker ConnectionsStopped ${service} Sum`,
    ]);
    expect(deployed.graph(/opened and stopped/).metrics?.map((line) => (line[line.length - 1] as { period: number }).period)).toEqual([60, 60]);
  });

  it('shows remote.it errors, one line per failure kind the domain knows', () => {
    expect(deployed.lines(/remote\.it errors/)).toEqual(
      REMOTEIT_FAILURE_KINDS.map((kind) => `RemoteitBroker RemoteitErrors kind=${kind} ${service} Sum`),
    );
  });

  it('shows stops given up', () => {
    expect(deployed.lines(/StopFailed/)).toEqual([`RemoteitBroker StopFailed ${service} Sum`]);
  });

  it('shows policy denials with lock refusals and opens refused at a limit, and connections stopped by a lock', () => {
    expect(deployed.lines(/Policy denials, lock refusals and opens at a limit/)).toEqual([
      `RemoteitBroker PolicyDenied ${service} Sum`,
      `RemoteitBroker LockRefusals ${service} Sum`,
      `RemoteitBroker QuotaRefusals ${service} Sum`,
      `RemoteitBroker OpenRateRefusals ${service} Sum`,
    ]);
    expect(deployed.lines(/stopped by a lock/)).toEqual([`RemoteitBroker LockStops ${service} Sum`]);
  });

  it('shows policy loads failed, one line per reason, against their alarm\'s threshold', () => {
    expect(deployed.lines(/Policy loads failed/)).toEqual(
      ['unreachable', 'invalid', 'empty'].map((reason) => `RemoteitBroker PolicyLoadFailures reason=${reason} ${service} Sum`),
    );
    expect(deployed.graph(/Policy loads failed/).annotations?.horizontal).toEqual([
      expect.objectContaining({ label: 'PolicyLoadFailuresAlarm', value: 1 }),
    ]);
  });

  it('shows the lease overrun\'s p99 and maximum, in milliseconds', () => {
    expect(deployed.lines(/Lease overrun/)).toEqual([
      `RemoteitBroker LeaseOverrun ${service} p99`,
      `RemoteitBroker LeaseOverrun ${service} Maximum`,
    ]);
  });

  it('shows the sweeper lag against its alarm\'s threshold, and the due backlog', () => {
    const lagAlarm = Object.entries(resourcesOfType(deployed.template, 'AWS::CloudWatch::Alarm')).find(([id]) => id.includes('SweeperLagAlarm'))?.[1];

    expect(deployed.lines(/Sweeper lag/)).toEqual([`RemoteitBroker LagSeconds ${service} Maximum`]);
    expect(deployed.graph(/Sweeper lag/).annotations?.horizontal).toEqual([
      expect.objectContaining({ label: 'SweeperLagAlarm', value: lagAlarm?.Properties?.Threshold }),
    ]);
    expect(lagAlarm?.Properties?.Threshold).toBe(120);
    expect(deployed.lines(/Due backlog/)).toEqual([`RemoteitBroker DueBacklog ${service} Maximum`]);
  });

  it('shows the API\'s 4xx, every 5xx split into the broker\'s own and remote.it\'s, and p95 latency', () => {
    const [apiId] = Object.keys(resourcesOfType(deployed.template, 'AWS::ApiGatewayV2::Api'));

    expect(deployed.lines(/4xx and 5xx/)).toEqual([
      `AWS/ApiGateway 4xx ApiId=${apiId} Sum`,
      `AWS/ApiGateway 5xx ApiId=${apiId} Sum`,
      `RemoteitBroker ApiFaults ${service} Sum`,
      `RemoteitBroker ApiUpstreamFailures ${service} Sum`,
    ]);
    expect(deployed.lines(/latency/)).toEqual([`AWS/ApiGateway Latency ApiId=${apiId} p95`]);
  });

  it('shows timer health: timers by outcome, the timer queue\'s oldest timer against its alarm, and the dead-letter queues', () => {
    const queueName = (prefix: string) =>
      `${Object.keys(resourcesOfType(deployed.template, 'AWS::SQS::Queue')).find((id) => new RegExp(`^Broker${prefix}[0-9A-F]{8}$`).test(id))}.QueueName`;

    expect(deployed.lines(/Lease timers/)).toEqual([
      `SEARCH('{"RemoteitBroker",outcome,service} MetricName="LeaseTimers" service="Broker/Broker"', 'Sum', 60)`,
      `RemoteitBroker LeaseTimersArmed ${service} Sum`,
      `RemoteitBroker LeaseTimerArmFailed ${service} Sum`,
    ]);
    expect(deployed.lines(/Timer queue/)).toEqual([`AWS/SQS ApproximateAgeOfOldestMessage QueueName=${queueName('TimerQueue')} Maximum`]);
    expect(deployed.graph(/Timer queue/).annotations?.horizontal).toEqual([expect.objectContaining({ label: 'TimerQueueAgeAlarm', value: 1200 })]);
    expect(deployed.lines(/Dead-letter queues/)).toEqual(
      ['TimerDeadLetterQueue', 'SweeperDeadLetterQueue', 'AuditDeadLetterQueue'].map(
        (queue) => `AWS/SQS ApproximateNumberOfMessagesVisible QueueName=${queueName(queue)} Maximum`,
      ),
    );
  });

  it('shows audit events published and failed, and how far the audit function is behind the stream against its alarm', () => {
    const audit = functionId(deployed.template, 'remote.it broker: publishes');

    expect(deployed.lines(/Audit events/)).toEqual([
      `RemoteitBroker AuditEventsPublished ${service} Sum`,
      `RemoteitBroker AuditPublishFailed ${service} Sum`,
    ]);
    expect(deployed.lines(/behind the stream/)).toEqual([`AWS/Lambda IteratorAge FunctionName=${audit} Maximum`]);
    expect(deployed.graph(/behind the stream/).annotations?.horizontal).toEqual([
      expect.objectContaining({ label: 'AuditIteratorAgeAlarm', value: 300_000 }),
    ]);
  });

  it('lists every alarm of the construct in its alarm status widget, and nothing else', () => {
    const statusWidgets = deployed.body.widgets.filter((widget) => widget.type === 'alarm');
    const alarmArns = Object.keys(resourcesOfType(deployed.template, 'AWS::CloudWatch::Alarm')).map((id) => `${id}.Arn`);

    expect(statusWidgets).toHaveLength(1);
    expect(alarmArns).toHaveLength(18);
    expect([...(statusWidgets[0]?.properties.alarms ?? [])].sort()).toEqual(alarmArns.sort());
  });

  it('is linked from the stack\'s DashboardUrl output, in the stack\'s region', () => {
    expect(render(deployed.template.findOutputs('*').DashboardUrl?.Value)).toBe(
      `https://AWS::Region.console.aws.amazon.com/cloudwatch/home?region=AWS::Region#dashboards:name=${deployed.dashboardId}`,
    );
  });

  it('follows a custom namespace, service name and sweep interval', () => {
    const custom = synth({ broker: { metricsNamespace: 'BrokerTest', serviceName: 'broker-test', sweepInterval: Duration.minutes(5) } });

    expect(custom.lines(/opened and stopped/)).toEqual([
      'BrokerTest ConnectionsOpened service=broker-test Sum',
      'BrokerTest ConnectionsStopped service=broker-test Sum',
    ]);
    expect(custom.lines(/Lease timers/)[0]).toBe(
      `SEARCH('{"BrokerTest",outcome,service} MetricName="LeaseTimers" service="broker-test"', 'Sum', 60)`,
    );
    expect(custom.graph(/Sweeper lag/).annotations?.horizontal).toEqual([expect.objectContaining({ label: 'SweeperLagAlarm', value: 600 })]);
    // A period equal to the graph's default (300 s) is left out of the body.
    expect(custom.graph(/Sweeper lag/).metrics?.map((line) => (line[line.length - 1] as { period?: number }).period ?? 300)).toEqual([300]);
  });
});
