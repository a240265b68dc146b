import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisSettings, RedisTarget } from './config';
import type { KeyLayout } from './keys';
import type { Logger } from './logger';

/**
 * A client of any Redis mode: `Redis` for a single server and for a Sentinel group's
 * master (ioredis finds the master through the sentinels and follows failovers),
 * `Cluster` for Redis Cluster. Code that only sends commands takes a `RedisLike`.
 */
export type RedisLike = Redis | Cluster;

/** Where Redis is and how to log in: the configuration's part, see `redisConnection`. */
export interface RedisConnectionSettings {
  target: RedisTarget;
  /** ACL credentials of the data nodes; in single mode they may also be in the URL. */
  username?: string | undefined;
  password?: string | undefined;
  /** Sentinel mode: the sentinels' own credentials, if they require any. */
  sentinelUsername?: string | undefined;
  sentinelPassword?: string | undefined;
  commandTimeoutMs: number;
}

export interface RedisClientOptions extends RedisConnectionSettings {
  /** Shows in logs and in CLIENT LIST. */
  name: string;
  logger: Logger;
  /** A subscriber connection keeps its offline queue so it can resubscribe. */
  subscriber?: boolean;
}

/** Reconnect back-off: 100 ms doubling to 2 s, for ever (a node waits for its Redis). */
const backoff = (times: number): number => Math.min(50 * 2 ** Math.min(times, 6), 2000);

/**
 * The options of one connection to a data node, in every mode: a request-path client has
 * no offline queue and a command timeout, so a request fails within about a second while
 * Redis is unreachable instead of waiting for ioredis's retries (over a minute by
 * default); a subscriber keeps its queue and has no timeout, so it can resubscribe.
 */
function connectionOptions(options: RedisClientOptions): RedisOptions {
  const subscriber = options.subscriber === true;
  return {
    connectionName: options.name,
    lazyConnect: false,
    enableOfflineQueue: subscriber,
    maxRetriesPerRequest: subscriber ? null : 1,
    commandTimeout: subscriber ? undefined : options.commandTimeoutMs,
    connectTimeout: Math.max(1000, options.commandTimeoutMs * 2),
    retryStrategy: backoff,
    reconnectOnError: () => false,
    // The URL's own credentials stay in force unless the configuration names others.
    ...(options.username !== undefined ? { username: options.username } : {}),
    ...(options.password !== undefined ? { password: options.password } : {}),
    // rediss:// turns TLS on by itself; in the other modes REDIS_TLS does. A CA of
    // REDIS_TLS_CA_FILE replaces Node's store for these connections.
    ...(options.target.tls ? { tls: tlsOptions(options.target) } : {}),
  };
}

function tlsOptions(target: RedisTarget): { ca?: string } {
  return target.ca !== undefined ? { ca: target.ca } : {};
}

/** A demoted master answers writes with READONLY: reconnect, which asks the sentinels again. */
const demoted = (err: Error): 1 | false => (err.message.startsWith('READONLY') ? 1 : false);

function connect(options: RedisClientOptions): RedisLike {
  const base = connectionOptions(options);
  const target = options.target;
  switch (target.mode) {
    case 'single':
      return new Redis(target.url, base);
    case 'sentinel':
      return new Redis({
        ...base,
        sentinels: target.sentinels.map(({ host, port }) => ({ host, port })),
        name: target.name,
        role: 'master',
        ...(options.sentinelUsername !== undefined ? { sentinelUsername: options.sentinelUsername } : {}),
        ...(options.sentinelPassword !== undefined ? { sentinelPassword: options.sentinelPassword } : {}),
        ...(target.tls ? { enableTLSForSentinelMode: true, sentinelTLS: tlsOptions(target) } : {}),
        sentinelCommandTimeout: Math.max(500, options.commandTimeoutMs),
        // Ask the sentinels again at once, then back off like a data connection; the same
        // for the failover detector's connections to them (they have no error listener of
        // ours: ioredis prints their errors while a sentinel is down).
        sentinelRetryStrategy: backoff,
        sentinelReconnectStrategy: backoff,
        // Sentinels announce +switch-master: reconnect then, not when a command fails.
        failoverDetector: true,
        reconnectOnError: demoted,
      });
    case 'cluster': {
      // Each server's connection is opened on its first command (the pool's default): a
      // Cluster without an offline queue refuses a command for a server still
      // connecting, its own ready check (CLUSTER INFO to any server) included.
      const { retryStrategy: _retry, enableOfflineQueue, lazyConnect: _lazy, ...redisOptions } = base;
      const cluster: ClusterOptions = {
        redisOptions,
        enableOfflineQueue,
        scaleReads: 'master',
        clusterRetryStrategy: backoff,
        slotsRefreshTimeout: Math.max(1000, options.commandTimeoutMs),
        // A promoted replica or a new master is known within a second even when no
        // command meets a MOVED: the keyevent feed follows every master from that map.
        slotsRefreshInterval: CLUSTER_SLOTS_REFRESH_MS,
        // Rooms' and users' channels are shard channels: one subscriber per master.
        shardedSubscribers: options.subscriber === true,
      };
      return new Cluster(
        target.nodes.map(({ host, port }) => ({ host, port })),
        cluster,
      );
    }
  }
}

