import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  applyTransition,
  canTransition,
  INITIAL_STATUS,
  lifecycle,
  SHORT_HORIZON_SECONDS,
  TransitionNotAllowedError,
  TRANSITIONS,
  type Transition,
  type TransitionName,
} from '../../../lambdas/broker/lifecycle';
import { CONNECTION_STATUSES, TERMINAL_STATUSES, type ConnectionRecord, type ConnectionStatus } from '../../../lambdas/broker/model';
import { StaleRecordError, type RemoteConnection } from '../../../lambdas/broker/ports';
import { portConnection } from '../../fixtures/fake-remoteit';
import { connectionRecord, MemoryConnectionStore } from '../../fixtures/memory-store';
import { rejectionOf } from './use-case-harness';

const NOW_MS = Date.parse('2030-01-01T01:00:00.000Z');
const NOW_S = NOW_MS / 1000;
const CLAIM_SECONDS = 60;
/** A lease end that is not a whole second, so rounding shows. */
const LEASE_END_MS = NOW_MS + 900_400;

const remote: RemoteConnection = portConnection({ remoteConnectionId: 'rc-remote', expiresAt: NOW_S + 28_800 });

/** Each transition built with its builder from a record as read (the id-only builders use just its id). */
const BUILD: Record<TransitionName, (record: ConnectionRecord) => Transition> = {
  activate: (record) => lifecycle.activate(record, remote, LEASE_END_MS, NOW_MS),
  fail_connect: (record) => lifecycle.failConnect(record, 'remote.it refused the request: no', NOW_MS),
  abandon_pending: (record) => lifecycle.abandonPending(record, 'abandoned'),
  compensated: (record) => lifecycle.compensated(record, 'rc-compensated', NOW_MS),
  compensate_later: (record) => lifecycle.compensateLater(record.id, 'rc-compensated', 'remote.it answered HTTP 503', NOW_MS),
  refuse_public: (record) => lifecycle.refusePublic(record, remote, NOW_MS, CLAIM_SECONDS),
  claim_stop: (record) => lifecycle.claimStop(record, 'requested', NOW_MS, CLAIM_SECONDS),
  extend_lease: (record) => lifecycle.extendLease(record, LEASE_END_MS),
  override: (record) => lifecycle.override(record, NOW_MS),
  stop_confirmed: (record) => lifecycle.stopConfirmed(record, record.stopAttempts + 1, NOW_MS),
  stop_gone: (record) => lifecycle.stopGone(record, record.stopAttempts + 1, NOW_MS, null),
  stop_retry: (record) => lifecycle.stopRetry(record, record.stopAttempts + 1, 'remote.it answered HTTP 503', NOW_S + 30),
  stop_given_up: (record) => lifecycle.stopGivenUp(record, record.stopAttempts + 1, 'remote.it answered HTTP 503'),
};

/** Builders that take only an id: nothing to check before the write, so the store's condition refuses. */
const ID_ONLY: ReadonlySet<TransitionName> = new Set(['compensated', 'compensate_later', 'override']);

/** The (from, to) pairs of the ARCHITECTURE.md lifecycle table, written out. */
const ALLOWED_PAIRS: readonly (readonly [ConnectionStatus, ConnectionStatus])[] = [
  ['pending', 'active'],
  ['pending', 'failed'],
  ['pending', 'stopped'],
  ['pending', 'stopping'],
  ['active', 'active'],
  ['active', 'stopped'],
  ['active', 'stopping'],
  ['stopping', 'stopping'],
  ['stopping', 'stopped'],
  ['stopping', 'expired'],
  ['stopping', 'stop_failed'],
  ['stop_failed', 'stopping'],
];

const RULES = Object.entries(TRANSITIONS) as [TransitionName, (typeof TRANSITIONS)[TransitionName]][];
const leavesFrom = (status: ConnectionStatus, from: readonly ConnectionStatus[]): boolean => from.includes(status);

function seeded(status: ConnectionStatus) {
  const store = new MemoryConnectionStore({ now: () => NOW_MS });
  const record = connectionRecord({ status, remoteConnectionId: 'rc-seeded', expiresAt: NOW_S + 3_600, stopAttempts: 1, version: 3 });
  store.seed(record);
  return { store, record };
}

