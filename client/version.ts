/**
 * The package's own version, from its package.json: beside the TypeScript sources (client/), one level up
 * from the build (client/dist/). Read on demand, so only `rbroker --version` pays for it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const PACKAGE_NAME = '@remoteit-broker/client';

export function packageVersion(): string {
  for (const dir of [__dirname, join(__dirname, '..')]) {
    let manifest: { name?: unknown; version?: unknown };
    try {
      manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as typeof manifest;
    } catch {
      continue;
    }
    if (manifest.name === PACKAGE_NAME && typeof manifest.version === 'string') return manifest.version;
  }
  throw new Error(`cannot find ${PACKAGE_NAME}'s package.json above ${__dirname}`);
}
