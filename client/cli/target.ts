/**
 * Which API the CLI calls and as whom: the local stack (its stack file's URL and identities' keys), or a
 * deployed API signed with the AWS default credential chain.
 */
import { regionOfEndpoint, type BrokerClientOptions, type CredentialsProvider } from '../client';
import { ClientConfigError } from '../errors';
import { DEFAULT_STACK_FILE, localCredentials, readStackFile, sameEndpoint, type LocalStack } from '../local-stack';
import { UsageError, type GlobalOptions } from './args';
import { readProfile, type Profile } from './profiles';

export const DEFAULT_IDENTITY = 'app';

export interface Target {
  client: Pick<BrokerClientOptions, 'endpoint' | 'region' | 'credentials'>;
  /** The local identity signed as, when the target is the local stack. */
  identity: string | undefined;
  /** The AWS profile (of ~/.aws/config) whose credentials sign, when a --profile names one. */
  awsProfile?: string;
}

type Env = Record<string, string | undefined>;

function localTarget(stack: LocalStack, as: string | undefined): Target {
  const identity = as ?? DEFAULT_IDENTITY;
  return { client: { endpoint: stack.apiUrl, region: stack.region, credentials: localCredentials(stack, identity) }, identity };
}

/** The AWS SDK's default chain for one named profile, loaded on first use like the client's own. */
function profileCredentials(awsProfile: string): CredentialsProvider {
  let chain: Promise<CredentialsProvider> | undefined;
  return async () => {
    chain ??= import('@aws-sdk/credential-providers').then((providers) => providers.fromNodeProviderChain({ profile: awsProfile }));
    return (await chain)();
  };
}

/**
 * Each setting from the first that gives it: the flag, the environment (RBROKER_ENDPOINT, AWS_REGION,
 * AWS_PROFILE), the profile (--profile or RBROKER_PROFILE), then the local stack file.
 */
export async function resolveTarget(
  options: Pick<GlobalOptions, 'endpoint' | 'stackFile' | 'as'> & Partial<Pick<GlobalOptions, 'region' | 'profile'>>,
  env: Env = process.env,
): Promise<Target> {
  const profileName = options.profile ?? (env.RBROKER_PROFILE || undefined);
  const profile: Profile = profileName === undefined ? {} : await readProfile(profileName, env);
  const endpoint = options.endpoint ?? (env.RBROKER_ENDPOINT || undefined) ?? profile.endpoint;
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
  const envRegion = env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined;
  const region = options.region ?? (envRegion === undefined ? profile.region : undefined);
  if (region === undefined && envRegion === undefined && regionOfEndpoint(new URL(endpoint)) === undefined) {
    throw new ClientConfigError(
      `cannot tell the region of ${new URL(endpoint).host} (a custom domain): pass --region, set AWS_REGION, or give the profile a region`,
    );
  }
  const awsProfile = env.AWS_PROFILE ? undefined : profile.awsProfile;
  return {
    client: { endpoint, ...(region !== undefined && { region }), ...(awsProfile !== undefined && { credentials: profileCredentials(awsProfile) }) },
    identity: undefined,
    ...(awsProfile !== undefined && { awsProfile }),
  };
}
