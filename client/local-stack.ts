/**
 * The local stack (`npm start`) as a target: `.local/stack.json` names its API URL, region and the local
 * identities whose throwaway keys its gateway verifies SigV4 against. The shape is the client's own
 * (test/unit/client/contract.test.ts keeps it readable from what dev/stack.ts writes).
 */
import { readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { z } from 'zod';
import type { Credentials } from './client';
import { ClientConfigError } from './errors';

/**
 * Where `npm start` writes it. From the repository's sources (client/): `.local/` at the repository root,
 * whatever the working directory. From the built package (dist/, as installed): `.local/` in the working
 * directory, as the package knows no repository (--stack FILE or RBROKER_STACK_FILE name another).
 */
export const DEFAULT_STACK_FILE =
  basename(__dirname) === 'dist' ? resolve('.local', 'stack.json') : resolve(__dirname, '..', '.local', 'stack.json');

/** One local identity: a name (`app`, `admin`), its throwaway keys, and the principal the gateway maps it to. */
export interface LocalIdentity {
  name: string;
  accessKeyId: string;
  secretAccessKey: string;
  principal: string;
  admin: boolean;
}

/** What the client reads of the stack file. */
export interface LocalStack {
  apiUrl: string;
  region: string;
  identities: LocalIdentity[];
}

const stackFileSchema: z.ZodType<LocalStack> = z.object({
  apiUrl: z.url(),
  region: z.string().min(1),
  identities: z.array(
    z.object({
      name: z.string(),
      accessKeyId: z.string().min(1),
      secretAccessKey: z.string().min(1),
      principal: z.string(),
      admin: z.boolean(),
    }),
  ),
});

/** The stack file at `path`, or undefined when there is none (the stack is not running). */
export async function readStackFile(path: string): Promise<LocalStack | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ClientConfigError(`cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ClientConfigError(`${path} is not JSON`, { cause: error });
  }
  const result = stackFileSchema.safeParse(parsed);
  if (!result.success) {
    throw new ClientConfigError(`${path} is not a stack file: ${result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'} ${issue.message}`).join('; ')}`);
  }
  return result.data;
}

/** The keys of the identity called `name` (`app`, `admin`). */
export function localCredentials(stack: LocalStack, name: string): Credentials {
  const identity = stack.identities.find((candidate) => candidate.name === name);
  if (!identity) {
    throw new ClientConfigError(`the local stack has no identity '${name}' (it has: ${stack.identities.map((candidate) => candidate.name).join(', ')})`);
  }
  return { accessKeyId: identity.accessKeyId, secretAccessKey: identity.secretAccessKey };
}

/** Same API, written either way (`http://127.0.0.1:4000` and `http://127.0.0.1:4000/`). */
export function sameEndpoint(a: string, b: string): boolean {
  const normalise = (value: string) => {
    const url = new URL(value);
    return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
  };
  try {
    return normalise(a) === normalise(b);
  } catch {
    return false;
  }
}
