/**
 * `REMOTEIT_API_URL` set by the user: the stack starts no emulator and the broker talks to that endpoint
 * (here a separately started emulator standing in for remote.it) with the secret the user gave.
 */
import { randomBytes } from 'node:crypto';
import { startEchoServer, startEmulator, type DemoService, type Emulator } from '../../../dev/emulator';
import { call, startTestStack, type TestStack } from './support';

const SERVICE = '80:00:00:00:00:00:00:01';
const account = {
  developerKey: `EXT-${randomBytes(4).toString('hex')}`,
  accessKeyId: `EXT${randomBytes(4).toString('hex').toUpperCase()}`,
  secretAccessKey: randomBytes(32).toString('base64'),
};

let remote: Emulator;
let echo: DemoService;
let stack: TestStack;

beforeAll(async () => {
  echo = await startEchoServer();
  remote = await startEmulator({ accounts: [account], services: [{ serviceId: SERVICE, name: 'remote-echo', kind: 'tcp', target: echo.target }] });
  stack = await startTestStack({ remoteit: { apiUrl: remote.url, secretJson: JSON.stringify(account) } });
});

afterAll(async () => {
  await stack.close();
  await remote.stop();
  await echo.close();
});

describe('local stack against a remote.it endpoint the user names', () => {
  it('opens the connection at that endpoint with the given secret when REMOTEIT_API_URL is set', async () => {
    const answer = await call(stack, { method: 'POST', path: '/connections', body: { serviceId: SERVICE }, as: stack.identity('app') });

    expect(answer.status).toBe(201);
    expect(stack.emulator).toBeUndefined();
    expect(stack.services).toEqual([]);
    expect(remote.connections().map((proxy) => proxy.connectionId)).toContain(answer.body.remoteConnectionId);
  });
});
