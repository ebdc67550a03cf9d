/**
 * rbroker's conveniences: per-command help, profiles from the config file (precedence and errors), and shell
 * completion, the bash script run by bash itself against the scripted broker, its hidden `__complete` quiet
 * whatever fails.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { COMMANDS } from '../../../client/cli/args';
import { bashScript, zshScript } from '../../../client/cli/completion';
import { EXIT, exitCodeOf } from '../../../client/cli/exit-codes';
import { resolveTarget } from '../../../client/cli/target';
import { connection, KEY, REGION, runCli, startScriptedServer, type Reply, type ScriptedServer } from './support';

const run = promisify(execFile);
const LAUNCHER = join(__dirname, '..', '..', '..', 'client', 'bin', 'rbroker.cjs');
const names = Object.keys(COMMANDS) as Array<keyof typeof COMMANDS>;
const DEPLOYED = 'https://abc123.execute-api.eu-west-1.amazonaws.com';

let dir: string;
let configFile: string;
let savedEnv: NodeJS.ProcessEnv;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rbroker-conv-'));
  configFile = join(dir, 'config.json');
  savedEnv = { ...process.env };
});

afterEach(async () => {
  process.env = savedEnv;
  await rm(dir, { recursive: true, force: true });
});

const writeConfig = (config: unknown) => writeFile(configFile, typeof config === 'string' ? config : JSON.stringify(config));

describe('per-command help', () => {
  it.each(names)('prints %s\'s usage, its options and an example, exit 0, both ways', async (name) => {
    const flagged = await runCli([name, '--help']);
    const asked = await runCli(['help', name]);

    expect(flagged.code).toBe(EXIT.ok);
    expect(flagged.stdout).toMatch(new RegExp(`^Usage: rbroker ${name}\\b`));
    for (const option of COMMANDS[name].options) expect(flagged.stdout).toMatch(new RegExp(`^  --${option}\\b.*\\S{3}`, 'm'));
    expect(flagged.stdout).toMatch(/^Global options:\n {2}--endpoint/m);
    expect(flagged.stdout).toMatch(new RegExp(`^Example:\\n {2}(source <\\()?rbroker ${name}\\b`, 'm'));
    expect(flagged.stdout).not.toContain('Commands:');
    expect(asked).toEqual(flagged);
  });

  it('keeps the top-level usage and refuses help for an unknown command with exit 2 naming it', async () => {
    expect((await runCli(['--help'])).stdout).toContain('Commands:');
    expect((await runCli(['help'])).stdout).toContain('Commands:');
    for (const argv of [['frob', '--help'], ['help', 'frob']]) {
      const result = await runCli(argv);
      expect(result).toMatchObject({ code: EXIT.usage, stdout: '' });
      expect(result.stderr).toContain("unknown command 'frob'");
    }
  });
});

describe('profiles', () => {
  const prod = { endpoint: DEPLOYED, region: 'eu-west-1', awsProfile: 'broker-prod' };
  const custom = { endpoint: 'https://broker.example.com', region: 'eu-central-1' };

  it('takes endpoint, region and AWS profile from the named profile', async () => {
    await writeConfig({ profiles: { prod, custom } });

    const target = await resolveTarget({ endpoint: undefined, stackFile: join(dir, 'none.json'), as: undefined, profile: 'prod' }, { RBROKER_CONFIG: configFile });

    expect(target).toMatchObject({ client: { endpoint: DEPLOYED, region: 'eu-west-1' }, awsProfile: 'broker-prod', identity: undefined });
    expect(typeof target.client.credentials).toBe('function');
  });

  it('lets a flag beat the environment, the environment beat the profile, and the profile beat the local stack', async () => {
    await writeConfig({ profiles: { prod, custom } });
    const stackFile = join(dir, 'stack.json');
    await writeFile(stackFile, JSON.stringify({ apiUrl: 'http://127.0.0.1:4555', region: 'us-east-1', identities: [{ name: 'app', accessKeyId: 'AKIAAPP', secretAccessKey: 'app-secret', principal: 'arn:aws:iam::000000000000:role/local-app', admin: false }] }));
    const base = { endpoint: undefined, stackFile, as: undefined };

    // RBROKER_PROFILE selects; --profile beats it.
    await expect(resolveTarget(base, { RBROKER_CONFIG: configFile, RBROKER_PROFILE: 'custom' })).resolves.toMatchObject({ client: custom });
    await expect(resolveTarget({ ...base, profile: 'prod' }, { RBROKER_CONFIG: configFile, RBROKER_PROFILE: 'custom' })).resolves.toMatchObject({ client: { endpoint: DEPLOYED } });
    // Flags beat the profile.
    await expect(resolveTarget({ ...base, profile: 'custom', endpoint: DEPLOYED, region: 'ap-south-1' }, { RBROKER_CONFIG: configFile })).resolves.toMatchObject({
      client: { endpoint: DEPLOYED, region: 'ap-south-1' },
    });
    // The environment beats the profile: RBROKER_ENDPOINT, AWS_REGION, AWS_PROFILE.
    const fromEnv = await resolveTarget({ ...base, profile: 'prod' }, { RBROKER_CONFIG: configFile, RBROKER_ENDPOINT: 'https://other.example.com', AWS_REGION: 'us-west-2', AWS_PROFILE: 'mine' });
    expect(fromEnv).toEqual({ client: { endpoint: 'https://other.example.com' }, identity: undefined });
    // No profile: the local stack, and the config file is not even read.
    await writeConfig('not json');
    await expect(resolveTarget(base, { RBROKER_CONFIG: configFile })).resolves.toMatchObject({ identity: 'app', client: { endpoint: 'http://127.0.0.1:4555' } });
  });

  it.each([
    ['an unknown profile', { profiles: { prod } }, ["unknown profile 'staging'", 'defines prod']],
    ['a malformed field', { profiles: { staging: { endpoint: 'not a url', region: 'Frankfurt' } } }, ['is malformed', 'profiles.staging.endpoint', 'profiles.staging.region']],
    ['an unknown field', { profiles: { staging: { endpiont: DEPLOYED } } }, ['is malformed', 'endpiont']],
    ['no profiles object', { staging: prod }, ['is malformed', 'profiles']],
    ['a file that is not JSON', '{"profiles":', ['is not JSON']],
  ])('exits 2 naming the file and what is wrong for %s', async (_, config, expected) => {
    await writeConfig(config);
    process.env.RBROKER_CONFIG = configFile;
    delete process.env.RBROKER_ENDPOINT;

    const result = await runCli(['ls', '--profile', 'staging', '--json']);

    expect(result).toMatchObject({ code: EXIT.usage, stdout: '' });
    const { error } = JSON.parse(result.stderr) as { error: { code: string; message: string } };
    expect(error.code).toBe('usage');
    for (const text of [...expected, ...(expected[0]?.startsWith('unknown') ? [] : [configFile])]) expect(error.message).toContain(text);
  });

  it('exits 2 when the named profile has no config file, and 1 naming --region for a custom domain without a region', async () => {
    const missing = await resolveTarget({ endpoint: undefined, stackFile: undefined, as: undefined, profile: 'prod' }, { RBROKER_CONFIG: configFile }).catch((error: unknown) => error);
    expect(exitCodeOf(missing)).toBe(EXIT.usage);
    expect(String(missing)).toContain(`profile 'prod': the config file ${configFile} does not exist`);

    const noRegion = await resolveTarget({ endpoint: 'https://broker.example.com', stackFile: join(dir, 'none.json'), as: undefined }, {}).catch((error: unknown) => error);
    expect(exitCodeOf(noRegion)).toBe(EXIT.failure);
    expect(String(noRegion)).toContain('pass --region');
  });

  it('refuses a bad --region, an empty --profile and a shell it has no completion for with exit 2', async () => {
    expect(await runCli(['completion', 'fish'])).toMatchObject({ code: EXIT.usage, stdout: '', stderr: expect.stringContaining("completion needs <bash|zsh>, got 'fish'") });
    expect(await runCli(['completion'])).toMatchObject({ code: EXIT.usage, stderr: expect.stringContaining('completion needs <bash|zsh>') });
    expect(await runCli(['completion', 'bash', '--json'])).toMatchObject({ code: EXIT.usage, stdout: '' });
    expect(await runCli(['ls', '--region', 'Frankfurt'])).toMatchObject({ code: EXIT.usage, stderr: expect.stringContaining('--region must be an AWS region') });
    expect(await runCli(['ls', '--profile', ''])).toMatchObject({ code: EXIT.usage, stderr: expect.stringContaining('--profile needs a profile name') });
  });
});

describe('completion', () => {
  let server: ScriptedServer;
  let reply: Reply;
  let bin: string;

  beforeEach(async () => {
    reply = { status: 200, body: { items: [] } };
    server = await startScriptedServer(() => reply);
    bin = join(dir, 'bin');
    await run('mkdir', [bin]);
    await writeFile(join(bin, 'rbroker'), `#!/bin/sh\nexec "${process.execPath}" "${LAUNCHER}" "$@"\n`);
    await chmod(join(bin, 'rbroker'), 0o755);
  });

  afterEach(async () => {
    await server.close();
  });

  /** What bash's completion offers for `words`, the last one being completed, with the script sourced. */
  async function complete(words: string[]): Promise<string[]> {
    const quoted = words.map((word) => `'${word}'`).join(' ');
    const script = `source <(rbroker completion bash); COMP_WORDS=(rbroker ${quoted}); COMP_CWORD=${words.length}; _rbroker; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const env = {
      PATH: `${bin}:${process.env.PATH ?? ''}`,
      HOME: dir,
      RBROKER_CONFIG: configFile,
      RBROKER_STACK_FILE: join(dir, 'none.json'),
      AWS_ACCESS_KEY_ID: KEY.accessKeyId,
      AWS_SECRET_ACCESS_KEY: KEY.secretAccessKey,
      AWS_REGION: REGION,
    };
    const { stdout } = await run('bash', ['-c', script], { env, timeout: 15_000 });
    return stdout.split('\n').filter((line) => line !== '');
  }

  it('completes commands, each command\'s options and option values', async () => {
    expect(await complete(['c'])).toEqual(['connect', 'completion']);
    expect(await complete(['--pro'])).toEqual(['--profile']);
    expect(await complete(['connect', '80:00:00:00:00:00:00:01', '--re'])).toEqual(['--reuse', '--region']);
    expect(await complete(['renew', '--'])).toEqual(expect.arrayContaining(['--ttl', '--json', '--profile']));
    expect(await complete(['renew', '--'])).not.toContain('--mode');
    expect(await complete(['connect', 'x', '--mode', ''])).toEqual(['latching', 'ip', 'public']);
    expect(await complete(['--json', 'ls', '--status', 'st'])).toEqual(['stopping', 'stopped', 'stop_failed']);
    expect(await complete(['help', 'lo'])).toEqual(['lock', 'locks']);
    expect(await complete(['completion', ''])).toEqual(['bash', 'zsh']);
    await writeConfig({ profiles: { prod: { endpoint: DEPLOYED }, staging: {} } });
    expect(await complete(['ls', '--profile', ''])).toEqual(['prod', 'staging']);
    expect(server.received).toHaveLength(0);
  }, 60_000);

  it('completes connection ids with the caller\'s live connections, asked of the API with the typed endpoint', async () => {
    reply = {
      status: 200,
      body: { items: [connection({ id: '01JDLIVE0000000000000000A1' }), connection({ id: '01JDSTOPPED00000000000000B', status: 'stopped' }), connection({ id: '01JDLIVE0000000000000000A2', status: 'pending' })] },
    };

    expect(await complete(['stop', '--endpoint', server.url, '01JDLIVE'])).toEqual(['01JDLIVE0000000000000000A1', '01JDLIVE0000000000000000A2']);
    expect(await complete(['renew', '--endpoint', server.url, '01JDLIVE0000000000000000A1', ''])).toEqual([]);
    expect(server.received).toHaveLength(1);
    expect(server.received[0]).toMatchObject({ method: 'GET', path: '/connections', signed: true });
  }, 60_000);

  it('offers nothing, quickly, when the API refuses or hangs', async () => {
    reply = { status: 403, body: { message: 'Forbidden' } };
    expect(await complete(['get', '--endpoint', server.url, ''])).toEqual([]);

    reply = 'hang';
    const started = Date.now();
    expect(await complete(['get', '--endpoint', server.url, ''])).toEqual([]);
    expect(Date.now() - started).toBeLessThan(8_000);
  }, 60_000);

  describe('__complete (hidden)', () => {
    beforeEach(() => {
      Object.assign(process.env, { AWS_ACCESS_KEY_ID: KEY.accessKeyId, AWS_SECRET_ACCESS_KEY: KEY.secretAccessKey, AWS_REGION: REGION, RBROKER_STACK_FILE: join(dir, 'none.json') });
      delete process.env.RBROKER_ENDPOINT;
    });

    it('prints the live ids, one a line', async () => {
      reply = { status: 200, body: { items: [connection({ id: 'A1' }), connection({ id: 'B2', status: 'expired' })] } };
      expect(await runCli(['__complete', 'ids', '--endpoint', server.url])).toEqual({ code: 0, stdout: 'A1\n', stderr: '' });
    });

    it.each<[string, () => void, string[]]>([
      ['a 500', () => (reply = { status: 500, body: { message: 'Internal Server Error' } }), []],
      ['an unreachable endpoint', () => undefined, ['--endpoint', 'http://127.0.0.1:9']],
      ['no endpoint at all', () => undefined, []],
      ['an unknown option', () => undefined, ['--bogus']],
      ['an unknown profile', () => undefined, ['--profile', 'nope']],
      ['a body that is not a page', () => (reply = { status: 200, raw: 'not json' }), []],
    ])('prints nothing and exits 0 on %s', async (_, arrange, args) => {
      arrange();
      const argv = ['__complete', 'ids', ...(args.length > 0 ? args : ['--endpoint', server.url])];
      expect(await runCli(argv)).toEqual({ code: 0, stdout: '', stderr: '' });
    });

    it('gives up after about 2 s when the API hangs', async () => {
      reply = 'hang';
      const started = Date.now();
      expect(await runCli(['__complete', 'ids', '--endpoint', server.url])).toEqual({ code: 0, stdout: '', stderr: '' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_900);
      expect(Date.now() - started).toBeLessThan(3_500);
    });
  });

  it('writes a zsh script that zsh reads (or, without zsh here, a well-formed one)', async () => {
    const script = zshScript();
    const zsh = await run('sh', ['-c', 'command -v zsh']).then(
      ({ stdout }) => stdout.trim(),
      () => '',
    );
    // zsh parses it where zsh is installed (it is not in CI's image: there, only the checks below run).
    const parsed = zsh ? run(zsh, ['-n', '-c', script]).then(() => 'parsed') : Promise.resolve('parsed');
    await expect(parsed).resolves.toBe('parsed');
    expect(script.split('\n')[0]).toBe('#compdef rbroker');
    const count = (pattern: RegExp) => script.match(pattern)?.length ?? 0;
    expect(count(/^\s*case\b/gm)).toBe(count(/^\s*esac$/gm));
    expect(count(/\bif \[\[/g)).toBe(count(/\bfi\b/g));
    expect(count(/\{/g)).toBe(count(/\}/g));
    for (const name of names) expect(script).toMatch(new RegExp(`^ {6}${name}\\) compadd -- .*--json`, 'm'));
    expect(script).toContain('command rbroker __complete ids "${pass[@]}"');
    expect(script).toContain('compdef _rbroker rbroker');
    // bash parses the bash script.
    await expect(run('bash', ['-n', '-c', bashScript()])).resolves.toBeDefined();
  });
});
