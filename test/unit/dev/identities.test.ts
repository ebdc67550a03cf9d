import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateIdentity, loadOrCreateIdentities, principalOf, roleArnOf } from '../../../dev/identities';
import { toCaller } from '../../../lambdas/broker/principal';

describe('identities', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'identities-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('generateIdentity', () => {
    it('makes AWS-shaped keys that DynamoDB Local and shells accept', () => {
      const identity = generateIdentity({ name: 'app', admin: false });

      expect(identity.accessKeyId).toMatch(/^AKIA[A-Z0-9]{16}$/);
      expect(identity.secretAccessKey).toMatch(/^[A-Za-z0-9]{40}$/);
    });

    it('makes a different key each time', () => {
      expect(generateIdentity({ name: 'app', admin: false }).accessKeyId).not.toBe(generateIdentity({ name: 'app', admin: false }).accessKeyId);
    });

    it('gives a session principal the broker normalises to the role the policy names', () => {
      const identity = generateIdentity({ name: 'app', admin: false });

      expect(toCaller({ arn: identity.principal, sourceIp: '127.0.0.1' }).principal).toBe(roleArnOf('app'));
      expect(identity.principal).toBe(principalOf('app'));
    });
  });

  describe('loadOrCreateIdentities', () => {
    it('keeps the keys of an earlier run when the file holds them', async () => {
      const path = join(dir, 'identities.json');
      const first = await loadOrCreateIdentities(path);

      const second = await loadOrCreateIdentities(path);

      expect(second).toEqual(first);
      expect((await stat(path)).mode & 0o077).toBe(0);
    });

    it('makes new keys when the file is not readable JSON', async () => {
      const path = join(dir, 'identities.json');
      await writeFile(path, 'not json');

      const identities = await loadOrCreateIdentities(path);

      expect(identities.map((identity) => identity.name)).toEqual(['app', 'admin']);
      expect(JSON.parse(await readFile(path, 'utf8'))).toEqual(identities);
    });

    it('writes nothing when no path is given', async () => {
      const identities = await loadOrCreateIdentities(undefined, [{ name: 'ops', admin: true }]);

      expect(identities).toEqual([expect.objectContaining({ name: 'ops', admin: true })]);
    });
  });
});
