/**
 * The generators of hostile.test.ts (fast-check): requests to the API made invalid or forbidden on purpose,
 * each a Case with the statuses allowed for it and the fields its answer must name. The generators built
 * around the connections standing during the run (ids of another caller's, the caller's own) are in the test.
 * Not a test file (jest runs only `*.test.ts`).
 */
import fc from 'fast-check';
import type { ApiEventInit } from '../../fixtures/api-events';
import { SERVICES } from '../support/broker';

const KNOWN_OPEN_FIELDS = new Set(['serviceId', 'mode', 'clientIp', 'ttlSeconds', 'reuse']);

const deepJson = fc.integer({ min: 100, max: 10_000 }).chain((depth) =>
  fc.constantFrom(`${'['.repeat(depth)}${']'.repeat(depth)}`, `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`),
);
const hugeString = fc.integer({ min: 2_000, max: 64_000 }).map((length) => 'A'.repeat(length));
const pathTricks = fc.constantFrom(
  '../../etc/passwd',
  '..%2F..%2Fetc%2Fpasswd',
  '%2e%2e%2f',
  '..\\..\\windows',
  '01HZY0000000000000000000/../x',
  '\u0000',
  '%00',
  '/',
  '.',
  '..',
  '?id=1',
  '#frag',
  'a/b',
  '${jndi:ldap://x}',
  "' OR '1'='1",
  '{"$ne":null}',
  '<script>alert(1)</script>',
);
const unicode = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 });
const anyText = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 60 }) },
  { weight: 3, arbitrary: unicode },
  { weight: 2, arbitrary: pathTricks },
  { weight: 1, arbitrary: hugeString },
);
const notAString = fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.jsonValue(), { maxLength: 5 }), fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 5 }));
/** Raw JSON of a value: plain ones through JSON.stringify, deep ones built as text (cheap at any depth). */
const rawValue = (value: fc.Arbitrary<unknown>) => value.map((item) => JSON.stringify(item) ?? 'null');
const anyRaw = fc.oneof(rawValue(anyText), rawValue(notAString), deepJson);

const hex = (bytes: number) => fc.array(fc.integer({ min: 0, max: 255 }), { minLength: bytes, maxLength: bytes }).map((values) => values.map((value) => value.toString(16).padStart(2, '0')));
/** A well-formed service id no rule lets the app role reach (its rule covers 80:00:00:00:01:*). */
const deniedServiceId = hex(8)
  .filter(([first, second, third, fourth, fifth]) => `${first}:${second}:${third}:${fourth}:${fifth}`.toUpperCase() !== '80:00:00:00:01')
  .map((bytes) => bytes.join(':'));
const badServiceId = fc.oneof(
  rawValue(anyText.filter((text) => !/^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){7}$/.test(text))),
  rawValue(hex(7).map((bytes) => bytes.join(':'))),
  rawValue(hex(8).map((bytes) => bytes.join('-'))),
  rawValue(notAString),
  deepJson,
);
/** IPv4 addresses a deployment must never accept as a client: private, loopback, link-local, CGNAT, reserved, multicast. */
const privateIp = fc.oneof(
  fc.tuple(fc.constant(10), fc.nat(255), fc.nat(255), fc.nat(255)),
  fc.tuple(fc.constant(127), fc.nat(255), fc.nat(255), fc.nat(255)),
  fc.tuple(fc.constant(172), fc.integer({ min: 16, max: 31 }), fc.nat(255), fc.nat(255)),
  fc.tuple(fc.constant(192), fc.constant(168), fc.nat(255), fc.nat(255)),
  fc.tuple(fc.constant(169), fc.constant(254), fc.nat(255), fc.nat(255)),
  fc.tuple(fc.constant(100), fc.integer({ min: 64, max: 127 }), fc.nat(255), fc.nat(255)),
  fc.tuple(fc.constant(0), fc.nat(255), fc.nat(255), fc.nat(255)),
  fc.tuple(fc.integer({ min: 224, max: 255 }), fc.nat(255), fc.nat(255), fc.nat(255)),
).map((parts) => parts.join('.'));
const notIpv4 = fc.oneof(
  fc.ipV6(),
  fc.tuple(fc.integer({ min: 256, max: 999 }), fc.nat(255), fc.nat(255), fc.nat(255)).map((parts) => parts.join('.')),
  fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255)).map((parts) => parts.join('.')),
  fc.ipV4().map((ip) => ` ${ip}`),
  fc.ipV4().map((ip) => `${ip}/24`),
  anyText.filter((text) => !/^\d+\.\d+\.\d+\.\d+$/.test(text)),
);
/** A public unicast address (8.x.x.x): valid as a client IP, but only in mode ip. */
const publicIp = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255)).map((parts) => `8.${parts.join('.')}`);

