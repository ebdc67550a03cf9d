/**
 * `npm run bench` at smoke sizes (bench/suite.ts SMOKE), so the benchmarks keep working as the code changes.
 * It asserts what the benchmarks count and how their figures fit together, never a timing: speed goals are
 * the full run's business (docs/PERFORMANCE.md).
 */
import { OPEN_DYNAMODB_CALLS } from '../../../bench/round-trips';
import { runSuite, SMOKE, type SuiteReport } from '../../../bench/suite';
import { formatReport } from '../../../bench/support/format';
import { dynamoEndpoint } from '../support/dynamo';

let report: SuiteReport;

beforeAll(async () => {
  report = await runSuite({ sizes: SMOKE, command: 'smoke', dynamoDbEndpoint: dynamoEndpoint() });
}, 120_000);

describe('npm run bench at smoke sizes', () => {
  describe('overhead', () => {
    it('times as many cycles through the gateway as straight to remote.it', () => {
      const { overhead } = report.results;

      expect(overhead.cycles).toBe(SMOKE.overhead.cycles);
      expect(overhead.broker.count).toBe(overhead.cycles);
      expect(overhead.direct.count).toBe(overhead.cycles);
      // An open and a stop each read and write the table.
      expect(overhead.brokerPerCycle.dynamodbCalls).toBeGreaterThanOrEqual(4);
    });
  });

  describe('round trips', () => {
    it('counts one remote.it call and no Secrets Manager call per warm open, and the DynamoDB calls by command', () => {
      const { open, openWithKey, stop } = report.results.roundTrips;

      expect(open.remoteit).toEqual({ min: 1, max: 1 });
      expect(open.secretsManager).toEqual({ min: 0, max: 0 });
      expect(open.dynamodb.min).toBe(open.dynamodb.max);
      expect(open.dynamodb.max).toBeLessThanOrEqual(OPEN_DYNAMODB_CALLS);
      expect(Object.values(open.dynamodb.byCommand).reduce((sum, count) => sum + count, 0)).toBe(open.dynamodb.max);
      // The key adds the idempotency record's writes; the stop makes its one remote.it call.
      expect(openWithKey.dynamodb.min).toBeGreaterThan(open.dynamodb.max);
      expect(stop.remoteit).toEqual({ min: 1, max: 1 });
    });
  });

  describe('quota burst', () => {
    it('opens exactly maxActive of the opens sent at once, refuses the rest with the quota\'s 429, and holds no slot once they are stopped', () => {
      const { quotaBurst } = report.results;

      expect(quotaBurst).toMatchObject({
        opens: SMOKE.quotaBurst.opens,
        created: quotaBurst.maxActive,
        refused: SMOKE.quotaBurst.opens - quotaBurst.maxActive,
        other: 0,
        slotsHeld: { afterBurst: quotaBurst.maxActive, afterStops: 0 },
      });
      expect(quotaBurst.goals.every((check) => check.met)).toBe(true);
      expect(formatReport(report)).toContain(`quota burst: ${SMOKE.quotaBurst.opens} opens at once against maxActive ${quotaBurst.maxActive}`);
      expect(quotaBurst.rate).toMatchObject({
        opens: SMOKE.quotaBurst.opens,
        created: quotaBurst.rate.opensPerMinute,
        refused: SMOKE.quotaBurst.opens - quotaBurst.rate.opensPerMinute,
        other: 0,
      });
      expect(formatReport(report)).toContain(`open-rate burst: ${SMOKE.quotaBurst.opens} opens at once against opensPerMinute ${quotaBurst.rate.opensPerMinute}`);
    });
  });

  describe('sweep cost', () => {
    it('reads exactly the due items in a sweep, and the whole table in a scan', () => {
      const { rows } = report.results.sweepCost;

      expect(rows.map((row) => row.tableSize)).toEqual(SMOKE.sweepCost.sizes);
      for (const row of rows) {
        expect(row.sweep.settled).toBe(row.due);
        expect(row.sweep.itemsRead).toBe(row.due);
        expect(row.scan.itemsRead).toBe(row.tableSize);
        expect(row.scan.found).toBe(row.due);
      }
    });
  });

  describe('sweep throughput', () => {
    it('stops every due lease at every concurrency with two writes each, and holds the rate to its bound', () => {
      const { rows } = report.results.sweepThroughput;

      expect(rows.map((row) => row.concurrency)).toEqual(SMOKE.sweepThroughput.concurrencies);
      for (const row of rows) {
        expect(row.stopped).toBe(SMOKE.sweepThroughput.leases);
        expect(row.writesPerStop).toBe(2);
        expect(row.bound).toBe(Math.min(row.latencyBound, row.writeBound));
      }
    });
  });

  describe('cold start', () => {
    it('bundles each function with the AWS SDK left external and times it against an SDK-only bundle', () => {
      const { rows } = report.results.coldStart;

      expect(rows.map((row) => row.function)).toEqual(['connections-read', 'connections-open', 'connections-write', 'sweeper', 'timer-arm', 'timer-fire', 'audit']);
      for (const row of rows) {
        expect(row.bundle.bytes).toBeGreaterThan(0);
        expect(row.initMs.runs).toBe(SMOKE.coldStart.runs);
      }
      const streamOnly = ['audit'];
      for (const row of rows.filter((candidate) => !streamOnly.includes(candidate.function))) expect(row.sdkModules).toContain('@aws-sdk/client-dynamodb');
      // timer-arm reads the stream it is given, the live locks, and sends to SQS: no secret.
      const row = (name: string) => rows.find((candidate) => candidate.function === name);
      expect(row('timer-arm')?.sdkModules).not.toContain('@aws-sdk/client-secrets-manager');
      // audit reads the stream it is given and publishes to EventBridge: no table client, no secret.
      expect(row('audit')?.sdkModules).toEqual(['@aws-sdk/client-eventbridge', '@aws-sdk/util-dynamodb']);
      // The read function holds no secret: its bundle does not load the Secrets Manager client.
      expect(row('connections-read')?.sdkModules).not.toContain('@aws-sdk/client-secrets-manager');
    });
  });

  describe('soak', () => {
    it('runs every cycle without errors and leaves no proxy open', () => {
      const { soak } = report.results;

      expect(soak).toMatchObject({ cycles: SMOKE.soak.cycles, errors: 0, proxiesLeftOpen: 0 });
    });
  });

  describe('lease overrun', () => {
    it('closes every lease, none early, in both runs, and arms each lease end with one SQS call', () => {
      const { leaseOverrun } = report.results;

      for (const run of [leaseOverrun.withTimers, leaseOverrun.sweeperAlone]) {
        expect(run).toMatchObject({ leases: SMOKE.leaseOverrun.leases, closed: SMOKE.leaseOverrun.leases, early: 0 });
      }
      // Without timers, only the sweeper can have ended them.
      expect(leaseOverrun.sweeperAlone.sweptBySweeper).toBe(SMOKE.leaseOverrun.leases);
      expect(leaseOverrun.sqsSendsPerLeaseEnd).toBe(1);
    });
  });

  describe('report', () => {
    it('checks every goal of the issue and prints each benchmark', () => {
      const text = formatReport(report);

      expect(report.goals.map((check) => check.benchmark)).toEqual(expect.arrayContaining(['overhead', 'roundTrips', 'quotaBurst', 'sweepCost', 'sweepThroughput', 'coldStart', 'soak', 'leaseOverrun']));
      for (const heading of ['1. Overhead', '2. Round trips', '3. Sweep cost', '4. Sweep throughput', '5. Cold start', '6. Soak', '7. Lease overrun', 'Goals']) {
        expect(text).toContain(heading);
      }
    });
  });
});
