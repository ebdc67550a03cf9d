/**
 * A Secrets Manager stand-in for the local stack and integration tests: `GetSecretValue` over the JSON 1.1
 * protocol, which is all the broker calls. No Secrets Manager emulator ships on npm, so this is hand-written;
 * the handlers reach it through `AWS_ENDPOINT_URL_SECRETS_MANAGER` exactly as they reach AWS.
 *
 * It holds the remote.it credentials, so every request must be SigV4-signed (service `secretsmanager`, the
 * stub's region) by the one key it is given, as AWS requires; dev/sigv4.ts checks it, as it does for the
 * gateway and the other stubs. The handlers sign with the AWS credentials of their environment
 * (`AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`), which the local stack generates per run: a request
 * signed by anything else (or not at all) gets AWS's authentication error, never the secret.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { endpointOf, listen } from './listen';
import type { SigningKey, SigV4FailureKind } from './sigv4';
import { readBody, sigV4FailureOf } from './stub-http';

export const SECRETS_MANAGER_SERVICE = 'secretsmanager';
/** A GetSecretValue request is a few hundred bytes; anything past this is refused unread. */
const MAX_REQUEST_BYTES = 64 * 1024;

export interface SecretsStubOptions {
  /** The one key every request must be signed with. */
  credentials: SigningKey;
  /** The region requests must be signed for (default us-east-1). */
  region?: string;
  host?: string;
  port?: number;
}

export interface SecretsStub {
  endpoint: string;
  region: string;
  /** Replaces or adds a secret (rotation in tests). */
  putSecret(secretId: string, value: string): void;
  /** GetSecretValue calls received, by secret id (failed ones included; refused signatures not counted). */
  calls(): Record<string, number>;
  /**
   * Fails every GetSecretValue with this HTTP status and error type until lifted (`undefined`): an outage of
   * Secrets Manager (`{status: 500, type: 'InternalServiceError'}`) or throttling (`{status: 400, type:
   * 'ThrottlingException'}`). The SDK's own retries then run as against AWS.
   */
  setFailure(failure: SecretsFailure | undefined): void;
  /** Requests refused for their signature, by failure kind (none is ever answered with a secret). */
  refused(): Partial<Record<SigV4FailureKind, number>>;
  stop(): Promise<void>;
}

export interface SecretsFailure {
  status: number;
  /** The `__type` Secrets Manager names the error with. */
  type: string;
}

/** AWS's answers to a request it cannot authenticate (the JSON protocols' `__type` and status). */
const AUTH_ERRORS: Record<SigV4FailureKind, SecretsFailure> = {
  missing: { status: 403, type: 'MissingAuthenticationTokenException' },
  incomplete: { status: 400, type: 'IncompleteSignatureException' },
  unknown_key: { status: 403, type: 'UnrecognizedClientException' },
  bad_scope: { status: 403, type: 'InvalidSignatureException' },
  expired: { status: 403, type: 'InvalidSignatureException' },
  mismatch: { status: 403, type: 'InvalidSignatureException' },
};

class RequestTooLargeError extends Error {}

function answer(response: ServerResponse, status: number, body: object, close = false): void {
  if (response.destroyed || response.writableEnded) return;
  const bytes = Buffer.from(JSON.stringify(body), 'utf8');
  response.writeHead(status, {
    'content-type': 'application/x-amz-json-1.1',
    'content-length': String(bytes.length),
    // The body of a refused oversized request was not read: the connection cannot carry another request.
    ...(close && { connection: 'close' }),
  });
  response.end(bytes);
}

export async function startSecretsStub(secrets: Record<string, string>, options: SecretsStubOptions): Promise<SecretsStub> {
  const region = options.region ?? 'us-east-1';
  const key: SigningKey = { accessKeyId: options.credentials.accessKeyId, secretAccessKey: options.credentials.secretAccessKey };
  const store = new Map(Object.entries(secrets));
  const versions = new Map<string, number>();
  const callCounts = new Map<string, number>();
  const refusals: Partial<Record<SigV4FailureKind, number>> = {};
  let failure: SecretsFailure | undefined;

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let body: Buffer;
    try {
      body = await readBody(request, MAX_REQUEST_BYTES, () => new RequestTooLargeError());
    } catch (error) {
      if (!(error instanceof RequestTooLargeError)) throw error;
      answer(response, 413, { __type: 'RequestEntityTooLargeException', message: `Request body larger than ${MAX_REQUEST_BYTES} bytes.` }, true);
      return;
    }
    // Authentication first, as AWS does: an unsigned request learns nothing, not even which secrets exist.
    const refusal = await sigV4FailureOf(request, body, { region, service: SECRETS_MANAGER_SERVICE, key });
    if (refusal) {
      refusals[refusal.kind] = (refusals[refusal.kind] ?? 0) + 1;
      const error = AUTH_ERRORS[refusal.kind];
      answer(response, error.status, { __type: error.type, message: refusal.kind === 'missing' ? 'Missing Authentication Token' : refusal.message });
      return;
    }
    const target = request.headers['x-amz-target'];
    if (request.method !== 'POST' || target !== 'secretsmanager.GetSecretValue') {
      answer(response, 400, { __type: 'InvalidRequestException', message: `unsupported operation ${typeof target === 'string' ? target : '-'}` });
      return;
    }
    let secretId: unknown;
    try {
      secretId = (JSON.parse(body.toString('utf8')) as { SecretId?: unknown } | null)?.SecretId;
    } catch {
      answer(response, 400, { __type: 'InvalidRequestException', message: 'body is not JSON' });
      return;
    }
    const value = typeof secretId === 'string' ? store.get(secretId) : undefined;
    if (typeof secretId !== 'string' || value === undefined) {
      answer(response, 400, { __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." });
      return;
    }
    callCounts.set(secretId, (callCounts.get(secretId) ?? 0) + 1);
    if (failure) {
      answer(response, failure.status, { __type: failure.type, message: 'injected failure' });
      return;
    }
    answer(response, 200, {
      ARN: `arn:aws:secretsmanager:${region}:000000000000:secret:${secretId}`,
      Name: secretId,
      SecretString: value,
      VersionId: `v${versions.get(secretId) ?? 1}`,
      VersionStages: ['AWSCURRENT'],
      CreatedDate: Math.floor(Date.now() / 1000),
    });
  }

  const server = createServer((request, response) => {
    handle(request, response).catch(() => {
      // Nothing about the failure goes back: the request may have been after the secret.
      if (!response.headersSent) answer(response, 500, { __type: 'InternalServiceError', message: 'An internal error occurred.' });
      else response.destroy();
    });
  });
  const host = options.host ?? '127.0.0.1';
  const port = await listen(server, options.port ?? 0, host);
  return {
    endpoint: endpointOf(host, port),
    region,
    putSecret: (secretId, value) => {
      store.set(secretId, value);
      versions.set(secretId, (versions.get(secretId) ?? 1) + 1);
    },
    calls: () => Object.fromEntries(callCounts),
    setFailure: (next) => {
      failure = next;
    },
    refused: () => ({ ...refusals }),
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