/** Junk headers any request may carry: large, many, unicode. They must change nothing. */
export const junkHeaders = fc.option(
  fc.dictionary(
    fc.stringMatching(/^x-[a-z0-9-]{1,20}$/),
    fc.oneof(fc.string({ maxLength: 50 }), unicode, fc.integer({ min: 1_000, max: 9_000 }).map((length) => 'h'.repeat(length))),
    { maxKeys: 20 },
  ),
  { nil: undefined },
);

type Kind = 'schema' | 'domain' | 'policy';

/** One corruption of one part of a request: what it breaks and which field the answer must name. */
interface Mutation {
  kind: Kind;
  /** Fields the answer may name for it (a 400 names at least one field some mutation broke). */
  fields: string[];
  /** JSON members to set (raw JSON text); `null` deletes the member. */
  members?: Record<string, string | null>;
  headers?: Record<string, string>;
}

const member = (field: string, kind: Kind, raw: fc.Arbitrary<string>): fc.Arbitrary<Mutation> =>
  raw.map((value) => ({ kind, fields: [field], members: { [field]: value } }));

const openMutations = {
  serviceId: fc.oneof(
    member('serviceId', 'schema', badServiceId),
    fc.constant<Mutation>({ kind: 'schema', fields: ['serviceId'], members: { serviceId: null } }),
    member('serviceId', 'policy', rawValue(deniedServiceId)),
    member('serviceId', 'policy', fc.constant(JSON.stringify(SERVICES.restricted))),
  ),
  modeAndIp: fc.oneof(
    member('mode', 'schema', fc.oneof(rawValue(anyText.filter((text) => !['latching', 'ip', 'public'].includes(text))), rawValue(notAString))),
    member('clientIp', 'schema', fc.oneof(rawValue(notIpv4), rawValue(notAString))),
    privateIp.map((ip): Mutation => ({ kind: 'domain', fields: ['clientIp'], members: { mode: '"ip"', clientIp: JSON.stringify(ip) } })),
    // No clientIp: the caller's source address (documentation space here) is refused.
    fc.constant<Mutation>({ kind: 'domain', fields: ['clientIp'], members: { mode: '"ip"' } }),
    fc
      .tuple(fc.constantFrom('"latching"', '"public"', null), publicIp)
      .map(([mode, ip]): Mutation => ({ kind: 'domain', fields: ['clientIp'], members: { mode, clientIp: JSON.stringify(ip) } })),
    fc.constant<Mutation>({ kind: 'policy', fields: ['mode'], members: { mode: '"public"' } }),
  ),
  ttlSeconds: fc.oneof(
    member(
      'ttlSeconds',
      'schema',
      fc.oneof(
        rawValue(fc.integer({ min: -1_000_000, max: 59 })),
        rawValue(fc.integer({ min: 86_401, max: Number.MAX_SAFE_INTEGER })),
        rawValue(fc.double({ min: 60, max: 86_400, noNaN: true }).filter((value) => !Number.isInteger(value))),
        fc.constantFrom('1e400', '-0.5', '"300"', 'null', 'true'),
        rawValue(notAString.filter((value) => typeof value !== 'number')),
      ),
    ),
    member('ttlSeconds', 'policy', rawValue(fc.integer({ min: 3_601, max: 86_400 }))),
  ),
  reuse: member('reuse', 'schema', fc.oneof(rawValue(anyText), rawValue(fc.oneof(fc.integer(), fc.constant(null), fc.array(fc.boolean())))).filter((raw) => raw !== 'true' && raw !== 'false')),
  unknown: fc
    .uniqueArray(fc.oneof(fc.string({ minLength: 1, maxLength: 30 }), unicode, fc.constantFrom('__proto__', 'constructor', 'prototype', 'serviceID', 'ServiceId', 'ttl')), { minLength: 1, maxLength: 3 })
    .filter((keys) => keys.every((key) => !KNOWN_OPEN_FIELDS.has(key)))
    .chain((keys) =>
      fc.tuple(...keys.map(() => anyRaw)).map((values): Mutation => ({ kind: 'schema', fields: keys, members: Object.fromEntries(keys.map((key, index) => [key, values[index] ?? 'null'])) })),
    ),
  idempotencyKey: fc
    .oneof(fc.constant(''), fc.string({ minLength: 257, maxLength: 2_000 }), fc.string({ maxLength: 20 }).map((text) => `key ${text}`), unicode.filter((text) => /[^\x21-\x7e]/.test(text)))
    .map((key): Mutation => ({ kind: 'schema', fields: ['Idempotency-Key'], headers: { 'idempotency-key': key } })),
};

