/**
 * DynamoDB fault injection for tests: an HTTP proxy in front of DynamoDB Local that answers chosen operations
 * with DynamoDB's own throttling or server errors and forwards everything else unchanged. The handlers reach
 * it through `AWS_ENDPOINT_URL_DYNAMODB`, so the AWS SDK's real retry behaviour (backoff, attempts, error
 * classification) stays in play. DynamoDB Local has no fault injection and no npm package proxies the JSON
 * 1.0 protocol this way, so it is hand-written.
 */
import { Agent, createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { listen } from './listen';

/** DynamoDB error types and the HTTP status DynamoDB answers them with. */
export const DYNAMO_ERRORS = {
  ProvisionedThroughputExceededException: 400,
  ThrottlingException: 400,
  RequestLimitExceeded: 400,
  InternalServerError: 500,
} as const;

export type DynamoErrorType = keyof typeof DYNAMO_ERRORS;

export interface DynamoFaultRule {
  /** Operations it applies to, as in `X-Amz-Target` (`PutItem`, `UpdateItem`, `GetItem`, `Query`, ...). */
  operations: readonly string[];
  /** Only requests on this table; all tables when absent. */
  tableName?: string;
  /**
   * Only requests whose JSON body contains this text, e.g. `"active"` for the UpdateItem that records a
   * connection as active: picks one write among several of the same operation, whatever the SDK's retry count.
   */
  matching?: string;
  /** The error answered (default ProvisionedThroughputExceededException). */
  error?: DynamoErrorType;
  /** How many matching requests fail before the rule is spent; every one when absent. SDK retries count. */
  times?: number;
}

export interface DynamoCallCount {
  forwarded: number;
  failed: number;
}

export interface DynamoFaults {
  /** What `AWS_ENDPOINT_URL_DYNAMODB` should be set to. */
  endpoint: string;
  /** Replaces the rules in force (`[]` lifts them); the first matching rule with failures left applies. */
  setRules(rules: readonly DynamoFaultRule[]): void;
  /** Requests seen per operation since start or the last reset. */
  calls(): Record<string, DynamoCallCount>;
  resetCalls(): void;
  stop(): Promise<void>;
}

const TARGET_PREFIX = 'DynamoDB_20120810.';
const MAX_BODY_BYTES = 16 * 1024 * 1024;

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new Error('request body too large for the fault proxy');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function tableNameOf(body: Buffer): string | undefined {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { TableName?: unknown };
    return typeof parsed.TableName === 'string' ? parsed.TableName : undefined;
  } catch {
    return undefined;
  }
}

export async function startDynamoFaults(options: { upstream: string; host?: string; port?: number }): Promise<DynamoFaults> {
  const upstream = new URL(options.upstream);
  const agent = new Agent({ keepAlive: true });
  let rules: Array<DynamoFaultRule & { left: number }> = [];
  let counts: Record<string, DynamoCallCount> = {};

  const countOf = (operation: string): DynamoCallCount => (counts[operation] ??= { forwarded: 0, failed: 0 });

  function failing(operation: string, body: Buffer): DynamoFaultRule | undefined {
    const tableName = tableNameOf(body);
    const rule = rules.find(
      (candidate) =>
        candidate.left > 0 &&
        candidate.operations.includes(operation) &&
        (candidate.tableName === undefined || candidate.tableName === tableName) &&
        (candidate.matching === undefined || body.includes(candidate.matching)),
    );
    if (rule) rule.left -= 1;
    return rule;
  }

  function forward(request: IncomingMessage, body: Buffer, response: ServerResponse): void {
    const outgoing = httpRequest(
      { protocol: upstream.protocol, hostname: upstream.hostname, port: upstream.port, method: request.method, path: request.url, headers: request.headers, agent },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    outgoing.on('error', () => response.destroy());
    outgoing.end(body);
  }

  const server = createServer((request, response) => {
    void (async () => {
      const body = await readBody(request);
      const target = request.headers['x-amz-target'];
      const operation = typeof target === 'string' && target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : 'unknown';
      const rule = failing(operation, body);
      if (rule) {
        countOf(operation).failed += 1;
        const type = rule.error ?? 'ProvisionedThroughputExceededException';
        const text = JSON.stringify({ __type: `com.amazonaws.dynamodb.v20120810#${type}`, message: `injected ${type}` });
        response.writeHead(DYNAMO_ERRORS[type], { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': 'fault-proxy' });
        response.end(text);
        return;
      }
      countOf(operation).forwarded += 1;
      forward(request, body, response);
    })().catch(() => response.destroy());
  });
  const host = options.host ?? '127.0.0.1';
  const port = await listen(server, options.port ?? 0, host);

  let stopping: Promise<void> | undefined;
  return {
    endpoint: `http://${host}:${port}`,
    setRules(next) {
      rules = next.map((rule) => ({ ...rule, left: rule.times ?? Number.POSITIVE_INFINITY }));
    },
    calls: () => structuredClone(counts),
    resetCalls() {
      counts = {};
    },
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      });
      return stopping;
    },
  };
}
