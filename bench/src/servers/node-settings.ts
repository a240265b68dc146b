/** The settings of a reference node (Socket.IO or relay), parsed once from its environment. */
export interface NodeSettings {
  readonly port: number;
  readonly host: string;
  readonly redisUrl: string;
  readonly nodeId: string;
}

export function parseNodeSettings(env: Record<string, string | undefined>): NodeSettings {
  const port = Number(env.PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('PORT must be a port number');
  const redisUrl = env.REDIS_URL ?? '';
  if (!/^redis:\/\/\S+$/.test(redisUrl)) throw new Error('REDIS_URL must be a redis:// URL');
  return Object.freeze({
    port,
    host: env.HOST ?? '127.0.0.1',
    redisUrl,
    nodeId: env.NODE_ID ?? `node-${process.pid}`,
  });
}

/** The contract's room-name rule, so no reference node builds a channel from junk. */
export const ROOM_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export function fail(err: unknown): never {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