/**
 * Later members win, merged as data (a `__proto__` key stays a key: Object.assign would set the prototype).
 */
function merged(parts: Array<Record<string, string | null>>): Record<string, string | null> {
  const byKey = new Map<string, string | null>();
  for (const part of parts) for (const [key, value] of Object.entries(part)) byKey.set(key, value);
  return Object.fromEntries(byKey);
}

/** Serialises members without an object literal, so keys like `__proto__` go out as the caller sent them. */
function rawObject(members: Record<string, string | null>): string {
  return `{${Object.entries(members)
    .filter((entry): entry is [string, string] => entry[1] !== null)
    .map(([key, raw]) => `${JSON.stringify(key)}:${raw}`)
    .join(',')}}`;
}

export interface Case {
  init: ApiEventInit;
  /** Statuses allowed for it; 400s must name one of `fields`. */
  statuses: number[];
  fields: string[];
}

function fromMutations(routeKey: string, base: Record<string, string | null>, mutations: Mutation[], extra: Partial<ApiEventInit>, headers: Record<string, string> | undefined): Case {
  const members = merged([base, ...mutations.map((mutation) => mutation.members ?? {})]);
  const kinds = new Set(mutations.map((mutation) => mutation.kind));
  const status = kinds.has('schema') || kinds.has('domain') ? 400 : 403;
  return {
    init: { routeKey, rawBody: rawObject(members), headers: Object.assign({ ...headers }, ...mutations.map((mutation) => mutation.headers ?? {})), ...extra },
    statuses: [status],
    fields: mutations.flatMap((mutation) => mutation.fields),
  };
}

/** A body that is not a JSON object at all. */
const brokenBody = fc.oneof(
  fc.string({ maxLength: 200 }).filter((text) => {
    try {
      const parsed: unknown = JSON.parse(text);
      return parsed === null || typeof parsed !== 'object' || Array.isArray(parsed);
    } catch {
      return true;
    }
  }),
  fc.constantFrom('{', '{"serviceId":', '[]', 'null', '"{}"', '{}}', '\u0000'),
  rawValue(fc.oneof(fc.array(fc.jsonValue()), fc.integer(), fc.string())),
  deepJson.map((text) => (text.startsWith('[') ? text : `[${text}]`)),
);

/** Any non-empty selection of the slots' mutations, at most one per slot (slots never touch the same field). */
const slots = (all: Record<string, fc.Arbitrary<Mutation>>): fc.Arbitrary<Mutation[]> =>
  fc
    .tuple(...Object.values(all).map((arbitrary) => fc.option(arbitrary, { nil: undefined, freq: 2 })))
    .map((chosen) => chosen.filter((mutation): mutation is Mutation => mutation !== undefined))
    .filter((mutations) => mutations.length > 0);

export const openCases: fc.Arbitrary<Case> = fc.oneof(
  { weight: 9, arbitrary: fc.tuple(slots(openMutations), junkHeaders).map(([mutations, headers]) => fromMutations('POST /connections', { serviceId: JSON.stringify(SERVICES.echo), ttlSeconds: '300' }, mutations, {}, headers)) },
  { weight: 1, arbitrary: fc.tuple(brokenBody, junkHeaders).map(([rawBody, headers]): Case => ({ init: { routeKey: 'POST /connections', rawBody, ...(headers && { headers }) }, statuses: [400], fields: ['body'] })) },
);

