/**
 * Hostile input, generated: at least 5,000 requests per route (fast-check) into the real handlers as API
 * Gateway would deliver them, each made invalid or forbidden on purpose (wrong types, huge and deeply nested
 * JSON, unicode, invalid and private IPs and IPv6, bad service ids, path tricks in ids, oversized headers,
 * unknown fields). Each must be answered 4xx problem+json naming what was wrong, never 5xx, never a crash, and
 * nothing may be written: no record, no remote.it call, other connections untouched. A handful of the same
 * tricks also go over HTTP through the local gateway (real parsing, SigV4, route matching). fast-check prints
 * the seed and the shrunk counterexample on a failure.
 */
import { request } from 'node:http';
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import fc from 'fast-check';
import { startGateway, type Gateway } from '../../../dev/gateway';
import { generateIdentity, type LocalIdentity } from '../../../dev/identities';
import { API_ROUTES } from '../../../lambdas/handlers/routes';
import type { ApiEventInit } from '../../fixtures/api-events';
import { OTHER_SESSION_ARN } from '../../fixtures/api-events';
import type { ConnectionRecord } from '../../../lambdas/broker/model';
import { SERVICES, startBroker, type ApiAnswer, type Broker } from '../support/broker';
import { brokerTarget, expectInvariant, scanAll } from '../support/invariant';
import { captureOutput, secretLeaks, type OutputCapture } from '../support/log-capture';

const RUNS = 5_000;
/** Bound of one route's 5,000 requests on a loaded machine (they take a few seconds on an idle one). */
const PROPERTY_TIMEOUT_MS = 60_000;
const REGION = 'eu-west-1';

let broker: Broker;
let output: OutputCapture;
/** Connections that exist while the requests fly: the caller's own, and another caller's. */
let own: { id: string };
let others: string[];
let standing: ConnectionRecord[];
const sent: Record<string, number> = {};

beforeAll(async () => {
  output = captureOutput();
  // As in AWS: private and loopback client IPs are refused.
  broker = await startBroker({ env: { ALLOW_PRIVATE_CLIENT_IPS: 'false', POWERTOOLS_LOG_LEVEL: 'DEBUG' } });
  const mine = await broker.call({ routeKey: 'POST /connections', body: { serviceId: SERVICES.echo, ttlSeconds: 3_000 } });
  const theirs = await Promise.all(
    [1, 2, 3].map(() => broker.call({ routeKey: 'POST /connections', body: { serviceId: SERVICES.echo }, callerArn: OTHER_SESSION_ARN })),
  );
  if (mine.status !== 201 || theirs.some((answer) => answer.status !== 201)) throw new Error('arrange: opening the standing connections failed');
  own = { id: mine.body.id };
  others = theirs.map((answer) => answer.body.id);
  standing = await scanAll(broker.tables);
}, 30_000);

afterAll(async () => {
  await broker?.stop();
  output.restore();
});

