/**
 * remote.it faults injected into the running stack (through the emulator's API and its admin endpoint, as a
 * user of `npm start` would) give the API statuses docs/openapi.yaml documents: 503 when remote.it fails or
 * throttles, 504 when it does not answer within REMOTEIT_TIMEOUT_MS.
 */
import { call, ECHO, startTestStack, type TestStack } from './support';

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack({ env: { REMOTEIT_TIMEOUT_MS: '800' } });
});

afterAll(async () => {
  await stack.close();
});

afterEach(() => {
  stack.emulator?.setFaults({});
});

const open = () => call(stack, { method: 'POST', path: '/connections', body: { serviceId: ECHO }, as: stack.identity('app') });

async function setFaultsOverHttp(faults: object): Promise<void> {
  const emulator = stack.emulator;
  if (!emulator) throw new Error('the stack runs no emulator');
  const response = await fetch(`${emulator.adminUrl}/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${emulator.adminToken}` },
    body: JSON.stringify(faults),
    signal: AbortSignal.timeout(5_000),
  });
  if (!response.ok) throw new Error(`setting faults failed: HTTP ${response.status}`);
}

describe('local stack under remote.it faults', () => {
  it('answers 503 when remote.it throttles every call', async () => {
    stack.emulator?.setFaults({ throttle: { retryAfterSeconds: 0 } });

    const answer = await open();

    expect(answer.status).toBe(503);
    expect(answer.headers['content-type']).toBe('application/problem+json');
    expect(answer.body).toMatchObject({ status: 503, title: 'remote.it unavailable' });
  });

  it('answers 503 when remote.it fails with HTTP 500, set over the admin endpoint at run time', async () => {
    await setFaultsOverHttp({ errorRate: 1 });

    const answer = await open();

    expect(answer.status).toBe(503);
  });

  it('answers 504 when remote.it does not answer within the timeout', async () => {
    stack.emulator?.setFaults({ hang: true, onlyPaths: ['/device/connect'] });

    const answer = await open();

    expect(answer.status).toBe(504);
    expect(answer.body).toMatchObject({ status: 504, title: 'remote.it timed out' });
  });

  it('opens connections again when the faults are lifted at run time', async () => {
    await setFaultsOverHttp({ errorRate: 1 });
    const during = await open();

    await setFaultsOverHttp({});
    const after = await open();

    expect([during.status, after.status]).toEqual([503, 201]);
  });
});
