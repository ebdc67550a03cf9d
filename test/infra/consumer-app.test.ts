/**
 * The construct package as a platform team meets it: README's "Use in your own CDK app", followed to the letter.
 * `npm pack` of this repository; a CDK app of the team's own in a temporary directory (aws-cdk-lib, constructs,
 * cdk-nag, the CDK CLI and TypeScript at this repository's versions, so npm's cache has them); the tarball
 * installed into it; the README's two files written into it; its build (tsc, strict, exactOptionalPropertyTypes);
 * `cdk synth` with cdk-nag's packs as validation plugins. Then the template: two brokers, each with a metric
 * dimension of its own, the functions' code the package's prebuilt bundles byte for byte, no physical names.
 * Offline but for the npm registry, and only for what npm's cache lacks (`--prefer-offline`).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');
/** Each step (the package's build and pack, an install from npm's cache, a compile, a synth) stays well inside this. */
const STEP_TIMEOUT_MS = 120_000;
/** The whole walk through: pack, two installs, a build, a synth (70 to 95 s on two shared cores). */
const WALK_TIMEOUT_MS = 300_000;

/** The README's commands, as the test runs them (the repository is already installed: the test runs in it). */
const README_COMMANDS = [
  'npm ci',
  'npm pack',
  'npm install ../remoteit-broker/remoteit-broker-0.1.0.tgz',
  'npm run build && npx cdk synth',
];

/** Without the npm_* variables of an enclosing `npm test`; with the CDK CLI kept off the network. */
function cleanEnv(): NodeJS.ProcessEnv {
  return {
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name))),
    CDK_DISABLE_CLI_TELEMETRY: 'true',
    CDK_DISABLE_VERSION_CHECK: 'true',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}

async function sh(file: string, args: string[], cwd: string): Promise<{ stdout: string; stderr: string }> {
  return run(file, args, { cwd, env: cleanEnv(), timeout: STEP_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 });
}

