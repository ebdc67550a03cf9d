/**
 * Error answers stay small whatever is sent, through the local gateway and the real handlers: a body above
 * 16 KiB is refused with 413 before it is parsed, and a body full of unknown fields gets a 400 naming the
 * first 20 (names clipped) and counting the rest. Before the limits a 1.09 MB body of 100,000 unknown keys
 * answered an 8 MB 400: above Lambda's 6 MB response limit, so in AWS a 5xx.
 */
import { call, startTestStack, type TestStack } from './support';

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack();
});

afterAll(async () => {
  await stack.close();
});

const manyUnknownKeys = (count: number, length: number) =>
  Object.fromEntries([['serviceId', '80:00:00:00:00:00:00:01'], ...Array.from({ length: count }, (_, n) => [`${'u'.repeat(length)}${n}`, 1])]);

describe('bounded error answers', () => {
  it('refuses a 1 MB body of 100,000 unknown keys with a small 413 naming the body', async () => {
    const answer = await call(stack, { method: 'POST', path: '/connections', body: manyUnknownKeys(100_000, 1), as: stack.identity('app') });

    expect(answer.status).toBe(413);
    expect(answer.headers['content-type']).toBe('application/problem+json');
    expect(answer.body).toMatchObject({ type: 'urn:remoteit-broker:problem:payload_too_large', errors: [{ field: 'body' }] });
    expect(JSON.stringify(answer.body).length).toBeLessThan(1_000);
  });

  it('names 20 of 500 unknown fields in a body under the limit, clipped, and counts the rest', async () => {
    const body = manyUnknownKeys(500, 20);
    expect(JSON.stringify(body).length).toBeLessThan(16 * 1024);

    const answer = await call(stack, { method: 'POST', path: '/connections', body, as: stack.identity('app') });

    expect(answer.status).toBe(400);
    expect(answer.body.errors).toHaveLength(21);
    expect(answer.body.errors[20]).toEqual({ field: 'body', message: 'and 480 more problems (the first 20 are named)' });
    expect(JSON.stringify(answer.body).length).toBeLessThan(4_000);
  });

  it('refuses a renew and a lock with the same limits', async () => {
    const big = { ttlSeconds: 600, pad: 'p'.repeat(20_000) };

    const renew = await call(stack, { method: 'POST', path: '/connections/01JDQ7M2ZC3V9K8R4T6W5X1Y2Z/renew', body: big, as: stack.identity('app') });
    const lock = await call(stack, { method: 'POST', path: '/locks', body: { ...big, reason: 'r' }, as: stack.identity('admin') });

    expect([renew.status, lock.status]).toEqual([413, 413]);
  });
});
