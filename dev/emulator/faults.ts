/**
 * Fault injection: decides, per request, whether remote.it is slow, failing, throttling or silent.
 */
import type { Faults } from './options';

/** What the server does with one request. `afterEffect` faults run once the request took effect. */
export type FaultDecision =
  | { kind: 'none' }
  | { kind: 'error'; httpStatus: number; afterEffect: boolean }
  | { kind: 'throttle'; retryAfterSeconds: number }
  | { kind: 'hang'; afterEffect: boolean }
  | { kind: 'reset'; afterEffect: boolean }
  | { kind: 'malformed'; afterEffect: boolean }
  | { kind: 'refuse'; reason: string; httpStatus: number };

/**
 * mulberry32, a 32-bit seedable PRNG. Hand-written because node:crypto has no seedable generator and
 * a dependency for ten lines is not worth it; statistical quality is ample for error-rate draws.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export function appliesTo(faults: Faults, path: string): boolean {
  return faults.onlyPaths === undefined || faults.onlyPaths.includes(path);
}

/**
 * Order of precedence: hang, reset, throttle, refuse, status, malformed, then a drawn error. Latency is
 * applied separately, before all; missingFields edits successful answers and is not a decision.
 */
export function decideFault(faults: Faults, path: string, random: () => number): FaultDecision {
  if (!appliesTo(faults, path)) return { kind: 'none' };
  const afterEffect = faults.afterEffect === true;
  if (faults.hang === true) return { kind: 'hang', afterEffect };
  if (faults.reset === true) return { kind: 'reset', afterEffect };
  if (faults.throttle !== undefined && faults.throttle !== false) {
    return { kind: 'throttle', retryAfterSeconds: faults.throttle === true ? 1 : faults.throttle.retryAfterSeconds };
  }
  if (faults.refuse !== undefined) return { kind: 'refuse', reason: faults.refuse.reason, httpStatus: faults.refuse.httpStatus };
  if (faults.status !== undefined) return { kind: 'error', httpStatus: faults.status, afterEffect };
  if (faults.malformed === true) return { kind: 'malformed', afterEffect };
  if (faults.errorRate !== undefined && faults.errorRate > 0 && random() < faults.errorRate) {
    return { kind: 'error', httpStatus: 500, afterEffect };
  }
  return { kind: 'none' };
}
