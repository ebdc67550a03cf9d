/**
 * 1. What the broker costs on top of remote.it: open+stop cycles through the gateway (SigV4 check, handler,
 * DynamoDB, remote.it) against the same two signed remote.it calls made straight to the emulator, with the
 * emulator answering after the same latency in both. The two kinds of cycle alternate, so load on the
 * machine falls on both alike.
 */
import { percentiles, round, type Percentiles } from './support/stats';
import { goal, type GoalCheck } from './support/report';
import { countSdkCalls } from './support/sdk-calls';
import { createApiClient } from './support/signed-http';
import { handlerClients, SERVICE_ID, type BenchStack } from './support/stack';

export interface OverheadOptions {
  cycles: number;
  latencyMs: number;
  /** Stops early (with fewer cycles) past this much time. */
  timeoutMs: number;
}

export interface OverheadResult {
  cycles: number;
  emulatorLatencyMs: number;
  /** One cycle = POST /connections + DELETE /connections/{id}, ms. */
  broker: Percentiles;
  /** One cycle = remote.it connect + stop straight to the emulator, ms. */
  direct: Percentiles;
  ratio: { p50: number; p95: number; p99: number };
  /** Where the broker's extra time goes, per cycle (means). */
  brokerPerCycle: {
    extraMsAtP50: number;
    dynamodbCalls: number;
    dynamodbMs: number;
    /** By command: the quota count is the Query, whose reads grow with the caller's history. */
    dynamodbMsByCommand: Record<string, number>;
    dynamodbItemsRead: number;
  };
  goals: GoalCheck[];
}

export const OVERHEAD_GOAL_RATIO = 1.15;

export async function runOverhead(bench: BenchStack, options: OverheadOptions): Promise<OverheadResult> {
  const { stack, identity, remoteit, emulator } = bench;
  const api = createApiClient({ apiUrl: stack.apiUrl, region: stack.region, credentials: identity, localAddress: '127.0.0.2' });
  const dynamo = countSdkCalls(handlerClients().dynamodb);
  const brokerMs: number[] = [];
  const directMs: number[] = [];
  const deadline = Date.now() + options.timeoutMs;

  const brokerCycle = async () => {
    const opened = await api.send('POST', '/connections', { serviceId: SERVICE_ID });
    if (opened.status !== 201) throw new Error(`open answered ${opened.status}: ${JSON.stringify(opened.body)}`);
    const stopped = await api.send('DELETE', `/connections/${String(opened.body.id)}`);
    if (stopped.status !== 200) throw new Error(`stop answered ${stopped.status}: ${JSON.stringify(stopped.body)}`);
    return opened.ms + stopped.ms;
  };
  const directCycle = async () => {
    const started = performance.now();
    const connection = await remoteit.connect(SERVICE_ID, '255.255.255.255');
    await remoteit.stop(SERVICE_ID, connection.remoteConnectionId);
    return performance.now() - started;
  };

  try {
    // Warm both paths (secret fetch, first TCP connections, JIT) with the emulator answering at once.
    for (let index = 0; index < 3; index += 1) {
      await brokerCycle();
      await directCycle();
    }
    emulator.setFaults({ latencyMs: options.latencyMs });
    dynamo.reset();
    for (let cycle = 0; cycle < options.cycles && Date.now() < deadline; cycle += 1) {
      // Alternate which goes first, so neither always follows the other's garbage.
      if (cycle % 2 === 0) {
        brokerMs.push(await brokerCycle());
        directMs.push(await directCycle());
      } else {
        directMs.push(await directCycle());
        brokerMs.push(await brokerCycle());
      }
    }
  } finally {
    emulator.setFaults({});
    dynamo.detach();
    api.close();
  }

  const broker = percentiles(brokerMs);
  const direct = percentiles(directMs);
  const ratio = { p50: round(broker.p50 / direct.p50, 3), p95: round(broker.p95 / direct.p95, 3), p99: round(broker.p99 / direct.p99, 3) };
  const cycles = brokerMs.length;
  return {
    cycles,
    emulatorLatencyMs: options.latencyMs,
    broker: roundPercentiles(broker),
    direct: roundPercentiles(direct),
    ratio,
    brokerPerCycle: {
      extraMsAtP50: round(broker.p50 - direct.p50, 1),
      dynamodbCalls: round(dynamo.total() / cycles, 2),
      dynamodbMs: round(dynamo.elapsedMs() / cycles, 1),
      dynamodbMsByCommand: Object.fromEntries(
        Object.entries(dynamo.elapsedMsByCommand()).map(([command, ms]) => [command.replace(/Command$/, ''), round(ms / cycles, 1)]),
      ),
      dynamodbItemsRead: round(dynamo.itemsRead() / cycles, 1),
    },
    goals: [goal(`broker p50 <= ${OVERHEAD_GOAL_RATIO}x direct`, `${ratio.p50}x (${round(broker.p50, 1)} vs ${round(direct.p50, 1)} ms)`, ratio.p50 <= OVERHEAD_GOAL_RATIO)],
  };
}

function roundPercentiles(value: Percentiles): Percentiles {
  return { count: value.count, p50: round(value.p50, 1), p95: round(value.p95, 1), p99: round(value.p99, 1) };
}
