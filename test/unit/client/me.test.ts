/**
 * GET /me in the client and the CLI: `me()` against a scripted, SigV4-checking server, `rbroker whoami` and
 * `rbroker services` (arguments, human and --json output, exit codes); test/unit/client/contract.test.ts holds
 * the client's `Caller` type to the API's schema. The CLI end to end against the local stack is in test/integration/client/cli.test.ts.
 */
import { parseCommandLine } from '../../../client/cli/args';
import { EXIT } from '../../../client/cli/exit-codes';
import { formatCaller, formatRuleTable } from '../../../client/cli/format';
import { BrokerClient, UnexpectedResponseError } from '../../../client/index';
import type { Caller } from '../../../client/types';
import { KEY, problem, REGION, runCli, startScriptedServer, usage, type Reply, type ScriptedServer } from './support';


const FAST_RETRY = { maxAttempts: 4, baseDelayMs: 5, maxDelayMs: 20, totalTimeMs: 10_000 };

const me: Caller = {
  principal: 'arn:aws:iam::000000000000:role/local-app',
  arn: 'arn:aws:sts::000000000000:assumed-role/local-app/local',
  admin: false,
  rules: [
    { services: ['80:00:00:00:00:00:00:*'], modes: ['latching', 'ip'], maxTtlSeconds: 3600, maxActive: 10, opensPerMinute: 60 },
    { services: ['80:00:00:00:00:00:00:02'], modes: ['public'], maxTtlSeconds: 5400, maxActive: 2, opensPerMinute: 5, maxLifetimeSeconds: 14_400, clientCidrs: ['203.0.113.0/24'] },
  ],
  live: 3,
};

let server: ScriptedServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function serve(script: (index: number) => Reply) {
  server = await startScriptedServer(script);
  return server;
}
const received = () => server?.received ?? [];
const busy: Reply = { status: 503, body: problem('store_unavailable', 503, 'Service busy', 'busy'), headers: { 'retry-after': '0' } };

/** Runs the CLI against the scripted server with its key; what it wrote and its exit code. */
async function cli(argv: string[]) {
  const saved = { ...process.env };
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: KEY.accessKeyId, AWS_SECRET_ACCESS_KEY: KEY.secretAccessKey, AWS_REGION: REGION });
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
  try {
    return await runCli([...argv, '--endpoint', server?.url ?? '']);
  } finally {
    process.env = saved;
  }
}

describe('BrokerClient.me', () => {
  it('asks with a signed GET /me and answers the caller, repeating a 503', async () => {
    await serve((index) => (index === 0 ? busy : { status: 200, body: me }));
    const client = new BrokerClient({ endpoint: server?.url ?? '', region: REGION, credentials: KEY, retry: FAST_RETRY });

    await expect(client.me()).resolves.toEqual(me);

    expect(received().map((request) => [request.method, request.path, request.signed])).toEqual([
      ['GET', '/me', true],
      ['GET', '/me', true],
    ]);
  });

  it('refuses an answer without rules as unexpected', async () => {
    await serve(() => ({ status: 200, body: { principal: me.principal } }));
    const client = new BrokerClient({ endpoint: server?.url ?? '', region: REGION, credentials: KEY, retry: FAST_RETRY });

    await expect(client.me()).rejects.toBeInstanceOf(UnexpectedResponseError);
  });
});

describe('rbroker whoami and services', () => {
  it('parses both, taking only the global options', () => {
    expect(parseCommandLine(['whoami', '--json'])).toMatchObject({ command: { name: 'whoami' }, options: { json: true } });
    expect(parseCommandLine(['services', '--as', 'admin'])).toMatchObject({ command: { name: 'services' }, options: { as: 'admin' } });
  });

  it.each([
    [['whoami', 'extra'], "unexpected argument 'extra' for whoami"],
    [['services', '80:00:00:00:00:00:00:01'], "unexpected argument '80:00:00:00:00:00:00:01' for services"],
    [['whoami', '--ttl', '1h'], '--ttl does not apply to whoami'],
    [['services', '--service', 'x'], '--service does not apply to services'],
  ])('refuses %j naming the argument', (argv, message) => {
    expect(usage(argv)).toBe(message);
  });

  it('exits 2 on a bad argument, with the error as JSON on stderr and nothing on stdout under --json', async () => {
    await serve(() => ({ status: 200, body: me }));

    const result = await cli(['services', '--json', '--limit', '3']);

    expect(result.code).toBe(EXIT.usage);
    expect(result.stdout).toBe('');
    expect(JSON.parse(result.stderr)).toEqual({ error: { code: 'usage', message: '--limit does not apply to services' } });
    expect(received()).toHaveLength(0);
  });

  it('whoami prints the role, the full ARN, admin, the live count and the number of rules', async () => {
    await serve(() => ({ status: 200, body: me }));

    const result = await cli(['whoami']);

    expect(result.code).toBe(EXIT.ok);
    expect(result.stdout).toBe(`${formatCaller(me)}\n`);
    expect(result.stdout).toMatch(/^principal {2}arn:aws:iam::000000000000:role\/local-app$/m);
    expect(result.stdout).toMatch(/^arn {8}arn:aws:sts::000000000000:assumed-role\/local-app\/local$/m);
    expect(result.stdout).toMatch(/^admin {6}no$/m);
    expect(result.stdout).toMatch(/^live {7}3 connection\(s\)$/m);
    expect(result.stdout).toMatch(/^rules {6}2 \(rbroker services\)$/m);
  });

  it('whoami --json prints the API\'s answer and nothing else', async () => {
    await serve(() => ({ status: 200, body: { ...me, admin: true } }));

    const result = await cli(['whoami', '--json']);

    expect(result.code).toBe(EXIT.ok);
    expect(JSON.parse(result.stdout)).toEqual({ ...me, admin: true });
    expect(result.stderr).toBe('');
  });

  it('services prints the rules as a table: services, modes, max TTL, max lifetime, max active, opens per minute, ip-mode addresses', async () => {
    await serve(() => ({ status: 200, body: me }));

    const result = await cli(['services']);

    expect(result.code).toBe(EXIT.ok);
    expect(result.stdout.split('\n')).toEqual([
      'SERVICES                 MODES         MAX TTL  MAX LIFETIME        MAX ACTIVE  OPENS/MIN  IP MODE TO',
      "80:00:00:00:00:00:00:*   latching, ip  1h       remote.it's expiry  10          60         any",
      '80:00:00:00:00:00:00:02  public        1h 30m   4h                  2           5          203.0.113.0/24',
      '',
    ]);
    expect(formatRuleTable(me.rules)).toBe(result.stdout.trimEnd());
  });

  it('services --json prints the rules array; with none, an empty array (human: says so)', async () => {
    await serve((index) => ({ status: 200, body: index === 0 ? me : { ...me, rules: [] } }));

    const json = await cli(['services', '--json']);
    const none = await cli(['services']);

    expect(JSON.parse(json.stdout)).toEqual(me.rules);
    expect(none.stdout).toBe('No policy rule names you: you may open nothing.\n');
    expect(none.code).toBe(EXIT.ok);
  });

  it('exits 3 with the problem on stderr when the gateway refuses the signature', async () => {
    await serve(() => ({ status: 403, body: { message: 'Forbidden' } }));

    const result = await cli(['whoami', '--json']);

    expect(result.code).toBe(EXIT.denied);
    expect(result.stdout).toBe('');
    expect(JSON.parse(result.stderr).error).toMatchObject({ status: 403 });
  });
});
