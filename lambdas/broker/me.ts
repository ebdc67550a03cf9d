/**
 * "Who am I, what may I reach": the caller as the broker sees it (its principal normalised to its role), whether
 * it is an admin, the policy rules that apply to it and how many live connections it holds (what its quota
 * counts). Only the rules whose `principals` match the caller are shown, and of those only what they grant:
 * never their principal globs, never another caller's rules, never the admins list.
 */
import { isAdmin, matchesGlob, type PolicyDocument, type PolicyRule } from './policy';
import type { ConnectionStore } from './ports';
import type { Caller } from './principal';

export interface MeDeps {
  store: Pick<ConnectionStore, 'countLive'>;
  /** The policy in force; undefined when none is loaded (then no rule applies and nobody is an admin). */
  policy: PolicyDocument | undefined;
}

/** What one rule that names the caller grants. */
export type AppliedRule = Pick<PolicyRule, 'services' | 'modes' | 'maxTtlSeconds' | 'maxActive' | 'opensPerMinute' | 'maxLifetimeSeconds' | 'clientCidrs'>;

export interface CallerDescription {
  /** The ARN rules match and connections are owned by (an assumed-role session's role ARN). */
  principal: string;
  /** The caller's full ARN as API Gateway's authorizer gave it. */
  arn: string;
  admin: boolean;
  /** The rules naming the caller, in the policy's order; a service is reachable when any of them allows it. */
  rules: AppliedRule[];
  /** Live (pending, active, stopping) connections the caller holds, unexpired: those its quota holds slots for (docs/ARCHITECTURE.md, "The quota"). */
  live: number;
}

export async function describeCaller(deps: MeDeps, caller: Caller): Promise<CallerDescription> {
  const live = await deps.store.countLive(caller.principal);
  const policy = deps.policy;
  const rules = (policy?.rules ?? [])
    .filter((rule) => rule.principals.some((glob) => matchesGlob(glob, caller.principal)))
    .map(({ services, modes, maxTtlSeconds, maxActive, opensPerMinute, maxLifetimeSeconds, clientCidrs }) => ({
      services,
      modes,
      maxTtlSeconds,
      maxActive,
      opensPerMinute,
      ...(maxLifetimeSeconds !== undefined && { maxLifetimeSeconds }),
      ...(clientCidrs !== undefined && { clientCidrs }),
    }));
  return { principal: caller.principal, arn: caller.arn, admin: policy !== undefined && isAdmin(policy, caller.principal), rules, live };
}
