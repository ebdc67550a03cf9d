/**
 * The audit events' JSON Schemas (docs/events/*.schema.json, docs/EVENTS.md) against the events the code makes:
 * every transition of the lifecycle, from every status it leaves from, is applied to a record, and the event
 * `auditEventFor` makes of that change is put into an EventBridge envelope as the publisher puts it
 * (lambdas/audit/eventbridge.ts) and validated with a JSON Schema validator (ajv, draft-07). Each schema
 * forbids properties it does not name, and the properties the schemas name are exactly those the events
 * carry, so the schemas and the code cannot drift apart.
 */
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import Ajv from 'ajv';
import { toEntry } from '../../lambdas/audit/eventbridge';
import { AUDIT_EVENT_TYPES, AUDIT_SOURCE, auditEventFor, LOCK_AUDIT_EVENT_TYPES, lockAuditEventFor, type AuditEvent } from '../../lambdas/broker/audit';
import type { Lock } from '../../lambdas/broker/locks';
import { applyTransition, lifecycle, TRANSITIONS, type Transition, type TransitionName } from '../../lambdas/broker/lifecycle';
import type { ConnectionRecord, ConnectionStatus } from '../../lambdas/broker/model';
import { portConnection, reverseConnection } from '../fixtures/fake-remoteit';
import { connectionRecord, MemoryConnectionStore } from '../fixtures/memory-store';

const SCHEMA_DIR = path.resolve(__dirname, '../../docs/events');
const NOW_MS = Date.parse('2030-01-01T01:00:00.000Z');
const NOW_S = NOW_MS / 1000;
const CLAIM_SECONDS = 82;
const LEASE_END_MS = NOW_MS + 1_800_000;
const OPENER = 'arn:aws:sts::123456789012:assumed-role/app/opener';
const RENEWER = 'arn:aws:sts::123456789012:assumed-role/app/renewer';
const DELETER = 'arn:aws:sts::123456789012:assumed-role/broker-admin/alice';
const PROXY = { kind: 'port' as const, url: 'tcp://proxy18.rt3.io:38575', host: 'proxy18.rt3.io', port: 38575 };

type Schema = { properties: { detail: { additionalProperties: unknown; properties: Record<string, unknown> } } } & Record<string, unknown>;

const kebab = (detailType: string) => detailType.toLowerCase().replace(/ /g, '-');
const schemaOf = (detailType: string) =>
  JSON.parse(readFileSync(path.join(SCHEMA_DIR, `${kebab(detailType)}.schema.json`), 'utf8')) as Schema;

/** Records as the broker leaves them in each status a transition leaves from (a `stopping` one always has a reason). */
const SEEDS: Partial<Record<ConnectionStatus, ConnectionRecord[]>> = {
  pending: [
    connectionRecord({ status: 'pending', callerArn: OPENER, remoteConnectionId: undefined, proxy: undefined, stopAttempts: 0, version: 0 }),
  ],
  active: [
    connectionRecord({ status: 'active', callerArn: OPENER, proxy: PROXY, version: 1 }),
    connectionRecord({ status: 'active', callerArn: OPENER, proxy: PROXY, changedBy: RENEWER, version: 2 }),
  ],
  stopping: [
    connectionRecord({ status: 'stopping', callerArn: OPENER, stopReason: 'lease_ended', proxy: PROXY, version: 2 }),
    connectionRecord({ status: 'stopping', callerArn: OPENER, stopReason: 'requested', changedBy: DELETER, proxy: PROXY, version: 2 }),
    connectionRecord({ status: 'stopping', callerArn: OPENER, stopReason: 'locked', changedBy: DELETER, lockId: '01JLOCK0000000000000000001', proxy: PROXY, version: 2 }),
    connectionRecord({
      status: 'stopping',
      callerArn: OPENER,
      stopReason: 'compensation',
      failureReason: 'remote.it answered HTTP 503',
      stopAttempts: 1,
      proxy: undefined,
      version: 1,
    }),
  ],
  stop_failed: [
    connectionRecord({ status: 'stop_failed', callerArn: OPENER, stopReason: 'lease_ended', failureReason: 'remote.it answered HTTP 503', stopAttempts: 8, proxy: PROXY, version: 10 }),
  ],
};

