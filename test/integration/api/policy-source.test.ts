/**
 * Deny by default survives every failure of the policy source: the real handlers read the policy from the
 * AppConfig stub (dev/appconfig-stub.ts) through Powertools and the real AppConfig Data client, and each fault
 * row leaves them on the last good policy or, with none, refusing (403 `policy_denied`), never a 5xx and never
 * more than a valid policy allows.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_SESSION_ARN, OTHER_SESSION_ARN } from '../../fixtures/api-events';
import { ROLES, SERVICES, startBroker, TEST_POLICY, type ApiAnswer, type Broker } from '../support/broker';
import { sleep } from '../support/wait';

const DENIED = 'urn:remoteit-broker:problem:policy_denied';
/** Past the handlers' POLICY_MAX_AGE_SECONDS (1 s in startBroker): the next request loads the policy again. */
const pastMaxAge = () => sleep(1100);

const openEcho = (broker: Broker, callerArn?: string) =>
  broker.call({ routeKey: 'POST /connections', body: { serviceId: SERVICES.echo, ttlSeconds: 120 }, ...(callerArn && { callerArn }) });
const list = (broker: Broker, callerArn?: string) => broker.call({ routeKey: 'GET /connections', ...(callerArn && { callerArn }) });

function expectUnavailable(answer: ApiAnswer): void {
  expect(answer.status).toBe(403);
  expect(answer.body).toMatchObject({ type: DENIED, detail: expect.stringMatching(/no valid policy loaded/) });
}

/** Until `check` passes (retried while it throws), at most `ms`. */
async function within<T>(ms: number, attempt: () => Promise<T>, check: (value: T) => void): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await attempt();
    try {
      check(value);
      return value;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(200);
    }
  }
}

describe('policy source faults', () => {
  let broker: Broker | undefined;
  afterEach(async () => {
    await broker?.stop();
    broker = undefined;
  });

  it('AppConfig unreachable before any load: opens and renews are refused 403, reads still answer owners', async () => {
    broker = await startBroker();
    broker.policy.setFaults({ unreachable: true });
    expectUnavailable(await openEcho(broker));
    const renew = await broker.call({ routeKey: 'POST /connections/{id}/renew', pathParameters: { id: '01J00000000000000000000000' }, body: { ttlSeconds: 120 } });
    expectUnavailable(renew);
    // Nobody is an admin without a policy: the admin sees only its own (none).
    expect(await list(broker, ADMIN_SESSION_ARN)).toMatchObject({ status: 200, body: { items: [] } });
    expect(broker.policy.calls().StartConfigurationSession).toBeGreaterThan(0);

    // AppConfig back: within the max age the policy loads and the same request is allowed.
    broker.policy.setFaults({});
    await pastMaxAge();
    expect((await openEcho(broker)).status).toBe(201);
  });

  it('AppConfig answering 500 before any load: refused 403, never 5xx', async () => {
    broker = await startBroker();
    broker.policy.setFaults({ serverError: true });
    expectUnavailable(await openEcho(broker));
  });

  it('loaded, then unreachable: the last good policy still applies (allows what it allowed, refuses what it refused)', async () => {
    broker = await startBroker();
    expect((await openEcho(broker)).status).toBe(201);
    // Each function loads its own policy: the read function's first load too.
    expect((await list(broker, ADMIN_SESSION_ARN)).body.items).toHaveLength(1);
    broker.policy.setFaults({ unreachable: true });
    await pastMaxAge();
    expect((await openEcho(broker)).status).toBe(201);
    const restricted = await broker.call({ routeKey: 'POST /connections', body: { serviceId: SERVICES.restricted } });
    expect(restricted).toMatchObject({ status: 403, body: { type: DENIED, detail: expect.stringMatching(/does not allow connections/) } });
    // The admin is still an admin under the last good policy: it sees the app's connections.
    expect((await list(broker, ADMIN_SESSION_ARN)).body.items.length).toBeGreaterThanOrEqual(2);
  });

  it('an invalid configuration keeps the last good policy', async () => {
    broker = await startBroker();
    expect((await openEcho(broker)).status).toBe(201);
    // A policy that would let everyone open anything, but not a valid one (an unknown mode): never applied.
    broker.policy.setFaults({ unvalidated: JSON.stringify({ rules: [{ principals: ['*'], services: ['*'], modes: ['teleport'] }] }) });
    await pastMaxAge();
    const otherRestricted = await broker.call({ routeKey: 'POST /connections', body: { serviceId: SERVICES.restricted }, callerArn: OTHER_SESSION_ARN });
    expect(otherRestricted.status).toBe(201);
    const appRestricted = await broker.call({ routeKey: 'POST /connections', body: { serviceId: SERVICES.restricted } });
    expect(appRestricted).toMatchObject({ status: 403, body: { type: DENIED } });
    // Not JSON at all: the same.
    broker.policy.setFaults({ unvalidated: '{"rules": [' });
    await pastMaxAge();
    expect((await openEcho(broker)).status).toBe(201);
  });

  it('an invalid configuration with no good one before: refused 403', async () => {
    broker = await startBroker({ policy: null });
    broker.policy.setFaults({ unvalidated: JSON.stringify({ rules: [{ principals: ['*'], services: ['*'], modes: ['teleport'] }] }) });
    expectUnavailable(await openEcho(broker, OTHER_SESSION_ARN));
  });

  it('an empty configuration: refused 403 (and an empty one after a good one keeps the good one)', async () => {
    broker = await startBroker();
    broker.policy.setFaults({ empty: true });
    expectUnavailable(await openEcho(broker));

    broker.policy.setFaults({});
    await pastMaxAge();
    expect((await openEcho(broker)).status).toBe(201);
    broker.policy.setFaults({ empty: true });
    await pastMaxAge();
    expect((await openEcho(broker)).status).toBe(201);
  });

  it('nothing deployed at all: refused 403', async () => {
    broker = await startBroker({ policy: null });
    expectUnavailable(await openEcho(broker));
  });

  it('a failing AppConfig is asked again only after the max age, not on every request', async () => {
    broker = await startBroker();
    broker.policy.setFaults({ unreachable: true });
    broker.policy.resetCalls();
    for (let index = 0; index < 5; index += 1) expectUnavailable(await openEcho(broker));
    // One attempt (the SDK's two tries at most) for five requests.
    expect(broker.policy.calls().StartConfigurationSession).toBeLessThanOrEqual(2);
  });
});

