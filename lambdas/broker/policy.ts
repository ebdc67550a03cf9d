/**
 * Who may open what. The document is live data in AWS AppConfig (lambdas/handlers/policy-source.ts reads it and
 * validates it with this schema on every load; infra/policy-config.ts deploys it behind a validator generated
 * from the same schema). Deny by default: a caller no rule matches may open nothing, and with no valid
 * policy loaded nobody may open anything.
 */
import { BlockList } from 'node:net';
import * as z from '../zod';
import { PolicyDeniedError, type PolicyDenialReason } from './errors';
import type { EventSink } from './events';
import { CONNECTION_MODES, MAX_TTL_SECONDS, MIN_TTL_SECONDS, type ConnectionMode } from './model';

const nonEmptyString = z.string().check(z.minLength(1));

/** A week: remote.it's own expiry ends every proxy long before (about 8 h). */
export const MAX_LIFETIME_SECONDS = 7 * 86_400;
/** A rule's `opensPerMinute` when it names none: one a second on average, in bursts of up to 60. */
export const DEFAULT_OPENS_PER_MINUTE = 60;

export const policyRuleSchema = z.strictObject({
  /** IAM principal ARN globs (`*` matches any run of characters). Assumed-role sessions match as their role ARN. */
  principals: z.array(nonEmptyString).check(z.minLength(1)),
  /** serviceId globs, case-insensitive, e.g. `80:00:00:00:01:*`. */
  services: z.array(nonEmptyString).check(z.minLength(1)),
  /** Modes this rule allows. */
  modes: z._default(z.array(z.enum(CONNECTION_MODES)).check(z.minLength(1)), ['latching', 'ip']),
  /** Longest lease this rule grants, seconds. */
  maxTtlSeconds: z._default(z.number().check(z.int(), z.minimum(MIN_TTL_SECONDS), z.maximum(MAX_TTL_SECONDS)), 3600),
  /** Most live (pending, active, stopping) connections a principal matched by this rule may hold. */
  maxActive: z._default(z.number().check(z.int(), z.minimum(1)), 10),
  /**
   * Most new connections a principal matched by this rule may open per clock minute (UTC, :00 to :59). An open
   * answered from an existing connection (`reuse`) or refused is not counted. Over it: 429 with Retry-After.
   */
  opensPerMinute: z._default(z.number().check(z.int(), z.minimum(1), z.maximum(100_000)), DEFAULT_OPENS_PER_MINUTE),
  /**
   * Longest a connection may live, seconds from its open, across every renew (absent: up to remote.it's own
   * expiry, about 8 h). A renew is capped at it, and refused once it is reached.
   */
  maxLifetimeSeconds: z.optional(z.number().check(z.int(), z.minimum(MIN_TTL_SECONDS), z.maximum(MAX_LIFETIME_SECONDS))),
  /**
   * IPv4 CIDRs a caller may grant a mode `ip` proxy to (its `clientIp`, or its own address when it names
   * none). Absent: any address the API accepts (public unicast in AWS). Latching and public proxies admit
   * whoever connects, so this cannot bound them: leave those modes out of the rule where it matters.
   */
  clientCidrs: z.optional(z.array(z.cidrv4('must be an IPv4 CIDR such as 203.0.113.0/24')).check(z.minLength(1))),
});

export const policyDocumentSchema = z.strictObject({
  rules: z._default(z.array(policyRuleSchema), []),
  /** Principal ARN globs that see and stop every connection. Admins open connections under the rules like anyone. */
  admins: z._default(z.array(nonEmptyString), []),
});

export type PolicyRule = z.infer<typeof policyRuleSchema>;
export type PolicyDocument = z.infer<typeof policyDocumentSchema>;

// ---- Evaluation ---------------------------------------------------------------------------------------

/**
 * Compiles a policy glob: `*` is any run of characters (including none), everything else literal, anchored.
 * Hand-written because the glob libraries give `/` and `.` path meanings that ARNs and service ids do not have.
 */