/** Each transition as its callers build it, in every variant that changes what its event says. */
const BUILD: Record<TransitionName, ((record: ConnectionRecord) => Transition)[]> = {
  activate: [
    (record) => lifecycle.activate(record, portConnection({ expiresAt: NOW_S + 28_800 }), LEASE_END_MS, NOW_MS),
    // An http service: remote.it's reverse proxy is public whatever was asked, and the event says what was asked.
    (record) => lifecycle.activate(record, reverseConnection({ expiresAt: NOW_S + 28_800 }), LEASE_END_MS, NOW_MS),
  ],
  fail_connect: [(record) => lifecycle.failConnect(record, 'remote.it refused the request: device offline', NOW_MS)],
  abandon_pending: [(record) => lifecycle.abandonPending(record, 'the open was abandoned mid-connect')],
  compensated: [(record) => lifecycle.compensated(record, 'rc-compensated', NOW_MS)],
  compensate_later: [(record) => lifecycle.compensateLater(record.id, 'rc-compensated', 'remote.it answered HTTP 503', NOW_MS)],
  refuse_public: [(record) => lifecycle.refusePublic(record, reverseConnection({ expiresAt: NOW_S + 28_800 }), NOW_MS, CLAIM_SECONDS)],
  claim_stop: [
    (record) => lifecycle.claimStop(record, 'requested', NOW_MS, CLAIM_SECONDS, DELETER),
    (record) => lifecycle.claimStop(record, 'locked', NOW_MS, CLAIM_SECONDS, DELETER, '01JLOCK0000000000000000001'),
    (record) => lifecycle.claimStop(record, record.stopReason ?? 'lease_ended', NOW_MS, CLAIM_SECONDS),
  ],
  extend_lease: [(record) => lifecycle.extendLease(record, LEASE_END_MS, RENEWER)],
  override: [(record) => lifecycle.override(record, NOW_MS)],
  stop_confirmed: [(record) => lifecycle.stopConfirmed(record, record.stopAttempts + 1, NOW_MS)],
  stop_gone: [
    (record) => lifecycle.stopGone(record, record.stopAttempts + 1, NOW_MS, 'remote.it: [0806] connection not found'),
    (record) => lifecycle.stopGone(record, record.stopAttempts, NOW_MS, null),
  ],
  stop_retry: [(record) => lifecycle.stopRetry(record, record.stopAttempts + 1, 'remote.it answered HTTP 503', NOW_S + 30)],
  stop_given_up: [(record) => lifecycle.stopGivenUp(record, record.stopAttempts + 1, 'remote.it answered HTTP 503')],
};

const ADMIN = 'arn:aws:sts::123456789012:assumed-role/broker-admin/alice';
const LIFTER = 'arn:aws:sts::123456789012:assumed-role/broker-admin/bob';
const LOCK: Lock = { id: '01JLOCK0000000000000000001', reason: 'incident 42', createdAt: '2030-01-01T00:00:00.000Z', createdBy: ADMIN };

/** Every change a lock goes through (placed with each coverage and with or without a ttl; lifted), as the stream shows it. */
function everyLockChange(): { name: string; before: Lock | undefined; after: Lock }[] {
  const placed: Lock[] = [
    { ...LOCK, principal: 'arn:aws:iam::123456789012:role/app-*' },
    { ...LOCK, serviceId: '80:00:00:00:01:*' },
    { ...LOCK, principal: 'arn:aws:iam::123456789012:role/app', serviceId: '80:00:00:00:01:02:03:04', expiresAt: NOW_S + 3600 },
  ];
  return placed.flatMap((lock, index) => [
    { name: `lock #${index} placed`, before: undefined, after: lock },
    { name: `lock #${index} lifted`, before: lock, after: { ...lock, liftedAt: '2030-01-01T00:30:00.000Z', liftedBy: LIFTER, expiresAt: NOW_S } },
  ]);
}

/** Every detail-type, connections' and locks'. */
const ALL_TYPES = [...Object.values(AUDIT_EVENT_TYPES), ...Object.values(LOCK_AUDIT_EVENT_TYPES)];

/** Every change the lifecycle can make to the seeds, as the stream shows it: the record before and after. */
async function everyChange(): Promise<{ name: string; before: ConnectionRecord; after: ConnectionRecord }[]> {
  const changes = [];
  for (const [name, rule] of Object.entries(TRANSITIONS) as [TransitionName, (typeof TRANSITIONS)[TransitionName]][]) {
    for (const from of rule.from) {
      for (const seed of SEEDS[from] ?? []) {
        for (const [variant, build] of BUILD[name].entries()) {
          const store = new MemoryConnectionStore({ now: () => NOW_MS });
          store.seed(seed);
          const after = await applyTransition(store, build(seed));
          changes.push({ name: `${name} #${variant} from ${from} (${seed.stopReason ?? 'no reason'})`, before: seed, after });
        }
      }
    }
  }
  return changes;
}