describe('lifecycle', () => {
  it('has a builder for every transition of the table and no other', () => {
    expect(Object.keys(BUILD).sort()).toEqual(Object.keys(TRANSITIONS).sort());
  });

  describe('every transition from every status', () => {
    /** Each transition against a record in each status: what the table says must happen. */
    const CASES = RULES.flatMap(([name, rule]) =>
      CONNECTION_STATUSES.map((status) => ({
        name,
        status,
        to: rule.to,
        outcome: leavesFrom(status, rule.from) ? 'moves' : ID_ONLY.has(name) ? 'store_refuses' : 'builder_refuses',
      })),
    );
    const casesThat = (outcome: string) => CASES.filter((entry) => entry.outcome === outcome);

    it('covers every transition with every status', () => {
      expect(CASES).toHaveLength(RULES.length * CONNECTION_STATUSES.length);
      expect(casesThat('moves')).toHaveLength(RULES.reduce((sum, [, rule]) => sum + rule.from.length, 0));
    });

    it.each(casesThat('moves'))('$name moves a $status record to $to', async ({ name, status, to }) => {
      // Arrange
      const { store, record } = seeded(status);

      // Act
      const written = await applyTransition(store, BUILD[name](record));

      // Assert
      expect(written.status).toBe(to);
      expect(written.version).toBe(record.version + 1);
      expect(store.peek(record.id)).toEqual(written);
    });

    it.each(casesThat('builder_refuses'))('$name is refused for a $status record before the store is asked', async ({ name, status }) => {
      // Arrange
      const { store, record } = seeded(status);

      // Act
      const refusal = await rejectionOf(Promise.resolve().then(() => applyTransition(store, BUILD[name](record))));

      // Assert
      expect(refusal).toBeInstanceOf(TransitionNotAllowedError);
      expect(refusal).toMatchObject({ code: 'transition_not_allowed', transition: name, status });
      expect(store.updates).toHaveLength(0);
      expect(store.peek(record.id)).toEqual(record);
    });

    it.each(casesThat('store_refuses'))('$name (built from the id alone) is refused by the store for a $status record', async ({ name, status }) => {
      // Arrange
      const { store, record } = seeded(status);

      // Act
      const refusal = await rejectionOf(applyTransition(store, BUILD[name](record)));

      // Assert
      expect(refusal).toBeInstanceOf(StaleRecordError);
      expect(refusal).toMatchObject({ current: record });
      expect(store.peek(record.id)).toEqual(record);
    });
  });

  describe('quota slots', () => {
    const ENDING = RULES.filter(([, rule]) => TERMINAL_STATUSES.includes(rule.to));

    it('names the record it was decided on in every transition into a terminal status, and in no other', () => {
      for (const [name, rule] of RULES) {
        const record = connectionRecord({ status: rule.from[0], remoteConnectionId: 'rc-seeded' });

        expect({ name, record: BUILD[name](record).record }).toEqual({ name, record: TERMINAL_STATUSES.includes(rule.to) ? record : undefined });
      }
    });

    it.each(ENDING.flatMap(([name, rule]) => rule.from.map((status) => ({ name, status, to: rule.to }))))(
      '$name gives a $status record\'s slot back once: the same transition again is refused and releases nothing',
      async ({ name, status }) => {
        // Arrange: the record took a slot when it was created, as an open creates it.
        const store = new MemoryConnectionStore({ now: () => NOW_MS });
        const { version: _version, updatedAt: _updatedAt, ...fresh } = connectionRecord({ status, remoteConnectionId: 'rc-seeded', expiresAt: NOW_S + 3_600 });
        const created = await store.create(fresh, { maxActive: 5, opensPerMinute: 1_000 });
        const transition = BUILD[name](created);

        // Act
        const written = await applyTransition(store, transition);
        const again = await rejectionOf(applyTransition(store, transition));

        // Assert
        expect(store.slotsHeld(created.owner)).toBe(0);
        expect(written.quotaSlot).toBeUndefined();
        expect(store.peek(created.id)).toEqual(written);
        expect(again).toBeInstanceOf(StaleRecordError);
      },
    );
  });

  describe('claimActive (claim_stop without a read)', () => {
    it('claims an active record', async () => {
      // Arrange
      const { store, record } = seeded('active');

      // Act
      const written = await applyTransition(store, lifecycle.claimActive(record.id, 'requested', NOW_MS, CLAIM_SECONDS, record.owner));

      // Assert
      expect(written).toMatchObject({ status: TRANSITIONS.claim_stop.to, stopReason: 'requested', version: record.version + 1 });
    });

    it.each(CONNECTION_STATUSES.filter((status) => status !== 'active'))('is refused by the store for a %s record', async (status) => {
      // Arrange
      const { store, record } = seeded(status);

      // Act
      const refusal = await rejectionOf(applyTransition(store, lifecycle.claimActive(record.id, 'requested', NOW_MS, CLAIM_SECONDS, record.owner)));

      // Assert
      expect(refusal).toBeInstanceOf(StaleRecordError);
      expect(store.peek(record.id)).toEqual(record);
    });

    it('refuses an active record of another owner, or one past its expiry, at the store', async () => {
      // Arrange
      const { store, record } = seeded('active');
      const lapsed = connectionRecord({ status: 'active', expiresAt: NOW_S });
      store.seed(lapsed);

      // Act
      const otherOwner = await rejectionOf(applyTransition(store, lifecycle.claimActive(record.id, 'requested', NOW_MS, CLAIM_SECONDS, 'arn:aws:iam::123456789012:role/other')));
      const expired = await rejectionOf(applyTransition(store, lifecycle.claimActive(lapsed.id, 'requested', NOW_MS, CLAIM_SECONDS)));

      // Assert
      expect(otherOwner).toBeInstanceOf(StaleRecordError);
      expect(expired).toBeInstanceOf(StaleRecordError);
      expect(store.peek(record.id)).toEqual(record);
      expect(store.peek(lapsed.id)).toEqual(lapsed);
    });
  });

  describe('canTransition', () => {
    const allowed = new Set(ALLOWED_PAIRS.map(([from, to]) => `${from} -> ${to}`));
    const pairs = CONNECTION_STATUSES.flatMap((from) => CONNECTION_STATUSES.map((to) => [from, to, allowed.has(`${from} -> ${to}`)] as const));

    it('lists only statuses that exist', () => {
      for (const [from, to] of ALLOWED_PAIRS) {
        expect(CONNECTION_STATUSES).toContain(from);
        expect(CONNECTION_STATUSES).toContain(to);
      }
    });

    it.each(pairs)('%s -> %s: %s', (from, to, expected) => {
      expect(canTransition(from, to)).toBe(expected);
    });
  });

  describe('the diagram in docs/ARCHITECTURE.md', () => {
    const ARROW = /^(\S+)\s*-->\s*(\S+)(?:\s*:\s*(\S+))?$/;

    function diagramLines(): string[] {
      const text = readFileSync(join(__dirname, '..', '..', '..', 'docs', 'ARCHITECTURE.md'), 'utf8');
      const blocks = [...text.matchAll(/```mermaid\n([\s\S]*?)```/g)].map((match) => (match[1] ?? '').split('\n').map((line) => line.trim()));
      const diagram = blocks.filter((lines) => lines[0] === 'stateDiagram-v2');
      expect(diagram).toHaveLength(1);
      return (diagram[0] ?? []).slice(1).filter((line) => line !== '' && !line.startsWith('%%'));
    }

    function arrows() {
      return diagramLines().map((line) => {
        const match = ARROW.exec(line);
        if (!match) throw new Error(`not an arrow of the diagram: ${line}`);
        return { from: match[1] ?? '', to: match[2] ?? '', name: match[3] };
      });
    }

    it('draws exactly the transitions of the table, one arrow per status each leaves from', () => {
      const drawn = arrows()
        .filter((arrow) => arrow.from !== '[*]' && arrow.to !== '[*]')
        .map((arrow) => `${arrow.from} --> ${arrow.to} : ${arrow.name ?? ''}`);

      const table = RULES.flatMap(([name, rule]) => rule.from.map((from) => `${from} --> ${rule.to} : ${name}`));

      expect([...drawn].sort()).toEqual([...table].sort());
    });

    it('starts at the status a new record is created in', () => {
      const starts = arrows().filter((arrow) => arrow.from === '[*]');

      expect(starts).toEqual([{ from: '[*]', to: INITIAL_STATUS, name: 'create' }]);
    });

    it('ends at the terminal statuses, and only stop_failed is left again, by claim_stop alone', () => {
      const ends = arrows()
        .filter((arrow) => arrow.to === '[*]')
        .map((arrow) => arrow.from);
      const neverLeft = CONNECTION_STATUSES.filter((status) => RULES.every(([, rule]) => !leavesFrom(status, rule.from)));
      const leftAgain = ends.filter((status) => !neverLeft.includes(status as ConnectionStatus));

      expect([...ends].sort()).toEqual([...TERMINAL_STATUSES].sort());
      expect(neverLeft.every((status) => ends.includes(status))).toBe(true);
      // A stop_failed record waits for its TTL unless a DELETE claims it once more (ARCHITECTURE.md).
      expect(leftAgain).toEqual(['stop_failed']);
      expect(RULES.filter(([, rule]) => leavesFrom('stop_failed', rule.from)).map(([name]) => name)).toEqual(['claim_stop']);
    });
  });

  describe('the builders', () => {
    it('activate records remote.it\'s connection, the lease end and its due second, the idle close counted from the connect, and leaves updatedAt to the store', () => {
      // Arrange
      const { record } = seeded('pending');

      // Act
      const transition = lifecycle.activate(record, remote, LEASE_END_MS, NOW_MS - 2_000);

      // Assert
      expect(transition).toEqual({
        name: 'activate',
        id: record.id,
        expected: { status: ['pending'], version: record.version },
        changes: {
          status: 'active',
          remoteConnectionId: 'rc-remote',
          proxy: remote.proxy,
          expiresAt: remote.expiresAt,
          leaseExpiresAt: new Date(LEASE_END_MS).toISOString(),
          idleClosesAt: new Date(NOW_MS - 2_000 + remote.idleSeconds * 1000).toISOString(),
          idleSeconds: remote.idleSeconds,
          dueAt: Math.ceil(LEASE_END_MS / 1000),
        },
      });
      expect(transition.changes).not.toHaveProperty('updatedAt');
      expect(transition.changes.dueAt).toBe(NOW_S + 901);
    });

    it('claimActive expects an active record of the owner, not past its expiry', () => {
      // Act
      const transition = lifecycle.claimActive('01JTESTID', 'requested', NOW_MS, CLAIM_SECONDS, 'arn:aws:iam::123456789012:role/app');
      const anyOwner = lifecycle.claimActive('01JTESTID', 'requested', NOW_MS, CLAIM_SECONDS);

      // Assert
      expect(transition).toEqual({
        name: 'claim_stop',
        id: '01JTESTID',
        expected: { status: ['active'], unexpiredAt: NOW_S, owner: 'arn:aws:iam::123456789012:role/app' },
        changes: { status: 'stopping', stopReason: 'requested', dueAt: NOW_S + CLAIM_SECONDS },
      });
      expect(anyOwner.expected).toEqual({ status: ['active'], unexpiredAt: NOW_S });
    });

    it('stop_retry keeps the record stopping without setting its status', () => {
      // Arrange
      const { record } = seeded('stopping');

      // Act
      const transition = lifecycle.stopRetry(record, 2, 'remote.it answered HTTP 503', NOW_S + 30);

      // Assert
      expect(transition.changes).toEqual({ failureReason: 'remote.it answered HTTP 503', dueAt: NOW_S + 30, stopAttempts: 2 });
      expect(transition.changes).not.toHaveProperty('status');
      expect(transition.expected).toEqual({ status: ['stopping'], version: record.version });
    });

    it('extend_lease stays active without setting the status, moving the lease end and its due second', () => {
      // Arrange
      const { record } = seeded('active');

      // Act
      const transition = lifecycle.extendLease(record, LEASE_END_MS);

      // Assert
      expect(transition.changes).toEqual({ leaseExpiresAt: new Date(LEASE_END_MS).toISOString(), dueAt: NOW_S + 901 });
    });

    it('fail_connect removes dueAt and keeps the record a short horizon', () => {
      // Arrange
      const { record } = seeded('pending');

      // Act
      const transition = lifecycle.failConnect(record, 'remote.it does not know this service: x', NOW_MS);

      // Assert
      expect(transition.changes).toEqual({
        status: 'failed',
        failureReason: 'remote.it does not know this service: x',
        dueAt: null,
        expiresAt: NOW_S + SHORT_HORIZON_SECONDS,
      });
    });

    it('compensate_later counts the failed stop as the first attempt and is due at once, from any pending state', () => {
      // Act
      const transition = lifecycle.compensateLater('01JTESTID', 'rc-x', 'remote.it answered HTTP 503', NOW_MS + 500);

      // Assert
      expect(transition).toEqual({
        name: 'compensate_later',
        id: '01JTESTID',
        expected: { status: ['pending'] },
        changes: {
          status: 'stopping',
          stopReason: 'compensation',
          remoteConnectionId: 'rc-x',
          stopAttempts: 1,
          failureReason: 'remote.it answered HTTP 503',
          dueAt: NOW_S,
        },
      });
    });

    it('refuse_public claims the record for stop in the write that records the remote id, without the proxy', () => {
      // Arrange
      const { record } = seeded('pending');

      // Act
      const transition = lifecycle.refusePublic(record, remote, NOW_MS, CLAIM_SECONDS);

      // Assert
      expect(transition.changes).toEqual({
        status: 'stopping',
        stopReason: 'public_not_allowed',
        remoteConnectionId: 'rc-remote',
        expiresAt: remote.expiresAt,
        leaseExpiresAt: new Date(NOW_MS).toISOString(),
        dueAt: NOW_S + CLAIM_SECONDS,
      });
    });

    it('stop_gone keeps remote.it\'s words, or removes the reason when no call was made', () => {
      // Arrange
      const { record } = seeded('stopping');

      // Act
      const said = lifecycle.stopGone(record, 2, NOW_MS, 'remote.it no longer has this connection: gone');
      const silent = lifecycle.stopGone(record, 1, NOW_MS, null);

      // Assert
      expect(said.changes).toMatchObject({ status: 'expired', stopReason: 'expired', failureReason: 'remote.it no longer has this connection: gone', dueAt: null, stopAttempts: 2 });
      expect(silent.changes).toMatchObject({ failureReason: null, stopAttempts: 1, stoppedAt: new Date(NOW_MS).toISOString() });
    });
  });
});
