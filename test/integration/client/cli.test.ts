/**
 * `rbroker` as users run it: a real child process (client/bin/rbroker.cjs) against the local stack started
 * here, found through the stack file it writes, so exit codes, output streams and signals are real.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BrokerClient } from '../../../client/index';
import type { Connection } from '../../../client/types';
import { ECHO, startTestStack, type TestStack } from '../e2e/support';
import { LAUNCHER, startRbroker as spawnRbroker, type Run, type Started } from './run-cli';

const OFFLINE = '80:00:00:00:00:00:00:03';
const ADMIN_ONLY = '80:00:00:00:00:00:01:01';
const UNKNOWN_ID = '01ARZ3NDEKTSV4RRFFQ69G5FAV';
const RUN_TIMEOUT_MS = 20_000;

let stack: TestStack;
let stateDir: string;
let client: BrokerClient;

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'rbroker-cli-'));
  stack = await startTestStack({ stateDir });
  client = new BrokerClient({ endpoint: stack.apiUrl, region: stack.region, credentials: stack.identity('admin') });
});

afterEach(() => {
  stack.emulator?.setFaults({});
});

afterAll(async () => {
  await stack.close();
  await rm(stateDir, { recursive: true, force: true });
});

function startRbroker(args: string[], env: Record<string, string> = {}): Started {
  return spawnRbroker(args, { stackFile: join(stateDir, 'stack.json'), env, timeoutMs: RUN_TIMEOUT_MS });
}

const rbroker = (args: string[], env?: Record<string, string>) => startRbroker(args, env).result;

const idIn = (text: string) => {
  const id = /^id\s+([0-9A-Z]{26})$/m.exec(text)?.[1];
  if (!id) throw new Error(`no connection id in:\n${text}`);
  return id;
};

/** The write-ahead record of an open in flight (polled as admin, bounded to 10 s). */
async function firstPendingConnection(): Promise<Connection> {
  for (let poll = 0; poll < 200; poll += 1) {
    const page = await client.listPage({ status: 'pending', limit: 1 });
    if (page.items[0]) return page.items[0];
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('no pending connection appeared within 10 s');
}

const json = <T = Connection>(run: Run): T => JSON.parse(run.stdout) as T;

describe('rbroker', () => {
  it('connects, lists, gets, renews and stops with readable output', async () => {
    const connected = await rbroker(['connect', ECHO, '--ttl', '10m']);
    expect(connected).toMatchObject({ code: 0, stdout: expect.stringMatching(/^proxy\s+127\.0\.0\.1:\d+ {2}\(tcp:\/\/127\.0\.0\.1:\d+\)$/m) });
    const id = idIn(connected.stdout);

    const [listed, got, renewed] = await Promise.all([rbroker(['ls']), rbroker(['get', id]), rbroker(['renew', id, '--ttl', '20m'])]);
    const stopped = await rbroker(['stop', id]);

    expect(listed.code).toBe(0);
    expect(listed.stdout.split('\n')[0]).toMatch(/^ID\s+SERVICE\s+STATUS\s+MODE\s+PROXY\s+LEASE\s+CREATED$/);
    expect(listed.stdout).toMatch(new RegExp(`^${id}\\s+${ECHO}\\s+active\\s+latching\\s+127\\.0\\.0\\.1:\\d+\\s+ends in`, 'm'));
    expect(got).toMatchObject({ code: 0, stdout: expect.stringMatching(/^status\s+active$/m) });
    expect(renewed).toMatchObject({ code: 0, stdout: expect.stringMatching(/^lease ends\s+\S+ \(in (19m|20m)/m) });
    expect(stopped).toMatchObject({ code: 0, stdout: expect.stringMatching(/^status\s+stopped$/m) });
    expect(connected.stderr).toContain(`rbroker stop ${id}`);
  });

  it('prints JSON a script can parse, and nothing else on stdout, with --json', async () => {
    const connected = await rbroker(['connect', ECHO, '--json', '--ttl', '5m']);
    const opened = json(connected);

    const [listed, got, renewed] = await Promise.all([
      rbroker(['ls', '--json', '--status', 'active']),
      rbroker(['get', opened.id, '--json']),
      rbroker(['renew', opened.id, '--ttl', '900s', '--json']),
    ]);
    const stopped = await rbroker(['stop', opened.id, '--json']);

    expect(opened).toMatchObject({ serviceId: ECHO, status: 'active', proxy: { kind: 'port' } });
    expect(json<Connection[]>(listed).map((connection) => connection.id)).toContain(opened.id);
    expect(json<Connection[]>(listed).every((connection) => connection.status === 'active')).toBe(true);
    // get ran beside renew: everything but the lease is as opened.
    expect({ ...json(got), leaseExpiresAt: opened.leaseExpiresAt }).toEqual(opened);
    expect(Math.abs(Date.parse(json(renewed).leaseExpiresAt) - (Date.now() + 900_000))).toBeLessThan(30_000);
    expect(json(stopped)).toMatchObject({ id: opened.id, status: 'stopped' });
    expect([connected, listed, got, renewed, stopped].map((run) => [run.code, run.stderr])).toEqual(Array(5).fill([0, '']));
  });

  describe('connect --exec', () => {
    it('runs the command with the proxy address and stops the connection when the command succeeds', async () => {
      const talk = `node -e 'const s=require("net").connect(+process.argv[1],"127.0.0.1",()=>s.write("ping\\n"));s.on("data",(d)=>{process.stdout.write("got "+d);s.end()})' {port}`;

      const run = await rbroker(['connect', ECHO, '--exec', `echo id={id} url={url} env=$RBROKER_PORT; ${talk}`]);

      const id = /^id=(\S+) url=tcp:\/\/127\.0\.0\.1:(\d+) env=(\d+)$/m.exec(run.stdout);
      expect(run).toMatchObject({ code: 0, stdout: expect.stringContaining('got ping') });
      expect(id?.[2]).toBe(id?.[3]);
      expect(await client.get(id?.[1] ?? '')).toMatchObject({ status: 'stopped', stopReason: 'requested' });
    });

    it('exits with the command\'s code and stops the connection when the command fails', async () => {
      const run = await rbroker(['connect', ECHO, '--exec', 'echo id={id}; exit 3']);

      const id = /^id=(\S+)$/m.exec(run.stdout)?.[1] ?? '';
      expect(run.code).toBe(3);
      expect(await client.get(id)).toMatchObject({ status: 'stopped' });
    });

    it('stops the connection and exits 130 when interrupted while the command runs', async () => {
      const started = startRbroker(['connect', ECHO, '--exec', 'echo id={id}; exec node -e "setTimeout(() => {}, 20000)"']);
      const [, id = ''] = await started.waitForOutput(/^id=(\S+)$/m);

      started.child.kill('SIGINT');
      const run = await started.result;

      expect(run.code).toBe(130);
      expect(await client.get(id)).toMatchObject({ status: 'stopped' });
    });
    it('stops the connection being opened, without running the command, when interrupted during the open', async () => {
      stack.emulator?.setFaults({ latencyMs: 1_500, onlyPaths: ['/device/connect'] });
      const started = startRbroker(['connect', ECHO, '--exec', 'echo the command ran']);
      const pending = await firstPendingConnection();

      started.child.kill('SIGINT');
      const run = await started.result;

      expect(run).toMatchObject({ code: 130, stdout: '', stderr: expect.stringContaining('the connection is being opened') });
      expect(await client.get(pending.id)).toMatchObject({ status: 'stopped', stopReason: 'requested' });
    });

    it('kills a command that ignores the first signal when a second comes a second later, and still stops the connection', async () => {
      const ignoring = `exec node -e "process.on('SIGTERM', () => {}); console.log('id=' + process.env.RBROKER_CONNECTION_ID); setTimeout(() => {}, 20000)"`;
      const started = startRbroker(['connect', ECHO, '--exec', ignoring]);
      const [, id = ''] = await started.waitForOutput(/^id=(\S+)$/m);

      started.child.kill('SIGTERM');
      await new Promise((resolve) => setTimeout(resolve, 1_300));
      expect(started.child.exitCode).toBeNull();
      const second = Date.now();
      started.child.kill('SIGTERM');
      const run = await started.result;

      expect(run.code).toBe(143);
      // Killed by the second signal, not by the grace period's end (10 s after the first).
      expect(Date.now() - second).toBeLessThan(5_000);
      expect(await client.get(id)).toMatchObject({ status: 'stopped', stopReason: 'requested' });
    });

    it('leaves at once, saying the connection being opened is not stopped, on a second signal during the open', async () => {
      stack.emulator?.setFaults({ latencyMs: 3_000, onlyPaths: ['/device/connect'] });
      const started = startRbroker(['connect', ECHO, '--exec', 'echo the command ran']);
      const pending = await firstPendingConnection();

      started.child.kill('SIGINT');
      await new Promise((resolve) => setTimeout(resolve, 1_300));
      started.child.kill('SIGINT');
      const run = await started.result;

      expect(run).toMatchObject({ code: 130, stdout: '', stderr: expect.stringContaining('leaving without stopping: the connection being opened stays open until its lease ends') });
      // Left as said: the open completes without rbroker, and the connection is still there to stop.
      let left = await client.get(pending.id);
      for (let poll = 0; poll < 100 && left.status === 'pending'; poll += 1) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        left = await client.get(pending.id);
      }
      expect(left.status).toBe('active');
      await client.stop(pending.id);
    });
  });

  describe('exit codes', () => {
    it('answers bad arguments with a usage error and exit code 2', async () => {
      const runs = await Promise.all([
        rbroker(['connect']),
        rbroker(['ls', '--limit', 'zero']),
        rbroker(['renew', UNKNOWN_ID, '--ttl', 'soon']),
        rbroker(['teleport']),
        rbroker(['connect', 'not-a-service']),
      ]);

      expect(runs.map((run) => [run.code, run.stdout])).toEqual(Array(5).fill([2, '']));
      expect(runs[0]?.stderr).toContain('connect needs <serviceId>');
      expect(runs[2]?.stderr).toContain("--ttl must be a duration such as 15m, 900s, 1h or 900 (seconds), got 'soon'");
      expect(runs[3]?.stderr).toContain('Run rbroker --help for usage.');
      expect(runs[4]?.stderr).toMatch(/Invalid request \(400\)\n {2}serviceId: must be a remote\.it service address/);
    });

    it('tells policy denials (3), unknown ids (4) and remote.it refusals (5) apart', async () => {
      const [denied, asAdmin, unknown, refused] = await Promise.all([
        rbroker(['connect', ADMIN_ONLY]),
        rbroker(['connect', ADMIN_ONLY, '--as', 'admin', '--json']),
        rbroker(['get', UNKNOWN_ID]),
        rbroker(['connect', OFFLINE, '--json']),
      ]);

      expect(denied).toMatchObject({ code: 3, stderr: expect.stringContaining('Denied by policy (403)') });
      expect(asAdmin.code).toBe(0);
      expect(unknown).toMatchObject({ code: 4, stderr: expect.stringContaining('Connection not found (404)') });
      expect(refused.code).toBe(5);
      expect(JSON.parse(refused.stderr)).toEqual({
        error: expect.objectContaining({ status: 502, code: 'upstream_refused', detail: expect.stringContaining('device is offline'), requestId: expect.any(String) }),
      });
      await client.stop(json(asAdmin).id);
    });

    it('says the local stack is not running when its file is missing', async () => {
      const missing = { RBROKER_STACK_FILE: join(stateDir, 'absent.json') };

      const [named, unnamed] = await Promise.all([rbroker(['ls', '--endpoint', 'local'], missing), rbroker(['ls'], missing)]);

      expect(named).toMatchObject({ code: 1, stderr: expect.stringContaining('the local stack is not running') });
      expect(unnamed).toMatchObject({ code: 2, stderr: expect.stringContaining('no endpoint: pass --endpoint <url>') });
    });
  });

  describe('lock, locks, unlock', () => {
    const APP_ROLE = 'arn:aws:iam::000000000000:role/local-app';

    it('locks the app role (stopping its connection at once), refuses its opens with exit 3, lists the lock, and unlocks it', async () => {
      const opened = json(await rbroker(['connect', ECHO, '--json']));

      const locked = await rbroker(['lock', '--principal', APP_ROLE, '--reason', 'cli test: app key leaked', '--ttl', '1h', '--as', 'admin', '--json']);
      expect(locked.code).toBe(0);
      const lock = json<{ id: string; principal: string; enforcement: { stopped: number } }>(locked);
      expect(lock).toMatchObject({ principal: APP_ROLE, enforcement: { stopped: 1, remaining: 0 } });
      expect((await client.get(opened.id)).status).toBe('stopped');

      const [refused, listed, listedByApp] = await Promise.all([
        rbroker(['connect', ECHO]),
        rbroker(['locks', '--as', 'admin']),
        rbroker(['locks']),
      ]);
      expect(refused).toMatchObject({ code: 3, stderr: expect.stringContaining('Locked by an operator (403)') });
      expect(refused.stderr).toContain('cli test: app key leaked');
      expect(listed.code).toBe(0);
      expect(listed.stdout.split('\n')[0]).toMatch(/^ID\s+PRINCIPAL\s+SERVICE\s+LAPSES\s+CREATED\s+REASON$/);
      expect(listed.stdout).toMatch(new RegExp(`^${lock.id}\\s+${APP_ROLE}\\s+\\*\\s+in (59m|1h)`, 'm'));
      expect(listedByApp).toMatchObject({ code: 3, stderr: expect.stringContaining('Admins only (403)') });

      const unlocked = await rbroker(['unlock', lock.id, '--as', 'admin']);
      expect(unlocked).toMatchObject({ code: 0, stdout: expect.stringMatching(/^lifted\s+\S+ by arn:/m) });
      const [again, none, reopened] = await Promise.all([
        rbroker(['unlock', lock.id, '--as', 'admin']),
        rbroker(['locks', '--as', 'admin', '--json']),
        rbroker(['connect', ECHO, '--json']),
      ]);
      expect(again).toMatchObject({ code: 4, stderr: expect.stringContaining('Lock not found (404)') });
      expect(json<unknown[]>(none)).toEqual([]);
      expect(reopened.code).toBe(0);
      await client.stop(json(reopened).id);
    });

    it('answers a lock without --principal or --service, or without --reason, with a usage error (exit 2) before calling', async () => {
      const runs = await Promise.all([
        rbroker(['lock', '--reason', 'x', '--as', 'admin']),
        rbroker(['lock', '--service', '80:*', '--as', 'admin']),
        rbroker(['unlock']),
        rbroker(['lock', '--service', '80:zz', '--reason', 'x', '--as', 'admin']),
      ]);

      expect(runs.map((run) => [run.code, run.stdout])).toEqual(Array(4).fill([2, '']));
      expect(runs[0]?.stderr).toContain('lock needs --principal GLOB or --service GLOB');
      expect(runs[1]?.stderr).toContain('lock needs --reason TEXT');
      expect(runs[2]?.stderr).toContain('unlock needs <id>');
      expect(runs[3]?.stderr).toMatch(/Invalid request \(400\)\n {2}serviceId: must be a service id glob/);
      expect(await client.listLocks()).toEqual([]);
    });
  });
});

describe('rbroker whoami, services', () => {
  it('shows the app caller its role, not admin, and its live count, as text and as JSON', async () => {
    const opened = json(await rbroker(['connect', '80:00:00:00:00:00:00:01', '--json']));
    try {
      const [text, asJson] = await Promise.all([rbroker(['whoami']), rbroker(['whoami', '--json'])]);

      expect([text.code, asJson.code]).toEqual([0, 0]);
      expect(text.stdout).toMatch(/^principal {2}arn:aws:iam::000000000000:role\/local-app$/m);
      expect(text.stdout).toMatch(/^admin {6}no$/m);
      expect(text.stdout).toMatch(/^live {7}1 connection\(s\)$/m);
      expect(json(asJson)).toEqual({
        principal: 'arn:aws:iam::000000000000:role/local-app',
        arn: expect.stringMatching(/^arn:aws:sts::000000000000:assumed-role\/local-app\//),
        admin: false,
        rules: expect.any(Array),
        live: 1,
      });
    } finally {
      await client.stop(opened.id);
    }
  });

  it('shows the app caller only its own rules as a table, and the admin that it is one', async () => {
    const [table, rules, admin] = await Promise.all([rbroker(['services']), rbroker(['services', '--json']), rbroker(['whoami', '--as', 'admin', '--json'])]);

    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')).toEqual([
      "SERVICES                 MODES                 MAX TTL  MAX LIFETIME        MAX ACTIVE  OPENS/MIN  IP MODE TO",
      "80:00:00:00:00:00:00:*   latching, ip          1h       remote.it's expiry  20          600        any",
      "80:00:00:00:00:00:00:02  latching, ip, public  1h       remote.it's expiry  20          600        any",
      '',
    ]);
    expect(json(rules)).toEqual([
      { services: ['80:00:00:00:00:00:00:*'], modes: ['latching', 'ip'], maxTtlSeconds: 3600, maxActive: 20, opensPerMinute: 600 },
      { services: ['80:00:00:00:00:00:00:02'], modes: ['latching', 'ip', 'public'], maxTtlSeconds: 3600, maxActive: 20, opensPerMinute: 600 },
    ]);
    expect(table.stdout + rules.stdout).not.toContain('local-admin');
    expect(json(admin)).toMatchObject({ principal: 'arn:aws:iam::000000000000:role/local-admin', admin: true, rules: [{ services: ['*'], maxTtlSeconds: 86400, maxActive: 100 }] });
  });

  it('answers an extra argument with a usage error naming it (exit 2), before calling', async () => {
    const [whoami, services] = await Promise.all([rbroker(['whoami', 'me']), rbroker(['services', '--json', '--mode', 'ip'])]);

    expect([whoami.code, whoami.stdout, services.code, services.stdout]).toEqual([2, '', 2, '']);
    expect(whoami.stderr).toContain("unexpected argument 'me' for whoami");
    expect(JSON.parse(services.stderr)).toEqual({ error: { code: 'usage', message: '--mode does not apply to services' } });
  });
});

