/**
 * Which API the CLI calls and as whom: the local stack (its stack file's URL and identities' keys), or a
 * deployed API signed with the AWS default credential chain.
 */
import type { BrokerClientOptions } from '../client';
import { ClientConfigError } from '../errors';
import { DEFAULT_STACK_FILE, localCredentials, readStackFile, sameEndpoint, type LocalStack } from '../local-stack';
import { UsageError, type GlobalOptions } from './args';

export const DEFAULT_IDENTITY = 'app';

export interface Target {
  client: Pick<BrokerClientOptions, 'endpoint' | 'region' | 'credentials'>;
  /** The local identity signed as, when the target is the local stack. */
  identity: string | undefined;
}

type Env = Record<string, string | undefined>;

function localTarget(stack: LocalStack, as: string | undefined): Target {
  const identity = as ?? DEFAULT_IDENTITY;
  return { client: { endpoint: stack.apiUrl, region: stack.region, credentials: localCredentials(stack, identity) }, identity };
}

export async function resolveTarget(options: Pick<GlobalOptions, 'endpoint' | 'stackFile' | 'as'>, env: Env = process.env): Promise<Target> {
  const endpoint = options.endpoint ?? (env.RBROKER_ENDPOINT || undefined);
  const stackFile = options.stackFile ?? (env.RBROKER_STACK_FILE || DEFAULT_STACK_FILE);

  if (endpoint === undefined || endpoint === 'local') {
    const stack = await readStackFile(stackFile);
    if (stack) return localTarget(stack, options.as);
    if (endpoint === 'local') throw new ClientConfigError(`the local stack is not running: ${stackFile} does not exist (npm start writes it)`);
    throw new UsageError('no endpoint: pass --endpoint <url> or set RBROKER_ENDPOINT, or start the local stack (npm start)');
  }

  try {
    new URL(endpoint);
  } catch {
    throw new UsageError(`--endpoint must be a URL or 'local', got '${endpoint}'`);
  }
  // The local stack's URL given explicitly still signs with its keys: the default chain knows none of them.
  const stack = await readStackFile(stackFile).catch(() => undefined);
  if (stack && sameEndpoint(stack.apiUrl, endpoint)) return localTarget(stack, options.as);
  if (options.as !== undefined) {
    throw new UsageError('--as picks a local stack identity; against a deployed API the AWS credential chain decides who you are (e.g. AWS_PROFILE)');
  }
  return { client: { endpoint }, identity: undefined };
}
