/**
 * Hostile input, generated: at least 5,000 requests per route (fast-check) into the real handlers as API
 * Gateway would deliver them, each made invalid or forbidden on purpose (wrong types, huge and deeply nested
 * JSON, unicode, invalid and private IPs and IPv6, bad service ids, path tricks in ids, oversized headers,
 * unknown fields). Each must be answered 4xx problem+json naming what was wrong, never 5xx, never a crash, and
 * nothing may be written: no record, no remote.it call, other connections untouched. A handful of the same
 * tricks also go over HTTP through the local gateway (real parsing, SigV4, route matching). fast-check prints
 * the seed and the shrunk counterexample on a failure.
 *
 * The generators are in hostile-generators.ts, the raw HTTP client in hostile-http.ts.
 */
import { apiHandlersOf } from '../../../dev/stack';
import fc from 'fast-check';
import { startGateway, type Gateway } from '../../../dev/gateway';
import { generateIdentity, type LocalIdentity } from '../../../dev/identities';
import { API_ROUTES } from '../../../lambdas/handlers/routes';
import { MAX_BODY_BYTES } from '../../../lambdas/handlers/http/request';
import { ADMIN_SESSION_ARN, OTHER_SESSION_ARN } from '../../fixtures/api-events';
import type { ConnectionRecord } from '../../../lambdas/broker/model';
import { SERVICES, startBroker, type ApiAnswer, type Broker } from '../support/broker';
import { brokerTarget, expectInvariant, scanAll } from '../support/invariant';
import { captureOutput, secretLeaks, type OutputCapture } from '../support/log-capture';
import { badId, badRenewBody, junkHeaders, liftLockCases, listCases, listLockCases, openCases, placeLockCases, ulid, type Case } from './hostile-generators';
import { REGION, rawHttp, type RawAnswer } from './hostile-http';

const RUNS = 5_000;
/** Bound of one route's 5,000 requests on a loaded machine (they take a few seconds on an idle one). */
const PROPERTY_TIMEOUT_MS = 60_000;

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

// ---- generators around the standing connections (the rest: hostile-generators.ts) -----------------------

/** An id that is no connection of the caller's: malformed (400) or well-formed but unknown or another caller's (404). */
const idCase = fc.oneof(
  // Mostly malformed: the well-formed ones each cost a DynamoDB read, and one in twenty covers them.
  { weight: 38, arbitrary: badId.map((id) => ({ id, status: 400 })) },
  { weight: 1, arbitrary: ulid.map((id) => ({ id, status: 404 })) },
  { weight: 1, arbitrary: fc.constantFrom(0, 1, 2).map((index) => ({ id: others[index] ?? '', status: 404 })) },
);

const byIdCases = (routeKey: string): fc.Arbitrary<Case> =>
  fc.tuple(idCase, junkHeaders).map(([{ id, status }, headers]) => ({ init: { routeKey, pathParameters: { id }, ...(headers && { headers }) }, statuses: [status], fields: ['id'] }));

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

/**
 * GET /me takes no input (query and headers are ignored), so a signed call has nothing to get wrong: the
 * hostile case is the call that reaches the function without an identity, with junk query and headers.
 */
const meCases: fc.Arbitrary<Case> = fc
  .tuple(junkHeaders, fc.dictionary(fc.string({ minLength: 1, maxLength: 20 }), fc.string({ maxLength: 40 }), { maxKeys: 3 }))
  .map(([headers, query]): Case => ({ init: { routeKey: 'GET /me', callerArn: null, query, ...(headers && { headers }) }, statuses: [403], fields: [] }));

// ---- the property ---------------------------------------------------------------------------------------

