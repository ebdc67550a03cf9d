/**
 * Security promises through the real handlers, DynamoDB Local and the emulator: a caller never sees, renews or
 * stops another's connection (generated pairs of callers); public mode is never implied and an unknown caller
 * is denied everything; a public reverse proxy remote.it opens for a caller without public is stopped and its
 * address never handed out; every route refuses an unsigned or wrongly signed call at the gateway; and no
 * secret value reaches a log line anywhere in this file.
 */
import { apiHandlersOf } from '../../../dev/stack';
import { request } from 'node:http';
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import fc from 'fast-check';
import { startGateway, type Gateway } from '../../../dev/gateway';
import { generateIdentity, type LocalIdentity } from '../../../dev/identities';
import { PUBLIC_NOT_ALLOWED_DETAIL } from '../../../lambdas/broker/open-recovery';
import type { z } from 'zod';
import type { PolicyDocument, policyDocumentSchema } from '../../../lambdas/broker/policy';
import { API_ROUTES } from '../../../lambdas/handlers/routes';
import { ADMIN_SESSION_ARN, APP_SESSION_ARN } from '../../fixtures/api-events';
import { ROLES, SERVICES, startBroker, type ApiAnswer, type Broker } from '../support/broker';
import { brokerTarget, expectInvariant, scanAll } from '../support/invariant';
import { captureOutput, secretLeaks, type OutputCapture } from '../support/log-capture';

const ACCOUNT = '123456789012';
const tenantRole = (name: string, account = ACCOUNT) => `arn:aws:iam::${account}:role/tenant-${name}`;
const tenantSession = (name: string, session = 's', account = ACCOUNT) => `arn:aws:sts::${account}:assumed-role/tenant-${name}/${session}`;

/** As an operator writes it (defaults left out), so the deployed parsing supplies them. */
const POLICY: z.input<typeof policyDocumentSchema> = {
  rules: [
    // Tenants may reach the echo service, latching or ip: no public.
    { principals: [tenantRole('*')], services: [SERVICES.echo], modes: ['latching', 'ip'], maxTtlSeconds: 3600, maxActive: 50 },
    // A rule that names no modes: public must not be implied.
    { principals: ['arn:aws:iam::123456789012:role/defaults'], services: ['80:00:00:00:01:*'], maxTtlSeconds: 600, maxActive: 10 },
    { principals: [ROLES.app], services: ['80:00:00:00:01:*'], modes: ['latching', 'ip'], maxTtlSeconds: 3600, maxActive: 100 },
    { principals: [ROLES.admin], services: ['*'], modes: ['latching'], maxTtlSeconds: 3600, maxActive: 100 },
  ],
  admins: [ROLES.admin],
};

let broker: Broker;
let output: OutputCapture;

beforeAll(async () => {
  output = captureOutput();
  broker = await startBroker({ policy: POLICY as PolicyDocument, env: { POWERTOOLS_LOG_LEVEL: 'DEBUG' } });
}, 30_000);

afterAll(async () => {
  await broker?.stop();
  output.restore();
});

afterEach(async () => {
  broker.emulator.setFaults({});
  await expectInvariant(brokerTarget(broker));
}, 20_000);

const openAs = (callerArn: string, body: object = { serviceId: SERVICES.echo, ttlSeconds: 600 }) => broker.call({ routeKey: 'POST /connections', body, callerArn });
const stopCalls = () => broker.emulator.calls().byPath['/device/connect/stop'] ?? 0;
const connectCalls = () => broker.emulator.calls().byPath['/device/connect'] ?? 0;

/** Every id the caller can list, all pages. */
async function listedBy(callerArn: string): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 50; page += 1) {
    const answer = await broker.call({ routeKey: 'GET /connections', callerArn, query: { limit: '100', ...(cursor && { cursor }) } });
    expect(answer.status).toBe(200);
    ids.push(...answer.body.items.map((item: { id: string }) => item.id));
    cursor = answer.body.nextCursor;
    if (!cursor) return ids;
  }
  throw new Error('listing did not end within 50 pages');
}

/** A 404 that says nothing about the id: the same answer as for an id that never existed. */
const notFound = (answer: ApiAnswer, id: string) => ({ status: answer.status, title: answer.body?.title, detail: String(answer.body?.detail).replace(id, '<id>') });

