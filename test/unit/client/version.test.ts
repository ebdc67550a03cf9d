/**
 * `rbroker --version`: the client package's version from its own package.json, exit 0; run from the sources
 * here (the installed build is run by test/integration/client/package.test.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT } from '../../../client/cli/exit-codes';
import { runCli } from './support';
import { packageVersion } from '../../../client/version';

const manifest = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'client', 'package.json'), 'utf8')) as { name: string; version: string };

const cli = runCli;

describe('rbroker --version', () => {
  it('prints the client package\'s version and exits 0, calling nothing', async () => {
    expect(manifest.name).toBe('@remoteit-broker/client');
    expect(packageVersion()).toBe(manifest.version);
    await expect(cli(['--version'])).resolves.toEqual({ code: EXIT.ok, stdout: `${manifest.version}\n`, stderr: '' });
  });

  it('is an option of its own: with a command it is a usage error (exit 2)', async () => {
    const run = await cli(['ls', '--version']);
    expect(run.code).toBe(EXIT.usage);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/version/);
  });

  it('is listed in --help', async () => {
    const run = await cli(['--help']);
    expect(run.stdout).toMatch(/^ {2}--version /m);
  });
});
