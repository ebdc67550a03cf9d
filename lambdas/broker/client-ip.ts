/**
 * Which address remote.it admits to a proxy (`hostip`), from the mode and the caller: the rules a schema
 * cannot express, because they depend on the caller's source address and the deployment.
 */
import { BlockList, isIPv4 } from 'node:net';
import { InvalidRequestError } from './errors';
import type { ConnectionMode } from './model';

/** The `hostip` remote.it reads as a mode rather than an address. */
export const HOST_IP_BY_MODE = { latching: '255.255.255.255', public: '0.0.0.0' } as const;

function blockList(ranges: readonly (readonly [string, number])[]): BlockList {
  const list = new BlockList();
  for (const [network, prefix] of ranges) list.addSubnet(network, prefix, 'ipv4');
  return list;
}

/** Never a client: these would change what `hostip` means (0.0.0.0 = public, 255.255.255.255 = latching). */
const NEVER_CLIENT = blockList([
  ['0.0.0.0', 8], // "this network", including 0.0.0.0
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, including 255.255.255.255 broadcast
]);

/** Not reachable from the internet (IANA special-purpose registry); admitted only when the deployment says so. */
const NOT_PUBLIC = blockList([
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // shared address space (CGNAT)
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.88.99.0', 24], // deprecated 6to4 relay anycast
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
]);

/** Why `ip` cannot be an `ip`-mode client address, or undefined when it can. */
export function clientIpProblem(ip: string, allowPrivate: boolean): string | undefined {
  if (!isIPv4(ip)) return 'must be an IPv4 address in dotted-decimal form';
  if (NEVER_CLIENT.check(ip, 'ipv4')) return 'must be a unicast IPv4 address (not 0.0.0.0/8, multicast, broadcast or reserved)';
  if (!allowPrivate && NOT_PUBLIC.check(ip, 'ipv4')) {
    return 'must be a public IPv4 address (not private, loopback, link-local, shared CGNAT, or documentation space)';
  }
  return undefined;
}

/**
 * The `hostip` for an open: the mode's own value, or in `ip` mode the named client (default: the caller's
 * source address), which must be a unicast address a deployment admits. `clientIp` belongs to `ip` mode only.
 */
export function hostIpFor(
  request: { mode: ConnectionMode; clientIp?: string },
  sourceIp: string,
  allowPrivate: boolean,
): string {
  if (request.mode !== 'ip') {
    if (request.clientIp !== undefined) throw new InvalidRequestError([{ field: 'clientIp', message: "is only allowed with mode 'ip'" }]);
    return HOST_IP_BY_MODE[request.mode];
  }
  const hostIp = request.clientIp ?? sourceIp;
  const problem = clientIpProblem(hostIp, allowPrivate);
  if (problem) {
    const message = request.clientIp === undefined ? `your source address ${hostIp} cannot be used: it ${problem}; give clientIp` : problem;
    throw new InvalidRequestError([{ field: 'clientIp', message }]);
  }
  return hostIp;
}
