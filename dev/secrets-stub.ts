/**
 * A Secrets Manager stand-in for the local stack and integration tests: `GetSecretValue` over the JSON 1.1
 * protocol, which is all the broker calls. No Secrets Manager emulator ships on npm, so this is hand-written;
 * the handlers reach it through `AWS_ENDPOINT_URL_SECRETS_MANAGER` exactly as they reach AWS.
 */
import { listen } from './listen';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

export interface SecretsStub {
  endpoint: string;
  /** Replaces or adds a secret (rotation in tests). */
  putSecret(secretId: string, value: string): void;
  /** GetSecretValue calls received, by secret id (failed ones included). */
  calls(): Record<string, number>;
  /**
   * Fails every GetSecretValue with this HTTP status and error type until lifted (`undefined`): an outage of
   * Secrets Manager (`{status: 500, type: 'InternalServiceError'}`) or throttling (`{status: 400, type:
   * 'ThrottlingException'}`). The SDK's own retries then run as against AWS.
   */
  setFailure(failure: SecretsFailure | undefined): void;
  stop(): Promise<void>;
}

export interface SecretsFailure {
  status: number;
  /** The `__type` Secrets Manager names the error with. */
  type: string;
}

function answer(response: ServerResponse, status: number, body: object): void {
  response.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
  response.end(JSON.stringify(body));
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startSecretsStub(
  secrets: Record<string, string>,
  options: { host?: string; port?: number } = {},
): Promise<SecretsStub> {
  const store = new Map(Object.entries(secrets));
  const versions = new Map<string, number>();
  const callCounts: Record<string, number> = {};
  let failure: SecretsFailure | undefined;
  const server = createServer((request, response) => {
    void (async () => {
      const target = request.headers['x-amz-target'];
      if (request.method !== 'POST' || target !== 'secretsmanager.GetSecretValue') {
        answer(response, 400, { __type: 'InvalidRequestException', message: `unsupported operation ${String(target)}` });
        return;
      }
      let secretId: unknown;
      try {
        secretId = (JSON.parse(await readBody(request)) as { SecretId?: unknown }).SecretId;
      } catch {
        answer(response, 400, { __type: 'InvalidRequestException', message: 'body is not JSON' });
        return;
      }
      const value = typeof secretId === 'string' ? store.get(secretId) : undefined;
      if (typeof secretId !== 'string' || value === undefined) {
        answer(response, 400, { __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." });
        return;
      }
      callCounts[secretId] = (callCounts[secretId] ?? 0) + 1;
      if (failure) {
        answer(response, failure.status, { __type: failure.type, message: 'injected failure' });
        return;
      }
      answer(response, 200, {
        ARN: `arn:aws:secretsmanager:us-east-1:000000000000:secret:${secretId}`,
        Name: secretId,
        SecretString: value,
        VersionId: `v${versions.get(secretId) ?? 1}`,
        VersionStages: ['AWSCURRENT'],
        CreatedDate: Math.floor(Date.now() / 1000),
      });
    })();
  });
  const host = options.host ?? '127.0.0.1';
  const port = await listen(server, options.port ?? 0, host);
  return {
    endpoint: `http://${host}:${port}`,
    putSecret: (secretId, value) => {
      store.set(secretId, value);
      versions.set(secretId, (versions.get(secretId) ?? 1) + 1);
    },
    calls: () => ({ ...callCounts }),
    setFailure: (next) => {
      failure = next;
    },
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
