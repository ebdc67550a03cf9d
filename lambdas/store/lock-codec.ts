/**
 * A lock as its item is stored (lambdas/store/lock-store.ts) and as the locks table's stream carries it
 * (./stream-images.ts): the item's own fields, without the partition key. No AWS SDK client here, so the
 * stream consumers that decode lock images bundle no table client.
 */
import type { Lock } from '../broker/locks';

type Item = Record<string, unknown>;

const LOCK_FIELDS = ['id', 'principal', 'serviceId', 'reason', 'createdAt', 'createdBy', 'expiresAt', 'liftedAt', 'liftedBy'] as const;

export function toLock(item: Item): Lock {
  const lock: Record<string, unknown> = {};
  for (const field of LOCK_FIELDS) if (item[field] !== undefined) lock[field] = item[field];
  return lock as unknown as Lock;
}

