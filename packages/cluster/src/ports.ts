import { createServer } from 'node:net';

/** A TCP port on `host` that the kernel says is free now (released at once). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return listenOnce(0, host);
}

/** Whether `port` can be bound on `host` right now. */
export async function portIsFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  try {
    await listenOnce(port, host);
    return true;
  } catch {
    return false;
  }
}

function listenOnce(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(port, host, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(bound));
    });
  });
}

/** `count` distinct free ports. */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort(host));
  return [...ports];
}

/**
 * A free port whose Redis Cluster bus port (port + 10000) is free too: a cluster node
 * listens on both, and a bus port taken by anything else fails its start.
 */
export async function freeClusterPort(host = '127.0.0.1'): Promise<number> {
  for (;;) {
    const port = await freePort(host);
    if (port + 10_000 <= 65_535 && (await portIsFree(port + 10_000, host))) return port;
  }
}
