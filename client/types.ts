/**
 * The API's shapes as the client sees them (docs/openapi.yaml), written out as plain TypeScript so the
 * published package stands alone: nothing here comes from lambdas/. test/unit/client/contract.test.ts fails
 * (at `npm run typecheck`, and at run time for the lists) when they drift from the zod schemas the API
 * validates and answers with.
 */

/** Every status a connection can have, in its lifecycle's order. */
export const CONNECTION_STATUSES = ['pending', 'active', 'stopping', 'stopped', 'failed', 'expired', 'stop_failed'] as const;
export type ConnectionStatus = (typeof CONNECTION_STATUSES)[number];

/** latching: the first address to connect owns the proxy; ip: one address; public: anyone (policy permitting). */
export const CONNECTION_MODES = ['latching', 'ip', 'public'] as const;
export type ConnectionMode = (typeof CONNECTION_MODES)[number];

/** Where remote.it's proxy listens: a host and port (`port`), or an https reverse proxy (`reverse`). */
export interface Proxy {
  kind: 'port' | 'reverse';
  url: string;
  host: string;
  port: number;
}

/** A connection as the API answers it (`Connection` in docs/openapi.yaml). Times are ISO 8601. */
export interface Connection {
  id: string;
  serviceId: string;
  /** The mode the proxy has: `public` for a reverse proxy (http services), whatever was asked. */
  mode: ConnectionMode;
  /** Who remote.it admits: 255.255.255.255 latching, 0.0.0.0 public, or one IPv4. */
  hostIp: string;
  /** The mode asked for, when remote.it made the proxy something else. */
  requestedMode?: ConnectionMode;
  requestedHostIp?: string;
  status: ConnectionStatus;
  /** Absent until remote.it has opened the proxy. */
  proxy?: Proxy;
  owner: string;
  createdAt: string;
  leaseExpiresAt: string;
  /** Once active: when remote.it closes the proxy if nobody has connected through it. */
  idleClosesAt?: string;
  /** remote.it's own expiry of the proxy. */
  expiresAt: string;
  stoppedAt?: string;
  stopReason?: string;
  failureReason?: string;
  remoteConnectionId?: string;
}

/** The body of POST /connections as the API accepts it. */
export interface OpenConnectionInput {
  /** remote.it service address (case-insensitive). */
  serviceId: string;
  mode?: ConnectionMode;
  /** Mode `ip` only: the IPv4 allowed to connect (default: the caller's source address). */
  clientIp?: string;
  /** Lease length in whole seconds (60..86400; capped by policy and by remote.it's expiry). */
  ttlSeconds?: number;
  /** Answer with the caller's live connection to the same service, mode and IP when its lease covers ttlSeconds. */
  reuse?: boolean;
}

/** The body of POST /connections/{id}/renew. */
export interface RenewConnectionInput {
  /** The lease ends this many seconds from now (60..86400; capped by policy and by remote.it's expiry). */
  ttlSeconds: number;
  /**
   * ISO 8601: when the caller last had a TCP connection open through the proxy. Past the connection's first
   * idle window (`idleClosesAt`) a renew needs it: remote.it closes a proxy only its idle window after the last
   * connection through it ends, and the broker cannot see connections.
   */
  usedAt?: string;
}

/** One page of GET /connections. */
export interface ConnectionPage {
  items: Connection[];
  /** Pass as `cursor` for the next page; absent on the last. */
  nextCursor?: string;
}

/** GET /connections query; `limit` is the page size (1..100), `cursor` a previous page's `nextCursor`. */
export interface ListConnectionsQuery {
  status?: ConnectionStatus;
  serviceId?: string;
  limit?: number;
  cursor?: string;
}

/** An operator's lock as the API answers it (`Lock` in docs/openapi.yaml). */
export interface Lock {
  id: string;
  /** Role ARN glob; absent: every principal. */
  principal?: string;
  /** Service id glob, upper-case; absent: every service. */
  serviceId?: string;
  reason: string;
  createdAt: string;
  /** The admin's full principal ARN. */
  createdBy: string;
  /** When the lock lapses by itself; absent: until lifted. */
  expiresAt?: string;
  liftedAt?: string;
  liftedBy?: string;
}

/** The body of POST /locks: at least one of principal and serviceId, a reason, optionally ttlSeconds. */
export interface PlaceLockInput {
  principal?: string;
  serviceId?: string;
  reason: string;
  /** The lock lapses this many seconds from now (60..2592000); absent: until lifted. */
  ttlSeconds?: number;
}

/** POST /locks's answer: the lock, and how many live connections placing it stopped at once. */
export interface PlacedLock extends Lock {
  enforcement: {
    /** Live connections the lock covered that were stopped at once. */
    stopped: number;
    /** Covered connections not stopped yet: the broker stops them shortly. */
    remaining: number;
    /** False when placing could not look at every live connection: the lock holds, and the sweeper stops the rest. */
    complete: boolean;
  };
}

/** GET /locks's answer: every live lock, oldest first. */
export interface LockList {
  items: Lock[];
}

/** One bad input field of a 400. */
export interface FieldProblem {
  field: string;
  message: string;
}

/** RFC 9457 problem details, as every error answer carries them (`application/problem+json`). */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  errors?: FieldProblem[];
}

/** One policy rule that names the caller, as GET /me shows it (its principal globs left out). */
export interface CallerRule {
  /** Service id globs, case-insensitive. */
  services: string[];
  modes: ConnectionMode[];
  maxTtlSeconds: number;
  maxActive: number;
  /** The most new connections the caller may open per clock minute under this rule. */
  opensPerMinute: number;
  /** How long a connection may live across renews, from its open; absent: up to remote.it's own expiry. */
  maxLifetimeSeconds?: number;
  /** The IPv4 CIDRs a mode `ip` proxy may be granted to; absent: any address the API accepts. */
  clientCidrs?: string[];
}

/** GET /me: the caller as the broker sees it (`Caller` in docs/openapi.yaml). */
export interface Caller {
  /** The ARN the policy matches and connections are owned by: an assumed-role session counts as its role. */
  principal: string;
  /** The caller's full ARN. */
  arn: string;
  admin: boolean;
  /** The policy rules whose principals match the caller, in the policy's order. */
  rules: CallerRule[];
  /** The caller's live (pending, active, stopping) connections: what maxActive counts. */
  live: number;
}
