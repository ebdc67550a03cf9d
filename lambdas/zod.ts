/**
 * zod for the Lambda code: `zod/mini` (functional checks, `z.string().check(z.minLength(1))`), which esbuild
 * shakes down to what is called: about 35 KiB per bundle against 95 KiB for zod's classic API
 * (docs/PERFORMANCE.md). Import it as a namespace, `import * as z from '../zod'`: a named `{ z }` binding
 * would keep all of zod in the bundle.
 *
 * zod/mini sets no locale, so its messages would all read "Invalid input"; English is set here, once, for
 * every module that builds a schema. Imported from `zod/locales` by name so that only `en` is bundled.
 */
import { en } from 'zod/locales';
import { _coercedNumber, _isoDate, _isoDateTime, type $ZodIssue } from 'zod/v4/core';
import {
  config,
  optional,
  transform,
  union,
  ZodMiniISODate,
  ZodMiniISODateTime,
  ZodMiniNumber,
  type coerce as zodCoerce,
  type iso as zodIso,
  type ZodMiniType,
} from 'zod/mini';

config(en());

export * from 'zod/mini';

/**
 * zod/mini's `coerce` and `iso`, cut to the members lambdas/ uses: zod's are namespace objects esbuild
 * cannot see through, so using one member keeps them all (`coerce.bigint`, `iso.duration`...), 3 KiB in
 * each bundle. Each member is built exactly as zod/mini builds it.
 */
export const coerce = {
  number: ((params) => _coercedNumber(ZodMiniNumber, params)) as typeof zodCoerce.number,
};
export const iso = {
  date: ((params) => _isoDate(ZodMiniISODate, params)) as typeof zodIso.date,
  datetime: ((params) => _isoDateTime(ZodMiniISODateTime, params)) as typeof zodIso.datetime,
};

/**
 * `schema`'s value, or `undefined` when the value is absent or `schema` rejects it: classic zod's
 * `schema.optional().catch(undefined)`. Not `z.catch`: zod/mini's `catch` reaches its constant through the
 * `core.util` namespace, which makes esbuild keep all of zod's `util` (11 KiB more in every bundle).
 */
export const absentIfInvalid = <T extends ZodMiniType>(schema: T) => optional(union([schema, transform(() => undefined)]));

/**
 * Whether `issue` is about a value `input` does not have ("is required"), not a value of the wrong type.
 * zod leaves the input out of its issues (and must: it may be a secret), so absence is read from the input
 * itself; only own properties count, so `{"__proto__": {...}}` or `constructor` supply nothing.
 */
export function isMissingValue(issue: $ZodIssue, input: unknown): boolean {
  if (issue.code !== 'invalid_type') return false;
  let value = input;
  for (const key of issue.path) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, key)) return true;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value === undefined;
}
