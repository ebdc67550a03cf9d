/**
 * The package's declarations carry no zod types (infra/build.ts fails the build when they import anything but
 * aws-cdk-lib and constructs), so the policy document an app writes is plain TypeScript (infra/policy-document.ts).
 * This test holds it to the zod schema the construct and the functions validate the document with: a type that
 * drifts is a compile error here (`npm run typecheck`, part of `npm test`).
 */
import type { z } from 'zod';
import type { policyDocumentSchema, policyRuleSchema } from '../../lambdas/broker/policy';
import { CONNECTION_MODES } from '../../lambdas/broker/model';
import type { BrokerConnectionMode, BrokerPolicyDocument, BrokerPolicyRule } from '../../infra/policy-document';

/** Each assignable to the other. */
type Assignable<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** Every property required, recursively: two shapes compare equal only with the same keys at every level. */
type Keys<T> = T extends readonly (infer E)[] ? Keys<E>[] : T extends object ? { [K in keyof T]-?: Keys<T[K]> } : T;
/** Same values, same optional properties, same keys. */
type Same<A, B> = Assignable<A, B> extends true ? Assignable<Keys<A>, Keys<B>> : false;

// A `false` here (a type error) names the type that drifted.
const contract: Record<string, true> = {
  BrokerPolicyDocument: true satisfies Same<BrokerPolicyDocument, z.input<typeof policyDocumentSchema>>,
  BrokerPolicyRule: true satisfies Same<BrokerPolicyRule, z.input<typeof policyRuleSchema>>,
  BrokerConnectionMode: true satisfies Same<BrokerConnectionMode, (typeof CONNECTION_MODES)[number]>,
};

describe('the package\'s policy types', () => {
  it('match the policy schema\'s input (checked by the compiler: this file does not type-check when they drift)', () => {
    expect(Object.values(contract).every(Boolean)).toBe(true);
    expect(CONNECTION_MODES.length).toBeGreaterThan(0);
  });
});
