/**
 * Counts the HTTP round trips an AWS SDK v3 client makes, by command, with a middleware added to the
 * client's own stack from outside: the production code that built the client is not touched. The middleware
 * sits in the deserialize step (inside the retry middleware, so every attempt that went on the wire counts),
 * ahead of the deserializer, so it sees the parsed answer.
 */
import type { AbsoluteLocation, DeserializeHandlerOptions, DeserializeMiddleware, MiddlewareStack } from '@smithy/types';

export interface SdkCalls {
  /** Round trips by command name (`PutItemCommand`, ...), since the last reset. */
  byCommand(): Record<string, number>;
  total(): number;
  /** Wall time spent waiting on those round trips (overlapping calls add up). */
  elapsedMs(): number;
  /** The same, by command name. */
  elapsedMsByCommand(): Record<string, number>;
  /** Sum of `ScannedCount` in Query and Scan answers: the items DynamoDB read. */
  itemsRead(): number;
  reset(): void;
  /** Removes the middleware from the client. */
  detach(): void;
}

interface Countable {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any client's stack: inputs and outputs vary by service
  middlewareStack: MiddlewareStack<any, any>;
}

let attached = 0;

export function countSdkCalls(client: Countable): SdkCalls {
  attached += 1;
  const name = `benchRoundTripCounter${attached}`;
  let counts: Record<string, number> = {};
  let elapsedByCommand: Record<string, number> = {};
  let read = 0;
  const middleware: DeserializeMiddleware<object, object> = (next, context) => async (args) => {
    const command = context.commandName ?? 'unknown';
    counts[command] = (counts[command] ?? 0) + 1;
    const started = performance.now();
    try {
      const result = await next(args);
      const scanned = (result.output as { ScannedCount?: unknown } | undefined)?.ScannedCount;
      if (typeof scanned === 'number') read += scanned;
      return result;
    } finally {
      elapsedByCommand[command] = (elapsedByCommand[command] ?? 0) + performance.now() - started;
    }
  };
  const options: DeserializeHandlerOptions & AbsoluteLocation = { step: 'deserialize', name, priority: 'high' };
  client.middlewareStack.add(middleware, options);
  return {
    byCommand: () => ({ ...counts }),
    total: () => Object.values(counts).reduce((sum, value) => sum + value, 0),
    elapsedMs: () => Object.values(elapsedByCommand).reduce((sum, value) => sum + value, 0),
    elapsedMsByCommand: () => ({ ...elapsedByCommand }),
    itemsRead: () => read,
    reset() {
      counts = {};
      elapsedByCommand = {};
      read = 0;
    },
    detach: () => void client.middlewareStack.remove(name),
  };
}