/** How often a Cluster client reads the slot map again (CLUSTER SLOTS). */
export const CLUSTER_SLOTS_REFRESH_MS = 1000;

/** The key layout of a Redis mode: hash-tagged in Redis Cluster, the contract's names otherwise. */
export function keyLayoutOf(target: RedisTarget): KeyLayout {
  return target.mode === 'cluster' ? 'cluster' : 'single';
}

/** The modes in which one connection is one server's: single and Sentinel. */
export type StandaloneTarget = Exclude<RedisTarget, { mode: 'cluster' }>;

/** A single server's target from its URL (tests, tools). */
export function singleTarget(url: string): StandaloneTarget {
  return Object.freeze({ mode: 'single', url, tls: url.startsWith('rediss://') });
}

/**
 * The one way a process connects to Redis, in the mode its configuration selects (single
 * server, Sentinel, Cluster), with an `error` listener that logs once per outage.
 */
export function createRedisClient(options: RedisClientOptions & { target: StandaloneTarget }): Redis;
export function createRedisClient(options: RedisClientOptions): RedisLike;
export function createRedisClient(options: RedisClientOptions): RedisLike {
  const client = connect(options);
  let down = false;
  client.on('error', (err: Error) => {
    if (!down) options.logger.warn('redis error', { client: options.name, err: err.message });
    down = true;
  });
  client.on('ready', () => {
    if (down) options.logger.info('redis reconnected', { client: options.name });
    down = false;
    if (options.target.mode === 'sentinel') listenToFailoverDetector(client, options);
  });
  return client;
}

/** What ioredis (5 and 6) keeps of a Sentinel-mode client's failover detector. */
interface SentinelInternals {
  connector?: { failoverDetector?: { sentinels?: readonly { client?: Redis }[] } | null };
}

/**
 * ioredis's failover detector holds a connection to each sentinel (for +switch-master)
 * with no error listener, so while a sentinel is down ioredis prints "[ioredis] Unhandled
 * error event" to stderr at every retry: unstructured lines outside the JSON log. Each new
 * detector (one per connection to the master, made before the client is ready) gets a
 * listener that logs at debug level; the data connection's own listener reports outages.
 */
function listenToFailoverDetector(client: RedisLike, options: RedisClientOptions): void {
  const detector = (client as unknown as SentinelInternals).connector?.failoverDetector;
  for (const sentinel of detector?.sentinels ?? []) {
    const connection = sentinel.client;
    if (connection === undefined || connection.listenerCount('error') > 0) continue;
    connection.on('error', (err: Error) => {
      options.logger.debug('sentinel connection error', { client: options.name, err: err.message });
    });
  }
}

/**
 * Closes a client for good: QUIT (pending replies arrive first), then a disconnect, which
 * also ends what QUIT leaves open: a Sentinel-mode client's failover-detector connections
 * to the sentinels (ioredis closes them only on disconnect; left open, they reconnect
 * forever and print "Unhandled error event" once the sentinels are gone).
 */
export async function closeRedis(client: RedisLike): Promise<void> {
  await client.quit().catch(() => undefined);
  client.disconnect();
}

export function isCluster(client: RedisLike): client is Cluster {
  return client instanceof Cluster;
}

/**
 * The client as one server's connection, for code not yet written for Redis Cluster:
 * in cluster mode it is closed and the process stops with a clear message.
 */
export function standaloneRedis(client: RedisLike): Redis {
  if (!isCluster(client)) return client;
  client.disconnect();
  throw new Error('REDIS_CLUSTER_NODES: Redis Cluster mode is not supported by this build yet');
}

/** The connection settings of the configuration, for createRedisClient. */
export function redisConnection(
  config: RedisSettings & { readonly redisTarget: RedisTarget | undefined },
): RedisConnectionSettings {
  if (config.redisTarget === undefined) throw new Error('no Redis is configured');
  return {
    target: config.redisTarget,
    username: config.redisUsername,
    password: config.redisPassword,
    sentinelUsername: config.redisSentinelUsername,
    sentinelPassword: config.redisSentinelPassword,
    commandTimeoutMs: config.redisCommandTimeoutMs,
  };
}

/** Where Redis is, for people (no credentials): `h:6379`, `sentinel mymaster at h:26379,...`, `cluster h:7000,...`. */
export function describeRedisTarget(target: RedisTarget): string {
  const list = (addresses: readonly { host: string; port: number }[]) =>
    addresses
      .map(({ host, port }) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`))
      .join(',');
  switch (target.mode) {
    case 'single':
      try {
        const u = new URL(target.url);
        return `${u.hostname}:${u.port || '6379'}`;
      } catch {
        return 'redis';
      }
    case 'sentinel':
      return `sentinel ${target.name} at ${list(target.sentinels)}`;
    case 'cluster':
      return `cluster ${list(target.nodes)}`;
  }
}

/** Resolves once the client is ready, rejects after `timeoutMs`. */
export async function waitReady(client: RedisLike, timeoutMs = 5000): Promise<void> {
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
