/**
 * Monotonic ULIDs for the records and locks the functions create (the ULID spec: 48 bits of epoch
 * milliseconds then 80 random bits, in Crockford's base32, 26 characters). Within one millisecond, or when
 * the clock steps back, the random part of the previous id is incremented instead of drawn again, so the
 * ids one function instance makes sort in the order it made them.
 *
 * Written here rather than taken from the `ulid` package, whose generator carries browser and error
 * handling the functions never use: 2.4 KiB of the open function's bundle against about 0.3 KiB for this
 * (docs/PERFORMANCE.md). test/unit/ulid.test.ts holds it to that package's encoding.
 */
import { randomBytes } from 'node:crypto';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const TIME_DIGITS = 10;
const RANDOM_DIGITS = 16;

/** A generator of monotonic ULIDs on `now` (epoch ms). */
export function monotonicUlid(now: () => number = Date.now): () => string {
  let lastMs = -1;
  let random: number[] = [];
  return () => {
    const ms = now();
    if (ms > lastMs) {
      lastMs = ms;
      // 16 uniform 5-bit digits: 256 is a multiple of 32, so masking keeps each one uniform.
      random = Array.from(randomBytes(RANDOM_DIGITS), (byte) => byte & 31);
    } else {
      let digit = RANDOM_DIGITS - 1;
      for (; digit >= 0 && random[digit] === 31; digit -= 1) random[digit] = 0;
      // 2^80 ids within one millisecond: never, but never a repeated id either.
      if (digit < 0) throw new RangeError('ULID random part exhausted within one millisecond');
      random[digit] = (random[digit] ?? 0) + 1;
    }
    let time = '';
    for (let rest = lastMs, digit = 0; digit < TIME_DIGITS; digit += 1, rest = Math.floor(rest / 32)) time = CROCKFORD[rest % 32] + time;
    return time + random.map((digit) => CROCKFORD[digit]).join('');
  };
}
