/** Typed ConnectionRecord factory for store and handler tests. */
import { ulid } from 'ulid';
import type { ConnectionRecord } from '../../../lambdas/broker/model';

const PROXY_LIFETIME_SECONDS = 28_800;
const DEFAULT_LEASE_MS = 900_000;

/** An active latching connection created now (or at `overrides.createdAt`), with consistent times. */
export function connectionRecord(overrides: Partial<ConnectionRecord> = {}): ConnectionRecord {
  const createdAt = overrides.createdAt ?? new Date().toISOString();
  const createdMs = Date.parse(createdAt);
  return {
    id: ulid(createdMs),
    owner: 'arn:aws:iam::123456789012:role/inventory-app',
    callerArn: 'arn:aws:sts::123456789012:assumed-role/inventory-app/session-1',
    serviceId: '80:00:00:00:01:02:03:04',
    mode: 'latching',
    hostIp: '255.255.255.255',
    status: 'active',
    createdAt,
    updatedAt: createdAt,
    leaseExpiresAt: new Date(createdMs + DEFAULT_LEASE_MS).toISOString(),
    expiresAt: Math.floor(createdMs / 1000) + PROXY_LIFETIME_SECONDS,
    remoteConnectionId: 'c0ffee00-0000-4000-8000-000000000001',
    proxy: { kind: 'port', url: 'tcp://proxy18.rt3.io:38575', host: 'proxy18.rt3.io', port: 38575 },
    stopAttempts: 0,
    version: 1,
    ...overrides,
  };
}

/** A principal ARN unique to one test, so tests sharing a table never see each other's records. */
export function uniqueOwner(label = 'app'): string {
  return `arn:aws:iam::123456789012:role/${label}-${Math.random().toString(36).slice(2, 10)}`;
}
