/**
 * The lock side of the client and the CLI: placeLock / listLocks / liftLock against a scripted, SigV4-checking
 * server, `rbroker lock|locks|unlock` argument rules, and the lock's human output. The CLI end to end against
 * the local stack is in test/integration/client/cli.test.ts.
 */
import { parseCommandLine, UsageError } from '../../../client/cli/args';
import { EXIT, exitCodeOf } from '../../../client/cli/exit-codes';
import { formatLock, formatLockTable, lockScope } from '../../../client/cli/format';
import { BrokerApiError, BrokerClient } from '../../../client/index';
import type { Lock } from '../../../client/types';
import { KEY, problem, REGION, startScriptedServer, usage, type Reply, type ScriptedServer } from './support';

const FAST_RETRY = { maxAttempts: 4, baseDelayMs: 5, maxDelayMs: 20, totalTimeMs: 10_000 };
const LOCK_ID = '01JDTESTLQCK00000000000001';

const lockView = (overrides: Partial<Lock> = {}): Lock => ({
  id: LOCK_ID,
  principal: 'arn:aws:iam::000000000000:role/local-app',
  reason: 'incident 3',
  createdAt: '2026-11-26T14:00:00.000Z',
  createdBy: 'arn:aws:sts::000000000000:assumed-role/local-admin/local',
  ...overrides,
});

let server: ScriptedServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function clientFor(script: (index: number) => Reply) {
  server = await startScriptedServer(script);
  return new BrokerClient({ endpoint: server.url, region: REGION, credentials: KEY, retry: FAST_RETRY });
}
const received = () => server?.received ?? [];
const busy: Reply = { status: 503, body: problem('store_unavailable', 503, 'Service busy', 'busy'), headers: { 'retry-after': '0' } };

describe('BrokerClient locks', () => {
  it('places a lock with a signed POST /locks and answers the lock with its enforcement', async () => {
    const placed = { ...lockView(), enforcement: { stopped: 2, remaining: 0 } };
    const client = await clientFor(() => ({ status: 201, body: placed }));

    await expect(client.placeLock({ principal: 'arn:aws:iam::000000000000:role/local-app', reason: 'incident 3', ttlSeconds: 600 })).resolves.toEqual(placed);

    expect(received()).toEqual([
      expect.objectContaining({
        method: 'POST',
        path: '/locks',
        signed: true,
        body: JSON.stringify({ principal: 'arn:aws:iam::000000000000:role/local-app', reason: 'incident 3', ttlSeconds: 600 }),
      }),
    ]);
  });

  it('never repeats POST /locks, even on a 503 that would repeat any other call: a repeat could place a second lock', async () => {
    const client = await clientFor(() => busy);

    const error = await client.placeLock({ serviceId: '*', reason: 'x' }).catch((thrown: unknown) => thrown);

    expect(error).toBeInstanceOf(BrokerApiError);
    expect((error as BrokerApiError).status).toBe(503);
    expect(received()).toHaveLength(1);
  });

  it('lists the live locks with GET /locks, repeating a 503', async () => {
    const client = await clientFor((index) => (index === 0 ? busy : { status: 200, body: { items: [lockView()] } }));

    await expect(client.listLocks()).resolves.toEqual([lockView()]);

    expect(received().map((request) => [request.method, request.path, request.signed])).toEqual([
      ['GET', '/locks', true],
      ['GET', '/locks', true],
    ]);
  });

  it('lifts a lock with DELETE /locks/{id}, the id path-encoded, and surfaces a 404 as lock_not_found', async () => {
    const client = await clientFor((index) =>
      index === 0 ? { status: 200, body: lockView({ liftedAt: '2026-11-26T15:00:00.000Z' }) } : { status: 404, body: problem('lock_not_found', 404, 'Lock not found', 'gone') },
    );

    await expect(client.liftLock(LOCK_ID)).resolves.toMatchObject({ liftedAt: '2026-11-26T15:00:00.000Z' });
    const error = (await client.liftLock('a/b').catch((thrown: unknown) => thrown)) as BrokerApiError;

    expect(received().map((request) => `${request.method} ${request.path}`)).toEqual([`DELETE /locks/${LOCK_ID}`, 'DELETE /locks/a%2Fb']);
    expect([error.code, exitCodeOf(error)]).toEqual(['lock_not_found', EXIT.notFound]);
  });
});

