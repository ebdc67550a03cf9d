/**
 * Named profiles: a JSON config file (`RBROKER_CONFIG`, else `~/.config/rbroker/config.json`) saying, per
 * name, which broker to call (endpoint), in which region, and with which AWS profile's credentials, so
 * `--profile prod` replaces three flags. The file is read only when a profile is asked for; anything wrong
 * in it, or a name it does not define, is a usage error (exit 2) naming the file, the field or the profile.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { UsageError } from './args';

export interface Profile {
  endpoint?: string | undefined;
  region?: string | undefined;
  awsProfile?: string | undefined;
}

const profileSchema = z.strictObject({
  endpoint: z.optional(z.url({ protocol: /^https?$/ })),
  region: z.optional(z.string().check(z.regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'must be an AWS region such as eu-central-1'))),
  awsProfile: z.optional(z.string().min(1)),
});

const configSchema = z.strictObject({
  profiles: z.record(z.string().min(1), profileSchema),
});

type Env = Record<string, string | undefined>;

/** `RBROKER_CONFIG`, else `~/.config/rbroker/config.json` (`$XDG_CONFIG_HOME/rbroker/config.json` when set). */
export function configFilePath(env: Env = process.env): string {
  if (env.RBROKER_CONFIG) return env.RBROKER_CONFIG;
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'rbroker', 'config.json');
}

/** The config file's profile names (for completion); throws when the file is missing or malformed. */
export async function readProfileNames(path: string): Promise<string[]> {
  return Object.keys((await readConfig(path, undefined)).profiles);
}

async function readConfig(path: string, name: string | undefined): Promise<z.infer<typeof configSchema>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`;
    throw new UsageError(`${name === undefined ? '' : `profile '${name}': `}the config file ${path} ${why}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`the config file ${path} is not JSON: ${(error as Error).message}`);
  }
  const result = configSchema.safeParse(parsed);
  if (!result.success) {
    const issues = result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');
    throw new UsageError(`the config file ${path} is malformed: ${issues}`);
  }
  return result.data;
}

/** The profile called `name` in the config file; a usage error when the file or the name is wrong. */
export async function readProfile(name: string, env: Env = process.env): Promise<Profile> {
  const path = configFilePath(env);
  const { profiles } = await readConfig(path, name);
  if (!Object.hasOwn(profiles, name)) {
    const known = Object.keys(profiles);
    throw new UsageError(`unknown profile '${name}' (${path} defines ${known.length === 0 ? 'none' : known.join(', ')})`);
  }
  return profiles[name] ?? {};
}
