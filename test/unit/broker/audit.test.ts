import { AUDIT_EVENT_TYPES, AUDIT_SOURCE, auditEventFor, type AuditEvent } from '../../../lambdas/broker/audit';
import { INITIAL_STATUS } from '../../../lambdas/broker/lifecycle';
import type { ConnectionRecord } from '../../../lambdas/broker/model';
import { connectionRecord } from '../../fixtures/memory-store';

const OPENER = 'arn:aws:sts::123456789012:assumed-role/app/opener-session';
const RENEWER = 'arn:aws:sts::123456789012:assumed-role/app/renewer-session';
const DELETER = 'arn:aws:sts::123456789012:assumed-role/ops-admin/alice';
const PROXY = { kind: 'port' as const, url: 'tcp://proxy18.rt3.io:38575', host: 'proxy18.rt3.io', port: 38575 };

/** The record at each step of a life, each a later version stamped a second later. */
function life() {
  const base = connectionRecord({ callerArn: OPENER, proxy: undefined, remoteConnectionId: undefined, dueAt: undefined });
  let version = base.version;
  let second = 0;
  const step = (from: ConnectionRecord, changes: Partial<ConnectionRecord>): ConnectionRecord => {
    second += 1;
    version += 1;
    return { ...from, ...changes, version, updatedAt: new Date(Date.parse(base.createdAt) + second * 1000).toISOString() };
  };
  const pending: ConnectionRecord = { ...base, status: 'pending' };
  const active = step(pending, { status: 'active', remoteConnectionId: 'rc-1', proxy: PROXY, leaseExpiresAt: '2030-01-01T00:15:00.000Z' });
  return { pending, active, step };
}

const typeOf = (event: AuditEvent | undefined) => event?.detailType;