export function globToRegExp(glob: string, options: { caseInsensitive?: boolean } = {}): RegExp {
  const pattern = glob
    .split('*')
    .map((literal) => literal.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${pattern}$`, options.caseInsensitive ? 'is' : 's');
}

export function matchesGlob(glob: string, value: string, options: { caseInsensitive?: boolean } = {}): boolean {
  return globToRegExp(glob, options).test(value);
}

const matchesPrincipal = (globs: readonly string[], principal: string) =>
  globs.some((glob) => matchesGlob(glob, principal));
const matchesService = (globs: readonly string[], serviceId: string) =>
  globs.some((glob) => matchesGlob(glob, serviceId, { caseInsensitive: true }));

/** Admins see and stop every connection. `principal` is the normalised (role) ARN. */
export function isAdmin(policy: PolicyDocument, principal: string): boolean {
  return matchesPrincipal(policy.admins, principal);
}

export interface PolicyRequest {
  /** The normalised (role) ARN. */
  principal: string;
  /** Upper-case service address. */
  serviceId: string;
  mode: ConnectionMode;
  ttlSeconds: number;
  /** Mode `ip`: the address the proxy is granted to (checked against the rules' `clientCidrs`). */
  clientIp?: string;
}

export type PolicyDecision =
  | {
      allowed: true;
      /** The most generous lease among the rules that allow this mode. */
      maxTtlSeconds: number;
      /** The most generous live-connection quota among the rules that allow this mode. */
      maxActive: number;
      /** The most generous open rate among the rules that allow this mode. */
      opensPerMinute: number;
      /** Whether any rule for this principal and service allows `public` (remote.it forces http services public). */
      publicAllowed: boolean;
      /** The most generous lifetime among the allowing rules; undefined when one of them sets none. */
      maxLifetimeSeconds: number | undefined;
    }
  | { allowed: false; reason: Exclude<PolicyDenialReason, 'public_not_allowed'>; detail: string };

/**
 * Deny by default. Allowed when ANY rule matching the principal and service allows the mode; limits are the
 * most generous of those rules, so adding a rule never narrows what a caller already had.
 */
export function evaluatePolicy(policy: PolicyDocument, request: PolicyRequest): PolicyDecision {
  const { principal, serviceId, mode, ttlSeconds } = request;
  const applicable = policy.rules.filter(
    (rule) => matchesPrincipal(rule.principals, principal) && matchesService(rule.services, serviceId),
  );
  if (applicable.length === 0) {
    return {
      allowed: false,
      reason: 'no_matching_rule',
      detail: `your policy does not allow connections to service ${serviceId}`,
    };
  }
  const withMode = applicable.filter((rule) => rule.modes.includes(mode));
  if (withMode.length === 0) {
    const modes = [...new Set(applicable.flatMap((rule) => rule.modes))].join(', ');
    return {
      allowed: false,
      reason: 'mode_not_allowed',
      detail: `your policy does not allow mode '${mode}' for service ${serviceId} (allowed: ${modes})`,
    };
  }
  const { clientIp } = request;
  const allowing = clientIp === undefined ? withMode : withMode.filter((rule) => rule.clientCidrs === undefined || inCidrs(rule.clientCidrs, clientIp));
  if (allowing.length === 0) {
    return {
      allowed: false,
      reason: 'client_ip_not_allowed',
      detail: `your policy does not allow granting service ${serviceId}'s proxy to ${clientIp} (the clientCidrs of your rules for mode '${mode}')`,
    };
  }
  const most = (limit: (rule: PolicyRule) => number) => Math.max(...allowing.map(limit));
  // A lease can never outlast the connection's lifetime either.
  const maxTtlSeconds = most((rule) => Math.min(rule.maxTtlSeconds, rule.maxLifetimeSeconds ?? Infinity));
  if (ttlSeconds > maxTtlSeconds) {
    return {
      allowed: false,
      reason: 'ttl_above_max',
      detail: `ttlSeconds ${ttlSeconds} is above your policy's maximum of ${maxTtlSeconds} for service ${serviceId} in mode '${mode}'`,
    };
  }
  return {
    allowed: true,
    maxTtlSeconds,
    maxActive: most((rule) => rule.maxActive),
    opensPerMinute: most((rule) => rule.opensPerMinute),
    publicAllowed: applicable.some((rule) => rule.modes.includes('public')),
    maxLifetimeSeconds: allowing.some((rule) => rule.maxLifetimeSeconds === undefined) ? undefined : most((rule) => rule.maxLifetimeSeconds ?? 0),
  };
}

/** Whether an IPv4 address lies in any of the CIDRs (node:net's BlockList does the arithmetic). */
function inCidrs(cidrs: readonly string[], ip: string): boolean {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [network = '', prefix = '32'] = cidr.split('/');
    list.addSubnet(network, Number(prefix), 'ipv4');
  }
  return list.check(ip, 'ipv4');
}

/** Reports a denial and refuses: every policy refusal goes through here, so each is counted once. */
export function denyByPolicy(events: EventSink, reason: PolicyDenialReason, detail: string): never {
  events({ type: 'policy_denied', reason });
  throw new PolicyDeniedError(reason, detail);
}
