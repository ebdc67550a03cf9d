/**
 * The broker's CloudWatch dashboard: traffic, remote.it, policy and locks, leases ending on time, timers, audit, and the state of
 * every alarm, from the metrics the functions publish (docs/OPERATIONS.md lists them) and those API Gateway,
 * Lambda and SQS publish for the broker's resources. Built from the construct's own metric helper, so a custom
 * namespace or service name (props `metricsNamespace`, `serviceName`) is followed here too.
 *
 * No physical name: CloudFormation names the dashboard (`Dashboard.dashboardName` is its `Ref`, a token until
 * deployment), so two stacks in one account never collide; the stack's `DashboardUrl` output links to it.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { REMOTEIT_FAILURE_KINDS } from '../lambdas/broker/ports';
import { POLICY_LOAD_FAILURE_REASONS } from './policy-config';

/**
 * One of the broker's own metrics: the construct's namespace and `service` dimension, plus `dimensions` for a
 * metric published with one more (`RemoteitErrors` by `kind`).
 */
export type BrokerMetric = (
  metricName: string,
  statistic: string,
  period?: Duration,
  dimensions?: Record<string, string>,
) => cloudwatch.Metric;

export interface BrokerDashboardProps {
  readonly brokerMetric: BrokerMetric;
  /** For the SEARCH of a metric by a dimension whose values are not listed in code (`LeaseTimers` by `outcome`). */
  readonly metricsNamespace: string;
  readonly serviceName: string;
  readonly sweepInterval: Duration;
  readonly api: apigw.HttpApi;
  readonly timerQueue: sqs.IQueue;
  readonly deadLetterQueues: { readonly sweeper: sqs.IQueue; readonly timer: sqs.IQueue; readonly audit: sqs.IQueue };
  readonly auditFunction: lambda.IFunction;
  /** Every alarm of the construct: the alarm status widget lists them all (no widget without alarms). */
  readonly alarms: readonly cloudwatch.IAlarm[];
  /** Alarms drawn as a line on the graph of the metric they watch. @default - no lines (the construct has no alarms) */
  readonly alarmLines?: {
    readonly policyLoadFailures: cloudwatch.Alarm;
    readonly sweeperLag: cloudwatch.Alarm;
    readonly timerQueueAge: cloudwatch.Alarm;
    readonly auditIteratorAge: cloudwatch.Alarm;
  };
}

const ONE_MINUTE = Duration.minutes(1);
const WIDTH = 24;
const HEIGHT = 6;

