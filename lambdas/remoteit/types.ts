/**
 * The broker's view of remote.it: the port the domain calls (`RemoteitApi`), the one normalised result
 * of a connect, and the typed errors every remote.it failure becomes. See shared remoteit-api.md.
 */

export type ProxyKind = 'port' | 'reverse';

export interface ProxyAddress {
  /** `port`: a TCP port proxy (host + port). `reverse`: an https reverse proxy, always public. */
  kind: ProxyKind;
  /** `tcp://host:port` for port proxies; the reverse proxy's https URL otherwise. */
  url: string;
  host: string;
  /** Present for port proxies; 443 for https reverse proxies, 80 for http ones. */
  port: number;
}

export interface RemoteConnection {
  /** remote.it's `connectionid`. */
  remoteConnectionId: string;
  proxy: ProxyAddress;
  /** Absolute remote.it expiry, epoch seconds: request time + `expirationsec`. */
  expiresAt: number;
  /** True when remote.it says this connect replaced an earlier one (`connectionOverridden`). */
  overridden: boolean;
  /** remote.it's `previousConnection` id, when it gave one. */
  previousConnectionId?: string;
}

/** The port the domain speaks to; `lambdas/remoteit/client.ts` is the HTTP adapter. */
export interface RemoteitApi {
  /** Opens a proxy to `serviceId` (upper-case `XX:..:XX`) for `hostIp` (0.0.0.0, 255.255.255.255 or one IPv4). */
  connect(serviceId: string, hostIp: string): Promise<RemoteConnection>;
  /** Stops a proxy. Resolves when remote.it confirmed the stop. */
  stop(serviceId: string, remoteConnectionId: string): Promise<void>;
}

/** Stable machine codes of remote.it failures; the domain and the metrics key on these. */
export type RemoteitErrorKind =
  | 'refused'
  | 'unauthorized'
  | 'not_found'
  | 'throttled'
  | 'upstream'
  | 'timeout'
  | 'malformed'
  | 'unreachable';

export abstract class RemoteitError extends Error {
  abstract readonly kind: RemoteitErrorKind;
  /** True when the request provably never reached remote.it (so a retried connect cannot open a second proxy). */
  readonly notSent: boolean = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** remote.it answered `status: "false"` (on 200 or 401) for a reason that is not auth or not-found. */
export class RemoteitRefusedError extends RemoteitError {
  readonly kind = 'refused';
  constructor(
    readonly reason: string,
    readonly code?: string,
    readonly httpStatus?: number,
  ) {
    super(`remote.it refused the request: ${reason}`);
  }
}

/** Bad or expired credentials (HTTP 401 auth reasons, `missing api token`, `[0102]`, MFA required). */
export class RemoteitUnauthorizedError extends RemoteitError {
  readonly kind = 'unauthorized';
  constructor(
    readonly reason: string,
    readonly code?: string,
  ) {
    super(`remote.it rejected the broker's credentials: ${reason}`);
  }
}

/** `[0806]` device not found, `[0861]` service not found, `bad device address`. */
export class RemoteitNotFoundError extends RemoteitError {
  readonly kind = 'not_found';
  constructor(readonly reason: string) {
    super(`remote.it does not know this service: ${reason}`);
  }
}

/**
 * A stop refused because remote.it no longer has that connection (already stopped, expired, overridden):
 * nothing is left to stop. Only reasons that say so become this error; any other refusal stays retryable.
 */
export class RemoteitConnectionGoneError extends RemoteitError {
  readonly kind = 'not_found';
  constructor(readonly reason: string) {
    super(`remote.it no longer has this connection: ${reason}`);
  }
}

/**
 * The call could not be made for a reason of the broker's own: the credentials could not be loaded or are
 * invalid. Kept apart from remote.it's answers so a stop still counts it against its retry budget.
 */
export class RemoteitCallFailedError extends RemoteitError {
  readonly kind = 'upstream';
}

/** HTTP 429. `retryAfterSeconds` from Retry-After when remote.it sent one. */
export class RemoteitThrottledError extends RemoteitError {
  readonly kind = 'throttled';
  constructor(readonly retryAfterSeconds?: number) {
    super('remote.it is throttling the broker');
  }
}

/** HTTP 5xx (or any other unexpected status). */
export class RemoteitUpstreamError extends RemoteitError {
  readonly kind = 'upstream';
  constructor(readonly httpStatus: number) {
    super(`remote.it answered HTTP ${httpStatus}`);
  }
}

/** No answer within the per-call deadline. The request may have reached remote.it. */
export class RemoteitTimeoutError extends RemoteitError {
  readonly kind = 'timeout';
  constructor(readonly timeoutMs: number) {
    super(`remote.it did not answer within ${timeoutMs} ms`);
  }
}

/** A 200 whose body is not JSON or lacks the fields a success must carry. */
export class RemoteitMalformedError extends RemoteitError {
  readonly kind = 'malformed';
  /** Set when remote.it said yes and named the connection but the rest was unusable: it must be stopped. */
  readonly remoteConnectionId?: string;
  constructor(message: string, options?: { cause?: unknown; remoteConnectionId?: string }) {
    super(message, options);
    if (options?.remoteConnectionId !== undefined) this.remoteConnectionId = options.remoteConnectionId;
  }
}

/** The request never left: connection refused, DNS failure. Safe to retry even for connect. */
export class RemoteitUnreachableError extends RemoteitError {
  readonly kind = 'unreachable';
  override readonly notSent = true;
}
