/**
 * `Idempotency-Key` on POST /connections through Powertools idempotency (DynamoDB persistence, own table):
 * keyed by caller + key, validated on the request body, so a retry never runs the operation twice, a
 * concurrent duplicate is told to come back (409) without reaching remote.it, and a key reused for another
 * body is 422. A replay is marked as one (Powertools' `responseHook`), so the caller answers from what is
 * true now rather than from the stored first answer (connections-open.ts).
 */
import {
  IdempotencyAlreadyInProgressError,
  IdempotencyConfig,
  IdempotencyValidationError,
  makeIdempotent,
} from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Context } from 'aws-lambda';
import type { Caller } from '../broker/principal';

export class IdempotencyInProgressError extends Error {
  readonly code = 'idempotency_in_progress';
  /** The first request is still talking to remote.it (seconds): a connect with `wait` takes a few. */
  readonly retryAfterSeconds = 2;
  constructor(options?: { cause?: unknown }) {
    super('a request with this Idempotency-Key is still in progress; retry after it completes', options);
    this.name = 'IdempotencyInProgressError';
  }
}

export class IdempotencyKeyReusedError extends Error {
  readonly code = 'idempotency_mismatch';
  readonly field = 'Idempotency-Key';
  constructor(options?: { cause?: unknown }) {
    super('this Idempotency-Key was already used with a different request body', options);
    this.name = 'IdempotencyKeyReusedError';
  }
}

export interface IdempotentInput<Request> {
  /** The caller's matching principal: two callers' keys never collide. */
  principal: string;
  key: string;
  request: Request;
}

/** What the operation answered, and whether that is the stored answer of an earlier call with the key (a replay). */
export interface IdempotentResult<Result> {
  result: Result;
  replayed: boolean;
}

/** Marks a stored answer handed back by Powertools: a symbol, so no answer of the operation can carry it. */
const REPLAY = Symbol('replay');

export interface IdempotencyOptions {
  tableName: string;
  client: DynamoDBClient;
  expiresAfterSeconds: number;
}

/**
 * Wraps `operation` so that calls with the same principal + key run it once. Its first argument is the
 * idempotency payload; its result must be JSON (it is stored and replayed).
 */
export function idempotentOperation<Request, Result>(
  operation: (input: IdempotentInput<Request>, caller: Caller) => Promise<Result>,
  options: IdempotencyOptions,
) {
  const config = new IdempotencyConfig({
    eventKeyJmesPath: '[principal, key]',
    payloadValidationJmesPath: 'request',
    expiresAfterSeconds: options.expiresAfterSeconds,
    throwOnNoIdempotencyKey: true,
    // Called only when a completed record is found: the stored answer comes back wrapped, and is unwrapped below.
    responseHook: (response) => ({ [REPLAY]: response }),
  });
  const idempotent = makeIdempotent(operation, {
    persistenceStore: new DynamoDBPersistenceLayer({ tableName: options.tableName, awsSdkV3Client: options.client }),
    config,
    dataIndexArgument: 0,
  });
  return async (context: Context, input: IdempotentInput<Request>, caller: Caller): Promise<IdempotentResult<Result>> => {
    // The in-progress record lapses with this invocation, so a crashed attempt does not block the key forever.
    config.registerLambdaContext(context);
    try {
      const answer = (await idempotent(input, caller)) as Result | { [REPLAY]: Result };
      return typeof answer === 'object' && answer !== null && REPLAY in answer
        ? { result: answer[REPLAY], replayed: true }
        : { result: answer as Result, replayed: false };
    } catch (error) {
      if (error instanceof IdempotencyAlreadyInProgressError) throw new IdempotencyInProgressError({ cause: error });
      if (error instanceof IdempotencyValidationError) throw new IdempotencyKeyReusedError({ cause: error });
      throw error;
    }
  };
}
