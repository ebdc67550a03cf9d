/**
 * One typed `RemoteConnection` out of remote.it's loosely typed connect answer (docs/remoteit-api.md,
 * "Connect response"): strings where numbers are expected, a JSON-escaped proxy URL, fields either at the
 * top level or inside `connection`, and several spellings of the proxy address.
 */
import type { ProxyAddress, RemoteConnection } from '../broker/ports';
import { epochSeconds } from '../broker/time';
import { withoutUndefined } from '../broker/values';
import * as z from '../zod';
import { unusable } from './failures';

/** remote.it documents proxies living about 8 hours; used only when the answer carries no expiry at all. */
export const DEFAULT_EXPIRATION_SECONDS = 28_800;
/**
 * remote.it documents closing a proxy about 15 minutes after its last connection ends; used when the answer
 * carries no `idleLeft` (which remote.it's own SDK shows as 900 in a sample answer, without saying its unit).
 */
export const DEFAULT_IDLE_SECONDS = 900;

/** A field remote.it got wrong reads as absent. */
const text = z.absentIfInvalid(z.string().check(z.trim(), z.minLength(1)));
const numberish = z.absentIfInvalid(z.union([z.number(), z.string()]));
const flag = z.absentIfInvalid(z.union([z.boolean(), z.string(), z.number()]));

const connectionFields = {
  connectionid: text,
  proxy: text,
  proxyURL: text,
  proxyserver: text,
  proxyport: numberish,
  proxyServerPort: numberish,
  reverseProxy: flag,
  expirationsec: numberish,
  proxyExpirationSec: numberish,
  idleLeft: numberish,
  connectionOverridden: flag,
  previousConnection: z.optional(z.unknown()),
};

const connectResponseSchema = z.looseObject({
  ...connectionFields,
  connection: z.optional(z.looseObject(connectionFields)),
});

type ConnectionFields = z.infer<z.ZodMiniObject<typeof connectionFields>>;

/**
 * @param body the parsed JSON of a successful (`status: "true"`) connect answer
 * @param requestedAtMs when the connect was sent: the expiry counts from then, so it is never late
 */
export function normaliseConnectResponse(body: unknown, requestedAtMs: number): RemoteConnection {
  const parsed = connectResponseSchema.safeParse(body);
  if (!parsed.success) throw unusable('remote.it connect answer is not an object');
  const { connection, ...top } = parsed.data;
  // `connection` holds the details; top-level copies (older answers) fill what it lacks.
  const fields: ConnectionFields = { ...top, ...withoutUndefined(connection ?? {}) };

  const remoteConnectionId = top.connectionid ?? connection?.connectionid;
  if (!remoteConnectionId) throw unusable('remote.it connect answer has no connectionid');

  const previousConnectionId = previousId(fields.previousConnection);
  let proxy: ProxyAddress;
  try {
    proxy = proxyAddress(fields);
  } catch (error) {
    // remote.it opened a connection we cannot use: keep its id so the broker can stop it.
    throw unusable(error instanceof Error ? error.message : 'remote.it connect answer has no usable proxy', {
      cause: error,
      remoteConnectionId,
    });
  }
  return {
    remoteConnectionId,
    proxy,
    expiresAt: epochSeconds(requestedAtMs) + expirationSeconds(fields),
    idleSeconds: positiveSeconds(fields.idleLeft) ?? DEFAULT_IDLE_SECONDS,
    overridden: isTrue(fields.connectionOverridden),
    ...(previousConnectionId ? { previousConnectionId } : {}),
  };
}

function proxyAddress(fields: ConnectionFields): ProxyAddress {
  if (fields.proxy) return fromProxyText(fields.proxy, isTrue(fields.reverseProxy));
  if (fields.proxyURL) return fromProxyText(fields.proxyURL, isTrue(fields.reverseProxy));
  const port = fields.proxyport ?? fields.proxyServerPort;
  if (fields.proxyserver && port !== undefined) return portProxy(fields.proxyserver, port);
  throw unusable('remote.it connect answer has no proxy address');
}

/**
 * `https://x.p18.rt3.io` is a reverse proxy; `http://proxy18.rt3.io:38575` and `proxy18.rt3.io:38575` are
 * TCP port proxies whatever the scheme says.
 */
function fromProxyText(raw: string, reverseFlag: boolean): ProxyAddress {
  // JSON.parse already turned `http:\/\/` into `http://`; a double-encoded answer can still carry the backslashes.
  const unescaped = raw.replace(/\\\//g, '/');
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(unescaped);
  let url: URL;
  try {
    url = new URL(hasScheme ? unescaped : `tcp://${unescaped}`);
  } catch {
    throw unusable('remote.it proxy address is not a URL or host:port');
  }
  const web = url.protocol === 'https:' || url.protocol === 'http:';
  // WHATWG URL drops a default port (443 for https), so a web URL with no port left is a reverse proxy.
  if (web && (url.port === '' || reverseFlag)) {
    const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
    return { kind: 'reverse', url: url.origin, host: url.hostname, port };
  }
  return portProxy(url.hostname, url.port);
}

function portProxy(host: string, rawPort: string | number): ProxyAddress {
  const port = Number(rawPort);
  if (!host || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw unusable('remote.it proxy address has no valid host and port');
  }
  const hostname = host.toLowerCase();
  return { kind: 'port', url: `tcp://${hostname}:${port}`, host: hostname, port };
}

function expirationSeconds(fields: ConnectionFields): number {
  return positiveSeconds(fields.expirationsec) ?? positiveSeconds(fields.proxyExpirationSec) ?? DEFAULT_EXPIRATION_SECONDS;
}

/** A number or numeric string of seconds above zero, floored; undefined for anything else. */
function positiveSeconds(candidate: string | number | undefined): number | undefined {
  const seconds = Number(candidate);
  return candidate !== undefined && candidate !== '' && Number.isFinite(seconds) && seconds > 0 ? Math.floor(seconds) : undefined;
}

function isTrue(value: boolean | string | number | undefined): boolean {
  return value === true || value === 1 || (typeof value === 'string' && value.trim().toLowerCase() === 'true');
}

/** `previousConnection` is seen as an id; tolerate an object carrying one too. */
function previousId(value: unknown): string | undefined {
  if (typeof value === 'string' && value.trim()) return value.trim();
  if (typeof value === 'object' && value !== null) {
    const id = (value as Record<string, unknown>).connectionid ?? (value as Record<string, unknown>).id;
    if (typeof id === 'string' && id.trim()) return id.trim();
  }
  return undefined;
}