/** An event as EventBridge delivers it: its envelope around the entry the publisher puts. */
function delivered(event: AuditEvent) {
  const entry = toEntry(event, 'arn:aws:events:eu-west-1:123456789012:event-bus/audit');
  return {
    version: '0',
    id: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
    'detail-type': entry.DetailType,
    source: entry.Source,
    account: '123456789012',
    // EventBridge's envelope time has whole seconds.
    time: entry.Time?.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: 'eu-west-1',
    resources: entry.Resources ?? [],
    detail: JSON.parse(entry.Detail ?? 'null') as Record<string, unknown>,
  };
}

describe('audit event schemas (docs/events)', () => {
  const ajv = new Ajv({ allErrors: true, format: 'full' });
  const validators = new Map<string, ReturnType<typeof ajv.compile>>(ALL_TYPES.map((detailType) => [detailType, ajv.compile(schemaOf(detailType))]));
  let events: { name: string; event: ReturnType<typeof delivered> }[];
  beforeAll(async () => {
    events = (await everyChange()).flatMap(({ name, before, after }) => {
      const event = auditEventFor(before, after);
      return event ? [{ name, event: delivered(event) }] : [];
    });
    for (const { name, before, after } of everyLockChange()) {
      const event = lockAuditEventFor(before, after);
      if (event) events.push({ name, event: delivered(event) });
    }
  });

  it('are one draft-07 schema per detail-type, named after it, and no other', () => {
    const files = readdirSync(SCHEMA_DIR).filter((file) => file.endsWith('.schema.json')).sort();

    expect(files).toEqual(ALL_TYPES.map((detailType) => `${kebab(detailType)}.schema.json`).sort());
    for (const detailType of ALL_TYPES) {
      expect(schemaOf(detailType)).toMatchObject({
        $schema: 'http://json-schema.org/draft-07/schema#',
        title: detailType,
        properties: { 'detail-type': { const: detailType }, source: { const: AUDIT_SOURCE } },
      });
    }
  });

  it('are met by the event of every change the lifecycle makes, and every detail-type is made by some change', () => {
    const failures = events.flatMap(({ name, event }) => {
      const validate = validators.get(event['detail-type'] ?? '');
      if (!validate) return [`${name}: no schema for ${event['detail-type']}`];
      return validate(event) ? [] : [`${name}: ${ajv.errorsText(validate.errors)}`];
    });

    expect(failures).toEqual([]);
    expect([...new Set(events.map(({ event }) => event['detail-type']))].sort()).toEqual([...ALL_TYPES].sort());
  });

  it('name exactly the detail fields the events carry: none the code never sends, none it sends unnamed', () => {
    const sent = [...new Set(events.flatMap(({ event }) => Object.keys(event.detail)))].sort();
    const named = [...new Set(ALL_TYPES.flatMap((detailType) => Object.keys(schemaOf(detailType).properties.detail.properties)))].sort();

    expect(named).toEqual(sent);
  });

  it.each(ALL_TYPES)('%s forbids a detail field it does not name, and an event of another type', (detailType) => {
    const validate = validators.get(detailType);
    const event = events.find(({ event: candidate }) => candidate['detail-type'] === detailType)?.event;
    const other = events.find(({ event: candidate }) => candidate['detail-type'] !== detailType)?.event;

    expect(schemaOf(detailType).properties.detail.additionalProperties).toBe(false);
    expect(event && validate?.(event)).toBe(true);
    expect(validate?.({ ...event, detail: { ...event?.detail, proxy: PROXY } })).toBe(false);
    expect(validate?.(other)).toBe(false);
  });

  it('are met by the example event in docs/EVENTS.md', () => {
    const markdown = readFileSync(path.resolve(__dirname, '../../docs/EVENTS.md'), 'utf8');
    const examples = [...markdown.matchAll(/```json\n([\s\S]*?)```/g)]
      .map((match) => JSON.parse(match[1] ?? 'null') as Record<string, unknown>)
      .filter((example) => 'version' in example && 'detail' in example);

    expect(examples).toHaveLength(1);
    for (const example of examples) {
      const validate = validators.get(String(example['detail-type']));

      expect(validate?.(example)).toBe(true);
    }
  });

  it('let the EventBridge envelope gain fields (a replayed event carries replay-name)', () => {
    const event = events.find(({ event: candidate }) => candidate['detail-type'] === AUDIT_EVENT_TYPES.opened)?.event;

    expect(validators.get(AUDIT_EVENT_TYPES.opened)?.({ ...event, 'replay-name': 'audit-replay' })).toBe(true);
  });
});