/** The dashboard, one row per concern; every graph is a one-minute (or one-sweep) series. */
export function createBrokerDashboard(scope: Construct, id: string, props: BrokerDashboardProps): cloudwatch.Dashboard {
  const { brokerMetric, sweepInterval, api } = props;
  const labelled = (metric: cloudwatch.Metric, label: string) => metric.with({ label });
  const graph = (title: string, left: cloudwatch.IMetric[], options: Partial<cloudwatch.GraphWidgetProps> = {}) =>
    new cloudwatch.GraphWidget({ title, left, width: WIDTH / 3, height: HEIGHT, ...options });
  /** An alarm's threshold as a horizontal line, named after the alarm, on a graph's options; none without alarms. */
  const line = (alarm: cloudwatch.Alarm | undefined, label: string): Partial<cloudwatch.GraphWidgetProps> =>
    alarm ? { leftAnnotations: [{ ...alarm.toAnnotation(), label }] } : {};

  const dashboard = new cloudwatch.Dashboard(scope, id, {
    defaultInterval: Duration.hours(3),
  });

  dashboard.addWidgets(
    new cloudwatch.TextWidget({
      markdown:
        `# remote.it connection broker (${props.serviceName})\n` +
        'Every alarm and what to do about it: docs/OPERATIONS.md, "Read the alarms". Audit events: docs/EVENTS.md.',
      width: WIDTH,
      height: 2,
    }),
  );

  // Traffic.
  dashboard.addWidgets(
    graph('Connections opened and stopped (per minute)', [
      labelled(brokerMetric('ConnectionsOpened', 'Sum'), 'opened'),
      labelled(brokerMetric('ConnectionsStopped', 'Sum'), 'stopped'),
    ]),
    graph('API answers 4xx and 5xx (per minute)', [
      labelled(api.metricClientError({ period: ONE_MINUTE, statistic: 'Sum' }), '4xx'),
      labelled(api.metricServerError({ period: ONE_MINUTE, statistic: 'Sum' }), '5xx (all)'),
      labelled(brokerMetric('ApiFaults', 'Sum'), "5xx the broker's own (alarmed)"),
      labelled(brokerMetric('ApiUpstreamFailures', 'Sum'), '5xx remote.it refused, unavailable, timed out'),
    ]),
    graph('API latency p95 (ms)', [labelled(api.metricLatency({ period: ONE_MINUTE, statistic: 'p95' }), 'latency p95')]),
  );

  // remote.it.
  dashboard.addWidgets(
    graph(
      'remote.it errors by kind (per minute)',
      // One line per kind the domain knows (lambdas/broker/ports.ts): a kind added there shows up here.
      REMOTEIT_FAILURE_KINDS.map((kind) => labelled(brokerMetric('RemoteitErrors', 'Sum', ONE_MINUTE, { kind }), kind)),
      { width: WIDTH / 2 },
    ),
    graph('Stops given up (StopFailed)', [labelled(brokerMetric('StopFailed', 'Sum'), 'stop_failed')], { width: WIDTH / 2 }),
  );

  // The policy and operators' locks.
  dashboard.addWidgets(
    graph('Policy denials, lock refusals and opens at a limit (per minute)', [
      labelled(brokerMetric('PolicyDenied', 'Sum'), 'denied by policy'),
      labelled(brokerMetric('LockRefusals', 'Sum'), 'refused by a lock (open, renew)'),
      labelled(brokerMetric('QuotaRefusals', 'Sum'), 'at maxActive (quota_exceeded)'),
      labelled(brokerMetric('OpenRateRefusals', 'Sum'), 'at opensPerMinute (open_rate_exceeded)'),
    ]),
    graph('Connections stopped by a lock (per minute)', [labelled(brokerMetric('LockStops', 'Sum'), 'stopped by a lock')]),
    graph(
      'Policy loads failed by reason (per minute)',
      POLICY_LOAD_FAILURE_REASONS.map((reason) => labelled(brokerMetric('PolicyLoadFailures', 'Sum', ONE_MINUTE, { reason }), reason)),
      line(props.alarmLines?.policyLoadFailures, 'PolicyLoadFailuresAlarm'),
    ),
  );

  // Leases ending on time.
  dashboard.addWidgets(
    graph('Lease overrun: lease end to recorded stop (ms)', [
      labelled(brokerMetric('LeaseOverrun', 'p99'), 'p99'),
      labelled(brokerMetric('LeaseOverrun', 'Maximum'), 'max'),
    ]),
    graph('Sweeper lag (s)', [labelled(brokerMetric('LagSeconds', 'Maximum', sweepInterval), 'oldest due connection waited')],
      line(props.alarmLines?.sweeperLag, 'SweeperLagAlarm')),
    graph('Due backlog: due items not started', [labelled(brokerMetric('DueBacklog', 'Maximum', sweepInterval), 'due backlog')]),
  );

  // Lease timers.
  dashboard.addWidgets(
    graph('Lease timers by outcome (per minute)', [
      new cloudwatch.SearchExpression({
        expression: `SEARCH('{"${props.metricsNamespace}",outcome,service} MetricName="LeaseTimers" service="${props.serviceName}"', 'Sum', ${ONE_MINUTE.toSeconds()})`,
        label: '',
        period: ONE_MINUTE,
      }),
      labelled(brokerMetric('LeaseTimersArmed', 'Sum'), 'armed'),
      labelled(brokerMetric('LeaseTimerArmFailed', 'Sum'), 'arm failed'),
    ]),
    graph('Timer queue: oldest timer (s)', [
      labelled(props.timerQueue.metricApproximateAgeOfOldestMessage({ period: ONE_MINUTE, statistic: 'Maximum' }), 'oldest timer'),
    ], line(props.alarmLines?.timerQueueAge, 'TimerQueueAgeAlarm')),
    graph('Dead-letter queues (messages)', [
      labelled(props.deadLetterQueues.timer.metricApproximateNumberOfMessagesVisible({ period: ONE_MINUTE, statistic: 'Maximum' }), 'timer DLQ'),
      labelled(props.deadLetterQueues.sweeper.metricApproximateNumberOfMessagesVisible({ period: ONE_MINUTE, statistic: 'Maximum' }), 'sweeper DLQ'),
      labelled(props.deadLetterQueues.audit.metricApproximateNumberOfMessagesVisible({ period: ONE_MINUTE, statistic: 'Maximum' }), 'audit DLQ'),
    ]),
  );

  // Audit events.
  dashboard.addWidgets(
    graph('Audit events (per minute)', [
      labelled(brokerMetric('AuditEventsPublished', 'Sum'), 'published'),
      labelled(brokerMetric('AuditPublishFailed', 'Sum'), 'not published (retried)'),
    ], { width: WIDTH / 2 }),
    graph('Audit: behind the stream (ms)', [
      labelled(props.auditFunction.metric('IteratorAge', { period: ONE_MINUTE, statistic: 'Maximum' }), 'iterator age'),
    ], { width: WIDTH / 2, ...line(props.alarmLines?.auditIteratorAge, 'AuditIteratorAgeAlarm') }),
  );

  if (props.alarms.length > 0) {
    dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({
        title: 'Alarms',
        alarms: [...props.alarms],
        width: WIDTH,
        height: HEIGHT,
      }),
    );
  }
  return dashboard;
}

/**
 * The console link to a dashboard. The standard partition's console (`<region>.console.aws.amazon.com`): the
 * stack's `urlSuffix` is the service endpoints' domain (amazonaws.com), not the console's, and the China and
 * GovCloud consoles live under other domains.
 */
export function dashboardUrl(dashboard: cloudwatch.Dashboard): string {
  const region = Stack.of(dashboard).region;
  return `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#dashboards:name=${dashboard.dashboardName}`;
}