// ---- generators -----------------------------------------------------------------------------------------

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
const junkHeaders = fc.option(
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

interface Case {
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

const openCases: fc.Arbitrary<Case> = fc.oneof(
  { weight: 9, arbitrary: fc.tuple(slots(openMutations), junkHeaders).map(([mutations, headers]) => fromMutations('POST /connections', { serviceId: JSON.stringify(SERVICES.echo), ttlSeconds: '300' }, mutations, {}, headers)) },
  { weight: 1, arbitrary: fc.tuple(brokenBody, junkHeaders).map(([rawBody, headers]): Case => ({ init: { routeKey: 'POST /connections', rawBody, ...(headers && { headers }) }, statuses: [400], fields: ['body'] })) },
);

const ulid = fc.ulid();
const badId = fc.oneof(
  anyText.filter((text) => !/^[0-9A-HJKMNP-TV-Z]{26}$/.test(text)),
  // Lower case is not a ULID, unless the id happens to be all digits.
  fc.ulid().filter((id) => /[A-Z]/.test(id)).map((id) => id.toLowerCase()),
  fc.ulid().map((id) => `${id}x`),
  fc.ulid().map((id) => id.slice(1)),
  fc.ulid().map((id) => `${id.slice(0, 25)}U`),
);

/** An id that is no connection of the caller's: malformed (400) or well-formed but unknown or another caller's (404). */
const idCase = fc.oneof(
  // Mostly malformed: the well-formed ones each cost a DynamoDB read, and one in twenty covers them.
  { weight: 38, arbitrary: badId.map((id) => ({ id, status: 400 })) },
  { weight: 1, arbitrary: ulid.map((id) => ({ id, status: 404 })) },
  { weight: 1, arbitrary: fc.constantFrom(0, 1, 2).map((index) => ({ id: others[index] ?? '', status: 404 })) },
);

const listCases: fc.Arbitrary<Case> = slots({
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

const byIdCases = (routeKey: string): fc.Arbitrary<Case> =>
  fc.tuple(idCase, junkHeaders).map(([{ id, status }, headers]) => ({ init: { routeKey, pathParameters: { id }, ...(headers && { headers }) }, statuses: [status], fields: ['id'] }));

const badRenewBody: fc.Arbitrary<{ rawBody: string; fields: string[] }> = fc.oneof(
  brokenBody.map((rawBody) => ({ rawBody, fields: ['body'] })),
  fc.constant({ rawBody: '{}', fields: ['ttlSeconds'] as string[] }),
  openMutations.ttlSeconds.filter((mutation) => mutation.kind === 'schema').map((mutation) => ({ rawBody: rawObject(mutation.members ?? {}), fields: ['ttlSeconds'] })),
  openMutations.unknown.map((mutation) => ({ rawBody: rawObject({ ttlSeconds: '300', ...mutation.members }), fields: mutation.fields })),
);

/** Renew: a bad id, or a well-formed id that is not the caller's, or the caller's own connection with a bad body. */
const renewCases: fc.Arbitrary<Case> = fc.oneof(
  fc.tuple(idCase, fc.oneof(fc.constant({ rawBody: '{"ttlSeconds":600}', fields: [] as string[] }), badRenewBody)).map(([{ id, status }, body]): Case => ({
    init: { routeKey: 'POST /connections/{id}/renew', pathParameters: { id }, rawBody: body.rawBody },
    // A bad id is named first; a well-formed foreign id with a bad body fails on the body.
    statuses: status === 400 ? [400] : body.fields.length > 0 ? [400] : [404],
    fields: status === 400 ? ['id'] : body.fields,
  })),
  badRenewBody.map((body): Case => ({ init: { routeKey: 'POST /connections/{id}/renew', pathParameters: { id: own.id }, rawBody: body.rawBody }, statuses: [400], fields: body.fields })),
);

// ---- the property ---------------------------------------------------------------------------------------

async function expectRefused(route: string, testCase: Case): Promise<void> {
  let answer: ApiAnswer;
  try {
    answer = await broker.call(testCase.init);
  } catch (error) {
    throw new Error('the handler threw instead of answering', { cause: error });
  }
  sent[route] = (sent[route] ?? 0) + 1;
  // Checked in plain code and asserted once: 25,000 runs of several matchers each would dominate the time.
  const problems: string[] = [];
  const body = answer.body as { type?: unknown; title?: unknown; status?: unknown; detail?: unknown; errors?: Array<{ field?: unknown; message?: unknown }> } | undefined;
  if (!testCase.statuses.includes(answer.status)) problems.push(`status ${answer.status}, expected ${testCase.statuses.join(' or ')}`);
  if (answer.headers['content-type'] !== 'application/problem+json') problems.push(`content-type ${answer.headers['content-type']}`);
  const isProblem =
    typeof body?.type === 'string' && body.type.startsWith('urn:remoteit-broker:problem:') && typeof body.title === 'string' && body.status === answer.status && typeof body.detail === 'string';
  if (!isProblem) problems.push('the body is not a problem document');
  if (answer.status === 400) {
    const named = (body?.errors ?? []).map((error) => error.field);
    const wellFormed = named.length > 0 && (body?.errors ?? []).every((error) => typeof error.field === 'string' && typeof error.message === 'string');
    if (!wellFormed || !named.some((field) => testCase.fields.includes(String(field)))) {
      problems.push(`names ${JSON.stringify(named).slice(0, 200)}, none of ${JSON.stringify(testCase.fields).slice(0, 200)}`);
    }
  }
  expect(problems).toEqual([]);
}

async function nothingChanged(): Promise<void> {
  const byId = (records: ConnectionRecord[]) => [...records].sort((a, b) => a.id.localeCompare(b.id));
  expect(byId(await scanAll(broker.tables))).toEqual(byId(standing));
  expect(broker.emulator.calls().total).toBe(0);
}

describe('hostile input to the handlers (fast-check)', () => {
  beforeEach(() => {
    broker.emulator.resetCalls();
  });

  afterEach(async () => {
    await nothingChanged();
  });

  const routes: Array<[string, () => fc.Arbitrary<Case>]> = [
    ['POST /connections', () => openCases],
    ['GET /connections', () => listCases],
    ['GET /connections/{id}', () => byIdCases('GET /connections/{id}')],
    ['DELETE /connections/{id}', () => byIdCases('DELETE /connections/{id}')],
    ['POST /connections/{id}/renew', () => renewCases],
  ];

  it('covers every route of the API', () => {
    expect(routes.map(([route]) => route).sort()).toEqual(API_ROUTES.map((route) => route.routeKey).sort());
  });

  it.each(routes)(`answers ${RUNS} generated requests to %s with 4xx problem+json naming the field, writing nothing`, async (route, cases) => {
    await fc.assert(
      fc.asyncProperty(cases(), (testCase) => expectRefused(route, testCase)),
      { numRuns: RUNS },
    );
    expect(sent[route]).toBeGreaterThanOrEqual(RUNS);
  }, PROPERTY_TIMEOUT_MS);
});

// ---- over HTTP, through the local gateway ----------------------------------------------------------------

interface RawAnswer {
  status: number;
  contentType: string | undefined;
  text: string;
}

/** One request with an exact (unnormalised) path, SigV4-signed over that path unless `signed` is false. */
async function rawHttp(gateway: Gateway, identity: LocalIdentity, init: { method: string; path: string; body?: string; headers?: Record<string, string>; signed?: boolean }): Promise<RawAnswer> {
  const url = new URL(gateway.url);
  let headers: Record<string, string> = { host: url.host, ...init.headers, ...(init.body !== undefined && { 'content-type': 'application/json' }) };
  if (init.signed !== false) {
    const [path = '/', query = ''] = init.path.split('?');
    const signer = new SignatureV4({ credentials: identity, region: REGION, service: 'execute-api', sha256: Sha256 });
    const signed = await signer.sign(
      new HttpRequest({ method: init.method, protocol: 'http:', hostname: url.hostname, port: Number(url.port), path, query: Object.fromEntries(new URLSearchParams(query)), headers, ...(init.body !== undefined && { body: init.body }) }),
    );
    headers = signed.headers;
  }
  return new Promise((resolve, reject) => {
    const outgoing = request({ host: url.hostname, port: url.port, method: init.method, path: init.path, headers, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, contentType: response.headers['content-type'], text: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    outgoing.setTimeout(10_000, () => outgoing.destroy(new Error('no answer within 10 s')));
    outgoing.on('error', reject);
    outgoing.end(init.body);
  });
}

/** The SigV4 identity the gateway knows (its secret is scanned for in the logs too). */
const gatewayIdentity: LocalIdentity = { ...generateIdentity({ name: 'app', admin: false }), principal: 'arn:aws:sts::123456789012:assumed-role/app/hostile' };

describe('hostile input over HTTP through the gateway', () => {
  let gateway: Gateway;
  const identity = gatewayIdentity;

  beforeAll(async () => {
    gateway = await startGateway({
      routes: API_ROUTES,
      handlers: { 'connections-read': broker.handlers.read, 'connections-write': broker.handlers.write },
      identities: [identity],
      region: REGION,
    });
  });

  afterAll(async () => {
    await gateway?.stop();
  });

  beforeEach(() => {
    broker.emulator.resetCalls();
  });

  afterEach(async () => {
    await nothingChanged();
  });

  const badOpen = '{"serviceId":"not-an-id"}';

  it.each([
    ['a path climbing out with ..%2F', 'GET', '/connections/..%2F..%2Fetc%2Fpasswd'],
    ['a percent-encoded dot-dot id', 'DELETE', '/connections/%2e%2e'],
    ['a NUL byte in the id', 'GET', '/connections/%00'],
    ['a unicode id', 'GET', `/connections/${encodeURIComponent('ﬁ𝕏\u202e')}`],
    ['a 4 KB id', 'DELETE', `/connections/${'A'.repeat(4_096)}`],
    ['a renew of a path-trick id', 'POST', '/connections/..%5C..%5Cx/renew'],
  ])('answers %s (%s %s) 400 problem+json from the handler', async (_name, method, path) => {
    const answer = await rawHttp(gateway, identity, { method, path, ...(method === 'POST' && { body: '{"ttlSeconds":600}' }) });

    expect([answer.status, answer.contentType]).toEqual([400, 'application/problem+json']);
    expect(JSON.parse(answer.text).errors[0].field).toBe('id');
  });

  it.each([
    ['an extra path segment', 'GET', '/connections/a/b'],
    ['a doubled slash', 'GET', '//connections'],
    ['an unknown method', 'PUT', '/connections'],
  ])('answers %s with the gateway\'s own 404, never reaching a function', async (_name, method, path) => {
    const answer = await rawHttp(gateway, identity, { method, path });

    expect([answer.status, JSON.parse(answer.text)]).toEqual([404, { message: 'Not Found' }]);
  });

  it('answers an oversized header block with 431 and keeps serving', async () => {
    const huge = await rawHttp(gateway, identity, { method: 'POST', path: '/connections', body: badOpen, headers: { 'x-junk': 'j'.repeat(20_000) }, signed: false });
    const after = await rawHttp(gateway, identity, { method: 'POST', path: '/connections', body: badOpen });

    expect(huge.status).toBe(431);
    expect([after.status, after.contentType]).toEqual([400, 'application/problem+json']);
  });

  it('passes large signed headers, a huge idempotency key, a deeply nested and a 5 MB body to the handler, which answers 400 naming each', async () => {
    const nested = `{"serviceId":${'['.repeat(50_000)}${']'.repeat(50_000)}}`;
    const deep = await rawHttp(gateway, identity, { method: 'POST', path: '/connections', body: nested, headers: { 'x-large': 'l'.repeat(8_000) } });
    const keyed = await rawHttp(gateway, identity, { method: 'POST', path: '/connections', body: `{"serviceId":"${SERVICES.echo}"}`, headers: { 'idempotency-key': 'k'.repeat(300) } });
    const large = await rawHttp(gateway, identity, { method: 'POST', path: '/connections', body: `{"serviceId":"${SERVICES.echo}","padding":"${'p'.repeat(5_000_000)}"}` });

    const fields = (answer: RawAnswer) => [answer.status, JSON.parse(answer.text).errors.map((error: { field: string }) => error.field)];
    expect(fields(deep)).toEqual([400, ['serviceId']]);
    expect(fields(keyed)).toEqual([400, ['Idempotency-Key']]);
    expect(fields(large)).toEqual([400, ['padding']]);
  });

  it('answers an unsigned request with API Gateway\'s 403, never reaching a function', async () => {
    const unsigned = await rawHttp(gateway, identity, { method: 'POST', path: '/connections', body: `{"serviceId":"${SERVICES.echo}"}`, signed: false });

    expect(unsigned.status).toBe(403);
    expect(JSON.parse(unsigned.text)).toEqual({ message: 'Forbidden' });
  });
});

describe('hostile input: the invariant and the logs', () => {
  it('leaves the broker\'s promise intact', async () => {
    await expectInvariant(brokerTarget(broker));
  });

  it('carried no secret value in any log line', () => {
    expect(output.lines.length).toBeGreaterThan(5 * RUNS);
    expect(secretLeaks(output.lines, { ...broker.secret, ...broker.login, gatewaySecretAccessKey: gatewayIdentity.secretAccessKey })).toEqual([]);
  });

  it(`sent at least ${RUNS} generated requests to every route`, () => {
    expect(Object.values(sent)).toHaveLength(5);
    expect(Math.min(...Object.values(sent))).toBeGreaterThanOrEqual(RUNS);
  });
});
