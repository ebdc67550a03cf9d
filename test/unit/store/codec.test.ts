import type { ConnectionRecord } from '../../../lambdas/broker/model';
import {
  applyChanges,
  buildUpdate,
  createdDayOf,
  decodeCursor,
  dueShardOf,
  encodeCursor,
  indexKeyOf,
  quotaCounterKey,
  toItem,
  toRecord,
} from '../../../lambdas/store/codec';
import { InvalidCursorError } from '../../../lambdas/store/errors';

const UPDATED_AT = '2030-01-02T03:04:05.000Z';

function record(overrides: Partial<ConnectionRecord> = {}): ConnectionRecord {
  return {
    id: '01HZX3A6B7C8D9E0F1G2H3J4K5',
    owner: 'arn:aws:iam::123456789012:role/app',
    callerArn: 'arn:aws:sts::123456789012:assumed-role/app/s',
    serviceId: '80:00:00:00:01:02:03:04',
    mode: 'latching',
    hostIp: '255.255.255.255',
    status: 'active',
    createdAt: '2030-01-01T23:59:59.000Z',
    updatedAt: '2030-01-01T23:59:59.000Z',
    leaseExpiresAt: '2030-01-02T00:14:59.000Z',
    expiresAt: 1_893_542_399,
    stopAttempts: 0,
    version: 1,
    ...overrides,
  };
}

