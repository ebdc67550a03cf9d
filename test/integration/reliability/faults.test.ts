/**
 * The fault matrix: each row is one fault injected into a real part (the remote.it emulator, DynamoDB Local
 * behind a fault proxy, the Secrets Manager stub, a sweeper process killed mid-run), one request through the
 * real handlers or one sweep, the answer the API must give, the state the record and the proxy must be left
 * in, and then the invariant (support/invariant.ts) with every fault lifted: nothing live is unrecorded,
 * nothing recorded is left running, no lease outlives one sweep. Every row also runs under the suite-wide
 * log capture, which must never see a secret value.
 *
 * The rows are in faults-*-rows.ts, one file per faulty part; what a row is and how it runs, in faults-support.ts.
 */
import { startDynamoFaults } from '../../../dev/dynamo-faults';
import type { ConnectionStatus } from '../../../lambdas/broker/model';
import { createDynamoConnectionStore } from '../../../lambdas/store/dynamo-store';
import { SERVICES, startBroker, type Broker } from '../support/broker';
import { dynamoEndpoint } from '../support/dynamo';
import { brokerTarget, expectInvariant, scanAll } from '../support/invariant';
import { captureOutput, secretLeaks, type OutputCapture } from '../support/log-capture';
import { CONNECT_ROWS } from './faults-connect-rows';
import { DYNAMO_ROWS } from './faults-dynamo-rows';
import { PROBE_ROWS } from './faults-probe-rows';
import { SECRETS_ROWS } from './faults-secrets-rows';
import { STOP_ROWS } from './faults-stop-rows';
import { SWEEPER_KILLED_ROWS, SWEEPER_ROWS } from './faults-sweeper-rows';
import { CONNECT, DUE_SHARDS, MAX_ATTEMPTS, ROW_TIMEOUT_MS, TIMEOUT_MS, runRow, type Row, type Suite } from './faults-support';

/** In this order: the rows run one after another against one broker (see faults-secrets-rows.ts). */
const ROWS: Row[] = [...CONNECT_ROWS, ...STOP_ROWS, ...PROBE_ROWS, ...SWEEPER_ROWS, ...DYNAMO_ROWS, ...SECRETS_ROWS, ...SWEEPER_KILLED_ROWS];

const suite = {} as Suite;
let output: OutputCapture;

beforeAll(async () => {
  output = captureOutput();
  suite.dynamo = await startDynamoFaults({ upstream: dynamoEndpoint() });
  suite.broker = await startBroker({
    env: {
      AWS_ENDPOINT_URL_DYNAMODB: suite.dynamo.endpoint,
      REMOTEIT_TIMEOUT_MS: String(TIMEOUT_MS),
      SWEEPER_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
      PENDING_GRACE_SECONDS: '1',
      DUE_SHARDS: String(DUE_SHARDS),
      POWERTOOLS_LOG_LEVEL: 'DEBUG',
    },
  });
  suite.store = createDynamoConnectionStore({ client: suite.broker.tables.documentClient, tableName: suite.broker.tables.connections, dueShardCount: DUE_SHARDS });
  suite.seen = new Set();
  suite.secrets = { ...suite.broker.secret, ...suite.broker.login };
  suite.logLines = output.lines;
}, 30_000);

afterAll(async () => {
  await suite.broker?.stop();
  await suite.dynamo?.stop();
  output.restore();
});

describe('fault matrix', () => {
  it('has at least 30 rows', () => {
    expect(ROWS.length).toBeGreaterThanOrEqual(30);
  });

  it.each(ROWS.map((row) => [row.name, row] as const))('%s', async (_name, row) => {
    expect.hasAssertions();
    await runRow(suite, row);
  }, ROW_TIMEOUT_MS);

});

describe('fault matrix with password credentials', () => {
  let broker: Broker;
  const seen = new Set<string>();

  beforeAll(async () => {
    broker = await startBroker({ credentials: 'password', env: { REMOTEIT_TIMEOUT_MS: String(TIMEOUT_MS), POWERTOOLS_LOG_LEVEL: 'DEBUG' } });
  }, 30_000);

  afterAll(async () => {
    broker.emulator.tokens().forEach((token, index) => (suite.secrets[`password broker token ${index}`] = token));
    Object.assign(suite.secrets, { passwordBrokerPassword: broker.login.password, passwordBrokerDeveloperKey: broker.secret.developerKey });
    await broker?.stop();
  });

  it('logs in again once when remote.it expired the token (200, status false), and answers 201', async () => {
    const first = await broker.call({ routeKey: 'POST /connections', body: { serviceId: SERVICES.echo } });
    broker.emulator.tokens().forEach((token, index) => (suite.secrets[`expired token ${index}`] = token));
    broker.emulator.expireTokens();
    broker.emulator.resetCalls();

    const second = await broker.call({ routeKey: 'POST /connections', body: { serviceId: SERVICES.echo } });

    expect([first.status, second.status]).toEqual([201, 201]);
    expect(broker.emulator.calls().records.map((call) => `${call.path} ${call.httpStatus}`)).toEqual([`${CONNECT} 200`, '/user/login 200', `${CONNECT} 200`]);
    await expectInvariant(brokerTarget(broker), { seen });
  }, ROW_TIMEOUT_MS);

  it('answers 503 and records the connection failed when the password is no longer accepted ([0102])', async () => {
    broker.emulator.setAccounts([{ ...broker.secret, username: broker.login.username, password: `${broker.login.password}-changed` }]);
    broker.emulator.resetCalls();

    const answer = await broker.call({ routeKey: 'POST /connections', body: { serviceId: SERVICES.echo } });

    expect(answer.status).toBe(503);
    expect(broker.emulator.calls().byOutcome).toMatchObject({ unauthorized: expect.any(Number) });
    expect(broker.emulator.calls().byPath[CONNECT]).toBe(1);
    const failed = (await scanAll(broker.tables)).filter((record) => record.status === ('failed' satisfies ConnectionStatus));
    expect(failed).toHaveLength(1);
    await expectInvariant(brokerTarget(broker), { seen });
  }, ROW_TIMEOUT_MS);
});

describe('logs of the whole matrix', () => {
  it('carry no secret value in any line: keys, passwords, login tokens, rotated and malformed secrets', () => {
    expect(output.lines.length).toBeGreaterThan(100);
    expect(output.lines.some((line) => line.includes('"level":"ERROR"'))).toBe(true);
    expect(Object.keys(suite.secrets).length).toBeGreaterThan(8);
    expect(secretLeaks(output.lines, suite.secrets)).toEqual([]);
  });
});