describe('auditEventFor', () => {
  it('is the source every event is published under', () => {
    expect(AUDIT_SOURCE).toBe('remoteit-broker');
  });

  describe('which change is which event', () => {
    it('a record created (pending) is no event: the INSERT of a new connection publishes nothing', () => {
      const { pending } = life();

      expect(INITIAL_STATUS).toBe('pending');
      expect(auditEventFor(undefined, pending)).toBeUndefined();
    });

    it('a record deleted (TTL) is no event', () => {
      const { active } = life();

      expect(auditEventFor(active, undefined)).toBeUndefined();
    });

    it('pending to active is Opened, naming the opener as the actor', () => {
      const { pending, active } = life();

      const event = auditEventFor(pending, active);

      expect(event).toEqual({ detailType: AUDIT_EVENT_TYPES.opened, time: active.updatedAt, detail: expect.objectContaining({ actor: OPENER }) });
      expect(event?.detail).toMatchObject({
        connectionId: active.id,
        owner: active.owner,
        callerArn: OPENER,
        serviceId: active.serviceId,
        mode: 'latching',
        status: 'active',
        previousStatus: 'pending',
        leaseExpiresAt: active.leaseExpiresAt,
        remoteConnectionId: 'rc-1',
        at: active.updatedAt,
        version: active.version,
      });
      expect(event?.detail).not.toHaveProperty('previousLeaseExpiresAt');
    });

    it('a new lease end while active is Renewed, with the lease end before it and the renewer as the actor', () => {
      const { active, step } = life();
      const renewed = step(active, { leaseExpiresAt: '2030-01-01T00:45:00.000Z', changedBy: RENEWER });

      const event = auditEventFor(active, renewed);

      expect(typeOf(event)).toBe(AUDIT_EVENT_TYPES.renewed);
      expect(event?.detail).toMatchObject({ actor: RENEWER, previousLeaseExpiresAt: active.leaseExpiresAt, leaseExpiresAt: renewed.leaseExpiresAt });
    });

    it('an active record rewritten with the same lease end is no event', () => {
      const { active, step } = life();

      expect(auditEventFor(active, step(active, { dueAt: 123 }))).toBeUndefined();
    });

    it('a claim (to stopping) is no event: the stop is reported when it ends', () => {
      const { active, step } = life();

      expect(auditEventFor(active, step(active, { status: 'stopping', stopReason: 'requested', changedBy: DELETER }))).toBeUndefined();
    });

    it('a failed stop attempt that stays stopping is no event', () => {
      const { active, step } = life();
      const claimed = step(active, { status: 'stopping', stopReason: 'lease_ended' });

      expect(auditEventFor(claimed, step(claimed, { stopAttempts: 1, failureReason: 'remote.it answered HTTP 503' }))).toBeUndefined();
    });

    it.each([
      ['stopped', AUDIT_EVENT_TYPES.stopped],
      ['expired', AUDIT_EVENT_TYPES.expired],
      ['stop_failed', AUDIT_EVENT_TYPES.stopFailed],
    ] as const)('stopping to %s is %s', (status, detailType) => {
      const { active, step } = life();
      const claimed = step(active, { status: 'stopping', stopReason: 'lease_ended' });

      const event = auditEventFor(claimed, step(claimed, { status, stoppedAt: claimed.updatedAt }));

      expect(event?.detailType).toBe(detailType);
      expect(event?.detail).toMatchObject({ status, previousStatus: 'stopping', stopReason: 'lease_ended' });
    });

    it('pending to failed is Failed, with remote.it\'s reason and no actor', () => {
      const { pending, step } = life();

      const event = auditEventFor(pending, step(pending, { status: 'failed', failureReason: 'remote.it refused the request: offline' }));

      expect(typeOf(event)).toBe(AUDIT_EVENT_TYPES.failed);
      expect(event?.detail).toMatchObject({ failureReason: 'remote.it refused the request: offline' });
      expect(event?.detail).not.toHaveProperty('actor');
    });

    it('a terminal record written again in the same status is no event (one event per ending)', () => {
      const { active, step } = life();
      const stopped = step(active, { status: 'stopped', stopReason: 'overridden' });

      expect(auditEventFor(stopped, step(stopped, { failureReason: 'x' }))).toBeUndefined();
    });
  });

  describe('who (actor)', () => {
    it('a DELETE\'s stop names the caller who asked, on its outcome', () => {
      const { active, step } = life();
      const claimed = step(active, { status: 'stopping', stopReason: 'requested', changedBy: DELETER });

      const event = auditEventFor(claimed, step(claimed, { status: 'stopped', stoppedAt: claimed.updatedAt }));

      expect(event).toMatchObject({ detailType: AUDIT_EVENT_TYPES.stopped, detail: { actor: DELETER, stopReason: 'requested', callerArn: OPENER } });
    });

    it('a lease end names nobody, even after a renew (the claim removed the renewer)', () => {
      const { active, step } = life();
      const renewed = step(active, { leaseExpiresAt: '2030-01-01T00:45:00.000Z', changedBy: RENEWER });
      const claimed = step(renewed, { status: 'stopping', stopReason: 'lease_ended', changedBy: undefined });

      const event = auditEventFor(claimed, step(claimed, { status: 'stopped' }));

      expect(event?.detail).not.toHaveProperty('actor');
    });

    it('an override (active straight to stopped) never names an earlier renewer as the stopper', () => {
      const { active, step } = life();
      const renewed = step(active, { leaseExpiresAt: '2030-01-01T00:45:00.000Z', changedBy: RENEWER });

      const event = auditEventFor(renewed, step(renewed, { status: 'stopped', stopReason: 'overridden' }));

      expect(event).toMatchObject({ detailType: AUDIT_EVENT_TYPES.stopped, detail: { stopReason: 'overridden' } });
      expect(event?.detail).not.toHaveProperty('actor');
    });

    it('a DELETE whose stop finds the proxy gone names the caller on Expired', () => {
      const { active, step } = life();
      const claimed = step(active, { status: 'stopping', stopReason: 'requested', changedBy: DELETER });

      const event = auditEventFor(claimed, step(claimed, { status: 'expired', stopReason: 'expired' }));

      expect(event).toMatchObject({ detailType: AUDIT_EVENT_TYPES.expired, detail: { actor: DELETER } });
    });
  });

  it('never carries a proxy address, a requested host ip or any field it does not name', () => {
    const { pending, active, step } = life();
    const reverse = { kind: 'reverse' as const, url: 'https://abc123.p18.rt3.io', host: 'abc123.p18.rt3.io', port: 443 };
    const opened = step(pending, { ...active, proxy: reverse, mode: 'public', requestedMode: 'latching', requestedHostIp: '81.2.69.160' });
    const renewed = step(opened, { leaseExpiresAt: '2030-01-01T00:45:00.000Z', changedBy: RENEWER });
    const claimed = step(renewed, { status: 'stopping', stopReason: 'requested', changedBy: DELETER });
    const stopped = step(claimed, { status: 'stopped', stoppedAt: claimed.updatedAt });

    const events = [auditEventFor(pending, opened), auditEventFor(opened, renewed), auditEventFor(claimed, stopped)];

    expect(events.map(typeOf)).toEqual([AUDIT_EVENT_TYPES.opened, AUDIT_EVENT_TYPES.renewed, AUDIT_EVENT_TYPES.stopped]);
    for (const event of events) {
      const text = JSON.stringify(event);
      expect(text).not.toContain('rt3.io');
      expect(text).not.toContain('38575');
      expect(text).not.toContain('81.2.69.160');
      expect(event?.detail).not.toHaveProperty('proxy');
      expect(event?.detail).not.toHaveProperty('requestedHostIp');
      expect(event?.detail).not.toHaveProperty('changedBy');
      expect(event?.detail).toMatchObject({ requestedMode: 'latching', mode: 'public' });
    }
  });
});
