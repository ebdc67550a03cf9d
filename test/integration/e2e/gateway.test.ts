/**
 * The local stack through its gateway: SigV4 as API Gateway's IAM authorization answers it, routing, the
 * identity reaching the real handlers, and the stack file scripts read; and what the stack keeps to itself:
 * the remote.it secret (served only to the run's AWS credentials), the tables (in the run's DynamoDB Local
 * namespace) and the emulator's admin API (the run's token).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { MISMATCH_MESSAGE } from '../../../dev/sigv4';
import { LOCAL_SECRET_ID } from '../../../dev/stack';
import { call, ECHO, startTestStack, type TestStack } from './support';

let stack: TestStack;
let stateDir: string;
/** The worker's AWS credentials before the stack started, and the stack's own (its handlers' env) while it runs. */
let before: { accessKeyId?: string; secretAccessKey?: string };
let during: { accessKeyId: string; secretAccessKey: string };

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'stack-e2e-'));
  before = { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY };
  stack = await startTestStack({ stateDir });
  during = { accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? '', secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? '' };
});

afterAll(async () => {
  await stack.close();
  await rm(stateDir, { recursive: true, force: true });
});

describe('local stack gateway', () => {
  describe('signed requests', () => {
    it('opens a connection owned by the signer\'s role when the app signs the request', async () => {
      const answer = await call(stack, { method: 'POST', path: '/connections', body: { serviceId: ECHO }, as: stack.identity('app') });

      expect(answer.status).toBe(201);
      // A reference relative to the request's URL: it resolves under any stage name or custom domain mapping.
      expect(new URL(String(answer.headers.location), `${stack.apiUrl}/connections`).href).toBe(`${stack.apiUrl}/connections/${answer.body.id}`);
      expect(answer.body).toMatchObject({ status: 'active', owner: 'arn:aws:iam::000000000000:role/local-app', proxy: { kind: 'port' } });
    });

    it('lists the connections of every caller when the admin asks', async () => {
      const opened = await call(stack, { method: 'POST', path: '/connections', body: { serviceId: ECHO }, as: stack.identity('app') });

      const asAdmin = await call(stack, { method: 'GET', path: '/connections', query: 'status=active&limit=50', as: stack.identity('admin') });

      expect(asAdmin.status).toBe(200);
      expect(asAdmin.body.items.map((item: { id: string }) => item.id)).toContain(opened.body.id);
    });
  });

  describe('requests API Gateway refuses', () => {
    it('answers 403 Forbidden when the request is not signed', async () => {
      const answer = await call(stack, { method: 'POST', path: '/connections', body: { serviceId: ECHO }, as: null });

      expect(answer.status).toBe(403);
      expect(answer.body).toEqual({ message: 'Forbidden' });
      expect(answer.headers['x-amzn-errortype']).toBe('ForbiddenException');
    });

    it('answers 403 with the mismatch message when the request is signed with the wrong secret', async () => {
      const app = stack.identity('app');

      const answer = await call(stack, { method: 'GET', path: '/connections', as: { accessKeyId: app.accessKeyId, secretAccessKey: `${app.secretAccessKey}x` } });

      expect(answer.status).toBe(403);
      expect(answer.body).toEqual({ message: MISMATCH_MESSAGE });
    });

    it('answers 403 with the mismatch message when the body is changed after signing', async () => {
      const answer = await call(stack, {
        method: 'POST',
        path: '/connections',
        body: { serviceId: ECHO },
        as: stack.identity('app'),
        afterSigning: (sent) => {
          sent.body = sent.body.replace('00:01', '00:02');
        },
      });

      expect(answer.status).toBe(403);
      expect(answer.body).toEqual({ message: MISMATCH_MESSAGE });
    });

    it('answers 403 when the key is not a local identity\'s', async () => {
      const answer = await call(stack, { method: 'GET', path: '/connections', as: { accessKeyId: 'AKIAUNKNOWNUNKNOWN00', secretAccessKey: 'x'.repeat(40) } });

      expect(answer.status).toBe(403);
      expect(answer.body).toEqual({ message: 'The security token included in the request is invalid.' });
    });

    it('answers 403 when the request is signed for another region', async () => {
      const answer = await call(stack, { method: 'GET', path: '/connections', as: stack.identity('app'), region: 'eu-central-1' });

      expect(answer.status).toBe(403);
      expect(answer.body.message).toMatch(/scoped to a valid region/);
    });

    it('answers 404 Not Found, even unsigned, when no route matches', async () => {
      const answer = await call(stack, { method: 'PUT', path: '/connections', as: null });

      expect(answer.status).toBe(404);
      expect(answer.body).toEqual({ message: 'Not Found' });
    });
  });

  describe('stack file', () => {
    it('describes the running stack for scripts, readable by its owner only, when a state directory is given', async () => {
      const path = join(stateDir, 'stack.json');
      const text = await readFile(path, 'utf8');
      const file = JSON.parse(text);

      expect(file).toEqual({
        apiUrl: stack.apiUrl,
        region: 'us-east-1',
        emulatorUrl: stack.emulator?.url,
        emulatorAdmin: { url: stack.emulator?.adminUrl, token: stack.emulator?.adminToken },
        dynamoDbEndpoint: stack.dynamoDbEndpoint,
        dynamoDbAccessKeyId: stack.dynamoDbAccessKeyId,
        identities: stack.identities,
        services: stack.services,
      });
      expect(file.services).toContainEqual({ serviceId: ECHO, name: 'demo-echo', kind: 'tcp', target: expect.stringMatching(/^127\.0\.0\.1:\d+$/) });
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      // The AWS secret key the stubs check is the process's alone: no script needs it.
      expect(text).not.toContain(during.secretAccessKey);
    });
  });

  describe('what the stack keeps to itself', () => {
    const getSecret = async (credentials: { accessKeyId: string; secretAccessKey: string }) => {
      const client = new SecretsManagerClient({ region: stack.region, endpoint: stack.secretsEndpoint, maxAttempts: 1, credentials });
      try {
        return await client.send(new GetSecretValueCommand({ SecretId: LOCAL_SECRET_ID }));
      } finally {
        client.destroy();
      }
    };

    it('serves the remote.it secret only to the AWS credentials the run generated for its handlers', async () => {
      const served = await getSecret(during);
      const unsigned = await fetch(`${stack.secretsEndpoint}/`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'secretsmanager.GetSecretValue' },
        body: JSON.stringify({ SecretId: LOCAL_SECRET_ID }),
      });
      const refused = await Promise.all(
        [
          // What the stack signed with before its credentials were generated per run.
          { accessKeyId: 'LOCALBROKERKEY', secretAccessKey: 'local' },
          { accessKeyId: during.accessKeyId, secretAccessKey: 'local' },
        ].map((credentials) => getSecret(credentials).then(
          () => 'served',
          (error: Error & { $metadata?: { httpStatusCode?: number } }) => `${error.name} ${error.$metadata?.httpStatusCode}`,
        )),
      );

      expect(JSON.parse(served.SecretString ?? '{}')).toEqual({ developerKey: expect.any(String), accessKeyId: expect.any(String), secretAccessKey: expect.any(String) });
      expect([unsigned.status, ((await unsigned.json()) as { __type: string }).__type]).toEqual([403, 'MissingAuthenticationTokenException']);
      expect(refused).toEqual(['UnrecognizedClientException 403', 'InvalidSignatureException 403']);
      expect(during.secretAccessKey).not.toBe(before.secretAccessKey);
      expect(during.secretAccessKey).not.toBe('local');
      expect(during.secretAccessKey.length).toBeGreaterThanOrEqual(40);
    });

    it("keeps the tables in the run's DynamoDB Local namespace: another access key id sees none of them", async () => {
      const as = (accessKeyId: string) => new DynamoDBClient({ endpoint: stack.dynamoDbEndpoint, region: stack.region, credentials: { accessKeyId, secretAccessKey: 'x' } });
      const [own, other] = [as(stack.dynamoDbAccessKeyId), as('LOCALBROKERKEY')];
      try {
        const [ownTables, otherTables] = await Promise.all([own, other].map(async (client) => (await client.send(new ListTablesCommand({}))).TableNames ?? []));

        expect(ownTables).toEqual(expect.arrayContaining(Object.values(stack.tables)));
        expect(otherTables).toEqual(expect.not.arrayContaining([stack.tables.connections]));
        expect(stack.dynamoDbAccessKeyId).toBe(during.accessKeyId);
      } finally {
        own.destroy();
        other.destroy();
      }
    });

    it("opens the emulator's admin API to the token of the stack file only, and shows the account by its label", async () => {
      const file = JSON.parse(await readFile(join(stateDir, 'stack.json'), 'utf8'));
      const opened = await call(stack, { method: 'POST', path: '/connections', body: { serviceId: ECHO }, as: stack.identity('app') });

      const withToken = await fetch(`${file.emulatorAdmin.url}/connections`, { headers: { authorization: `Bearer ${file.emulatorAdmin.token}` } });
      const without = await fetch(`${file.emulatorAdmin.url}/connections`);
      const listed = await withToken.text();

      expect([opened.status, withToken.status, without.status]).toEqual([201, 200, 401]);
      expect(JSON.parse(listed).connections).toContainEqual(expect.objectContaining({ account: 'local-broker', proxyPort: opened.body.proxy.port }));
      expect(await without.text()).not.toContain(file.emulatorAdmin.token);
      const secret = JSON.parse((await getSecret(during)).SecretString ?? '{}') as Record<string, string>;
      for (const value of Object.values(secret)) expect(listed).not.toContain(value);
    });
  });

  // Last: it stops the stack (afterAll's close is idempotent).
  describe('stop', () => {
    it('removes the stack file and closes the API when the stack stops', async () => {
      await stack.stop();

      const port = Number(new URL(stack.apiUrl).port);
      const refused = await new Promise<boolean>((resolve) => {
        const socket = connect({ host: '127.0.0.1', port });
        socket.once('connect', () => {
          socket.destroy();
          resolve(false);
        });
        socket.once('error', () => resolve(true));
      });

      expect(existsSync(join(stateDir, 'stack.json'))).toBe(false);
      expect(refused).toBe(true);
      expect(process.env.CONNECTIONS_TABLE_NAME).toBeUndefined();
    });
  });
});
