/**
 * The policy as live data: read from AWS AppConfig through Powertools' AppConfig provider, validated on every
 * load with the policy's own schema (AppConfig's validator checked it at deployment; this checks it again, so a
 * bad document never reaches the domain), and kept for POLICY_MAX_AGE_SECONDS before AppConfig is asked again.
 *
 * Deny by default survives every failure of the source. When AppConfig cannot be reached, or answers a
 * document that is not valid JSON or not a valid policy, or an empty one, the last good policy stays in use;
 * with none loaded yet, `current()` answers undefined and the handlers refuse (`policy_unavailable`): never a
 * 5xx, never more than a valid policy allows. A failure is logged once (with the failing field path, never the
 * content), reported as `policy_load_failed` (the `PolicyLoadFailures` metric, by `reason`), and not retried
 * for POLICY_MAX_AGE_SECONDS, so a failing AppConfig adds its timeout to one request per period, not to each.
 *
 * Sessions: Powertools keeps one AppConfig Data session per provider (the next-poll token of each answer).
 * After a failure that token may be spent or expired, so the next attempt starts a fresh session (a new
 * provider). A session is also fresh on every load when POLICY_MAX_AGE_SECONDS is below AppConfig's minimum
 * poll interval (15 s): polling one session sooner than its interval is refused (`PollIntervalNotSatisfied`).
 *
 * Empty answers: GetLatestConfiguration answers an empty body when the session already has the latest
 * version. Powertools then returns the bytes it stashed from the session's last non-empty answer, and answers
 * undefined when the session never had any (the first answer was empty: an empty configuration is deployed).
 * So undefined (or zero bytes) is an empty configuration, and anything else is the current document.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { AppConfigProvider } from '@aws-lambda-powertools/parameters/appconfig';
import { AppConfigDataClient } from '@aws-sdk/client-appconfigdata';
import type { EventSink } from '../broker/events';
import { denyByPolicy, policyDocumentSchema, type PolicyDocument } from '../broker/policy';

/** AppConfig's smallest `RequiredMinimumPollIntervalInSeconds` (StartConfigurationSession). */
export const APPCONFIG_MIN_POLL_INTERVAL_SECONDS = 15;
/** Deadline of one AppConfig Data call: a policy that cannot be read quickly is treated as unreachable. */
const REQUEST_TIMEOUT_MS = 2_000;
const CONNECTION_TIMEOUT_MS = 1_000;

export interface PolicySourceConfig {
  POLICY_APPCONFIG_APPLICATION: string;
  POLICY_APPCONFIG_ENVIRONMENT: string;
  POLICY_APPCONFIG_PROFILE: string;
  POLICY_MAX_AGE_SECONDS: number;
}

export type PolicyLoadFailureReason = 'unreachable' | 'invalid' | 'empty';

/** One AppConfig Data session: each `fetch` answers the current configuration's bytes, or undefined when empty. */
export interface PolicySession {
  fetch(): Promise<unknown>;
}

export interface PolicySourceDeps {
  events: EventSink;
  logger: Pick<Logger, 'warn' | 'error'>;
  /** Epoch ms. */
  now: () => number;
  /** A fresh session; defaults to Powertools' AppConfig provider on one quick-timeout client. */
  openSession?: () => PolicySession;
}

export interface PolicySource {
  /** The policy in force: the last good one loaded, or undefined when none has loaded. Never throws. */
  current(): Promise<PolicyDocument | undefined>;
}

/** What the read routes and DELETE use when no policy is loaded: nobody is an admin (owners still see their own). */
export const NO_POLICY: PolicyDocument = { rules: [], admins: [] };

export const POLICY_UNAVAILABLE_DETAIL = 'the broker has no valid policy loaded, so it allows nothing; try again later';

/** The policy in force, or a `policy_unavailable` denial (counted like every policy denial). */
export async function requirePolicy(source: PolicySource, events: EventSink): Promise<PolicyDocument> {
  return (await source.current()) ?? denyByPolicy(events, 'policy_unavailable', POLICY_UNAVAILABLE_DETAIL);
}

/** `message` says what failed, `fields` which fields of the document (never their content). */
class PolicyLoadError extends Error {
  constructor(
    readonly reason: PolicyLoadFailureReason,
    message: string,
    readonly fields?: string[],
  ) {
    super(message);
  }
}

/** The session Powertools keeps: raw bytes (no transform), no caching of its own (this module times the loads). */
export function appConfigSession(config: PolicySourceConfig, client: AppConfigDataClient): PolicySession {
  const provider = new AppConfigProvider({
    application: config.POLICY_APPCONFIG_APPLICATION,
    environment: config.POLICY_APPCONFIG_ENVIRONMENT,
    awsSdkV3Client: client,
  });
  const pollSeconds = Math.max(APPCONFIG_MIN_POLL_INTERVAL_SECONDS, config.POLICY_MAX_AGE_SECONDS);
  return {
    fetch: () => provider.get(config.POLICY_APPCONFIG_PROFILE, { maxAge: 0, sdkOptions: { RequiredMinimumPollIntervalInSeconds: pollSeconds } }),
  };
}

/** The document in `bytes`, validated; a PolicyLoadError naming the reason (and the failing fields) otherwise. */
export function decodePolicy(bytes: unknown): PolicyDocument {
  const text = bytes instanceof Uint8Array ? new TextDecoder().decode(bytes) : '';
  if (text.trim() === '') throw new PolicyLoadError('empty', 'empty');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the content: it is not repeated.
    throw new PolicyLoadError('invalid', 'not JSON');
  }
  const result = policyDocumentSchema.safeParse(parsed);
  if (!result.success) {
    const fields = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new PolicyLoadError('invalid', 'not a valid policy', fields);
  }
  return result.data;
}

export function createPolicySource(config: PolicySourceConfig, deps: PolicySourceDeps): PolicySource {
  const maxAgeMs = config.POLICY_MAX_AGE_SECONDS * 1000;
  const reuseSessions = config.POLICY_MAX_AGE_SECONDS >= APPCONFIG_MIN_POLL_INTERVAL_SECONDS;
  let client: AppConfigDataClient | undefined;
  const openSession =
    deps.openSession ??
    (() => {
      client ??= new AppConfigDataClient({
        maxAttempts: 2,
        requestHandler: { connectionTimeout: CONNECTION_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS },
      });
      return appConfigSession(config, client);
    });

  let good: PolicyDocument | undefined;
  let session: PolicySession | undefined;
  /** No load is tried before this (epoch ms): after a success and after a failure alike. */
  let nextLoadAt = 0;
  let loading: Promise<void> | undefined;

  const fail = (error: unknown) => {
    const reason = error instanceof PolicyLoadError ? error.reason : 'unreachable';
    const detail = { reason, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error), fields: (error as PolicyLoadError).fields };
    // With no policy in force, every open and renew is refused: an error, not a warning.
    deps.logger[good ? 'warn' : 'error'](`policy not loaded; ${good ? 'last good kept' : 'none in force'}`, detail);
    deps.events({ type: 'policy_load_failed', reason });
  };

  const load = async () => {
    try {
      session = reuseSessions && session ? session : openSession();
      good = decodePolicy(await session.fetch());
    } catch (error) {
      // The session's token may be spent or expired: the next attempt starts afresh.
      session = undefined;
      fail(error);
    } finally {
      nextLoadAt = deps.now() + maxAgeMs;
    }
  };

  return {
    async current() {
      if (deps.now() >= nextLoadAt) {
        // Concurrent callers share one load.
        loading ??= load().finally(() => {
          loading = undefined;
        });
        await loading;
      }
      return good;
    },
  };
}
