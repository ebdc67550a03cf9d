/**
 * CLI startup (issue 17), run by hand, not by `npm run bench`: how long `rbroker --help` takes from the
 * installed package (its build, as an app's node_modules/.bin/rbroker runs it) against the repository's tsx
 * runner (client/bin/rbroker.cjs), each run by `node` directly and through `npx`. The client workspace is packed
 * and installed into a temporary project first, as an app installs it; then fresh processes of each kind
 * alternate, median of N.
 *
 *   npx tsx bench/cli-startup.ts [--runs 21]
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { median, percentile, round } from './support/stats';

const run = promisify(execFile);
const ROOT = resolve(__dirname, '..');
const TSX_RUNNER = join(ROOT, 'client', 'bin', 'rbroker.cjs');

/** Without an enclosing npm's variables, which would point npm back at this repository. */
const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));

interface Way {
  name: string;
  command: string;
  args: string[];
  cwd: string;
}

/** Wall time of one fresh run, ms; throws unless it printed the usage and exited 0. */
function timeHelp(way: Way): number {
  const started = process.hrtime.bigint();
  const result = spawnSync(way.command, way.args, { cwd: way.cwd, env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.status !== 0 || !result.stdout.startsWith('Usage: rbroker')) throw new Error(`${way.name} failed (${result.status}): ${result.stderr}`);
  return ms;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '21' } } });
  const runs = Number(values.runs);
  if (!Number.isSafeInteger(runs) || runs < 1) throw new Error(`--runs must be a whole number, got '${values.runs}'`);

  const packDir = await mkdtemp(join(tmpdir(), 'rbroker-startup-pack-'));
  const appDir = await mkdtemp(join(tmpdir(), 'rbroker-startup-app-'));
  try {
    const { stdout } = await run('npm', ['pack', '-w', 'client', '--pack-destination', packDir, '--json', '--silent'], { cwd: ROOT, env });
    const [packed] = JSON.parse(stdout) as Array<{ filename: string }>;
    if (!packed) throw new Error('npm pack printed no package');
    await writeFile(join(appDir, 'package.json'), '{"name":"rbroker-startup","version":"1.0.0","private":true}\n');
    await run('npm', ['install', join(packDir, packed.filename), '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: appDir, env });
    const installed = join(appDir, 'node_modules', '@remoteit-broker', 'client', 'dist', 'bin', 'rbroker.js');

    const ways: Way[] = [
      { name: 'installed: node dist/bin/rbroker.js --help', command: process.execPath, args: [installed, '--help'], cwd: appDir },
      { name: 'repository: node client/bin/rbroker.cjs --help (tsx)', command: process.execPath, args: [TSX_RUNNER, '--help'], cwd: ROOT },
      { name: 'installed: npx rbroker --help', command: 'npx', args: ['--no-install', 'rbroker', '--help'], cwd: appDir },
      { name: 'repository: npx rbroker --help (tsx)', command: 'npx', args: ['--no-install', 'rbroker', '--help'], cwd: ROOT },
    ];
    // One of each first: the file system cache warm for all, and tsx's transform cache filled, as on a
    // developer's machine after the first run.
    for (const way of ways) timeHelp(way);
    const samples = ways.map(() => [] as number[]);
    for (let i = 0; i < runs; i++) ways.forEach((way, index) => samples[index]?.push(timeHelp(way)));
    const rows = ways.map((way, index) => {
      const ms = samples[index] ?? [];
      return { way: way.name, medianMs: round(median(ms), 0), p90Ms: round(percentile(ms, 90), 0), runs: ms.length };
    });
    console.log(`rbroker --help, node ${process.version}, median of ${runs} fresh processes each, the four alternating`);
    console.table(rows);
  } finally {
    await Promise.all([packDir, appDir].map((dir) => rm(dir, { recursive: true, force: true })));
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