describe('policy file served through the AppConfig stub', () => {
  let dir: string;
  let broker: Broker | undefined;
  afterEach(async () => {
    await broker?.stop();
    broker = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('an edit takes effect within 5 s; an invalid edit is refused with one console line and the last good stays', async () => {
    dir = await mkdtemp(join(tmpdir(), 'policy-file-'));
    const file = join(dir, 'policy.json');
    const withoutApp = { ...TEST_POLICY, rules: TEST_POLICY.rules.filter((rule) => !rule.principals.includes(ROLES.app)) };
    await writeFile(file, JSON.stringify(withoutApp));
    const lines: string[] = [];
    broker = await startBroker({ policyFile: file, onPolicyLog: (line) => lines.push(line) });
    expect((await openEcho(broker)).status).toBe(403);

    await writeFile(file, JSON.stringify(TEST_POLICY));
    const started = Date.now();
    await within(5000, () => openEcho(broker as Broker), (answer) => expect(answer.status).toBe(201));
    expect(Date.now() - started).toBeLessThan(5000);
    expect(lines).toEqual([`policy ${file} deployed as version 1`, `policy ${file} deployed as version 2`]);

    await writeFile(file, JSON.stringify({ rules: [{ principals: ['*'], services: ['*'], maxActive: 0 }] }));
    await within(5000, async () => lines.length, (count) => expect(count).toBe(3));
    expect(lines[2]).toMatch(new RegExp(`^policy ${file} refused: rules\\.0\\.maxActive: .+; version 2 stays in force$`));
    await pastMaxAge();
    expect((await openEcho(broker)).status).toBe(201);
    expect((await broker.call({ routeKey: 'POST /connections', body: { serviceId: SERVICES.restricted } })).status).toBe(403);
  });
});