export const ulid = fc.ulid();
export const badId = fc.oneof(
  anyText.filter((text) => !/^[0-9A-HJKMNP-TV-Z]{26}$/.test(text)),
  // Lower case is not a ULID, unless the id happens to be all digits.
  fc.ulid().filter((id) => /[A-Z]/.test(id)).map((id) => id.toLowerCase()),
  fc.ulid().map((id) => `${id}x`),
  fc.ulid().map((id) => id.slice(1)),
  fc.ulid().map((id) => `${id.slice(0, 25)}U`),
);

export const listCases: fc.Arbitrary<Case> = slots({
  status: fc.oneof(anyText, fc.constantFrom('ACTIVE', 'Active', 'active ', 'stopped,active')).filter((text) => !['pending', 'active', 'stopping', 'stopped', 'failed', 'expired', 'stop_failed'].includes(text)).map((status): Mutation => ({ kind: 'schema', fields: ['status'], members: { status } })),
  serviceId: anyText.filter((text) => !/^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){7}$/.test(text)).map((serviceId): Mutation => ({ kind: 'schema', fields: ['serviceId'], members: { serviceId } })),
  limit: fc
    .oneof(fc.integer({ min: -1_000, max: 0 }).map(String), fc.integer({ min: 101, max: 1e9 }).map(String), fc.constantFrom('1.5', 'abc', '', ' ', '1e3', 'Infinity', '-0', 'NaN'), anyText)
    // What the schema's coercion (Number(text), a whole 1..100) would accept is not hostile: left out.
    .filter((text) => {
      const limit = Number(text);
      return !(Number.isInteger(limit) && limit >= 1 && limit <= 100);
    })
    .map((limit): Mutation => ({ kind: 'schema', fields: ['limit'], members: { limit } })),
  cursor: fc.oneof(fc.constant(''), fc.string({ minLength: 2_049, maxLength: 5_000 }), anyText, fc.base64String({ minLength: 4, maxLength: 400 })).map((cursor): Mutation => ({ kind: 'schema', fields: ['cursor'], members: { cursor } })),
  unknown: fc.uniqueArray(fc.oneof(fc.string({ minLength: 1, maxLength: 30 }), unicode, fc.constantFrom('__proto__', 'Limit', 'owner', 'admin')), { minLength: 1, maxLength: 3 }).filter((keys) => keys.every((key) => !['status', 'serviceId', 'limit', 'cursor'].includes(key))).map((keys): Mutation => ({ kind: 'schema', fields: keys, members: Object.fromEntries(keys.map((key) => [key, 'x'])) })),
}).chain((mutations) =>
  junkHeaders.map((headers): Case => {
    const query = merged(mutations.map((mutation) => mutation.members ?? {})) as Record<string, string>;
    return { init: { routeKey: 'GET /connections', query, ...(headers && { headers }) }, statuses: [400], fields: mutations.flatMap((mutation) => mutation.fields) };
  }),
);

export const badRenewBody: fc.Arbitrary<{ rawBody: string; fields: string[] }> = fc.oneof(
  brokenBody.map((rawBody) => ({ rawBody, fields: ['body'] })),
  fc.constant({ rawBody: '{}', fields: ['ttlSeconds'] as string[] }),
  openMutations.ttlSeconds.filter((mutation) => mutation.kind === 'schema').map((mutation) => ({ rawBody: rawObject(mutation.members ?? {}), fields: ['ttlSeconds'] })),
  openMutations.unknown.map((mutation) => ({ rawBody: rawObject({ ttlSeconds: '300', ...mutation.members }), fields: mutation.fields })),
);

// ---- the lock routes (admins only) ---------------------------------------------------------------------

const ADMIN = 'arn:aws:sts::123456789012:assumed-role/ops-admin/alice';
const NOT_ADMIN = fc.constantFrom('arn:aws:sts::123456789012:assumed-role/app/session-1', 'arn:aws:sts::123456789012:assumed-role/other-app/session-9');
const KNOWN_LOCK_FIELDS = new Set(['principal', 'serviceId', 'reason', 'ttlSeconds']);