describe('caller isolation', () => {
  it('never lets one caller see, list, renew or stop another\'s connection, for generated pairs of callers', async () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,11}$/);
    await fc.assert(
      fc.asyncProperty(
        fc.tuple(name, name, fc.stringMatching(/^[A-Za-z0-9@=,.-]{1,16}$/)).filter(([owner, intruder]) => owner !== intruder),
        async ([owner, intruder, session]) => {
          const opened = await openAs(tenantSession(owner, session));
          expect(opened.status).toBe(201);
          const { id } = opened.body;
          const unknownId = '01JAAAAAAAAAAAAAAAAAAAAAAA';
          broker.emulator.resetCalls();

          for (const callerArn of [tenantSession(intruder), tenantSession(owner, 's', '999999999999')]) {
            const seen = await broker.call({ routeKey: 'GET /connections/{id}', pathParameters: { id }, callerArn });
            const never = await broker.call({ routeKey: 'GET /connections/{id}', pathParameters: { id: unknownId }, callerArn });
            const stopped = await broker.call({ routeKey: 'DELETE /connections/{id}', pathParameters: { id }, callerArn });
            const renewed = await broker.call({ routeKey: 'POST /connections/{id}/renew', pathParameters: { id }, body: { ttlSeconds: 3600 }, callerArn });

            expect(notFound(seen, id)).toEqual(notFound(never, unknownId));
            expect([stopped.status, renewed.status]).toEqual([404, 404]);
            expect(await listedBy(callerArn)).not.toContain(id);
          }
          // Untouched: still active with its lease, no stop sent; its owner (any session of the role) sees it.
          const record = (await scanAll(broker.tables)).find((candidate) => candidate.id === id);
          expect(record).toMatchObject({ status: 'active', leaseExpiresAt: opened.body.leaseExpiresAt, version: 1 });
          expect(stopCalls()).toBe(0);
          expect((await broker.call({ routeKey: 'GET /connections/{id}', pathParameters: { id }, callerArn: tenantSession(owner, 'other-session') })).status).toBe(200);
          expect(await listedBy(ADMIN_SESSION_ARN)).toContain(id);
        },
      ),
      { numRuns: 10 },
    );
  }, 60_000);
});

describe('policy defaults', () => {
  it('denies every open to a caller no rule names, without a write or a remote.it call', async () => {
    const before = (await scanAll(broker.tables)).length;
    broker.emulator.resetCalls();

    const answers = await Promise.all(
      (['latching', 'ip', 'public'] as const).map((mode) =>
        openAs('arn:aws:sts::123456789012:assumed-role/stranger/s', { serviceId: SERVICES.echo, mode, ...(mode === 'ip' && { clientIp: '8.8.8.8' }) }),
      ),
    );

    expect(answers.map((answer) => [answer.status, answer.headers['content-type']])).toEqual(Array(3).fill([403, 'application/problem+json']));
    expect((await scanAll(broker.tables)).length).toBe(before);
    expect(broker.emulator.calls().total).toBe(0);
  });

  it('denies public mode to a rule that lists no modes, and to one whose modes leave it out', async () => {
    broker.emulator.resetCalls();

    const unlisted = await openAs('arn:aws:sts::123456789012:assumed-role/defaults/s', { serviceId: SERVICES.echo, mode: 'public' });
    const excluded = await openAs(tenantSession('a'), { serviceId: SERVICES.echo, mode: 'public' });
    const latching = await openAs('arn:aws:sts::123456789012:assumed-role/defaults/s', { serviceId: SERVICES.echo });

    expect([unlisted.status, excluded.status, latching.status]).toEqual([403, 403, 201]);
    expect(connectCalls()).toBe(1);
  });
});

