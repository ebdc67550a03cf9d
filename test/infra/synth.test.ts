import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { bundleLikeCdk, FUNCTIONS } from '../../bench/cold-start';
import { createBrokerStack, DEFAULT_STACK_NAME } from '../../infra/broker-app';
import { bundleFunctions } from '../../infra/build';
import { FUNCTION_CONFIG, type BrokerFunctionName } from '../../lambdas/config';
import { testApp } from './support';

type Resource = { Type: string; Properties: Record<string, unknown> };

const policy = { rules: [{ principals: ['arn:aws:iam::123456789012:role/*'], services: ['*'] }], admins: [] };

describe('cdk synth', () => {
  // The smoke test: what `npm run synth` does, with real esbuild bundling, nag plugins and a policy file.
  let workDir: string;
  let assembly: CloudAssembly;
  let functions: Resource[];
  let resources: Record<string, Resource>;
  /** The bundle directory of a function's code asset, found through the stack's asset manifest. */
  let assetDirOf: (fn: Resource) => string;
  beforeAll(() => {
    workDir = mkdtempSync(path.join(tmpdir(), 'broker-synth-'));
    const policyFile = path.join(workDir, 'policy.json');
    writeFileSync(policyFile, JSON.stringify(policy));
    const app = testApp({ bundling: true, context: { policyFile }, outdir: path.join(workDir, 'cdk.out') });
    createBrokerStack(app);
    assembly = app.synth();
    const template = assembly.getStackByName(DEFAULT_STACK_NAME).template as { Resources: Record<string, Resource> };
    resources = template.Resources;
    functions = Object.values(resources).filter((resource) => resource.Type === 'AWS::Lambda::Function');
    const manifest = JSON.parse(
      readFileSync(path.join(assembly.directory, `${DEFAULT_STACK_NAME}.assets.json`), 'utf8'),
    ) as { files: Record<string, { source: { path: string } }> };
    assetDirOf = (fn) => {
      const hash = String((fn.Properties.Code as { S3Key: string }).S3Key).replace(/\.zip$/, '');
      return path.join(assembly.directory, manifest.files[hash]?.source.path ?? `no asset ${hash}`);
    };
  });
  afterAll(() => rmSync(workDir, { recursive: true, force: true }));

  describe('app', () => {
    it('synthesises one function per config schema (seven), each bundled into a minified file with its source map', () => {
      expect(functions).toHaveLength(Object.keys(FUNCTION_CONFIG).length);
      expect(functions).toHaveLength(7);
      for (const fn of functions) {
        const assetDir = assetDirOf(fn);
        const bundle = readFileSync(path.join(assetDir, 'index.js'), 'utf8');
        const sourceMap = JSON.parse(readFileSync(path.join(assetDir, 'index.js.map'), 'utf8')) as { sources: string[] };

        // Minified: lines run to thousands of characters (only template literals keep their newlines).
        expect(bundle.length / bundle.split('\n').length).toBeGreaterThan(1000);
        expect(bundle).toMatch(/sourceMappingURL=index\.js\.map/);
        expect(sourceMap.sources.some((source) => source.includes('lambdas/handlers/'))).toBe(true);
      }
    });

    it('leaves the AWS SDK to the runtime and bundles Powertools when it bundles the functions', () => {
      for (const fn of functions) {
        const assetDir = assetDirOf(fn);
        const bundle = readFileSync(path.join(assetDir, 'index.js'), 'utf8');
        const required = [...bundle.matchAll(/require\("([^"]+)"\)/g)].map((match) => match[1]);

        const sources = (JSON.parse(readFileSync(path.join(assetDir, 'index.js.map'), 'utf8')) as { sources: string[] }).sources;

        // Every function talks to AWS (timer-arm to SQS alone), through the runtime's SDK, none of it bundled.
        expect(required.some((name) => name?.startsWith('@aws-sdk/client-'))).toBe(true);
        expect(sources.filter((source) => source.includes('node_modules/@aws-sdk/'))).toEqual([]);
        expect(required.filter((name) => name?.startsWith('@aws-lambda-powertools'))).toEqual([]);
        expect(bundle).toContain('POWERTOOLS_SERVICE_NAME');
      }
    });

    it('ships, for each function, the bundle the benchmark builds and measures (npm run bench)', async () => {
      const shipped = functions.map((fn) => readFileSync(path.join(assetDirOf(fn), 'index.js'), 'utf8'));
      for (const { entry, name } of FUNCTIONS) {
        const outfile = path.join(workDir, 'bench', name, 'index.js');
        await bundleLikeCdk(entry, outfile);

        expect(shipped).toContain(readFileSync(outfile, 'utf8'));
      }
    });

    it('ships in the package (infra/build.ts, what `npm pack` runs) the very bundles it bundles here, byte for byte', async () => {
      const packaged = await bundleFunctions(path.join(workDir, 'package'));
      const assetOf = (name: string) =>
        functions.map(assetDirOf).find((dir) =>
          (JSON.parse(readFileSync(path.join(dir, 'index.js.map'), 'utf8')) as { sources: string[] }).sources.some((source) => source.endsWith(`lambdas/handlers/${name}.ts`)),
        );
      const mapOf = (file: string) => {
        const { mappings, names } = JSON.parse(readFileSync(file, 'utf8')) as { mappings: string; names: string[] };
        return { mappings, names };
      };

      expect(Object.keys(packaged).sort()).toEqual(Object.keys(FUNCTION_CONFIG).sort());
      for (const [name, bundle] of Object.entries(packaged)) {
        const asset = assetOf(name) ?? `no asset of ${name}`;

        expect(readFileSync(bundle).equals(readFileSync(path.join(asset, 'index.js')))).toBe(true);
        // The maps differ only in where their sources are, relative to where each bundle was written.
        expect(mapOf(`${bundle}.map`)).toEqual(mapOf(path.join(asset, 'index.js.map')));
      }
    });

    it('keeps the remote.it client and the secret out of the read function, and zod locales and the X-Ray SDK out of every bundle', () => {
      const sourcesOf = (fn: Resource) =>
        (JSON.parse(readFileSync(path.join(assetDirOf(fn), 'index.js.map'), 'utf8')) as { sources: string[] }).sources;
      const bundles = functions.map(sourcesOf);
      const read = bundles.find((sources) => sources.some((source) => source.endsWith('lambdas/handlers/connections-read.ts')));

      expect(read).toBeDefined();
      // Powertools parameters is in: its AppConfig provider reads the policy. Its secrets provider is not.
      for (const unused of ['lambdas/remoteit/client.ts', 'lambdas/handlers/remoteit-runtime.ts', 'http-message-signatures', '@aws-lambda-powertools/parameters/lib/esm/secrets/', '@aws-lambda-powertools/idempotency']) {
        expect(read?.filter((source) => source.includes(unused))).toEqual([]);
      }
      for (const sources of bundles) {
        // `import { z } from 'zod'` anywhere pulls in zod's whole namespace, every locale with it (400 KB).
        expect(sources.filter((source) => /zod\/v4\/locales\/(?!en\.)/.test(source))).toEqual([]);
        expect(sources.filter((source) => source.includes('aws-xray-sdk-core'))).toEqual([]);
      }
    });

    it('keeps every bundle within the cold-start budget of 200 KiB minified (docs/PERFORMANCE.md, goal 5)', () => {
      const names = Object.keys(FUNCTION_CONFIG) as BrokerFunctionName[];
      // Each function is named by its handler file (lambdas/handlers/<name>.ts), the entry of its bundle.
      const sizes = Object.fromEntries(
        functions.map((fn) => {
          const sources = (JSON.parse(readFileSync(path.join(assetDirOf(fn), 'index.js.map'), 'utf8')) as { sources: string[] }).sources;
          const entries = names.filter((name) => sources.some((source) => source.endsWith(`lambdas/handlers/${name}.ts`)));
          return [entries.join(' + ') || 'no handler', statSync(path.join(assetDirOf(fn), 'index.js')).size];
        }),
      );

      const overBudget = Object.entries(sizes)
        .filter(([, bytes]) => bytes > 200 * 1024)
        .map(([name, bytes]) => `${name}: ${(bytes / 1024).toFixed(1)} KiB`);

      expect(Object.keys(sizes).sort()).toEqual([...names].sort());
      expect(overBudget).toEqual([]);
    });

    it('deploys the policy file given as context as the first version of the policy\'s AppConfig configuration, which the three API functions read', () => {
      const versions = Object.values(resources).filter((resource) => resource.Type === 'AWS::AppConfig::HostedConfigurationVersion');
      const apiFunctions = functions.filter((fn) => /^remote\.it broker: (GET|opens|renews)/.test(String(fn.Properties.Description)));

      // The validated document, with the schema's defaults filled in.
      expect(versions.map((version) => [version.Properties.ContentType, JSON.parse(String(version.Properties.Content))])).toEqual([
        ['application/json', { rules: [{ ...policy.rules[0], modes: ['latching', 'ip'], maxTtlSeconds: 3600, maxActive: 10, opensPerMinute: 60 }], admins: [] }],
      ]);
      expect(apiFunctions).toHaveLength(3);
      for (const fn of apiFunctions) {
        const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;

        expect(Object.keys(variables).filter((name) => name.startsWith('POLICY_')).sort()).toEqual([
          'POLICY_APPCONFIG_APPLICATION',
          'POLICY_APPCONFIG_ENVIRONMENT',
          'POLICY_APPCONFIG_PROFILE',
          'POLICY_MAX_AGE_SECONDS',
        ]);
        expect(variables.BROKER_POLICY).toBeUndefined();
      }
    });
  });
});
