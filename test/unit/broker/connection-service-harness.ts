/**
 * One ConnectionService wired to the plain fakes, with a settable clock and recorded events, so each test
 * arranges only what it is about.
 */
import { createConnectionService, type BrokerEvents, type ConnectionServiceDeps } from '../../../lambdas/broker/connections';
import { policyDocumentSchema, type PolicyDocument } from '../../../lambdas/broker/policy';
import { toCaller, type Caller } from '../../../lambdas/broker/principal';
import type { RemoteConnection } from '../../../lambdas/remoteit/types';
import { FakeRemoteit, portConnection, reverseConnection } from '../../fixtures/fake-remoteit';
import { MemoryConnectionStore } from '../../fixtures/memory-store';

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

export const livePort = (overrides: Partial<RemoteConnection> = {}): RemoteConnection =>
  portConnection({ expiresAt: NOW_S + REMOTE_LIFETIME_S, ...overrides });
export const liveReverse = (overrides: Partial<RemoteConnection> = {}): RemoteConnection =>
  reverseConnection({ expiresAt: NOW_S + REMOTE_LIFETIME_S, ...overrides });

export function recordingEvents(): jest.Mocked<BrokerEvents> {
  return { opened: jest.fn(), stopped: jest.fn(), remoteitError: jest.fn(), policyDenied: jest.fn() };
}

export function createHarness(overrides: Partial<ConnectionServiceDeps> = {}) {
  const clock = { ms: NOW_MS };
  // The store shares the service's clock: its quota count leaves out records past their expiresAt.
  const store = new MemoryConnectionStore({ now: () => clock.ms });
  const remoteit = new FakeRemoteit();
  remoteit.defaultConnect = () => livePort();
  const events = recordingEvents();
  const logger = { warn: jest.fn(), error: jest.fn() };
  let idSequence = 0;
  const service = createConnectionService({
    store,
    remoteit,
    policy: defaultPolicy,
    now: () => clock.ms,
    newId: () => `01JCONN${String(++idSequence).padStart(19, '0')}`,
    defaultTtlSeconds: 900,
    pendingGraceSeconds: 120,
    allowPrivateClientIps: false,
    stop: { random: () => 0.5, maxAttempts: 8, claimSeconds: 60 },
    events,
    logger,
    ...overrides,
  });
  return { service, store, remoteit, events, logger, clock };
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