async function expectRefused(route: string, testCase: Case): Promise<void> {
  let answer: ApiAnswer;
  try {
    answer = await broker.call(testCase.init);
  } catch (error) {
    throw new Error('the handler threw instead of answering', { cause: error });
  }
  sent[route] = (sent[route] ?? 0) + 1;
  // A body above the limit is refused before it is read (413 naming the body); a bad id, a missing identity
  // and a non-admin on a lock route are still answered first.
  const rawBody = testCase.init.rawBody;
  const oversized = rawBody !== undefined && Buffer.byteLength(rawBody) > MAX_BODY_BYTES && testCase.statuses.includes(400) && testCase.fields.join() !== 'id';
  const expected = oversized ? { statuses: [413], fields: ['body'] } : testCase;
  // Checked in plain code and asserted once: 25,000 runs of several matchers each would dominate the time.
  const problems: string[] = [];
  const body = answer.body as { type?: unknown; title?: unknown; status?: unknown; detail?: unknown; errors?: Array<{ field?: unknown; message?: unknown }> } | undefined;
  if (!expected.statuses.includes(answer.status)) problems.push(`status ${answer.status}, expected ${expected.statuses.join(' or ')}`);
  if (answer.headers['content-type'] !== 'application/problem+json') problems.push(`content-type ${answer.headers['content-type']}`);
  const isProblem =
    typeof body?.type === 'string' && body.type.startsWith('urn:remoteit-broker:problem:') && typeof body.title === 'string' && body.status === answer.status && typeof body.detail === 'string';
  if (!isProblem) problems.push('the body is not a problem document');
  if (answer.status === 400 || answer.status === 413) {
    const named = (body?.errors ?? []).map((error) => error.field);
    const wellFormed = named.length > 0 && (body?.errors ?? []).every((error) => typeof error.field === 'string' && typeof error.message === 'string');
    if (!wellFormed || !named.some((field) => expected.fields.includes(String(field)))) {
      problems.push(`names ${JSON.stringify(named).slice(0, 200)}, none of ${JSON.stringify(expected.fields).slice(0, 200)}`);
    }
  }
  expect(problems).toEqual([]);
}

async function nothingChanged(): Promise<void> {
  const byId = (records: ConnectionRecord[]) => [...records].sort((a, b) => a.id.localeCompare(b.id));
  expect(byId(await scanAll(broker.tables))).toEqual(byId(standing));
  expect(broker.emulator.calls().total).toBe(0);
  // No lock was placed either.
  expect((await broker.call({ routeKey: 'GET /locks', callerArn: ADMIN_SESSION_ARN })).body).toEqual({ items: [] });
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
    ['POST /locks', () => placeLockCases],
    ['GET /locks', () => listLockCases],
    ['DELETE /locks/{id}', () => liftLockCases],
    ['GET /me', () => meCases],
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

/** The SigV4 identity the gateway knows (its secret is scanned for in the logs too). */
const gatewayIdentity: LocalIdentity = { ...generateIdentity({ name: 'app', admin: false }), principal: 'arn:aws:sts::123456789012:assumed-role/app/hostile' };

describe('hostile input over HTTP through the gateway', () => {
  let gateway: Gateway;
  const identity = gatewayIdentity;

  beforeAll(async () => {
    gateway = await startGateway({
      routes: API_ROUTES,
      handlers: apiHandlersOf(broker.handlers),
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

  it('passes large signed headers, a huge idempotency key, deeply nested and large bodies to the handler, which answers 400 naming each field, or 413 naming the body above 16 KiB', async () => {
    const nested = (depth: number) => `{"serviceId":${'['.repeat(depth)}${']'.repeat(depth)}}`;
    const deep = await rawHttp(gateway, identity, { method: 'POST', path: '/connections', body: nested(8_000), headers: { 'x-large': 'l'.repeat(8_000) } });
    const deeper = await rawHttp(gateway, identity, { method: 'POST', path: '/connections', body: nested(50_000) });
    const keyed = await rawHttp(gateway, identity, { method: 'POST', path: '/connections', body: `{"serviceId":"${SERVICES.echo}"}`, headers: { 'idempotency-key': 'k'.repeat(300) } });
    const large = await rawHttp(gateway, identity, { method: 'POST', path: '/connections', body: `{"serviceId":"${SERVICES.echo}","padding":"${'p'.repeat(5_000_000)}"}` });

    const fields = (answer: RawAnswer) => [answer.status, JSON.parse(answer.text).errors.map((error: { field: string }) => error.field)];
    expect(fields(deep)).toEqual([400, ['serviceId']]);
    expect(fields(deeper)).toEqual([413, ['body']]);
    expect(fields(keyed)).toEqual([400, ['Idempotency-Key']]);
    expect(fields(large)).toEqual([413, ['body']]);
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
    expect(Object.values(sent)).toHaveLength(API_ROUTES.length);
    expect(Math.min(...Object.values(sent))).toBeGreaterThanOrEqual(RUNS);
  });
});