/** Resolves the placeholders of an expression, so assertions read like the update DynamoDB sees. */
function readable(expression: string, parts: ReturnType<typeof buildUpdate>): string {
  return expression
    .replace(/#[A-Za-z0-9_]+/g, (placeholder) => parts.ExpressionAttributeNames[placeholder] ?? placeholder)
    .replace(/:v\d+/g, (placeholder) => JSON.stringify(parts.ExpressionAttributeValues[placeholder]));
}

describe('store codec', () => {
  describe('dueShardOf', () => {
    // Pinned: a hash that changed between releases would strand every due record on its old shard.
    it('gives the same shard for the same id on every call and every release', () => {
      const shards = Array.from({ length: 5 }, () => dueShardOf('01HZX3A6B7C8D9E0F1G2H3J4K5', 8));

      expect(new Set(shards)).toEqual(new Set(['due#0']));
    });

    it('spreads ids that share a time prefix over every shard', () => {
      const ids = Array.from({ length: 400 }, (_, index) => `01HZX3A6B7${index.toString(36).padStart(16, '0').toUpperCase()}`);

      const counts = new Map<string, number>();
      for (const id of ids) {
        const shard = dueShardOf(id, 8);
        counts.set(shard, (counts.get(shard) ?? 0) + 1);
      }

      expect([...counts.keys()].sort()).toEqual(['due#0', 'due#1', 'due#2', 'due#3', 'due#4', 'due#5', 'due#6', 'due#7']);
      // 50 each on average: no shard takes more than twice its share.
      expect(Math.max(...counts.values())).toBeLessThanOrEqual(100);
    });
  });

  describe('createdDayOf', () => {
    it('returns the UTC day of the instant when it carries an offset', () => {
      expect(createdDayOf('2030-01-02T01:00:00+02:00')).toBe('2030-01-01');
    });

    it('throws when createdAt is not an instant', () => {
      expect(() => createdDayOf('yesterday')).toThrow(TypeError);
    });
  });

  describe('toItem', () => {
    it('adds the day and the due shard and drops undefined fields when dueAt is set', () => {
      const item = toItem(record({ dueAt: 1_893_542_400, failureReason: undefined }), 8);

      expect(item).toMatchObject({ createdDay: '2030-01-01', dueShard: dueShardOf('01HZX3A6B7C8D9E0F1G2H3J4K5', 8) });
      expect(item).not.toHaveProperty('failureReason');
    });

    it('leaves the due shard out when dueAt is absent', () => {
      expect(toItem(record(), 8)).not.toHaveProperty('dueShard');
    });

    it.each(['pending', 'active', 'stopping'] as const)('keys a %s record on its owner in the live index', (status) => {
      const live = record({ status });

      expect(toItem(live, 8)).toHaveProperty('liveOwner', live.owner);
    });

    it.each(['stopped', 'failed', 'expired', 'stop_failed'] as const)('leaves a %s record out of the live index', (status) => {
      expect(toItem(record({ status }), 8)).not.toHaveProperty('liveOwner');
    });
  });

  describe('toRecord', () => {
    it('strips the store internal attributes', () => {
      const original = record({ dueAt: 1_893_542_400 });

      expect(toRecord(toItem(original, 8))).toEqual(original);
    });
  });

  describe('buildUpdate', () => {
    it('sets values, removes nulls, bumps the version and stamps updatedAt', () => {
      const parts = buildUpdate('id-1', { status: ['active'] }, { status: 'stopping', failureReason: null }, { shardCount: 8, updatedAt: UPDATED_AT });

      expect(readable(parts.UpdateExpression, parts)).toBe(
        `SET updatedAt = "${UPDATED_AT}", status = "stopping", liveOwner = owner, version = version + 1 REMOVE failureReason`,
      );
    });

    it('conditions on the owner and on expiresAt being after an instant when asked (a claim without a read)', () => {
      const parts = buildUpdate('id-1', { status: ['active'], owner: 'arn:owner', unexpiredAt: 100 }, {}, { shardCount: 8, updatedAt: UPDATED_AT });

      expect(readable(parts.ConditionExpression, parts)).toBe('attribute_exists(id) AND status IN ("active") AND owner = "arn:owner" AND expiresAt > 100');
    });

    it('with releaseSlot, also conditions on the record holding its quota slot and removes it (the slot goes back in the same transaction)', () => {
      const parts = buildUpdate('id-1', { status: ['stopping'], version: 3 }, { status: 'stopped', dueAt: null }, { shardCount: 8, updatedAt: UPDATED_AT, releaseSlot: true });

      expect(readable(parts.UpdateExpression, parts)).toBe(
        `SET updatedAt = "${UPDATED_AT}", status = "stopped", version = version + 1 REMOVE dueAt, dueShard, liveOwner, quotaSlot`,
      );
      expect(readable(parts.ConditionExpression, parts)).toBe('attribute_exists(id) AND status IN ("stopping") AND attribute_exists(quotaSlot) AND version = 3');
    });

    it('names no quota slot without releaseSlot, and refuses a change set that sets it', () => {
      const parts = buildUpdate('id-1', { status: ['stopping'] }, { status: 'stopped' }, { shardCount: 8, updatedAt: UPDATED_AT });

      expect(Object.values(parts.ExpressionAttributeNames)).not.toContain('quotaSlot');
      expect(() => buildUpdate('id-1', { status: ['active'] }, { quotaSlot: true } as never, { shardCount: 8, updatedAt: UPDATED_AT })).toThrow(TypeError);
    });

    it('conditions on existence and the expected statuses and version', () => {
      const parts = buildUpdate('id-1', { status: ['active', 'stopping'], version: 7 }, { stopAttempts: 1 }, { shardCount: 8, updatedAt: UPDATED_AT });

      expect(readable(parts.ConditionExpression, parts)).toBe('attribute_exists(id) AND status IN ("active", "stopping") AND version = 7');
    });

    it('indexes the record on its shard when dueAt is set', () => {
      const parts = buildUpdate('id-1', { status: ['active'] }, { dueAt: 100 }, { shardCount: 8, updatedAt: UPDATED_AT });

      expect(readable(parts.UpdateExpression, parts)).toContain(`dueAt = 100, dueShard = "${dueShardOf('id-1', 8)}"`);
    });

    it('removes the due shard with dueAt when dueAt is null', () => {
      const parts = buildUpdate('id-1', { status: ['active'] }, { dueAt: null }, { shardCount: 8, updatedAt: UPDATED_AT });

      expect(readable(parts.UpdateExpression, parts)).toMatch(/ REMOVE dueAt, dueShard$/);
    });

    it.each(['pending', 'active', 'stopping'] as const)('copies the owner into the live index key when the status becomes %s', (status) => {
      const parts = buildUpdate('id-1', { status: ['pending'] }, { status }, { shardCount: 8, updatedAt: UPDATED_AT });

      expect(readable(parts.UpdateExpression, parts)).toBe(`SET updatedAt = "${UPDATED_AT}", status = "${status}", liveOwner = owner, version = version + 1`);
    });

    it.each(['stopped', 'failed', 'expired', 'stop_failed'] as const)('removes the live index key when the status becomes %s', (status) => {
      const parts = buildUpdate('id-1', { status: ['stopping'] }, { status, dueAt: null }, { shardCount: 8, updatedAt: UPDATED_AT });

      expect(readable(parts.UpdateExpression, parts)).toMatch(/ REMOVE dueAt, dueShard, liveOwner$/);
    });

    it('leaves the live index key alone when the status is not changed', () => {
      const parts = buildUpdate('id-1', { status: ['active'] }, { leaseExpiresAt: 'later', dueAt: 100 }, { shardCount: 8, updatedAt: UPDATED_AT });

      expect(parts.UpdateExpression).not.toContain('liveOwner');
    });

    it("ignores undefined values and stamps the store's updatedAt", () => {
      const parts = buildUpdate('id-1', { status: ['active'] }, { failureReason: undefined }, { shardCount: 8, updatedAt: UPDATED_AT });

      expect(readable(parts.UpdateExpression, parts)).toBe(`SET updatedAt = "${UPDATED_AT}", version = version + 1`);
    });

    it.each(['id', 'version', 'owner', 'createdAt', 'updatedAt', 'dueShard', 'liveOwner'])('refuses to change %s', (attribute) => {
      const changes = { [attribute]: 'x' } as never;

      expect(() => buildUpdate('id-1', { status: ['active'] }, changes, { shardCount: 8, updatedAt: UPDATED_AT })).toThrow(
        `${attribute} cannot be changed`,
      );
    });

    it('throws when no status is expected', () => {
      expect(() => buildUpdate('id-1', { status: [] }, {}, { shardCount: 8, updatedAt: UPDATED_AT })).toThrow(/at least one status/);
    });
  });

  describe('applyChanges (what a transactional update answers)', () => {
    it('is the record decided on with the changes applied, the version bumped, updatedAt stamped and its quota slot gone', () => {
      const from = record({ status: 'stopping', dueAt: 100, failureReason: 'x', quotaSlot: true, version: 4 });

      const next = applyChanges(from, { status: 'stopped', dueAt: null, failureReason: null, stoppedAt: UPDATED_AT, stopReason: undefined }, UPDATED_AT);

      const { dueAt: _dueAt, failureReason: _failureReason, quotaSlot: _quotaSlot, ...kept } = from;
      expect(next).toStrictEqual({ ...kept, status: 'stopped', stoppedAt: UPDATED_AT, updatedAt: UPDATED_AT, version: 5 });
    });
  });

  describe('quotaCounterKey', () => {
    it('keys an owner\'s counter apart from every record id (a ULID has no #)', () => {
      expect(quotaCounterKey('arn:aws:iam::123456789012:role/app')).toBe('quota#arn:aws:iam::123456789012:role/app');
    });
  });

  describe('encodeCursor / decodeCursor', () => {
    const key = { id: '01HZX3A6B7C8D9E0F1G2H3J4K5', owner: 'arn:aws:iam::1:role/a', createdAt: '2030-01-01T00:00:00.000Z' };

    it('round-trips a position as URL-safe text', () => {
      const text = encodeCursor({ index: 'by-owner', key });

      expect(text).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(decodeCursor(text, 'by-owner')).toEqual({ index: 'by-owner', key });
    });

    it('round-trips a day position without a key', () => {
      expect(decodeCursor(encodeCursor({ index: 'by-day', day: '2030-01-01' }), 'by-day')).toEqual({ index: 'by-day', day: '2030-01-01' });
    });

    it.each([
      ['is empty', ''],
      ['is not base64url', 'a+b/c='],
      ['is too long', 'A'.repeat(3_000)],
      ['is not JSON', Buffer.from('nope').toString('base64url')],
      ['has extra fields', Buffer.from(JSON.stringify({ i: 'by-owner', k: key, x: 1 })).toString('base64url')],
      ['lacks a key attribute', Buffer.from(JSON.stringify({ i: 'by-owner', k: { id: key.id, owner: key.owner } })).toString('base64url')],
      ['has a key of the wrong type', Buffer.from(JSON.stringify({ i: 'by-owner', k: { ...key, createdAt: 5 } })).toString('base64url')],
      ['has a bad day', Buffer.from(JSON.stringify({ i: 'by-day', d: '2030-13-45' })).toString('base64url')],
    ])('throws InvalidCursorError when the text %s', (_case, text) => {
      expect(() => decodeCursor(text, text.includes('by-day') ? 'by-day' : 'by-owner')).toThrow(InvalidCursorError);
    });

    it('throws InvalidCursorError when the cursor was issued for another index', () => {
      const text = encodeCursor({ index: 'by-owner', key });

      expect(() => decodeCursor(text, 'due')).toThrow(InvalidCursorError);
    });
  });

  describe('indexKeyOf', () => {
    it('takes the table key and the index key from an item', () => {
      const item = toItem(record({ dueAt: 42 }), 8);

      expect(indexKeyOf(item, 'due')).toEqual({ id: item.id, dueShard: item.dueShard, dueAt: 42 });
    });
  });
});