describe('public reverse proxies', () => {
  it('stops the public reverse proxy remote.it opens for a caller without public, and never hands out its address', async () => {
    broker.emulator.resetCalls();

    const answer = await openAs(APP_SESSION_ARN, { serviceId: SERVICES.web });

    expect(answer.status).toBe(403);
    expect(answer.body.detail).toBe(PUBLIC_NOT_ALLOWED_DETAIL);
    const [proxy] = broker.emulator.connections().filter((snapshot) => snapshot.serviceId === SERVICES.web && snapshot.kind === 'http');
    expect(proxy).toMatchObject({ state: 'ended', endReason: 'stopped', mode: 'public' });
    expect(JSON.stringify(answer.body)).not.toContain(String(proxy?.proxyPort));
    const record = (await scanAll(broker.tables)).find((candidate) => candidate.remoteConnectionId?.toUpperCase() === proxy?.connectionId);
    expect(record).toMatchObject({ status: 'stopped', stopReason: 'public_not_allowed' });
    expect(record?.proxy).toBeUndefined();
    const viewed = await broker.call({ routeKey: 'GET /connections/{id}', pathParameters: { id: record?.id ?? '' }, callerArn: APP_SESSION_ARN });
    expect(viewed.body.proxy).toBeUndefined();
    await expect(fetch(proxy?.proxyUrl ?? '', { signal: AbortSignal.timeout(2_000) })).rejects.toThrow();
  });

  it('leaves the forbidden proxy claimed for the sweeper when stopping it fails, still answering 403 without its address', async () => {
    broker.emulator.setFaults({ status: 500, onlyPaths: ['/device/connect/stop'] });

    const answer = await openAs(APP_SESSION_ARN, { serviceId: SERVICES.web });

    expect(answer.status).toBe(403);
    const record = (await scanAll(broker.tables)).find((candidate) => candidate.status === 'stopping' && candidate.stopReason === 'public_not_allowed');
    expect(record).toMatchObject({ stopAttempts: 1 });
    expect(record?.proxy).toBeUndefined();
    const live = broker.emulator.connections().filter((snapshot) => snapshot.serviceId === SERVICES.web && snapshot.state === 'active');
    expect(live.map((snapshot) => snapshot.connectionId)).toEqual([record?.remoteConnectionId?.toUpperCase()]);
    expect(JSON.stringify(answer.body)).not.toContain(String(live[0]?.proxyPort));
    // The invariant (afterEach) lifts the fault, lets the retry fall due and sweeps: the proxy must end.
  });
});

describe('IAM at the gateway', () => {
  let gateway: Gateway;
  let identity: LocalIdentity;

  beforeAll(async () => {
    identity = { ...generateIdentity({ name: 'app', admin: false }), principal: 'arn:aws:sts::123456789012:assumed-role/app/gateway' };
    gateway = await startGateway({ routes: API_ROUTES, handlers: apiHandlersOf(broker.handlers), identities: [identity], region: 'eu-west-1' });
  });

  afterAll(async () => {
    await gateway?.stop();
  });

  async function send(method: string, path: string, signAs: LocalIdentity | undefined, body?: string, tamper?: string): Promise<number> {
    const url = new URL(gateway.url);
    let headers: Record<string, string> = { host: url.host, ...(body !== undefined && { 'content-type': 'application/json' }) };
    if (signAs) {
      const signer = new SignatureV4({ credentials: signAs, region: 'eu-west-1', service: 'execute-api', sha256: Sha256 });
      headers = (await signer.sign(new HttpRequest({ method, protocol: 'http:', hostname: url.hostname, port: Number(url.port), path, headers, ...(body !== undefined && { body }) }))).headers;
    }
    return new Promise((resolve, reject) => {
      const outgoing = request({ host: url.hostname, port: url.port, method, path, headers, agent: false }, (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      });
      outgoing.setTimeout(10_000, () => outgoing.destroy(new Error('no answer within 10 s')));
      outgoing.on('error', reject);
      outgoing.end(tamper ?? body);
    });
  }

  it.each(API_ROUTES.map((route) => [route.routeKey, route] as const))('refuses %s unsigned, signed by an unknown key, or with a tampered body', async (_key, route) => {
    const before = (await scanAll(broker.tables)).length;
    broker.emulator.resetCalls();
    const path = route.path.replace('{id}', '01JAAAAAAAAAAAAAAAAAAAAAAA');
    const body = route.method === 'POST' ? JSON.stringify(route.path.endsWith('renew') ? { ttlSeconds: 600 } : { serviceId: SERVICES.echo }) : undefined;
    const stranger = generateIdentity({ name: 'stranger', admin: false });

    const statuses = [
      await send(route.method, path, undefined, body),
      await send(route.method, path, stranger, body),
      ...(body === undefined ? [] : [await send(route.method, path, identity, body, body.replace('}', ',"reuse":true}'))]),
    ];

    expect(statuses).toEqual(Array(statuses.length).fill(403));
    expect((await scanAll(broker.tables)).length).toBe(before);
    expect(broker.emulator.calls().total).toBe(0);
  });
});

describe('logs of the security suite', () => {
  it('carry no secret value in any line', () => {
    expect(output.lines.length).toBeGreaterThan(50);
    expect(secretLeaks(output.lines, { ...broker.secret, ...broker.login })).toEqual([]);
  });
});
