/**
 * End-to-end helpers: the local stack (dev/stack.ts) on the integration run's DynamoDB Local with tables of
 * its own, and calls to its gateway over real HTTP, SigV4-signed in the test with the AWS SDK's signer as
 * any IAM client would sign them, from a chosen loopback source address.
 */
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { Sha256 } from '@aws-crypto/sha256-js';
import { DeleteTableCommand, DynamoDBClient, ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { LocalIdentity } from '../../../dev/identities';
import { startStack, type Stack, type StackOptions } from '../../../dev/stack';
import { dynamoEndpoint } from '../support/dynamo';

export const ECHO = '80:00:00:00:00:00:00:01';
export const WEB = '80:00:00:00:00:00:00:02';

export interface TestStack extends Stack {
  identity(name: 'app' | 'admin'): LocalIdentity;
  /** Stops the stack and drops its tables. */
  close(): Promise<void>;
}

/** The stack on the run's DynamoDB Local, with unique tables and a quiet sweeper unless asked otherwise. */
export async function startTestStack(options: StackOptions = {}): Promise<TestStack> {
  const tablePrefix = `e2e-${randomUUID().slice(0, 8)}`;
  const stack = await startStack({ dynamoDb: { endpoint: dynamoEndpoint() }, tablePrefix, sweepIntervalMs: 60_000, ...options });
  return {
    ...stack,
    identity(name) {
      const found = stack.identities.find((identity) => identity.name === name);
      if (!found) throw new Error(`no identity ${name}`);
      return found;
    },
    async close() {
      await stack.stop();
      // The stack's region: DynamoDB Local keeps a database per access key id and region.
      const client = new DynamoDBClient({ endpoint: dynamoEndpoint(), region: stack.region });
      try {
        for (const TableName of Object.values(stack.tables)) {
          await client.send(new DeleteTableCommand({ TableName })).catch((error: unknown) => {
            if (!(error instanceof ResourceNotFoundException)) throw error;
          });
        }
      } finally {
        client.destroy();
      }
    },
  };
}

export interface CallInit {
  method: 'GET' | 'POST' | 'DELETE' | 'PUT';
  path: string;
  body?: unknown;
  /** Raw query, without `?`. */
  query?: string;
  /** Signs as this identity; `null` sends the request unsigned. */
  as?: Pick<LocalIdentity, 'accessKeyId' | 'secretAccessKey'> | null;
  /** Loopback source address of the request (127.0.0.x). */
  localAddress?: string;
  region?: string;
  /** Extra headers, signed. */
  headers?: Record<string, string>;
  /** Applied after signing, to tamper with what is sent (an array value sends the header once per item). */
  afterSigning?: (sent: { headers: Record<string, string | string[]>; body: string }) => void;
}

export interface CallAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary response fields
  body: any;
}

/** One HTTP request to the gateway, signed like an IAM client signs it, bounded to 15 s. */
export async function call(stack: Pick<Stack, 'apiUrl' | 'region'>, init: CallInit): Promise<CallAnswer> {
  const url = new URL(`${stack.apiUrl}${init.path}${init.query ? `?${init.query}` : ''}`);
  const body = init.body === undefined ? '' : JSON.stringify(init.body);
  let headers: Record<string, string> = {
    ...init.headers,
    host: url.host,
    ...(body && { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }),
  };
  if (init.as) {
    const signer = new SignatureV4({ credentials: init.as, region: init.region ?? stack.region, service: 'execute-api', sha256: Sha256 });
    const query = Object.fromEntries(new URLSearchParams(init.query ?? ''));
    const signed = await signer.sign(
      new HttpRequest({ method: init.method, protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: url.pathname, query, headers, ...(body && { body }) }),
    );
    headers = { ...signed.headers };
  }
  const sent: { headers: Record<string, string | string[]>; body: string } = { headers, body };
  init.afterSigning?.(sent);
  return new Promise((resolve, reject) => {
    const outgoing = request(
      url,
      { method: init.method, headers: sent.headers, agent: false, ...(init.localAddress && { localAddress: init.localAddress }) },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: text ? JSON.parse(text) : undefined });
        });
        response.on('error', reject);
      },
    );
    outgoing.setTimeout(15_000, () => outgoing.destroy(new Error(`no answer from ${url.href} within 15 s`)));
    outgoing.on('error', reject);
    outgoing.end(sent.body);
  });
}
