/**
 * The local stack through its gateway: SigV4 as API Gateway's IAM authorization answers it, routing, the
 * identity reaching the real handlers, and the stack file scripts read.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MISMATCH_MESSAGE } from '../../../dev/sigv4';
import { call, ECHO, startTestStack, type TestStack } from './support';

let stack: TestStack;
let stateDir: string;

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'stack-e2e-'));
  stack = await startTestStack({ stateDir });
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
      expect(answer.headers.location).toBe(`/connections/${answer.body.id}`);
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
    it('describes the running stack for scripts when a state directory is given', async () => {
      const file = JSON.parse(await readFile(join(stateDir, 'stack.json'), 'utf8'));

      expect(file).toEqual({
        apiUrl: stack.apiUrl,
        region: 'us-east-1',
        emulatorUrl: stack.emulator?.url,
        dynamoDbEndpoint: stack.dynamoDbEndpoint,
        identities: stack.identities,
        services: stack.services,
      });
      expect(file.services).toContainEqual({ serviceId: ECHO, name: 'demo-echo', kind: 'tcp', target: expect.stringMatching(/^127\.0\.0\.1:\d+$/) });
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
