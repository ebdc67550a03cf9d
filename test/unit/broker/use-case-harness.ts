/**
 * The use cases wired to the plain fakes, with a settable clock and recorded events, so each test arranges
 * only what it is about. `service` gathers the use cases under the names the tests call; `events` and
 * `logger` are jest mocks the one domain events sink reports into.
 */
import type { DomainEvent, EventSink } from '../../../lambdas/broker/events';
import type { ConnectionRecord } from '../../../lambdas/broker/model';
import { openConnection, type OpenDeps, type OpenRequest } from '../../../lambdas/broker/open';
import { policyDocumentSchema, type PolicyDocument } from '../../../lambdas/broker/policy';
import type { RemoteConnection } from '../../../lambdas/broker/ports';
import { toCaller, type Caller } from '../../../lambdas/broker/principal';
import { getConnection, listConnections, type ListRequest } from '../../../lambdas/broker/queries';
import { renewConnection } from '../../../lambdas/broker/renew';
import { stopConnection } from '../../../lambdas/broker/stop';
import type { StopContext } from '../../../lambdas/broker/stopping';
import { FakeRemoteit, portConnection, reverseConnection } from '../../fixtures/fake-remoteit';
import { MemoryLockStore } from '../../fixtures/memory-locks';
import { connectionRecord, MemoryConnectionStore } from '../../fixtures/memory-store';

export const NOW_MS = Date.parse('2030-01-01T00:00:00.000Z');
export const NOW_S = NOW_MS / 1000;
/** remote.it's usual proxy lifetime. */
export const REMOTE_LIFETIME_S = 28_800;

export const APP_ROLE = 'arn:aws:iam::123456789012:role/app';
export const SERVICE = '80:00:00:00:01:02:03:04';
export const HTTP_SERVICE = '80:00:00:00:01:00:00:80';

export const appCaller: Caller = toCaller({ arn: 'arn:aws:sts::123456789012:assumed-role/app/session-1', sourceIp: '81.2.69.160' });
export const otherCaller: Caller = toCaller({ arn: 'arn:aws:sts::123456789012:assumed-role/other/session-2', sourceIp: '81.2.69.161' });
export const adminCaller: Caller = toCaller({ arn: 'arn:aws:sts::123456789012:assumed-role/ops-admin/alice', sourceIp: '81.2.69.162' });

/** app: latching and ip on 80:00:00:00:01:*, up to an hour, two live; other: the same; ops-admin: admin. */
export const defaultPolicy: PolicyDocument = policyDocumentSchema.parse({
  rules: [
    {
      principals: [APP_ROLE, 'arn:aws:iam::123456789012:role/other'],
      services: ['80:00:00:00:01:*'],
      modes: ['latching', 'ip'],
      maxTtlSeconds: 3600,
      maxActive: 2,
    },
  ],
  admins: ['arn:aws:iam::123456789012:role/ops-*'],
});

/** The default policy plus `public` for the app role on the http service. */
export const publicPolicy: PolicyDocument = policyDocumentSchema.parse({
  rules: [...defaultPolicy.rules, { principals: [APP_ROLE], services: [HTTP_SERVICE], modes: ['public'] }],
  admins: defaultPolicy.admins,
});

/** An active record of the app role, created a minute ago, lease ending in 10 minutes, remote expiry in 8 hours. */
export const appConnection = (overrides: Partial<ConnectionRecord> = {}): ConnectionRecord =>
  connectionRecord({
    owner: APP_ROLE,
    serviceId: SERVICE,
    createdAt: new Date(NOW_MS - 60_000).toISOString(),
    leaseExpiresAt: new Date(NOW_MS + 600_000).toISOString(),
    dueAt: NOW_S + 600,
    expiresAt: NOW_S + 28_800,
    ...overrides,
  });

export const livePort = (overrides: Partial<RemoteConnection> = {}): RemoteConnection =>
  portConnection({ expiresAt: NOW_S + REMOTE_LIFETIME_S, ...overrides });
export const liveReverse = (overrides: Partial<RemoteConnection> = {}): RemoteConnection =>
  reverseConnection({ expiresAt: NOW_S + REMOTE_LIFETIME_S, ...overrides });

