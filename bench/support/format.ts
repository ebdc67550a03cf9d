/** The report as text: what `npm run bench` prints and docs/PERFORMANCE.md quotes. */
import type { SuiteReport } from '../suite';

const pad = (value: unknown, width: number) => String(value).padStart(width);

export function formatReport(report: SuiteReport): string {
  const { results: r } = report;
  const lines: string[] = [];
  lines.push(
    `remoteit-broker benchmarks, ${report.date}, ${report.machine.cpus} x ${report.machine.cpuModel}, Node ${report.machine.node}, ` +
      `load ${report.loadAverage.start} -> ${report.loadAverage.end}, ${report.durationSeconds} s`,
  );

  const o = r.overhead;
  lines.push('', `1. Overhead: ${o.cycles} open+stop cycles, emulator latency ${o.emulatorLatencyMs} ms (ms per cycle)`);
  lines.push('                        p50      p95      p99');
  lines.push(`   through the gateway ${pad(o.broker.p50, 7)}  ${pad(o.broker.p95, 7)}  ${pad(o.broker.p99, 7)}`);
  lines.push(`   straight to remote.it${pad(o.direct.p50, 6)}  ${pad(o.direct.p95, 7)}  ${pad(o.direct.p99, 7)}`);
  lines.push(`   ratio               ${pad(`${o.ratio.p50}x`, 7)}  ${pad(`${o.ratio.p95}x`, 7)}  ${pad(`${o.ratio.p99}x`, 7)}`);
  lines.push(
    `   broker extra at p50 ${o.brokerPerCycle.extraMsAtP50} ms; per cycle ${o.brokerPerCycle.dynamodbCalls} DynamoDB calls taking ` +
      `${o.brokerPerCycle.dynamodbMs} ms (${Object.entries(o.brokerPerCycle.dynamodbMsByCommand)
        .map(([command, ms]) => `${command} ${ms}`)
        .join(', ')}), ${o.brokerPerCycle.dynamodbItemsRead} items read`,
  );

  const t = r.roundTrips;
  const trips = (label: string, value: typeof t.open) =>
    `   ${label.padEnd(24)} DynamoDB ${value.dynamodb.min}..${value.dynamodb.max} (${Object.entries(value.dynamodb.byCommand)
      .map(([command, count]) => `${command.replace(/Command$/, '')} ${count}`)
      .join(', ')}), Secrets Manager ${value.secretsManager.max}, remote.it ${value.remoteit.min}..${value.remoteit.max}`;
  lines.push('', `2. Round trips per warm call (${t.samples} of each, counted by SDK middleware and the emulator)`);
  lines.push(trips('open', t.open), trips('open + Idempotency-Key', t.openWithKey), trips('stop', t.stop));
  lines.push(`   lock check read ${t.lockItemsReadPerOpen.first} -> ${t.lockItemsReadPerOpen.last} items per open over the samples`);
  const b = r.quotaBurst;
  lines.push(
    `   quota burst: ${b.opens} opens at once against maxActive ${b.maxActive}: ${b.created} x 201, ${b.refused} x 429, ${b.other} other, in ${b.ms} ms; ` +
      `slots held ${b.slotsHeld.afterBurst}, after stopping them ${b.slotsHeld.afterStops}`,
  );
  for (const sample of b.otherSamples) lines.push(`   quota burst, unexpected: ${sample}`);
  lines.push(
    `   open-rate burst: ${b.rate.opens} opens at once against opensPerMinute ${b.rate.opensPerMinute}: ${b.rate.created} x 201, ${b.rate.refused} x 429 ` +
      `(Retry-After ${b.rate.retryAfter.min}..${b.rate.retryAfter.max} s with ${b.rate.minuteLeftSeconds} s of the minute left), ${b.rate.other} other, in ${b.rate.ms} ms`,
  );
  for (const sample of b.rate.otherSamples) lines.push(`   open-rate burst, unexpected: ${sample}`);

  const c = r.sweepCost;
  lines.push('', `3. Sweep cost: items read per due item (DynamoDB Local loaded ${c.loadItemsPerSecond} items/s)`);
  lines.push('   table size |  due | sweep: read, per due, ms | full scan: read, per due, ms');
  for (const row of c.rows) {
    lines.push(
      `   ${pad(row.tableSize, 10)} | ${pad(row.due, 4)} | ${pad(row.sweep.itemsRead, 6)}, ${pad(row.sweep.itemsReadPerDue, 6)}, ${pad(row.sweep.ms, 5)} | ` +
        `${pad(row.scan.itemsRead, 6)}, ${pad(row.scan.itemsReadPerDue, 6)}, ${pad(row.scan.ms, 5)}`,
    );
  }

  const s = r.sweepThroughput;
  lines.push('', `4. Sweep throughput: ${s.leases} due leases, remote.it stop latency ${s.stopLatencyMs} ms`);
  lines.push('   concurrency | stopped |    ms | stops/s | writes/stop | DDB writes/s | bound (latency, writes) | of bound | serial bound | of it | CPU: bench, machine');
  for (const row of s.rows) {
    lines.push(
      `   ${pad(row.concurrency, 11)} | ${pad(row.stopped, 7)} | ${pad(row.ms, 5)} | ${pad(row.stopsPerSecond, 7)} | ${pad(row.writesPerStop, 11)} | ` +
        `${pad(row.dynamodbWritesPerSecond, 12)} | ${pad(`${row.bound} (${row.latencyBound}, ${row.writeBound})`, 23)} | ${pad(`${Math.round(row.ofBound * 1000) / 10}%`, 8)} | ` +
        `${pad(row.serialBound, 12)} | ${pad(`${Math.round(row.ofSerialBound * 1000) / 10}%`, 5)} | ` +
        `${pad(`${row.cpu.processCores}, ${Math.round(row.cpu.machineBusy * 100)}%`, 19)}`,
    );
  }

  const k = r.coldStart;
  lines.push('', `5. Cold start (esbuild as CDK bundles, target ${k.target}; init = median of ${k.rows[0]?.initMs.runs ?? 0} fresh processes)`);
  lines.push('   function          | bundle KiB | ESM KiB | SDK-only KiB | init ms | SDK-only ms | ratio');
  for (const row of k.rows) {
    lines.push(
      `   ${row.function.padEnd(17)} | ${pad(row.bundle.kib, 10)} | ${pad(row.esmKib, 7)} | ${pad(row.baselineKib, 12)} | ${pad(row.initMs.median, 7)} | ` +
        `${pad(row.initMs.baselineMedian, 11)} | ${pad(`${row.initMs.ratio}x`, 5)}`,
    );
  }
  for (const row of k.rows) {
    lines.push(`   ${row.function}: ${row.bundle.largest.map((entry) => `${entry.module} ${entry.kib}`).join(', ')}`);
  }

  const q = r.soak;
  lines.push('', `6. Soak: ${q.clients} clients, ${q.cycles} open+stop cycles in ${q.ms} ms (${q.cyclesPerSecond}/s)`);
  lines.push(`   errors ${q.errors}, proxies left open ${q.proxiesLeftOpen}`);
  lines.push(`   after GC: RSS ${q.memory.start.rssMb} -> ${q.memory.end.rssMb} MB, heap ${q.memory.start.heapUsedMb} -> ${q.memory.end.heapUsedMb} MB`);
  for (const sample of q.errorSamples) lines.push(`   error: ${sample}`);

  const l = r.leaseOverrun;
  const overrun = (label: string, run: typeof l.withTimers) =>
    `   ${label.padEnd(32)} ${pad(run.overrunMs.p50, 7)}  ${pad(run.overrunMs.p99, 7)}  ${pad(run.overrunMs.max, 7)}  ${pad(`${run.closed}/${run.leases}`, 9)}  ${pad(run.early, 5)}  ${pad(run.sweptBySweeper, 7)}`;
  lines.push(
    '',
    `7. Lease overrun: ${l.leases} leases of ${l.leaseSeconds} s ending within one spread, sweeper every ${l.sweepPeriodSeconds} s (ms from lease end to proxy closed)`,
  );
  lines.push('                                        p50      p99      max     closed  early  by sweeper');
  lines.push(overrun('with lease timers', l.withTimers), overrun(`sweeper alone (${l.sweepPeriodSeconds} s)`, l.sweeperAlone));
  lines.push(`   SQS SendMessage per lease end recorded (open or renew): ${l.sqsSendsPerLeaseEnd}`);

  lines.push('', 'Goals');
  for (const check of report.goals) lines.push(`   ${check.met ? 'met   ' : 'MISSED'} ${check.benchmark}: ${check.goal}: ${check.measured}`);
  return `${lines.join('\n')}\n`;
}