describe('rbroker lock, locks, unlock arguments', () => {

  it('reads lock with a principal, a service, a reason and a ttl', () => {
    expect(parseCommandLine(['lock', '--principal', 'arn:aws:iam::1:role/x', '--service', '80:*', '--reason', 'why', '--ttl', '2h', '--as', 'admin'])).toEqual({
      help: false,
      options: { endpoint: undefined, stackFile: undefined, as: 'admin', json: false },
      command: { name: 'lock', principal: 'arn:aws:iam::1:role/x', serviceId: '80:*', reason: 'why', ttlSeconds: 7200 },
    });
    expect(parseCommandLine(['lock', '--service', '*', '--reason', 'why'])).toMatchObject({ command: { principal: undefined, ttlSeconds: undefined } });
  });

  it('reads locks and unlock', () => {
    expect(parseCommandLine(['locks', '--json'])).toMatchObject({ command: { name: 'locks' }, options: { json: true } });
    expect(parseCommandLine(['unlock', LOCK_ID])).toMatchObject({ command: { name: 'unlock', id: LOCK_ID } });
  });

  it.each([
    [['lock', '--reason', 'why'], 'lock needs --principal GLOB or --service GLOB'],
    [['lock', '--principal', 'p'], 'lock needs --reason TEXT'],
    [['lock', '--principal', 'p', '--reason', '  '], 'lock needs --reason TEXT'],
    [['lock', '--principal', 'p', '--reason', 'r', '--ttl', 'soon'], '--ttl must be a duration'],
    [['lock', 'extra', '--principal', 'p', '--reason', 'r'], "unexpected argument 'extra' for lock"],
    [['locks', '--reason', 'r'], '--reason does not apply to locks'],
    [['unlock'], 'unlock needs <id>'],
    [['connect', '80:00:00:00:00:00:00:01', '--principal', 'p'], '--principal does not apply to connect'],
  ])('refuses %j with a usage error (exit 2)', (argv, message) => {
    expect(usage(argv)).toContain(message);
    expect(exitCodeOf(new UsageError(message))).toBe(EXIT.usage);
  });
});

describe('lock output', () => {
  const now = Date.parse('2026-11-26T14:30:00.000Z');

  it('shows a lock as labelled lines, "never" when it has no expiry, and who lifted it', () => {
    const text = formatLock(lockView({ liftedAt: '2026-11-26T14:20:00.000Z', liftedBy: 'arn:aws:sts::0:assumed-role/local-admin/bob' }), now);

    expect(text.split('\n')).toEqual([
      `id         ${LOCK_ID}`,
      'principal  arn:aws:iam::000000000000:role/local-app',
      'service    * (any)',
      'reason     incident 3',
      'created    2026-11-26T14:00:00.000Z (30m ago) by arn:aws:sts::000000000000:assumed-role/local-admin/local',
      'lapses     never (until unlocked)',
      'lifted     2026-11-26T14:20:00.000Z by arn:aws:sts::0:assumed-role/local-admin/bob',
    ]);
  });

  it('shows locks as a table and says what a lock covers', () => {
    const table = formatLockTable([lockView({ expiresAt: '2026-11-26T15:30:00.000Z' }), lockView({ id: 'B', principal: undefined, serviceId: '80:*', reason: 'r' })], now);

    expect(table.split('\n')).toEqual([
      'ID                          PRINCIPAL                                 SERVICE  LAPSES  CREATED  REASON',
      `${LOCK_ID}  arn:aws:iam::000000000000:role/local-app  *        in 1h   30m ago  incident 3`,
      'B                           *                                         80:*     never   30m ago  r',
    ]);
    expect(lockScope({ serviceId: '80:*' })).toBe('any principal on services 80:*');
  });
});