/** The domain events as calls the tests can assert on, one mock per kind of report. */
export interface RecordedEvents {
  opened: jest.Mock;
  stopped: jest.Mock;
  /** (failure kind, operation) */
  remoteitError: jest.Mock;
  policyDenied: jest.Mock;
  stopRetried: jest.Mock;
  stopFailed: jest.Mock;
  /** Every event, in order. */
  all: DomainEvent[];
}

export interface RecordedLogger {
  warn: jest.Mock;
  error: jest.Mock;
}

/** A sink that records every event, and reports each kind to its own mock (`recovery` to the logger's level). */
export function recordingSink(): { sink: EventSink; events: RecordedEvents; logger: RecordedLogger } {
  const events: RecordedEvents = {
    opened: jest.fn(),
    stopped: jest.fn(),
    remoteitError: jest.fn(),
    policyDenied: jest.fn(),
    stopRetried: jest.fn(),
    stopFailed: jest.fn(),
    all: [],
  };
  const logger: RecordedLogger = { warn: jest.fn(), error: jest.fn() };
  const sink: EventSink = (event) => {
    events.all.push(event);
    switch (event.type) {
      case 'opened':
        return void events.opened(event.record, event.reused);
      case 'stopped':
        return void events.stopped(event.record);
      case 'remoteit_failed':
        return void events.remoteitError(event.failure.kind, event.operation);
      case 'policy_denied':
        return void events.policyDenied(event.reason);
      case 'stop_retry':
        return void events.stopRetried(event.record, event.failure);
      case 'stop_failed':
        return void events.stopFailed(event.record, event.failure);
      case 'recovery':
        return void logger[event.severity](event.message, { connectionId: event.connectionId, ...event.details, error: event.error });
      default:
        return undefined;
    }
  };
  return { sink, events, logger };
}

export interface HarnessOptions {
  policy?: PolicyDocument;
  defaultTtlSeconds?: number;
  allowPrivateClientIps?: boolean;
  stop?: Partial<Pick<StopContext, 'random' | 'maxAttempts' | 'claimSeconds'>>;
}

export function createHarness(options: HarnessOptions = {}) {
  const clock = { ms: NOW_MS };
  const now = () => clock.ms;
  // One clock: the store stamps updatedAt and leaves records past their expiresAt out of the quota by it.
  const store = new MemoryConnectionStore({ now });
  const remoteit = new FakeRemoteit();
  const locks = new MemoryLockStore();
  remoteit.defaultConnect = () => livePort();
  const { sink, events, logger } = recordingSink();
  let idSequence = 0;
  const policy = options.policy ?? defaultPolicy;
  const stopContext: StopContext = { store, remoteit, now, random: () => 0.5, maxAttempts: 8, claimSeconds: 60, events: sink, ...options.stop };
  const openDeps: OpenDeps = {
    policy,
    locks,
    newId: () => `01JCONN${String(++idSequence).padStart(19, '0')}`,
    defaultTtlSeconds: options.defaultTtlSeconds ?? 900,
    pendingGraceSeconds: 120,
    allowPrivateClientIps: options.allowPrivateClientIps ?? false,
    stopContext,
  };
  const service = {
    open: (caller: Caller, request: OpenRequest) => openConnection(openDeps, caller, request),
    get: (caller: Caller, id: string) => getConnection({ store, policy, now }, caller, id),
    list: (caller: Caller, request: Partial<ListRequest> = {}) => listConnections({ store, policy, now }, caller, { limit: 50, ...request }),
    renew: (caller: Caller, id: string, ttlSeconds: number, usedAtMs?: number) => renewConnection({ store, policy, locks, now, events: sink }, caller, id, ttlSeconds, usedAtMs),
    stop: (caller: Caller, id: string) => stopConnection({ policy, stopContext }, caller, id),
  };
  return { service, store, remoteit, locks, events, logger, clock, stopContext };
}

/** Resolves with what `promise` rejects with; throws (failing the test) if it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
    },
    (error: unknown) => error,
  );
}
