import { Redis, type RedisOptions } from 'ioredis';
import type { RedisSettings } from './config';
import type { Logger } from './logger';

export interface RedisClientOptions {
  url: string;
  /** ACL credentials; they may also be in the URL (REDIS_USERNAME, REDIS_PASSWORD[_FILE]). */
  username?: string | undefined;
  password?: string | undefined;
  /** Shows in logs and in CLIENT LIST. */
  name: string;
  commandTimeoutMs: number;
  logger: Logger;
  /** A subscriber connection keeps its offline queue so it can resubscribe. */
  subscriber?: boolean;
}

/**
 * A Redis client for the request path: no offline queue and a command timeout, so a
 * request fails within about a second while Redis is unreachable instead of waiting
 * for ioredis's retries (which take over a minute by default).
 */
export function createRedisClient(options: RedisClientOptions): Redis {
  const base: RedisOptions = {
    connectionName: options.name,
    lazyConnect: false,
    enableOfflineQueue: options.subscriber === true,
    maxRetriesPerRequest: options.subscriber === true ? null : 1,
    commandTimeout: options.subscriber === true ? undefined : options.commandTimeoutMs,
    connectTimeout: Math.max(1000, options.commandTimeoutMs * 2),
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    reconnectOnError: () => false,
    // The URL's own credentials stay in force unless the configuration names others.
    ...(options.username !== undefined ? { username: options.username } : {}),
    ...(options.password !== undefined ? { password: options.password } : {}),
  };
  const client = new Redis(options.url, base);
  let down = false;
  client.on('error', (err: Error) => {
    if (!down) options.logger.warn('redis error', { client: options.name, err: err.message });
    down = true;
  });
  client.on('ready', () => {
    if (down) options.logger.info('redis reconnected', { client: options.name });
    down = false;
  });
  return client;
}

/** The connection settings of the configuration, for createRedisClient. */
export function redisConnection(
  config: RedisSettings & { readonly redisUrl: string | undefined },
): Pick<RedisClientOptions, 'url' | 'username' | 'password' | 'commandTimeoutMs'> {
  if (config.redisUrl === undefined) throw new Error('REDIS_URL is not set');
  return {
    url: config.redisUrl,
    username: config.redisUsername,
    password: config.redisPassword,
    commandTimeoutMs: config.redisCommandTimeoutMs,
  };
}

/** Resolves once the client is ready, rejects after `timeoutMs`. */
export async function waitReady(client: Redis, timeoutMs = 5000): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error('redis not ready in time'));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      client.off('ready', onReady);
    };
    client.on('ready', onReady);
  });
}
