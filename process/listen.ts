import type { AddressInfo, Server } from 'node:net';

/** Listens on `host:port` (port 0: any free port); rejects with the bind error (EADDRINUSE …). */
export function listenOn(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}
