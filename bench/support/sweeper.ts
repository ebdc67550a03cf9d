/**
 * The sweeper as the sweeper function runs it (lambdas/broker/sweeper.ts sweep() with the store and the stop
 * primitives), aimed at a benchmark table, with its DynamoDB round trips counted.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ignoreEvents } from '../../lambdas/broker/events';
import type { ConnectionStore } from '../../lambdas/broker/ports';
import type { StopContext } from '../../lambdas/broker/stopping';
import { sweep, type SweepSummary } from '../../lambdas/broker/sweeper';
import { createDocumentClient } from '../../lambdas/store/clients';
import { createDynamoConnectionStore } from '../../lambdas/store/dynamo-store';
import { countSdkCalls, type SdkCalls } from './sdk-calls';
import type { BenchStack } from './stack';
import { BENCH_SHARDS } from './tables';

export interface CountedStore {
  store: ConnectionStore;
  calls: SdkCalls;
  close(): void;
}

/** The broker's store on its own client (so its calls are counted apart from the loader's). */
export function countedStore(bench: BenchStack, tableName: string): CountedStore {
  const client = new DynamoDBClient({ region: bench.stack.region, endpoint: bench.stack.dynamoDbEndpoint });
  const calls = countSdkCalls(client);
  const documents = createDocumentClient(client);
  return {
    store: createDynamoConnectionStore({ client: documents, tableName, dueShardCount: BENCH_SHARDS }),
    calls,
    close: () => documents.destroy(),
  };
}

export function stopContextFor(bench: BenchStack, store: ConnectionStore): StopContext {
  return { store, remoteit: bench.remoteit, now: Date.now, random: Math.random, maxAttempts: 8, claimSeconds: 120, events: ignoreEvents };
}

/** One sweep with `concurrency` workers and `budgetMs` of time (the function's safety margin is kept out of it). */
export async function runSweep(bench: BenchStack, store: ConnectionStore, concurrency: number, budgetMs: number): Promise<SweepSummary> {
  const started = Date.now();
  return sweep(
    { stopContext: stopContextFor(bench, store), concurrency, pendingGraceSeconds: 120, itemEstimateMs: 1_000 },
    { remainingMs: () => budgetMs - (Date.now() - started), safetyMarginMs: 0 },
  );
}
