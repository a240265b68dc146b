import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from './logger';

export interface RedisClientOptions {
  url: string;
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
