import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { assertJavaAvailable, createTables, JavaMissingError, startDynamoDbLocal } from '../../../dev/dynamodb-local';

const isRunning = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const clientFor = (endpoint: string) => new DynamoDBClient({ endpoint, maxAttempts: 1 });

describe('dynamodb-local', () => {
  describe('startDynamoDbLocal', () => {
    let dataDir: string;

    beforeAll(async () => {
      dataDir = await mkdtemp(join(tmpdir(), 'ddb-local-'));
    });

    afterAll(async () => {
      await rm(dataDir, { recursive: true, force: true });
    });

    it('keeps tables across a restart and leaves no JVM behind when given a data directory', async () => {
      const first = await startDynamoDbLocal({ dataDir });
      const client = clientFor(first.endpoint);
      try {
        await createTables(client, { connections: 'dev-connections', idempotency: 'dev-idempotency' });
        await createTables(client, { connections: 'dev-connections', idempotency: 'dev-idempotency' }); // idempotent
      } finally {
        client.destroy();
        await first.stop();
      }
      expect(first.pid).toBeDefined();
      expect(isRunning(first.pid ?? 0)).toBe(false);

      const second = await startDynamoDbLocal({ dataDir });
      const again = clientFor(second.endpoint);
      try {
        const { TableNames } = await again.send(new ListTablesCommand({}));
        expect(TableNames).toEqual(['dev-connections', 'dev-idempotency']);
      } finally {
        again.destroy();
        await second.stop();
      }
    }, 60_000);
  });

  describe('assertJavaAvailable', () => {
    let binDir: string;

    beforeAll(async () => {
      binDir = await mkdtemp(join(tmpdir(), 'fake-java-'));
    });

    afterAll(async () => {
      await rm(binDir, { recursive: true, force: true });
    });

    const fakeJava = async (versionLine: string) => {
      const path = join(binDir, `java-${Math.random().toString(36).slice(2)}`);
      await writeFile(path, `#!/bin/sh\necho '${versionLine}' >&2\n`, { mode: 0o755 });
      return path;
    };

    it('resolves when Java 17 or newer answers', async () => {
      const java = await fakeJava('openjdk version "21.0.2" 2024-01-16');

      await expect(assertJavaAvailable(java)).resolves.toBeUndefined();
    });

    it('throws JavaMissingError naming the package to install when there is no java', async () => {
      const attempt = assertJavaAvailable(join(binDir, 'no-such-java'));

      await expect(attempt).rejects.toBeInstanceOf(JavaMissingError);
      await expect(attempt).rejects.toThrow(/openjdk-17-jre-headless/);
    });

    it('throws JavaMissingError when the java found is older than 17', async () => {
      const java = await fakeJava('java version "1.8.0_392"');

      await expect(assertJavaAvailable(java)).rejects.toThrow(/found Java 8/);
    });
  });
});
