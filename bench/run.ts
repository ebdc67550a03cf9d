/**
 * `npm run bench`: every benchmark at full size on the local stack, each figure beside its baseline from the
 * same run. Prints the report and writes bench/results/latest.json. `--smoke` runs the tiny sizes instead
 * (and writes nothing): what the test suite runs.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatReport } from './support/format';
import { FULL, runSuite, SMOKE } from './suite';

async function main(): Promise<void> {
  const smoke = process.argv.includes('--smoke');
  // The handlers' SDK clients warn on Node 20 otherwise; a bench on it measures what it is asked to.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  if (!global.gc) process.stderr.write('note: run with --expose-gc (npm run bench does) for the soak memory figures\n');
  const report = await runSuite({
    sizes: smoke ? SMOKE : FULL,
    command: `npm run bench${smoke ? ' -- --smoke' : ''}`,
    progress: (line) => process.stderr.write(`  ${line}\n`),
  });
  process.stdout.write(formatReport(report));
  if (!smoke) {
    const dir = join(__dirname, 'results');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});