const lockMutations = {
  principal: member('principal', 'schema', fc.oneof(rawValue(notAString.filter((value) => value !== null)), fc.constant('""'), rawValue(fc.string({ minLength: 2_049, maxLength: 4_000 })), deepJson)),
  serviceId: member('serviceId', 'schema', fc.oneof(rawValue(anyText.filter((text) => !/^[0-9A-Fa-f:*]{1,64}$/.test(text))), rawValue(notAString.filter((value) => value !== null)), deepJson)),
  reason: fc.oneof(
    member('reason', 'schema', fc.oneof(rawValue(notAString), fc.constant('""'), rawValue(fc.string({ minLength: 501, maxLength: 2_000 })), rawValue(fc.constantFrom('a\u0000b', 'line\nbreak', '\u001b[31m')))),
    fc.constant<Mutation>({ kind: 'schema', fields: ['reason'], members: { reason: null } }),
  ),
  ttlSeconds: member('ttlSeconds', 'schema', fc.oneof(fc.integer({ min: -1_000, max: 59 }).map(String), fc.integer({ min: 2_592_001, max: 1e9 }).map(String), fc.constantFrom('60.5', '"600"', 'null', 'true', '1e400'), deepJson)),
  unknown: fc
    .uniqueArray(fc.oneof(fc.string({ minLength: 1, maxLength: 30 }), unicode, fc.constantFrom('__proto__', 'id', 'createdBy', 'liftedAt')), { minLength: 1, maxLength: 3 })
    .filter((keys) => keys.every((key) => !KNOWN_LOCK_FIELDS.has(key)))
    .map((keys): Mutation => ({ kind: 'schema', fields: keys, members: Object.fromEntries(keys.map((key) => [key, '1'])) })),
};

/** POST /locks: an admin's bad body (400 naming a field), or any body from a caller who is no admin (403). */
export const placeLockCases: fc.Arbitrary<Case> = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(slots(lockMutations), junkHeaders).map(([mutations, headers]) => fromMutations('POST /locks', { serviceId: '"80:00:00:00:01:*"', reason: '"hostile"' }, mutations, { callerArn: ADMIN }, headers)) },
  // Neither principal nor serviceId: a lock must name one.
  { weight: 1, arbitrary: fc.constant<Case>({ init: { routeKey: 'POST /locks', rawBody: '{"reason":"hostile"}', callerArn: ADMIN }, statuses: [400], fields: ['principal'] }) },
  { weight: 1, arbitrary: brokenBody.map((rawBody): Case => ({ init: { routeKey: 'POST /locks', rawBody, callerArn: ADMIN }, statuses: [400], fields: ['body'] })) },
  { weight: 2, arbitrary: fc.tuple(NOT_ADMIN, fc.oneof(brokenBody, fc.constant('{"serviceId":"*","reason":"take over"}'))).map(([callerArn, rawBody]): Case => ({ init: { routeKey: 'POST /locks', rawBody, callerArn }, statuses: [403], fields: [] })) },
);

/** GET /locks from a caller who is no admin, with junk headers and query: 403. */
export const listLockCases: fc.Arbitrary<Case> = fc
  .tuple(NOT_ADMIN, junkHeaders, fc.dictionary(fc.string({ minLength: 1, maxLength: 20 }), fc.string({ maxLength: 40 }), { maxKeys: 3 }))
  .map(([callerArn, headers, query]): Case => ({ init: { routeKey: 'GET /locks', callerArn, query, ...(headers && { headers }) }, statuses: [403], fields: [] }));

/** DELETE /locks/{id}: an admin's malformed id (400) or unknown one (404), or anything from a caller who is no admin (403). */
export const liftLockCases: fc.Arbitrary<Case> = fc.oneof(
  { weight: 6, arbitrary: badId.map((id): Case => ({ init: { routeKey: 'DELETE /locks/{id}', pathParameters: { id }, callerArn: ADMIN }, statuses: [400], fields: ['id'] })) },
  { weight: 1, arbitrary: ulid.map((id): Case => ({ init: { routeKey: 'DELETE /locks/{id}', pathParameters: { id }, callerArn: ADMIN }, statuses: [404], fields: [] })) },
  { weight: 2, arbitrary: fc.tuple(NOT_ADMIN, fc.oneof(ulid, badId)).map(([callerArn, id]): Case => ({ init: { routeKey: 'DELETE /locks/{id}', pathParameters: { id }, callerArn }, statuses: [403], fields: [] })) },
);
