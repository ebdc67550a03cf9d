/**
 * The other-language recipes in docs/recipes as users run them: python3 with botocore and requests, and
 * curl's --aws-sigv4, each a real child process against the local stack, signing as a local identity whose
 * keys it gets from the environment (botocore's default chain reads them there). A missing python3, module or
 * curl too old for --aws-sigv4 FAILS these tests, naming what to install (.ci/run installs them): never a skip.
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import type { GatewayRequestLog } from '../../../dev/gateway';
import { createTestDynamoClient } from '../support/dynamo';
import { call, ECHO, startTestStack, type TestStack } from '../e2e/support';

const RECIPES = join(__dirname, '..', '..', '..', 'docs', 'recipes');
const PYTHON_RECIPE = join(RECIPES, 'python', 'broker.py');
const CURL_RECIPE = join(RECIPES, 'curl', 'broker.sh');
const ADMIN_ONLY = '80:00:00:00:00:00:01:01';
const RUN_TIMEOUT_MS = 25_000;
const PYTHON_MISSING =
  'docs/recipes/python needs python3 with botocore and requests (Debian: apt-get install python3-botocore python3-requests; .ci/run installs them)';

let stack: TestStack;
const gatewayLog: GatewayRequestLog[] = [];
/** Called with each request the gateway answered, after it is logged. */
let onGatewayRequest: ((log: GatewayRequestLog) => void) | undefined;

beforeAll(async () => {
  stack = await startTestStack({
    onRequest: (log) => {
      gatewayLog.push(log);
      onGatewayRequest?.(log);
    },
  });
});

afterEach(() => {
  onGatewayRequest = undefined;
  stack.emulator?.setFaults({});
});

afterAll(async () => {
  await stack.close();
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The tools the recipes need, checked as a user's machine would be: an Error naming what to install when
 * one is missing. curl's --aws-sigv4 came in 7.75.0.
 */
function requirePython(): void {
  const probe = spawnSync('python3', ['-c', 'import botocore, requests'], { encoding: 'utf8', timeout: 15_000 });
  if (probe.error || probe.status !== 0) throw new Error(`${PYTHON_MISSING}: ${probe.error?.message ?? probe.stderr.trim()}`);
}

function requireCurlWithSigV4(): void {
  const probe = spawnSync('curl', ['--version'], { encoding: 'utf8', timeout: 5_000 });
  const version = /^curl (\d+)\.(\d+)/.exec(probe.stdout ?? '');
  if (probe.error || !version) throw new Error(`docs/recipes/curl needs curl 7.75+ (--aws-sigv4): ${probe.error?.message ?? 'no curl --version'}`);
  const [major, minor] = [Number(version[1]), Number(version[2])];
  if (major < 7 || (major === 7 && minor < 75)) throw new Error(`docs/recipes/curl needs curl 7.75+ for --aws-sigv4; this is ${version[0]}`);
}

/** The recipe's environment: only what a user sets (no inherited AWS profile, proxy or config file). */
function recipeEnv(identity: 'app' | 'admin' = 'app'): NodeJS.ProcessEnv {
  const { accessKeyId, secretAccessKey } = stack.identity(identity);
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    BROKER_API_URL: stack.apiUrl,
    BROKER_REGION: stack.region,
    AWS_ACCESS_KEY_ID: accessKeyId,
    AWS_SECRET_ACCESS_KEY: secretAccessKey,
    AWS_CONFIG_FILE: '/nonexistent',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
    AWS_EC2_METADATA_DISABLED: 'true',
    NO_PROXY: '*',
  };
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} did not end within ${RUN_TIMEOUT_MS} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, RUN_TIMEOUT_MS);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

interface ConnectionJson {
  id: string;
  status: string;
  remoteConnectionId?: string;
  proxy?: { host: string; port: number };
}

/** The recipes print the opened, the read and the stopped connection, one JSON line each. */
function printedConnections(result: Run): ConnectionJson[] {
  return result.stdout.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as ConnectionJson);
}

/** What the broker recorded (read as admin) and what remote.it's emulator holds for the connection. */
async function afterwards(connection: ConnectionJson) {
  const recorded = await call(stack, { method: 'GET', path: `/connections/${connection.id}`, as: stack.identity('admin') });
  const proxy = stack.emulator?.connections().find((snapshot) => snapshot.connectionId === connection.remoteConnectionId);
  return { record: recorded.body as { status: string; stopReason?: string; owner: string }, proxy };
}

/** How many opens the broker's idempotency table holds: one more for each open sent with an Idempotency-Key. */
async function keyedOpens(): Promise<number> {
  const client = createTestDynamoClient();
  try {
    const { Count } = await client.send(new ScanCommand({ TableName: stack.tables.idempotency, Select: 'COUNT', ConsistentRead: true }));
    return Count ?? 0;
  } finally {
    client.destroy();
  }
}

