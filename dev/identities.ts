/**
 * The local stack's IAM identities: what the gateway verifies SigV4 against and what it puts in
 * `requestContext.authorizer.iam`. Each stands for an assumed-role session in a fake account, so the broker's
 * principal normalisation (session ARN -> role ARN) and the policy's role globs work as in AWS.
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { z } from 'zod';

export const LOCAL_ACCOUNT_ID = '000000000000';

export const localIdentitySchema = z.object({
  name: z.string().regex(/^[a-z][a-z0-9-]*$/),
  accessKeyId: z.string().regex(/^[A-Z0-9]{16,128}$/),
  secretAccessKey: z.string().min(20),
  /** The caller ARN the authorizer reports (`userArn`). */
  principal: z.string().startsWith('arn:aws:sts::'),
  admin: z.boolean(),
});

export type LocalIdentity = z.infer<typeof localIdentitySchema>;

export interface IdentitySpec {
  name: string;
  admin: boolean;
}

/** `app` may open connections; `admin` also sees and stops everyone's (see dev/local-policy.json). */
export const DEFAULT_IDENTITIES: readonly IdentitySpec[] = [
  { name: 'app', admin: false },
  { name: 'admin', admin: true },
];

/** `arn:aws:sts::000000000000:assumed-role/local-<name>/local`. */
export function principalOf(name: string): string {
  return `arn:aws:sts::${LOCAL_ACCOUNT_ID}:assumed-role/local-${name}/local`;
}

/** The role ARN policy rules name: what the broker normalises the session principal to. */
export function roleArnOf(name: string): string {
  return `arn:aws:iam::${LOCAL_ACCOUNT_ID}:role/local-${name}`;
}

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** AWS-shaped keys: `AKIA` + 16 upper-case alphanumerics, a 40-character secret. */
export function generateIdentity(spec: IdentitySpec): LocalIdentity {
  const idBytes = randomBytes(16);
  const accessKeyId = `AKIA${Array.from(idBytes, (byte) => ALPHANUMERIC[byte % ALPHANUMERIC.length]).join('')}`;
  // base64url without `-`/`_` keeps the secret copy-paste safe in shells and curl's --user.
  const secretAccessKey = randomBytes(40).toString('base64').replace(/[^A-Za-z0-9]/g, '').slice(0, 40);
  return { name: spec.name, accessKeyId, secretAccessKey, principal: principalOf(spec.name), admin: spec.admin };
}

/**
 * The identities kept in `path` from an earlier run (so printed keys and scripts keep working across
 * restarts), completed with freshly generated ones for specs not found there; the result is written back.
 */
export async function loadOrCreateIdentities(path: string | undefined, specs: readonly IdentitySpec[] = DEFAULT_IDENTITIES): Promise<LocalIdentity[]> {
  let kept: LocalIdentity[] = [];
  if (path) {
    try {
      kept = z.array(localIdentitySchema).parse(JSON.parse(await readFile(path, 'utf8')));
    } catch {
      // Absent or unreadable: new keys. They are throwaway local keys, nothing is lost.
      kept = [];
    }
  }
  const identities = specs.map((spec) => {
    const previous = kept.find((identity) => identity.name === spec.name && identity.admin === spec.admin);
    return previous && previous.principal === principalOf(spec.name) ? previous : generateIdentity(spec);
  });
  if (path) await writeFile(path, `${JSON.stringify(identities, null, 2)}\n`, { mode: 0o600 });
  return identities;
}
