/**
 * The remote.it adapter of the domain's `RemoteitApi` port (lambdas/broker/ports.ts): remote.it's REST API
 * (`/apv/v27`) over global fetch, with retries. Every failure of remote.it it lets out is a
 * `RemoteitFailure`; errors of the credentials source (the secret unreadable or invalid) pass through as
 * they are. One exchange is ./exchange.ts, auth is ./session.ts, the credentials probe that decides a stop
 * refusal remote.it words unfamiliarly is ./probe.ts. See docs/remoteit-api.md.
 */
import { fullJitterDelay } from '../broker/backoff';
import { RemoteitFailure, type RemoteConnection, type RemoteitApi } from '../broker/ports';
import type { CredentialsSource } from './credentials';
import { createExchange, STOP_PATH, type RemoteitLogger } from './exchange';
import { isNotRetriedInCall } from './failures';
import { normaliseConnectResponse } from './normalise';
import { createCredentialsProbe } from './probe';
import { createSession } from './session';
import type { SignatureScheme } from './signing';

export { retryAfterSeconds, type RemoteitLogger } from './exchange';

export interface RetryOptions {
  /** Total attempts including the first. */
  maxAttempts: number;
  baseDelayMs: number;
  /** Cap of one backoff delay; a Retry-After longer than this ends the retries instead. */
  maxDelayMs: number;
}

export interface RemoteitClientOptions {
  /** e.g. `https://api.remote.it/apv/v27` (REMOTEIT_API_URL). The credentials probe calls `/graphql/v1` at its origin. */
  apiUrl: string;
  credentials: CredentialsSource;
  signatureScheme: SignatureScheme;
  /** Deadline of one HTTP call. */
  timeoutMs: number;
  /** Epoch milliseconds. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** [0, 1): the jitter source. */
  random?: () => number;
  retry?: RetryOptions;
  logger?: RemoteitLogger;
}

export const DEFAULT_RETRY: RetryOptions = { maxAttempts: 3, baseDelayMs: 200, maxDelayMs: 2_000 };

/** Failures worth another attempt within the same call (a connect only when its request never left). */
const TRANSIENT_KINDS = new Set<RemoteitFailure['kind']>(['throttled', 'unavailable', 'timed_out', 'unreachable']);

export function createRemoteitClient(options: RemoteitClientOptions): RemoteitApi {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const random = options.random ?? Math.random;
  const retry = options.retry ?? DEFAULT_RETRY;
  const logger = options.logger;
  const exchange = createExchange({
    baseUrl: options.apiUrl.replace(/\/+$/, ''),
    signatureScheme: options.signatureScheme,
    timeoutMs: options.timeoutMs,
    now,
    logger,
  });
  const probe = createCredentialsProbe({ apiUrl: options.apiUrl, signatureScheme: options.signatureScheme, timeoutMs: options.timeoutMs, now, logger });
  const session = createSession({ exchange, credentials: options.credentials, probe, now, logger });

  async function withRetries<T>(operation: string, attempt: () => Promise<T>, retryable: (failure: RemoteitFailure) => boolean): Promise<T> {
    for (let attemptNumber = 1; ; attemptNumber++) {
      try {
        return await attempt();
      } catch (error) {
        // A probe's failure is transient by kind, but the stop it followed reached remote.it and was refused:
        // it is left to the broker's later retry, so a stop never reaches remote.it twice because of the probe.
        if (!(error instanceof RemoteitFailure) || !retryable(error) || isNotRetriedInCall(error) || attemptNumber >= retry.maxAttempts) throw error;
        const delayMs = backoffMs(attemptNumber, error);
        if (delayMs === undefined) throw error;
        logger?.warn('remote.it call failed; retrying', { operation, kind: error.kind, attempt: attemptNumber, delayMs });
        await sleep(delayMs);
      }
    }
  }

  /** lambdas/' one full-jitter backoff, in whole milliseconds; Retry-After is the floor. */
  function backoffMs(attemptNumber: number, failure: RemoteitFailure): number | undefined {
    const jittered = Math.floor(fullJitterDelay(attemptNumber, random, { base: retry.baseDelayMs, cap: retry.maxDelayMs }));
    if (failure.kind === 'throttled' && failure.retryAfterSeconds !== undefined) {
      const floor = failure.retryAfterSeconds * 1000;
      // Waiting less than remote.it asked would only be throttled again; waiting longer would blow the budget.
      if (floor > retry.maxDelayMs) return undefined;
      return Math.max(jittered, floor);
    }
    return jittered;
  }

  const isTransient = (failure: RemoteitFailure): boolean => TRANSIENT_KINDS.has(failure.kind);

  return {
    async connect(serviceId: string, hostIp: string): Promise<RemoteConnection> {
      const requestedAtMs = now();
      // A connect that may have reached remote.it is never repeated: it could open a second proxy. Only one
      // whose request provably never left (unreachable, or the login before it failed) is tried again.
      const envelope = await withRetries(
        'connect',
        () => session.send('/device/connect', { deviceaddress: serviceId, wait: 'true', hostip: hostIp, concurrent: true }),
        (failure) => isTransient(failure) && (failure.kind === 'unreachable' || session.isLoginFailure(failure)),
      );
      return normaliseConnectResponse(envelope, requestedAtMs);
    },

    async stop(serviceId: string, remoteConnectionId: string): Promise<void> {
      await withRetries('stop', () => session.send(STOP_PATH, { deviceaddress: serviceId, connectionid: remoteConnectionId }), isTransient);
    },
  };
}
