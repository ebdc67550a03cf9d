import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { createTables, JavaMissingError, startDynamoDbLocal } from '../../../dev/dynamodb-local';

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

    it('throws JavaMissingError naming the package to install when java is not on the PATH', async () => {
      const path = process.env.PATH;
      process.env.PATH = dataDir;
      try {
        const attempt = startDynamoDbLocal();

        await expect(attempt).rejects.toBeInstanceOf(JavaMissingError);
        await expect(attempt).rejects.toThrow(/openjdk-17-jre-headless/);
      } finally {
        process.env.PATH = path;
      }
    });
  });
});
