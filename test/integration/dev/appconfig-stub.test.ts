/**
 * dev/appconfig-stub.ts against the real `@aws-sdk/client-appconfigdata`: sessions, one-use tokens, empty
 * answers for a version already received, AWS's errors, the file watch and the faults.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AppConfigDataClient,
  BadRequestException,
  GetLatestConfigurationCommand,
  InternalServerException,
  ResourceNotFoundException,
  StartConfigurationSessionCommand,
} from '@aws-sdk/client-appconfigdata';
import { startAppConfigStub, type AppConfigStub } from '../../../dev/appconfig-stub';
import { sleep, waitUntil } from '../support/wait';
import { failureOf } from '../support/sdk-failure';

const REGION = 'us-east-1';
const IDS = { application: 'broker', environment: 'test', profile: 'policy' };
const POLICY = { rules: [{ principals: ['arn:aws:iam::123456789012:role/app'], services: ['*'] }], admins: [] };
const credentials = { accessKeyId: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(30).toString('base64') };
const text = (bytes: Uint8Array | undefined) => new TextDecoder().decode(bytes ?? new Uint8Array());

describe('appconfig-stub with the real AppConfig Data client', () => {
  let stub: AppConfigStub;
  let client: AppConfigDataClient;
  const lines: string[] = [];

  beforeAll(async () => {
    stub = await startAppConfigStub({ credentials, region: REGION, ...IDS, content: POLICY, log: (line) => lines.push(line) });
    client = new AppConfigDataClient({ region: REGION, credentials, endpoint: stub.endpoint, maxAttempts: 1 });
  });
  afterAll(async () => {
    client.destroy();
    await stub.stop();
  });
  afterEach(() => stub.setFaults({}));

  const session = async (overrides: Record<string, unknown> = {}) =>
    (
      await client.send(
        new StartConfigurationSessionCommand({
          ApplicationIdentifier: IDS.application,
          EnvironmentIdentifier: IDS.environment,
          ConfigurationProfileIdentifier: IDS.profile,
          ...overrides,
        }),
      )
    ).InitialConfigurationToken as string;

  it('serves the configuration once per version, with the next token, poll interval, content type and version label', async () => {
    const first = await client.send(new GetLatestConfigurationCommand({ ConfigurationToken: await session() }));
    expect(first.$metadata.httpStatusCode).toBe(200);
    expect(JSON.parse(text(first.Configuration))).toEqual(POLICY);
    expect(first).toMatchObject({ ContentType: 'application/json', NextPollIntervalInSeconds: 60, VersionLabel: String(stub.version()) });
    expect(first.NextPollConfigurationToken).toEqual(expect.any(String));

    // The same version again: an empty body (the client already has it).
    const again = await client.send(new GetLatestConfigurationCommand({ ConfigurationToken: first.NextPollConfigurationToken }));
    expect(text(again.Configuration)).toBe('');

    const next = { rules: [], admins: ['arn:aws:iam::123456789012:role/ops'] };
    expect(stub.deploy(next)).toEqual({ deployed: true, version: 2 });
    const changed = await client.send(new GetLatestConfigurationCommand({ ConfigurationToken: again.NextPollConfigurationToken }));
    expect(JSON.parse(text(changed.Configuration))).toEqual(next);
    expect(changed.VersionLabel).toBe('2');
    expect(lines).toContain('policy in memory deployed as version 2');
  });

  it('refuses a token used twice, an unknown token, and a poll sooner than the interval the session asked for', async () => {
    const token = await session();
    await client.send(new GetLatestConfigurationCommand({ ConfigurationToken: token }));
    const reused = await failureOf(client.send(new GetLatestConfigurationCommand({ ConfigurationToken: token })));
    expect(reused).toBeInstanceOf(BadRequestException);
    expect((reused as BadRequestException).Details?.InvalidParameters?.ConfigurationToken?.Problem).toBe('Corrupted');
    expect(await failureOf(client.send(new GetLatestConfigurationCommand({ ConfigurationToken: 'made-up' })))).toBeInstanceOf(BadRequestException);

    const held = await client.send(new GetLatestConfigurationCommand({ ConfigurationToken: await session({ RequiredMinimumPollIntervalInSeconds: 15 }) }));
    expect(held.NextPollIntervalInSeconds).toBe(15);
    const early = await failureOf(client.send(new GetLatestConfigurationCommand({ ConfigurationToken: held.NextPollConfigurationToken })));
    expect((early as BadRequestException).Details?.InvalidParameters?.ConfigurationToken?.Problem).toBe('PollIntervalNotSatisfied');
  });

  it('answers ResourceNotFoundException for an unknown application, environment or profile, and BadRequestException for a bad interval', async () => {
    for (const [name, type] of [
      ['ApplicationIdentifier', 'Application'],
      ['EnvironmentIdentifier', 'Environment'],
      ['ConfigurationProfileIdentifier', 'ConfigurationProfile'],
    ] as const) {
      const error = await failureOf(session({ [name]: 'nope' }));
      expect(error).toBeInstanceOf(ResourceNotFoundException);
      expect(error.$metadata?.httpStatusCode).toBe(404);
      expect((error as ResourceNotFoundException).ResourceType).toBe(type);
    }
    expect(await failureOf(session({ RequiredMinimumPollIntervalInSeconds: 5 }))).toBeInstanceOf(BadRequestException);
  });

  it('refuses an unsigned or wrongly signed request', async () => {
    const stranger = new AppConfigDataClient({ region: REGION, credentials: { ...credentials, secretAccessKey: 'wrong' }, endpoint: stub.endpoint, maxAttempts: 1 });
    try {
      const error = await failureOf(
        stranger.send(new StartConfigurationSessionCommand({ ApplicationIdentifier: 'broker', EnvironmentIdentifier: 'test', ConfigurationProfileIdentifier: 'policy' })),
      );
      expect(error.name).toBe('InvalidSignatureException');
      expect(error.$metadata?.httpStatusCode).toBe(403);
    } finally {
      stranger.destroy();
    }
  });

  it('injects faults: server error, unreachable, and an empty deployed configuration', async () => {
    stub.setFaults({ serverError: true });
    expect(await failureOf(session())).toBeInstanceOf(InternalServerException);

    stub.setFaults({ unreachable: true });
    const unreachable = await failureOf(session());
    expect(unreachable.$metadata?.httpStatusCode).toBeUndefined();

    stub.setFaults({ empty: true });
    const empty = await client.send(new GetLatestConfigurationCommand({ ConfigurationToken: await session() }));
    expect(text(empty.Configuration)).toBe('');
  });

  it('refuses an invalid deployment and keeps serving the last good version', async () => {
    const before = stub.version();
    expect(stub.deploy('{"rules":[{"principals":[],"services":["*"]}]}')).toMatchObject({ deployed: false });
    expect(stub.version()).toBe(before);
    expect(lines.at(-1)).toMatch(new RegExp(`^policy in memory refused: rules\\.0\\.principals: .+; version ${before} stays in force$`));
    const served = await client.send(new GetLatestConfigurationCommand({ ConfigurationToken: await session() }));
    expect(JSON.parse(text(served.Configuration))).toEqual(stub.current());
  });
});

describe('appconfig-stub serving a watched file', () => {
  let dir: string;
  let file: string;
  let stub: AppConfigStub | undefined;
  const lines: string[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'appconfig-stub-'));
    file = join(dir, 'policy.json');
    lines.length = 0;
  });
  afterEach(async () => {
    await stub?.stop();
    stub = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('deploys each valid edit as a new version within 5 s, refuses an invalid one with one line, and keeps the last good', async () => {
    await writeFile(file, JSON.stringify(POLICY));
    stub = await startAppConfigStub({ credentials, ...IDS, file, log: (line) => lines.push(line) });
    expect(stub.version()).toBe(1);
    expect(lines).toEqual([`policy ${file} deployed as version 1`]);

    const edited = { ...POLICY, admins: ['arn:aws:iam::123456789012:role/ops'] };
    await writeFile(file, JSON.stringify(edited));
    await waitUntil(() => stub?.version() === 2, 5000);
    expect(stub.current()).toEqual({ ...edited, rules: [{ ...POLICY.rules[0], modes: ['latching', 'ip'], maxTtlSeconds: 3600, maxActive: 10, opensPerMinute: 60 }] });

    await writeFile(file, JSON.stringify({ rules: [{ principals: ['x'], services: ['*'], modes: ['teleport'] }] }));
    await waitUntil(() => lines.length === 3, 5000);
    expect(lines[2]).toMatch(new RegExp(`^policy ${file} refused: rules\\.0\\.modes\\.0: .+; version 2 stays in force$`));
    // Still refused once, however many checks see the same text.
    await sleep(1500);
    expect(lines).toHaveLength(3);
    expect(stub.version()).toBe(2);

    // An editor that saves by rename.
    const staged = join(dir, 'policy.json.tmp');
    await writeFile(staged, JSON.stringify(POLICY));
    await rename(staged, file);
    await waitUntil(() => stub?.version() === 3, 5000);
    expect(lines.at(-1)).toBe(`policy ${file} deployed as version 3`);
  });

  it('starts with nothing deployed when the file is invalid, and answers sessions ResourceNotFoundException', async () => {
    await writeFile(file, '{"rules": [');
    stub = await startAppConfigStub({ credentials, ...IDS, file, log: (line) => lines.push(line) });
    expect(stub.version()).toBe(0);
    expect(lines[0]).toMatch(new RegExp(`^policy ${file} refused: not valid JSON .*; nothing is deployed$`));
    const client = new AppConfigDataClient({ region: REGION, credentials, endpoint: stub.endpoint, maxAttempts: 1 });
    try {
      const error = await failureOf(
        client.send(new StartConfigurationSessionCommand({ ApplicationIdentifier: 'broker', EnvironmentIdentifier: 'test', ConfigurationProfileIdentifier: 'policy' })),
      );
      expect((error as ResourceNotFoundException).ResourceType).toBe('Deployment');
    } finally {
      client.destroy();
    }
  });
});
