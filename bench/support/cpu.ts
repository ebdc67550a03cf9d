/**
 * Where the CPU went during a measurement: this process's share (the bench runs the gateway, handlers,
 * sweeper and emulator in one Node.js thread) and the whole machine's (DynamoDB Local's JVM and anything
 * else running), so a rate that stops short of its bound can be told apart from a machine out of cores.
 */
import { cpus } from 'node:os';

export interface CpuFigures {
  /** This process's CPU time / wall time: 1 = one core busy all along. */
  processCores: number;
  /** Busy fraction of all the machine's cores over the same time. */
  machineBusy: number;
}

function machineTimes(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const { times } of cpus()) {
    const sum = times.user + times.nice + times.sys + times.irq + times.idle;
    total += sum;
    busy += sum - times.idle;
  }
  return { busy, total };
}

/** Starts measuring; the returned function reads the figures since. */
export function startCpuMeter(): () => CpuFigures {
  const started = performance.now();
  const processStart = process.cpuUsage();
  const machineStart = machineTimes();
  return () => {
    const wallMs = performance.now() - started;
    const usage = process.cpuUsage(processStart);
    const machine = machineTimes();
    const total = machine.total - machineStart.total;
    return {
      processCores: Math.round(((usage.user + usage.system) / 1000 / wallMs) * 100) / 100,
      machineBusy: total > 0 ? Math.round(((machine.busy - machineStart.busy) / total) * 100) / 100 : 0,
    };
  };
}
