/**
 * lambdas/handlers/policy-source.ts's decisions, with scripted sessions in place of AppConfig (the wire and
 * Powertools are exercised against the AppConfig stub in test/integration/api/policy-source.test.ts).
 */
import type { DomainEvent } from '../../../lambdas/broker/events';
import { PolicyDeniedError } from '../../../lambdas/broker/errors';
import { createPolicySource, requirePolicy, type PolicySession } from '../../../lambdas/handlers/policy-source';

const GOOD = { rules: [{ principals: ['arn:aws:iam::123456789012:role/app'], services: ['*'] }], admins: ['arn:aws:iam::123456789012:role/ops'] };
const PARSED = { rules: [{ ...GOOD.rules[0], modes: ['latching', 'ip'], maxTtlSeconds: 3600, maxActive: 10, opensPerMinute: 60 }], admins: GOOD.admins };
const bytes = (value: unknown) => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));
const CONFIG = { POLICY_APPCONFIG_APPLICATION: 'app', POLICY_APPCONFIG_ENVIRONMENT: 'env', POLICY_APPCONFIG_PROFILE: 'policy', POLICY_MAX_AGE_SECONDS: 60 };

type Answer = unknown | Error;

function harness(answers: Answer[], config = CONFIG) {
  let now = 1_000_000;
  const events: DomainEvent[] = [];
  const logs: Array<{ level: string; message: string; extra: unknown }> = [];
  let sessions = 0;
  let fetches = 0;
  const openSession = (): PolicySession => {
    sessions += 1;
    return {
      fetch: async () => {
        fetches += 1;
        const answer = answers.shift();
        if (answer instanceof Error) throw answer;
        return answer;
      },
    };
  };
  const logger = {
    warn: (message: string, extra?: unknown) => logs.push({ level: 'warn', message, extra }),
    error: (message: string, extra?: unknown) => logs.push({ level: 'error', message, extra }),
  };
  const source = createPolicySource(config, { events: (event) => events.push(event), logger: logger as never, now: () => now, openSession });
  return {
    source,
    events,
    logs,
    advance: (seconds: number) => {
      now += seconds * 1000;
    },
    counts: () => ({ sessions, fetches }),
  };
}

describe('createPolicySource', () => {
  it('loads, validates (defaults filled) and uses the policy for POLICY_MAX_AGE_SECONDS before asking again', async () => {
    const h = harness([bytes(GOOD), bytes(GOOD)]);
    expect(await h.source.current()).toEqual(PARSED);
    h.advance(59);
    expect(await h.source.current()).toEqual(PARSED);
    expect(h.counts().fetches).toBe(1);
    h.advance(1);
    await h.source.current();
    expect(h.counts()).toEqual({ sessions: 1, fetches: 2 });
  });

  it('keeps the last good policy when AppConfig fails, reports it, and does not ask again within the max age', async () => {
    const h = harness([bytes(GOOD), Object.assign(new Error('connect ECONNREFUSED'), { name: 'GetParameterError' }), bytes({ rules: [], admins: [] })]);
    await h.source.current();
    h.advance(60);
    expect(await h.source.current()).toEqual(PARSED);
    expect(h.events).toEqual([{ type: 'policy_load_failed', reason: 'unreachable' }]);
    expect(h.logs).toEqual([{ level: 'warn', message: expect.stringMatching(/last good kept/), extra: expect.objectContaining({ reason: 'unreachable' }) }]);
    h.advance(59);
    expect(await h.source.current()).toEqual(PARSED);
    expect(h.counts().fetches).toBe(2);
    // After the failure the next attempt starts a fresh session (its token may be spent).
    h.advance(1);
    expect(await h.source.current()).toEqual({ rules: [], admins: [] });
    expect(h.counts()).toEqual({ sessions: 2, fetches: 3 });
  });

  it('answers undefined when no policy ever loaded, logging an error', async () => {
    const h = harness([new Error('timeout')]);
    expect(await h.source.current()).toBeUndefined();
    expect(h.logs[0]).toMatchObject({ level: 'error', message: expect.stringMatching(/none in force/) });
    await expect(requirePolicy(h.source, (event) => h.events.push(event))).rejects.toMatchObject({
      constructor: PolicyDeniedError,
      reason: 'policy_unavailable',
      message: expect.stringMatching(/no valid policy loaded/),
    });
    expect(h.events).toEqual([
      { type: 'policy_load_failed', reason: 'unreachable' },
      { type: 'policy_denied', reason: 'policy_unavailable' },
    ]);
  });

  it.each([
    ['nothing (a first empty answer)', 'empty', undefined, undefined],
    ['zero bytes', 'empty', new Uint8Array(), undefined],
    ['not JSON', 'invalid', bytes('{"rules": [ {"principals": ["SECRET-LOOKING-CONTENT"'), undefined],
    ['not a policy', 'invalid', bytes({ rules: [{ principals: ['SECRET-LOOKING-CONTENT'], services: ['*'], modes: ['teleport'] }] }), [expect.stringMatching(/^rules\.0\.modes\.0: /)]],
  ])('refuses %s as %s, naming the failing fields but never the content', async (_name, reason, answer, fields) => {
    const h = harness([answer]);
    expect(await h.source.current()).toBeUndefined();
    expect(h.events).toEqual([{ type: 'policy_load_failed', reason }]);
    expect(JSON.stringify(h.logs)).not.toMatch(/SECRET-LOOKING-CONTENT/);
    expect(h.logs[0]?.extra).toMatchObject({ reason, fields });
  });

  it('keeps one session while the max age allows AppConfig poll intervals, and opens one per load below 15 s', async () => {
    const reused = harness([bytes(GOOD), bytes(GOOD), bytes(GOOD)], { ...CONFIG, POLICY_MAX_AGE_SECONDS: 15 });
    for (let load = 0; load < 3; load += 1) {
      await reused.source.current();
      reused.advance(15);
    }
    expect(reused.counts()).toEqual({ sessions: 1, fetches: 3 });

    const fresh = harness([bytes(GOOD), bytes(GOOD)], { ...CONFIG, POLICY_MAX_AGE_SECONDS: 2 });
    await fresh.source.current();
    fresh.advance(2);
    await fresh.source.current();
    expect(fresh.counts()).toEqual({ sessions: 2, fetches: 2 });
  });

  it('shares one load between concurrent callers', async () => {
    const h = harness([bytes(GOOD)]);
    const results = await Promise.all([h.source.current(), h.source.current(), h.source.current()]);
    expect(results).toEqual([PARSED, PARSED, PARSED]);
    expect(h.counts().fetches).toBe(1);
  });
});
