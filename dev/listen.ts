/** Starts a server listening and resolves with its port, or rejects with the listen error (e.g. EADDRINUSE). */
import type { Server } from 'node:net';
import type { AddressInfo } from 'node:net';

export async function listen(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/** The `http://host:port` a stub listening on `host` answers at (an IPv6 host in brackets). */
export function endpointOf(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