describe('rbroker profiles and completion', () => {
  it('calls the profile\'s endpoint unless a flag names another, and refuses an unknown profile with exit 2', async () => {
    const config = join(stateDir, 'config.json');
    await writeFile(config, JSON.stringify({ profiles: { dead: { endpoint: 'http://127.0.0.1:9', region: 'eu-central-1' }, here: { endpoint: stack.apiUrl } } }));
    const env = { RBROKER_CONFIG: config };

    const [dead, overridden, here, unknown] = await Promise.all([
      // Keys for the default chain, so the call itself is what fails.
      rbroker(['whoami', '--profile', 'dead', '--json'], { ...env, AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEPROFILE01', AWS_SECRET_ACCESS_KEY: 'not-a-real-secret' }),
      rbroker(['whoami', '--profile', 'dead', '--endpoint', 'local', '--json'], env),
      rbroker(['whoami', '--json'], { ...env, RBROKER_PROFILE: 'here' }),
      rbroker(['whoami', '--profile', 'nope'], env),
    ]);

    expect(dead.code).toBe(1);
    expect(dead.stderr).toContain('http://127.0.0.1:9');
    expect(json(overridden)).toMatchObject({ principal: 'arn:aws:iam::000000000000:role/local-app' });
    expect(json(here)).toMatchObject({ principal: 'arn:aws:iam::000000000000:role/local-app' });
    expect([unknown.code, unknown.stdout]).toEqual([2, '']);
    expect(unknown.stderr).toContain("unknown profile 'nope' (");
  });

  it('completes `rbroker stop` in bash with the caller\'s live connection ids', async () => {
    const bin = join(stateDir, 'bin');
    await mkdir(bin, { recursive: true });
    await writeFile(join(bin, 'rbroker'), `#!/bin/sh\nexec "${process.execPath}" "${LAUNCHER}" "$@"\n`);
    await chmod(join(bin, 'rbroker'), 0o755);
    const app = new BrokerClient({ endpoint: stack.apiUrl, region: stack.region, credentials: stack.identity('app') });
    const { connection: opened } = await app.open({ serviceId: ECHO, ttlSeconds: 300 });
    try {
      const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, RBROKER_STACK_FILE: join(stateDir, 'stack.json') };
      delete env.RBROKER_ENDPOINT;
      const script = `source <(rbroker completion bash); COMP_WORDS=(rbroker stop ''); COMP_CWORD=2; _rbroker; printf '%s\\n' "\${COMPREPLY[@]}"`;

      const { stdout } = await promisify(execFile)('bash', ['-c', script], { env, timeout: RUN_TIMEOUT_MS });

      expect(stdout.split('\n')).toContain(opened.id);
    } finally {
      await app.stop(opened.id);
    }
  });
});