async function expectOpenedReadAndStopped(result: Run): Promise<void> {
  expect(result).toMatchObject({ code: 0 });
  const [opened, read, stopped] = printedConnections(result);
  expect(opened).toMatchObject({ status: 'active', proxy: { host: '127.0.0.1', port: expect.any(Number) } });
  expect(read).toMatchObject({ id: opened?.id, status: 'active' });
  expect(stopped).toMatchObject({ id: opened?.id, status: 'stopped' });
  const { record, proxy } = await afterwards(opened as ConnectionJson);
  expect(record).toMatchObject({ status: 'stopped', stopReason: 'requested', owner: 'arn:aws:iam::000000000000:role/local-app' });
  expect(proxy).toMatchObject({ serviceId: ECHO, state: 'ended', proxyPort: opened?.proxy?.port });
  expect(result.stdout + result.stderr).not.toContain(stack.identity('app').secretAccessKey);
}

describe('docs/recipes/python/broker.py (botocore SigV4Auth + requests)', () => {
  const python = (args: string[], env = recipeEnv()) => {
    requirePython();
    return run('python3', [PYTHON_RECIPE, ...args], env);
  };

  it('opens a connection with an Idempotency-Key, reads it and stops it', async () => {
    const keyed = await keyedOpens();

    const result = await python([ECHO, '--ttl', '300']);

    await expectOpenedReadAndStopped(result);
    expect(await keyedOpens()).toBe(keyed + 1);
  });

  it('retries the open after the Retry-After of a 503 while remote.it throttles the broker', async () => {
    // remote.it answers 429 to every call; the broker answers 503 upstream_unavailable with Retry-After 1.
    // The first such answer lifts the throttling, so the recipe's retry (after 1 s) opens.
    stack.emulator?.setFaults({ throttle: { retryAfterSeconds: 1 } });
    const from = gatewayLog.length;
    onGatewayRequest = (log) => {
      if (log.method === 'POST' && log.status === 503) stack.emulator?.setFaults({});
    };

    const result = await python([ECHO]);

    const opens = gatewayLog.slice(from).filter((log) => log.method === 'POST' && log.path === '/connections');
    expect(opens.map((log) => log.status)).toEqual([503, 201]);
    expect(result.stderr).toMatch(/POST \/connections: 503 urn:remoteit-broker:problem:upstream_unavailable; retrying after 1 s \(Retry-After\), attempt 2 of 4/);
    await expectOpenedReadAndStopped(result);
  });

  it('exits 1 with the problem\'s type and detail when the policy denies the open, and does not retry it', async () => {
    const from = gatewayLog.length;

    const result = await python([ADMIN_ONLY]);

    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/open failed: 403 urn:remoteit-broker:problem:policy_denied: your policy does not allow connections to service 80:00:00:00:00:00:01:01/);
    expect(gatewayLog.slice(from).filter((log) => log.method === 'POST')).toHaveLength(1);
  });

  it('exits 2 naming the argument when one is bad', async () => {
    const result = await python([ECHO, '--attempts', '0']);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--attempts must be at least 1');
  });
});

describe('docs/recipes/curl/broker.sh (curl --aws-sigv4)', () => {
  const curlRecipe = (args: string[], env = recipeEnv()) => {
    requireCurlWithSigV4();
    return run('sh', [CURL_RECIPE, ...args], env);
  };

  it('opens a connection with an Idempotency-Key, shows it and stops it', async () => {
    const keyed = await keyedOpens();

    const result = await curlRecipe([ECHO]);

    await expectOpenedReadAndStopped(result);
    expect(await keyedOpens()).toBe(keyed + 1);
    expect(result.stderr).toMatch(/opened [0-9A-Z]{26} \(active\)/);
  });

  it('exits 1 with the problem\'s type and detail when the policy denies the open', async () => {
    const result = await curlRecipe([ADMIN_ONLY]);

    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/open failed: 403 urn:remoteit-broker:problem:policy_denied: your policy does not allow connections to service 80:00:00:00:00:00:01:01/);
  });

  it('exits 1 with API Gateway\'s message when the signature does not match (wrong secret)', async () => {
    const result = await curlRecipe([ECHO], { ...recipeEnv(), AWS_SECRET_ACCESS_KEY: 'not-the-secret-of-this-key-at-all' });

    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/open failed: 403 : The request signature we calculated does not match/);
  });

  it('exits 2 naming the argument when the service id is malformed', async () => {
    const result = await curlRecipe(['80:00;rm']);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('SERVICE_ID must be a remote.it service address');
  });
});
