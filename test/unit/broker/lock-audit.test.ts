/** The audit events of locks: placed and lifted, each naming the admin behind it; nothing else a lock goes through is one. */
import { LOCK_AUDIT_EVENT_TYPES, lockAuditEventFor } from '../../../lambdas/broker/audit';
import type { Lock } from '../../../lambdas/broker/locks';

const PLACER = 'arn:aws:sts::123456789012:assumed-role/broker-admin/alice';
const LIFTER = 'arn:aws:sts::123456789012:assumed-role/broker-admin/bob';
const placed: Lock = {
  id: '01JLOCK0000000000000000001',
  serviceId: '80:00:00:00:01:*',
  reason: 'device compromised',
  createdAt: '2030-01-01T00:00:00.000Z',
  createdBy: PLACER,
  expiresAt: Date.parse('2030-01-01T01:00:00.000Z') / 1000,
};
const lifted: Lock = { ...placed, liftedAt: '2030-01-01T00:10:00.000Z', liftedBy: LIFTER, expiresAt: Date.parse('2030-01-01T00:10:00.000Z') / 1000 };

describe('lockAuditEventFor', () => {
  it('makes a new lock a Lock Placed by its placer, with when it lapses', () => {
    expect(lockAuditEventFor(undefined, placed)).toEqual({
      detailType: LOCK_AUDIT_EVENT_TYPES.placed,
      time: placed.createdAt,
      detail: {
        lockId: placed.id,
        serviceId: placed.serviceId,
        reason: 'device compromised',
        createdAt: placed.createdAt,
        createdBy: PLACER,
        expiresAt: '2030-01-01T01:00:00.000Z',
        actor: PLACER,
        at: placed.createdAt,
      },
    });
  });

  it('makes a lift a Lock Lifted by the lifter, without the lift time posing as a lapse', () => {
    const event = lockAuditEventFor(placed, lifted);

    expect(event).toMatchObject({ detailType: LOCK_AUDIT_EVENT_TYPES.lifted, time: lifted.liftedAt, detail: { actor: LIFTER, liftedBy: LIFTER, liftedAt: lifted.liftedAt } });
    expect(event?.detail).not.toHaveProperty('expiresAt');
  });

  it.each([
    ['a TTL deletion (no new image)', placed, undefined],
    ['a change of an already lifted lock', lifted, { ...lifted, reason: 'edited' }],
    ['a change that lifts nothing', placed, { ...placed }],
  ])('makes %s no event', (_name, before, after) => {
    expect(lockAuditEventFor(before, after)).toBeUndefined();
  });
});
