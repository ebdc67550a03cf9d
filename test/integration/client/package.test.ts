/**
 * The client as an app gets it: `npm pack` of the client workspace (its prepack builds dist/), the tarball
 * installed into an empty project, then required, imported and run there. Proves the package stands alone:
 * built JavaScript with types, its own dependencies, no tsx, nothing from the rest of the repository.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..', '..');
/** Build + pack, and the install (from npm's cache when it has the versions) each stay well inside this. */
const STEP_TIMEOUT_MS = 60_000;

/** Without the npm_* variables of an enclosing `npm test`, which would point npm back at this repository. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
}

async function sh(file: string, args: string[], cwd: string): Promise<{ stdout: string; stderr: string }> {
  return run(file, args, { cwd, env: cleanEnv(), timeout: STEP_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 });
}

let packDir: string;
let appDir: string;
let version: string;
let packedFiles: string[];

beforeAll(async () => {
  version = (JSON.parse(await readFile(join(ROOT, 'client', 'package.json'), 'utf8')) as { version: string }).version;
  packDir = await mkdtemp(join(tmpdir(), 'rbroker-pack-'));
  appDir = await mkdtemp(join(tmpdir(), 'rbroker-app-'));
  const { stdout } = await sh('npm', ['pack', '-w', 'client', '--pack-destination', packDir, '--json', '--silent'], ROOT);
  const [packed] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  if (!packed) throw new Error(`npm pack printed no package: ${stdout}`);
  packedFiles = packed.files.map((file) => file.path);
  await writeFile(join(appDir, 'package.json'), `${JSON.stringify({ name: 'rbroker-install-check', version: '1.0.0', private: true }, null, 2)}\n`);
  await sh('npm', ['install', join(packDir, packed.filename), '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], appDir);
}, 3 * STEP_TIMEOUT_MS);

afterAll(async () => {
  await Promise.all([packDir, appDir].filter(Boolean).map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('the client package, installed from its tarball into an empty project', () => {
  it('ships built JavaScript and declarations, its bin with a shebang, and no TypeScript sources', async () => {
    expect(packedFiles).toEqual(expect.arrayContaining(['package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/bin/rbroker.js']));
    expect(packedFiles.filter((path) => path.endsWith('.ts') && !path.endsWith('.d.ts'))).toEqual([]);
    const bin = await readFile(join(appDir, 'node_modules', '@remoteit-broker', 'client', 'dist', 'bin', 'rbroker.js'), 'utf8');
    expect(bin.startsWith('#!/usr/bin/env node\n')).toBe(true);
    // Nothing the package runs needs tsx: it is not even installed.
    await expect(readFile(join(appDir, 'node_modules', 'tsx', 'package.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('is required from CommonJS', async () => {
    const script = "const c = require('@remoteit-broker/client'); console.log(typeof c.BrokerClient, typeof c.BrokerApiError, c.CONNECTION_MODES.join(','))";
    const { stdout } = await sh(process.execPath, ['-e', script], appDir);
    expect(stdout.trim()).toBe('function function latching,ip,public');
  });

  it('is imported from an ES module, with named exports', async () => {
    const script = "import { BrokerClient, packageVersion } from '@remoteit-broker/client'; console.log(typeof BrokerClient, packageVersion())";
    const { stdout } = await sh(process.execPath, ['--input-type=module', '-e', script], appDir);
    expect(stdout.trim()).toBe(`function ${version}`);
  });

  it('type-checks an app against its declarations (node16 and bundler resolution)', async () => {
    const app = `import { BrokerApiError, BrokerClient, CONNECTION_MODES, type Connection, type OpenConnectionInput } from '@remoteit-broker/client';
const input: OpenConnectionInput = { serviceId: '80:00:00:00:01:02:03:04', mode: CONNECTION_MODES[0], ttlSeconds: 900 };
export async function open(client: BrokerClient): Promise<Connection> {
  try {
    return (await client.open(input)).connection;
  } catch (error) {
    if (error instanceof BrokerApiError) console.log(error.code, error.status);
    throw error;
  }
}
// @ts-expect-error the declarations carry the API's shapes: a mode the API does not know is refused
export const wrong: OpenConnectionInput = { serviceId: 'x', mode: 'tunnel' };
`;
    await writeFile(join(appDir, 'app.ts'), app);
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const common = ['--noEmit', '--strict', '--target', 'es2022', '--typeRoots', join(ROOT, 'node_modules', '@types'), '--types', 'node', 'app.ts'];
    await expect(sh(process.execPath, [tsc, '--module', 'node16', '--moduleResolution', 'node16', ...common], appDir)).resolves.toBeDefined();
    await expect(sh(process.execPath, [tsc, '--module', 'esnext', '--moduleResolution', 'bundler', ...common], appDir)).resolves.toBeDefined();
  }, STEP_TIMEOUT_MS);

  it('runs `npx rbroker --version` and `--help`', async () => {
    const versionRun = await sh('npx', ['--no-install', 'rbroker', '--version'], appDir);
    expect(versionRun.stdout).toBe(`${version}\n`);
    const help = await sh('npx', ['--no-install', 'rbroker', '--help'], appDir);
    expect(help.stdout).toMatch(/^Usage: rbroker <command>/);
  });
});
