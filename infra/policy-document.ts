/**
 * The broker policy document as an app writes it (the `policy` prop), in plain TypeScript: the package's
 * declarations carry no zod types. The runtime validates the same document with its zod schema
 * (lambdas/broker/policy.ts), and test/infra/package-types.test.ts holds these types equal to that schema's input.
 */

/** How a proxy may be granted (docs/OPERATIONS.md, the policy format). */
export type BrokerConnectionMode = 'latching' | 'ip' | 'public';

/**
 * One rule of the broker policy, as written: who (`principals`) may open what (`services`), how. The runtime
 * validates it (lambdas/broker/policy.ts).
 */
export interface BrokerPolicyRule {
  /** IAM principal ARN globs (`*` matches any run of characters). Assumed-role sessions match as their role ARN. */
  readonly principals: string[];
  /** serviceId globs, case-insensitive, e.g. `80:00:00:00:01:*`. */
  readonly services: string[];
  /** @default ['latching', 'ip'] */
  readonly modes?: BrokerConnectionMode[];
  /** Longest lease this rule grants, seconds (60 to 86400). @default 3600 */
  readonly maxTtlSeconds?: number;
  /** Most live connections a principal matched by this rule may hold. @default 10 */
  readonly maxActive?: number;
  /** Most new connections a principal matched by this rule may open per clock minute (1 to 100000). @default 60 */
  readonly opensPerMinute?: number;
  /** Longest a connection may live across every renew, seconds. @default - up to remote.it's own expiry */
  readonly maxLifetimeSeconds?: number;
  /** IPv4 CIDRs a mode `ip` proxy may be granted to. @default - any address the API accepts */
  readonly clientCidrs?: string[];
}

/** The broker policy document as written (defaults may be left out): deny by default. */
export interface BrokerPolicyDocument {
  /** @default [] */
  readonly rules?: BrokerPolicyRule[];
  /** Principal ARN globs that see and stop every connection and place locks. @default [] */
  readonly admins?: string[];
}
