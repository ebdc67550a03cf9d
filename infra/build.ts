/**
 * Builds what the package ships (`npm run build`; `npm pack` and `npm publish` run it as `prepare`, and so does
 * npm when it installs the repository as a git dependency):
 *
 *   dist/index.js                  the construct (infra/index.ts) as one CommonJS file. aws-cdk-lib and constructs
 *                                  stay the app's (peer dependencies); what the construct runs at synth besides
 *                                  them (the policy and configuration schemas: zod) is inside, so the package has
 *                                  no dependencies of its own.
 *   dist/types/**.d.ts             its declarations, from infra/index.ts; only those it reaches are kept, and they
 *                                  may import nothing but aws-cdk-lib and constructs (the build fails otherwise).
 *   dist/lambda/<name>/index.js    each function, bundled with esbuild exactly as NodejsFunction bundles it from
 *   (and index.js.map)             this repository (BROKER_BUNDLING, the runtime's target): the construct deploys
 *                                  these files as they are (infra/broker-function.ts), so an app needs no lock
 *                                  file, no esbuild and no Docker. test/infra/synth.test.ts holds them
 *                                  byte-identical to what `cdk synth` bundles here.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { build, type BuildOptions } from 'esbuild';
import { BROKER_BUNDLING, BROKER_FUNCTION_ENTRIES, BROKER_RUNTIME, functionNameOf, PREBUILT_DIRECTORY, type BrokerFunctionEntry } from './broker-function';

const ROOT = path.resolve(__dirname, '..');
export const DIST = path.join(ROOT, 'dist');
/** The oldest Node.js the package supports (package.json `engines`): the construct runs in the app's synth. */
const CONSTRUCT_TARGET = 'node20';
/** What the declarations may import: the peer dependencies, and Node's own modules. */
const DECLARATION_IMPORTS = /^(aws-cdk-lib(\/.*)?|constructs|node:.*)$/;

/** CDK's mapping of a Lambda runtime to an esbuild target (`nodejs24.x` -> `node24`), as NodejsFunction does it. */
export function functionTarget(): string {
  const major = /^nodejs(\d+)/.exec(BROKER_RUNTIME.name)?.[1];
  if (!major) throw new Error(`not a Node.js runtime: ${BROKER_RUNTIME.name}`);
  return `node${major}`;
}

/**
 * esbuild's options for one function: what NodejsFunction passes esbuild for BROKER_BUNDLING (aws-lambda-nodejs
 * bundling: `--bundle <entry> --target --platform=node --format --outfile --minify --sourcemap
 * --sources-content=false --external:... --legal-comments`), run from the repository root as CDK runs it.
 * The benchmark (bench/cold-start.ts) builds with these too, so what it measures is what ships.
 */
export function functionBuildOptions(entry: BrokerFunctionEntry | string, outfile: string): BuildOptions {
  return {
    // From the repository root, as CDK resolves an entry; an absolute entry (the benchmark's baselines) as it is.
    entryPoints: [path.resolve(ROOT, entry)],
    bundle: true,
    platform: 'node',
    target: functionTarget(),
    format: BROKER_BUNDLING.format,
    minify: BROKER_BUNDLING.minify,
    sourcemap: BROKER_BUNDLING.sourceMap,
    sourcesContent: BROKER_BUNDLING.sourcesContent,
    legalComments: BROKER_BUNDLING.esbuildArgs['--legal-comments'],
    external: [...BROKER_BUNDLING.externalModules],
    absWorkingDir: ROOT,
    outfile,
    logLevel: 'warning',
  };
}

/** Bundles every function into `directory`/<name>/index.js (and its map). */
export async function bundleFunctions(directory: string): Promise<Record<string, string>> {
  const outputs: Record<string, string> = {};
  await Promise.all(
    BROKER_FUNCTION_ENTRIES.map(async (entry) => {
      const outfile = path.join(directory, functionNameOf(entry), 'index.js');
      await build(functionBuildOptions(entry, outfile));
      outputs[functionNameOf(entry)] = outfile;
    }),
  );
  return outputs;
}

async function bundleConstruct(outfile: string): Promise<void> {
  await build({
    entryPoints: [path.join(ROOT, 'infra', 'index.ts')],
    bundle: true,
    platform: 'node',
    target: CONSTRUCT_TARGET,
    format: 'cjs',
    external: ['aws-cdk-lib', 'aws-cdk-lib/*', 'constructs'],
    // The bundled dependencies' licence comments, gathered at the end of the file.
    legalComments: 'eof',
    absWorkingDir: ROOT,
    outfile,
    logLevel: 'warning',
  });
}

async function emitDeclarations(): Promise<void> {
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    await promisify(execFile)(process.execPath, [tsc, '-p', path.join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(`tsc -p tsconfig.build.json failed:\n${stdout}${stderr}`, { cause: error });
  }
}

/**
 * The declaration files reachable from `entry` through relative imports; throws on an import of anything but
 * the peer dependencies (an app would need that package's types to compile against the construct's).
 */
async function reachableDeclarations(entry: string): Promise<Set<string>> {
  const reached = new Set<string>();
  const visit = async (file: string): Promise<void> => {
    if (reached.has(file)) return;
    reached.add(file);
    // Comments (the doc comments tsc keeps) may quote imports; only the code's count.
    const text = (await readFile(file, 'utf8')).replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
    for (const [, specifier = ''] of text.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) {
      if (specifier.startsWith('.')) {
        await visit(path.resolve(path.dirname(file), `${specifier}.d.ts`));
      } else if (!DECLARATION_IMPORTS.test(specifier)) {
        throw new Error(`${path.relative(ROOT, file)} imports ${specifier}: the package's declarations may import only aws-cdk-lib and constructs`);
      }
    }
  };
  await visit(entry);
  return reached;
}

async function filesUnder(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name));
}

/** The whole package build, into dist/ (emptied first). */
export async function buildPackage(): Promise<void> {
  await rm(DIST, { recursive: true, force: true });
  await mkdir(DIST, { recursive: true });
  await Promise.all([
    bundleFunctions(path.join(DIST, PREBUILT_DIRECTORY)),
    bundleConstruct(path.join(DIST, 'index.js')),
    emitDeclarations(),
  ]);
  const types = path.join(DIST, 'types');
  const reached = await reachableDeclarations(path.join(types, 'infra', 'index.d.ts'));
  await Promise.all((await filesUnder(types)).filter((file) => !reached.has(file)).map((file) => rm(file)));
}

if (require.main === module) {
  const started = Date.now();
  // On stderr: `npm pack --json` runs this (prepare) and prints its JSON on stdout.
  buildPackage().then(
    () => console.error(`built dist/ (the construct, its declarations and ${BROKER_FUNCTION_ENTRIES.length} function bundles) in ${((Date.now() - started) / 1000).toFixed(1)} s`),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exitCode = 1;
    },
  );
}
