import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  ListTablesCommand,
  PutItemCommand,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import {
  assertJavaAvailable,
  createTables,
  DynamoDbLocalStartError,
  generateDynamoDbAccessKeyId,
  JavaMissingError,
  startDynamoDbLocal,
} from '../../../dev/dynamodb-local';
import { CONNECTIONS, connectionsTable, createTableInput } from '../../../lambdas/store/tables';
import { createTestTables, dynamoEndpoint } from './dynamo';
import { failureOf } from './sdk-failure';

const isRunning = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const clientFor = (endpoint: string) => new DynamoDBClient({ endpoint, maxAttempts: 1 });
/** A client of DynamoDB Local in the namespace of `accessKeyId` (DynamoDB Local checks no secret key). */
const clientAs = (endpoint: string, accessKeyId: string, region = 'us-east-1') =>
  new DynamoDBClient({ endpoint, region, credentials: { accessKeyId, secretAccessKey: 'anything' }, maxAttempts: 1 });

describe('dynamodb-local', () => {
  describe('startDynamoDbLocal', () => {
    let dataDir: string;

    beforeAll(async () => {
      dataDir = await mkdtemp(join(tmpdir(), 'ddb-local-'));
    });

    afterAll(async () => {
      await rm(dataDir, { recursive: true, force: true });
    });

    it('keeps tables across a restart under a new key per run, addressable by no key between runs, and leaves no JVM behind', async () => {
      // Arrange: a first run creates the tables in its namespace.
      const first = await startDynamoDbLocal({ dataDir });
      const client = clientAs(first.endpoint, first.accessKeyId);
      try {
        await createTables(client, { connections: 'dev-connections', idempotency: 'dev-idempotency' });
        await createTables(client, { connections: 'dev-connections', idempotency: 'dev-idempotency' }); // idempotent
      } finally {
        client.destroy();
        await first.stop();
      }
      const between = (await readdir(dataDir)).sort();

      // Act: a second run.
      const second = await startDynamoDbLocal({ dataDir });
      const again = clientAs(second.endpoint, second.accessKeyId);
      const firstKey = clientAs(second.endpoint, first.accessKeyId);
      try {
        const { TableNames } = await again.send(new ListTablesCommand({}));
        const underOldKey = await firstKey.send(new ListTablesCommand({}));

        // Assert
        expect(TableNames).toEqual(['dev-connections', 'dev-idempotency']);
        expect(underOldKey.TableNames).toEqual([]);
      } finally {
        again.destroy();
        firstKey.destroy();
        await second.stop();
      }
      expect(first.pid).toBeDefined();
      expect(isRunning(first.pid ?? 0)).toBe(false);
      expect(second.accessKeyId).not.toBe(first.accessKeyId);
      expect([first.accessKeyId, second.accessKeyId]).toEqual([expect.stringMatching(/^[A-Za-z0-9]{32,}$/), expect.stringMatching(/^[A-Za-z0-9]{32,}$/)]);
      // Between runs the data is under a name DynamoDB Local never opens (it opens `<key>_<region>.db`).
      expect(between).toEqual(['broker-us-east-1.sqlite']);
      expect((await stat(join(dataDir, 'broker-us-east-1.sqlite'))).mode & 0o777).toBe(0o600);
    }, 60_000);

    it('takes over the database of a run that did not stop cleanly, and refuses a data directory a live JVM is using', async () => {
      const crashDir = await mkdtemp(join(tmpdir(), 'ddb-crash-'));
      try {
        const first = await startDynamoDbLocal({ dataDir: crashDir });
        const client = clientAs(first.endpoint, first.accessKeyId);
        try {
          await createTables(client, { connections: 'kept-connections', idempotency: 'kept-idempotency' });
          await expect(startDynamoDbLocal({ dataDir: crashDir })).rejects.toThrow(DynamoDbLocalStartError);
        } finally {
          client.destroy();
        }
        // A crash: the JVM ends, nothing is put away; the in-use note is left naming a process that is gone.
        process.kill(first.pid ?? 0, 'SIGKILL');
        await new Promise((resolve) => setTimeout(resolve, 500));
        await writeFile(join(crashDir, 'in-use.json'), JSON.stringify({ file: `${first.accessKeyId}_us-east-1.db`, pid: 2 ** 22 + 1 }));

        const second = await startDynamoDbLocal({ dataDir: crashDir });
        const again = clientAs(second.endpoint, second.accessKeyId);
        try {
          expect((await again.send(new ListTablesCommand({}))).TableNames).toEqual(['kept-connections', 'kept-idempotency']);
        } finally {
          again.destroy();
          await second.stop();
          await first.stop();
        }
      } finally {
        await rm(crashDir, { recursive: true, force: true });
      }
    }, 60_000);
  });

  describe('namespace', () => {
    it("hides the run's tables from a client with any other access key id, or another region: it lists none and reads or writes none", async () => {
      // Arrange: tables of this run, in the run's DynamoDB Local (the one every suite shares).
      const tables = await createTestTables('ns');
      const region = process.env.AWS_REGION ?? 'us-east-1';
      const outsiders = [clientAs(dynamoEndpoint(), 'LOCALBROKERKEY', region), clientAs(dynamoEndpoint(), generateDynamoDbAccessKeyId(), region)];
      const ownKeyElsewhere = clientAs(dynamoEndpoint(), process.env.AWS_ACCESS_KEY_ID ?? '', region === 'us-east-1' ? 'eu-west-1' : 'us-east-1');
      try {
        // Act
        const listed = await Promise.all([...outsiders, ownKeyElsewhere].map((client) => client.send(new ListTablesCommand({}))));
        const reads = await Promise.all(
          outsiders.map((client) => failureOf(client.send(new GetItemCommand({ TableName: tables.connections, Key: { pk: { S: 'any' } } })))),
        );
        const writes = await Promise.all(
          outsiders.map((client) => failureOf(client.send(new PutItemCommand({ TableName: tables.connections, Item: { pk: { S: 'x' }, owner: { S: 'arn:aws:iam::000000000000:role/attacker' } } })))),
        );
        const own = await clientFor(dynamoEndpoint()).send(new ListTablesCommand({}));

        // Assert
        for (const answer of listed) expect(answer.TableNames ?? []).not.toContain(tables.connections);
        for (const failure of [...reads, ...writes]) expect(failure).toBeInstanceOf(ResourceNotFoundException);
        expect(own.TableNames).toContain(tables.connections);
      } finally {
        for (const client of [...outsiders, ownKeyElsewhere]) client.destroy();
        await tables.drop();
      }
    });

    it('refuses an access key id DynamoDB Local would not take, without echoing it', async () => {
      const attempt = startDynamoDbLocal({ accessKeyId: 'not-a-key!secret' });

      await expect(attempt).rejects.toThrow('accessKeyId must be 1 to 128 letters and digits');
      await expect(attempt).rejects.not.toThrow(/not-a-key/);
    });
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