/** The README section: its shell commands (comments dropped) and its TypeScript files (`// path` first line). */
async function readmeSection() {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Use in your own CDK app\n');
  if (start < 0) throw new Error('README.md has no "## Use in your own CDK app" section');
  const section = readme.slice(start + 1, readme.indexOf('\n## ', start + 1));
  const blocks = [...section.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map(([, language, body]) => ({ language, body: body ?? '' }));
  const commands = blocks
    .filter((block) => block.language === 'sh')
    .flatMap((block) => block.body.split('\n'))
    .map((line) => line.replace(/#.*$/, '').trim())
    .filter(Boolean);
  const files = blocks
    .filter((block) => block.language === 'ts')
    .map((block) => {
      const path = /^\/\/ (\S+\.ts)\n/.exec(block.body)?.[1];
      if (!path) throw new Error(`a TypeScript block of the README section does not start with its path: ${block.body.slice(0, 60)}`);
      return { path, text: block.body };
    });
  return { commands, files };
}

/** A team's CDK app before it adds the broker: the `cdk init` layout, built with tsc and run with node. */
async function existingApp(appDir: string): Promise<void> {
  const root = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
  const version = (name: string) => root.devDependencies[name] ?? `no ${name} in the repository`;
  const manifest = {
    name: 'platform',
    version: '1.0.0',
    private: true,
    scripts: { build: 'tsc' },
    dependencies: { 'aws-cdk-lib': version('aws-cdk-lib'), constructs: version('constructs') },
    devDependencies: { 'aws-cdk': version('aws-cdk'), 'cdk-nag': version('cdk-nag'), typescript: version('typescript') },
  };
  // `cdk init app --language typescript`'s compiler options, stricter: exactOptionalPropertyTypes. aws-cdk-lib's own
  // declarations do not compile under it (nor under lib es2022): apps skip library checks, as here.
  const tsconfig = {
    compilerOptions: {
      target: 'ES2022',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      lib: ['es2022'],
      declaration: true,
      strict: true,
      noImplicitAny: true,
      strictNullChecks: true,
      noImplicitThis: true,
      alwaysStrict: true,
      noImplicitReturns: true,
      inlineSourceMap: true,
      inlineSources: true,
      experimentalDecorators: true,
      strictPropertyInitialization: false,
      exactOptionalPropertyTypes: true,
      skipLibCheck: true,
      typeRoots: ['./node_modules/@types'],
    },
    exclude: ['node_modules', 'cdk.out'],
  };
  await writeFile(join(appDir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  await writeFile(join(appDir, 'tsconfig.json'), `${JSON.stringify(tsconfig, null, 2)}\n`);
  await writeFile(join(appDir, 'cdk.json'), `${JSON.stringify({ app: 'node bin/app.js', notices: false }, null, 2)}\n`);
  await sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], appDir);
}

type Resource = { Type: string; Properties?: Record<string, unknown>; DeletionPolicy?: string };
type Template = { Resources: Record<string, Resource>; Outputs?: Record<string, unknown> };

let packDir: string;
let appDir: string;
let section: Awaited<ReturnType<typeof readmeSection>>;
let tarball: string;
let packedFiles: string[];
let template: Template;

beforeAll(async () => {
  section = await readmeSection();
  packDir = await mkdtemp(join(tmpdir(), 'broker-pack-'));
  appDir = await mkdtemp(join(tmpdir(), 'broker-cdk-app-'));
  await existingApp(appDir);

  // npm ci: this repository is installed already, the test runs in it.
  // npm pack (its `prepare` builds dist/ first).
  const { stdout } = await sh('npm', ['pack', '--pack-destination', packDir, '--json', '--silent'], ROOT);
  const [packed] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  if (!packed) throw new Error(`npm pack printed no package: ${stdout}`);
  tarball = packed.filename;
  packedFiles = packed.files.map((file) => file.path);
  // npm install <the tarball>, in the app.
  await sh('npm', ['install', join(packDir, tarball), '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], appDir);
  // The README's two files.
  for (const file of section.files) {
    await mkdir(dirname(join(appDir, file.path)), { recursive: true });
    await writeFile(join(appDir, file.path), file.text);
  }
  // npm run build && npx cdk synth, as the README writes it.
  const last = README_COMMANDS[README_COMMANDS.length - 1] ?? '';
  await sh('sh', ['-c', last], appDir);
  template = JSON.parse(await readFile(join(appDir, 'cdk.out', 'Platform.template.json'), 'utf8')) as Template;
}, WALK_TIMEOUT_MS);

afterAll(async () => {
  await Promise.all([packDir, appDir].filter(Boolean).map((dir) => rm(dir, { recursive: true, force: true })));
});

const resources = (type: string) => Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
const variablesOf = (fn: Resource) => (fn.Properties?.Environment as { Variables: Record<string, string> }).Variables;

describe('the construct package in a platform team\'s CDK app (README, "Use in your own CDK app")', () => {
  it('follows the README section: its commands, its two files', () => {
    expect(section.commands).toEqual(README_COMMANDS);
    expect(section.files.map((file) => file.path)).toEqual(['lib/platform-stack.ts', 'bin/app.ts']);
    expect(tarball).toBe(README_COMMANDS[2]?.split('/').pop());
  });

  it('ships JavaScript, declarations and the prebuilt functions, no TypeScript sources, and depends on nothing but its peers', async () => {
    const installed = JSON.parse(await readFile(join(appDir, 'node_modules', 'remoteit-broker', 'package.json'), 'utf8')) as Record<string, unknown>;
    const functions = ['audit', 'connections-open', 'connections-read', 'connections-write', 'sweeper', 'timer-arm', 'timer-fire'];

    expect(packedFiles).toEqual(expect.arrayContaining(['package.json', 'README.md', 'dist/index.js', 'dist/types/infra/index.d.ts']));
    expect(packedFiles.filter((path) => path.startsWith('dist/lambda/')).sort()).toEqual(
      functions.flatMap((name) => [`dist/lambda/${name}/index.js`, `dist/lambda/${name}/index.js.map`]),
    );
    expect(packedFiles.filter((path) => path.endsWith('.ts') && !path.endsWith('.d.ts'))).toEqual([]);
    expect(installed.dependencies).toBeUndefined();
    expect(installed.peerDependencies).toEqual({ 'aws-cdk-lib': '^2.224.0', constructs: '^10.0.0' });
    // Nothing bundles at synth: no esbuild in the app, and nothing installed for the package.
    await expect(readFile(join(appDir, 'node_modules', 'esbuild', 'package.json'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(readdir(join(appDir, 'node_modules', 'remoteit-broker', 'node_modules'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('type-checks against the package\'s declarations with every library check on: only aws-cdk-lib\'s own fail', async () => {
    const tsc = join(appDir, 'node_modules', 'typescript', 'bin', 'tsc');

    const errors = await sh(process.execPath, [tsc, '--noEmit', '--skipLibCheck', 'false'], appDir).then(
      () => [],
      (failure: { stdout?: string }) => (failure.stdout ?? '').split('\n').filter((line) => / error TS\d+/.test(line)),
    );

    expect(errors.filter((line) => !line.startsWith('node_modules/aws-cdk-lib/'))).toEqual([]);
  }, STEP_TIMEOUT_MS);

  it('synthesizes the two brokers: an HTTP API, seven functions and three tables each', () => {
    expect(resources('AWS::ApiGatewayV2::Api')).toHaveLength(2);
    expect(resources('AWS::Lambda::Function')).toHaveLength(14);
    expect(resources('AWS::DynamoDB::GlobalTable')).toHaveLength(6);
  });

  it('gives each broker a metric dimension of its own, which its alarms and dashboard follow', () => {
    const serviceOf = (prefix: string) => [
      ...new Set(resources('AWS::Lambda::Function').filter(([id]) => id.startsWith(prefix)).map(([, fn]) => variablesOf(fn).POWERTOOLS_SERVICE_NAME)),
    ];
    const alarmServices = resources('AWS::CloudWatch::Alarm').flatMap(([, alarm]) =>
      JSON.stringify(alarm.Properties).match(/"Name":"service","Value":"[^"]+"/g) ?? [],
    );
    const dashboards = resources('AWS::CloudWatch::Dashboard').map(([id, dashboard]) => [
      id.replace(/Dashboard.*$/, ''),
      [...new Set([...JSON.stringify(dashboard.Properties?.DashboardBody).matchAll(/\\"service\\",\\"([^\\]+)\\"/g)].map((match) => match[1]))],
    ]);

    expect(serviceOf('Broker')).toEqual(['Platform/Broker']);
    expect(serviceOf('StagingBroker')).toEqual(['Platform/StagingBroker']);
    // The staging broker has no alarms (createAlarms: false): every alarm on a broker metric is the production one's.
    expect(resources('AWS::CloudWatch::Alarm')).toHaveLength(18);
    expect([...new Set(alarmServices)]).toEqual(['"Name":"service","Value":"Platform/Broker"']);
    expect(dashboards.sort()).toEqual([['Broker', ['Platform/Broker']], ['StagingBroker', ['Platform/StagingBroker']]]);
  });

  it('deploys the package\'s prebuilt bundles as they are: each function\'s code asset is one of them, byte for byte', async () => {
    const assets = JSON.parse(await readFile(join(appDir, 'cdk.out', 'Platform.assets.json'), 'utf8')) as { files: Record<string, { source: { path: string } }> };
    const packaged = join(appDir, 'node_modules', 'remoteit-broker', 'dist', 'lambda');
    const bundles = await Promise.all((await readdir(packaged)).map((name) => readFile(join(packaged, name, 'index.js'))));

    const shipped = await Promise.all(
      resources('AWS::Lambda::Function').map(async ([, fn]) => {
        const hash = String((fn.Properties?.Code as { S3Key: string }).S3Key).replace(/\.zip$/, '');
        return readFile(join(appDir, 'cdk.out', assets.files[hash]?.source.path ?? `no asset ${hash}`, 'index.js'));
      }),
    );

    expect(bundles).toHaveLength(7);
    expect(shipped.every((code) => bundles.some((bundle) => bundle.equals(code)))).toBe(true);
    expect(new Set(shipped.map((code) => code.toString('base64'))).size).toBe(7);
  });

  it('names nothing and exports nothing: CloudFormation names every resource, and the stack has no outputs', () => {
    // Resources whose name CloudFormation requires get one CDK derives from the construct's path, unique per broker.
    const nameRequired = (type: string) => type.startsWith('AWS::AppConfig::') || type === 'AWS::ApiGatewayV2::Api' || type === 'AWS::Events::EventBus';
    const named = Object.entries(template.Resources)
      .filter(([, resource]) => !nameRequired(resource.Type))
      .flatMap(([id, resource]) =>
        Object.entries(resource.Properties ?? {})
          // A literal: a reference to another resource's name ({Ref}) names nothing.
          .filter(([key, value]) => /^(Table|Function|Queue|Role|LogGroup|Topic|Dashboard|EventBus|Secret)?Name$/.test(key) && typeof value === 'string')
          .map(([key]) => `${id}.${key}`),
      );

    expect(named).toEqual([]);
    expect(template.Outputs ?? {}).toEqual({});
  });

  it('grants the app\'s role each route of the production broker, with no `*` for cdk-nag to report', () => {
    const [[, policy] = []] = resources('AWS::IAM::Policy').filter(([id]) => id.startsWith('AppRole'));
    const statements = (policy?.Properties?.PolicyDocument as { Statement: { Action: string; Resource: unknown[] }[] }).Statement;

    expect(statements.map((statement) => statement.Action)).toEqual(['execute-api:Invoke']);
    expect(statements[0]?.Resource).toHaveLength(9);
    expect(JSON.stringify(statements)).not.toContain('*');
  });

  it('passes cdk-nag (AwsSolutions and Serverless, as validation plugins), which does run: an unacknowledged queue beside the brokers fails', async () => {
    const report = JSON.parse(await readFile(join(appDir, 'cdk.out', 'validation-report.json'), 'utf8')) as { pluginReports: unknown[] };
    const control = [
      "const { App, Validations } = require('aws-cdk-lib');",
      "const sqs = require('aws-cdk-lib/aws-sqs');",
      "const { AwsSolutionsChecks, ServerlessChecks } = require('cdk-nag');",
      "const { PlatformStack } = require('./lib/platform-stack');",
      "const app = new App({ outdir: 'cdk.control' });",
      "new sqs.Queue(new PlatformStack(app, 'Platform'), 'Unacknowledged', { encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true });",
      'Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));',
      'app.synth();',
    ].join('\n');

    const failure = await sh(process.execPath, ['-e', control], appDir).then(
      () => 'synthesized',
      (error: { stdout?: string; stderr?: string }) => `${error.stdout ?? ''}${error.stderr ?? ''}`,
    );

    expect(report.pluginReports).toEqual([]);
    expect(failure).toMatch(/AwsSolutions-SQS3/);
    expect(failure).toMatch(/Platform\/Unacknowledged/);
    expect(failure).not.toMatch(/Platform\/(Broker|StagingBroker|AppRole)\//);
  }, STEP_TIMEOUT_MS);

  it('is imported from an ES module too, by name', async () => {
    const script = "import { ConnectionBroker, ConnectionBrokerPropsError } from 'remoteit-broker'; console.log(typeof ConnectionBroker, typeof ConnectionBrokerPropsError)";

    const { stdout } = await sh(process.execPath, ['--input-type=module', '-e', script], appDir);

    expect(stdout.trim()).toBe('function function');
  });

  it('points `npx rbroker` at the client package, which is where the CLI is', async () => {
    const outcome = await sh('npx', ['--no-install', 'rbroker', '--version'], appDir).then(
      () => 'ran',
      (error: { code?: number; stderr?: string }) => `${error.code}: ${error.stderr ?? ''}`,
    );

    expect(outcome).toMatch(/^1: rbroker is the CLI of @remoteit-broker\/client/);
  });
});
