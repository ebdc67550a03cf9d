import { decodeTime, encodeTime, isValid } from 'ulid';
import { monotonicUlid } from '../../lambdas/ulid';

const CROCKFORD_ULID = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

describe('monotonicUlid', () => {
  it('makes 26-character Crockford base32 ULIDs whose time part is the clock\'s millisecond, as the ulid package reads them', () => {
    const instants = [0, 1, 1_700_000_000_123, Date.parse('2030-01-01T00:00:00.000Z'), 2 ** 48 - 1];
    for (const ms of instants) {
      const id = monotonicUlid(() => ms)();

      expect(id).toMatch(CROCKFORD_ULID);
      expect(isValid(id)).toBe(true);
      expect(decodeTime(id)).toBe(ms);
      // The time part is encoded as the package encodes it.
      expect(id.slice(0, 10)).toBe(encodeTime(ms, 10));
    }
  });

  it('sorts in the order it made them: within one millisecond, and when the clock steps back', () => {
    let ms = 1_700_000_000_000;
    const next = monotonicUlid(() => ms);
    const ids: string[] = [];
    for (let i = 0; i < 2_000; i += 1) {
      ids.push(next());
      if (i % 500 === 499) ms -= 3;
      else if (i % 100 === 99) ms += 1;
    }

    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    // A step back keeps the last time part rather than going back with the clock.
    expect(Math.min(...ids.slice(500).map(decodeTime))).toBeGreaterThanOrEqual(decodeTime(ids[499] ?? ''));
  });

  it('carries an increment across the random part\'s digits', () => {
    const next = monotonicUlid(() => 5);
    const ids = Array.from({ length: 40 }, () => next());

    for (let i = 1; i < ids.length; i += 1) {
      // base32 digits compare as the alphabet orders them, so string order is numeric order here.
      expect((ids[i] ?? '') > (ids[i - 1] ?? '')).toBe(true);
    }
  });

  it('draws a fresh random part each millisecond', () => {
    let ms = 1_000;
    const next = monotonicUlid(() => ms);
    const randomParts = new Set<string>();
    for (let i = 0; i < 200; i += 1) {
      ms += 1;
      randomParts.add(next().slice(10));
    }

    expect(randomParts.size).toBe(200);
  });
});
