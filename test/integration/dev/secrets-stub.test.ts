/**
 * dev/secrets-stub.ts against the real `@aws-sdk/client-secrets-manager`, over HTTP on loopback: the secret
 * goes only to a request SigV4-signed (service `secretsmanager`, the stub's region) with the one key the stub
 * was given; anything else gets AWS's authentication error and no byte of the secret.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { GetSecretValueCommand, SecretsManagerClient, type SecretsManagerClientConfig } from '@aws-sdk/client-secrets-manager';
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { startSecretsStub, type SecretsStub } from '../../../dev/secrets-stub';
import { failureOf, type FinalizeHandler } from '../support/sdk-failure';

const REGION = 'us-east-1';
const SECRET_ID = 'remoteit/test';
const SECRET = JSON.stringify({ developerKey: `DK-${randomBytes(8).toString('hex')}`, accessKeyId: 'AKREMOTEIT', secretAccessKey: randomBytes(32).toString('base64') });

const newKey = () => ({ accessKeyId: `LOCAL${randomBytes(12).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(30).toString('base64url') });
const credentials = newKey();

/** One raw HTTP request, its answer's status, headers and text (no keep-alive left behind). */
function raw(url: string, init: { headers: Record<string, string>; body: string | Buffer }): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = request(url, { method: 'POST', headers: { 'content-length': String(Buffer.byteLength(init.body)), ...init.headers }, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text: Buffer.concat(chunks).toString('utf8') }));
    });
    outgoing.on('error', reject);
    outgoing.end(init.body);
  });
}

describe('secrets-stub with the real Secrets Manager client', () => {
  let stub: SecretsStub;
  const clients: SecretsManagerClient[] = [];
  const clientWith = (config: Partial<SecretsManagerClientConfig> = {}) => {
    const client = new SecretsManagerClient({ region: REGION, endpoint: stub.endpoint, credentials, maxAttempts: 1, ...config });
    clients.push(client);
    return client;
  };
  const get = (client: SecretsManagerClient) => client.send(new GetSecretValueCommand({ SecretId: SECRET_ID }));

  beforeAll(async () => {
    stub = await startSecretsStub({ [SECRET_ID]: SECRET }, { credentials, region: REGION });
  });
  afterAll(async () => {
    for (const client of clients) client.destroy();
    await stub.stop();
  });

  it('serves the secret to a request signed with its key, as the handlers sign through their environment', async () => {
    const answer = await get(clientWith());

    expect(answer.SecretString).toBe(SECRET);
    expect(answer.Name).toBe(SECRET_ID);
  });

  it("answers a request unsigned, signed by another key, with a wrong secret or for another region or service with AWS's auth errors, never the secret", async () => {
    // Arrange
    const unsigned = clientWith();
    const dropSignature = (next: FinalizeHandler): FinalizeHandler => (args) => {
      if (HttpRequest.isInstance(args.request)) delete args.request.headers.authorization;
      return next(args);
    };
    unsigned.middlewareStack.addRelativeTo(dropSignature, { relation: 'after', toMiddleware: 'httpSigningMiddleware', name: 'dropSignature' });
    // The constants the stack signed with before its credentials were generated per run.
    const constants = clientWith({ credentials: { accessKeyId: 'LOCALBROKERKEY', secretAccessKey: 'local' } });
    const wrongSecret = clientWith({ credentials: { ...credentials, secretAccessKey: newKey().secretAccessKey } });
    const unknownKey = clientWith({ credentials: newKey() });
    const wrongRegion = clientWith({ region: 'eu-west-1' });
    const callsBefore = stub.calls()[SECRET_ID] ?? 0;

    // Act
    const failures = await Promise.all([unsigned, constants, wrongSecret, unknownKey, wrongRegion].map((client) => failureOf(get(client))));
    const otherService = new SignatureV4({ credentials, region: REGION, service: 'execute-api', sha256: Sha256 });
    const body = JSON.stringify({ SecretId: SECRET_ID });
    const url = new URL(stub.endpoint);
    const signedForApi = await otherService.sign(
      new HttpRequest({
        method: 'POST',
        protocol: 'http:',
        hostname: url.hostname,
        port: Number(url.port),
        path: '/',
        headers: { host: url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'secretsmanager.GetSecretValue' },
        body,
      }),
    );
    const bare = await raw(`${stub.endpoint}/`, { headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'secretsmanager.GetSecretValue' }, body });
    const scoped = await raw(`${stub.endpoint}/`, { headers: signedForApi.headers as Record<string, string>, body });

    // Assert
    expect(failures.map((failure) => [failure.name, failure.$metadata?.httpStatusCode])).toEqual([
      ['MissingAuthenticationTokenException', 403],
      ['UnrecognizedClientException', 403],
      ['InvalidSignatureException', 403],
      ['UnrecognizedClientException', 403],
      ['InvalidSignatureException', 403],
    ]);
    expect([bare.status, JSON.parse(bare.text)]).toEqual([403, { __type: 'MissingAuthenticationTokenException', message: 'Missing Authentication Token' }]);
    expect([scoped.status, JSON.parse(scoped.text).__type]).toEqual([403, 'InvalidSignatureException']);
    expect(JSON.parse(scoped.text).message).toMatch(/scoped to correct service: 'secretsmanager'/);
    for (const text of [bare.text, scoped.text, ...failures.map((failure) => failure.message)]) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(credentials.secretAccessKey);
    }
    expect(stub.calls()[SECRET_ID] ?? 0).toBe(callsBefore);
    expect(stub.refused()).toMatchObject({ missing: 2, unknown_key: 2 });
  });

  it('refuses a body changed after signing, and tells an unsigned caller nothing about which secrets exist', async () => {
    const tampered = clientWith();
    tampered.middlewareStack.addRelativeTo(
      (next: FinalizeHandler): FinalizeHandler => (args) => {
        if (HttpRequest.isInstance(args.request)) args.request.body = JSON.stringify({ SecretId: 'remoteit/tezt' }); // same length: only the content differs
        return next(args);
      },
      { relation: 'after', toMiddleware: 'httpSigningMiddleware', name: 'tamper' },
    );

    const changed = await failureOf(get(tampered));
    const unknownUnsigned = await raw(`${stub.endpoint}/`, {
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'secretsmanager.GetSecretValue' },
      body: JSON.stringify({ SecretId: 'remoteit/none' }),
    });

    expect([changed.name, changed.$metadata?.httpStatusCode]).toEqual(['InvalidSignatureException', 403]);
    expect([unknownUnsigned.status, JSON.parse(unknownUnsigned.text).__type]).toEqual([403, 'MissingAuthenticationTokenException']);
  });

  it('answers an oversized request 413 and closes the connection, never reading it whole', async () => {
    const answer = await raw(`${stub.endpoint}/`, {
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'secretsmanager.GetSecretValue' },
      body: Buffer.alloc(80 * 1024, 0x20),
    });

    expect(answer.status).toBe(413);
    expect(answer.headers.connection).toBe('close');
  });
});
