import { RedisServer as ManagedRedis, type RedisServerOptions } from '@securechat/cluster';

/**
 * A real redis-server for one test suite (@securechat/cluster's, shared with the
 * benchmark): its own free port and temporary directory, DEBUG allowed. `stop()` then
 * `start()` restarts it on the same port (outage tests); `destroy()` removes it all.
 */
export type RedisServer = ManagedRedis;
export const RedisServer = {
  start: (options: Pick<RedisServerOptions, 'args' | 'appendonly'> = {}): Promise<RedisServer> =>
    ManagedRedis.start({ env: { PATH: process.env.PATH }, debugCommand: true, ...options }),
};

let counter = 0;
/** A key prefix no other test shares, so tests never need FLUSHALL. */
export function uniquePrefix(name = 't'): string {
  counter += 1;
  return `${name}${process.pid}x${counter}x${Date.now().toString(36)}:`;
}
