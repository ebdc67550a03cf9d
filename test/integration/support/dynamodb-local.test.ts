import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, DeleteTableCommand, DescribeTableCommand, DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { assertJavaAvailable, createTables, JavaMissingError, startDynamoDbLocal } from '../../../dev/dynamodb-local';
import { CONNECTIONS, connectionsTable, createTableInput } from '../../../lambdas/store/tables';
import { dynamoEndpoint } from './dynamo';

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

  describe('createTables', () => {
    it('adds the indexes a kept table lacks when its definition gained them since', async () => {
      // Arrange: a connections table as an older version created it, without the live-by-owner index.
      const client = clientFor(dynamoEndpoint());
      const names = { connections: `old-connections-${Date.now()}`, idempotency: `old-idempotency-${Date.now()}` };
      const older = { ...connectionsTable, globalSecondaryIndexes: connectionsTable.globalSecondaryIndexes.filter((index) => index.indexName !== CONNECTIONS.liveIndex) };
      try {
        await client.send(new CreateTableCommand(createTableInput(older, names.connections)));

        // Act
        await createTables(client, names);

        // Assert
        const { Table } = await client.send(new DescribeTableCommand({ TableName: names.connections }));
        expect(Table?.GlobalSecondaryIndexes?.map((index) => index.IndexName).sort()).toEqual(
          connectionsTable.globalSecondaryIndexes.map((index) => index.indexName).sort(),
        );
      } finally {
        await Promise.all(Object.values(names).map((TableName) => client.send(new DeleteTableCommand({ TableName })).catch(() => undefined)));
        client.destroy();
      }
    });
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
