import { Cluster } from 'ioredis';
import { readFileSync } from 'node:fs';
import { RedisCluster, waitFor, type RedisClusterOptions, type RedisTlsFiles } from '@securechat/cluster';
import type { RedisBackend } from './chat-cluster';

/**
 * A real Redis Cluster for one test suite (@securechat/cluster's harness): 3 masters and
 * 3 replicas on free ports, DEBUG allowed, a short node timeout so that a killed master's
 * replica takes over within a few seconds.
 */
export function startRedisCluster(options: Partial<RedisClusterOptions> = {}): Promise<RedisCluster> {
  return RedisCluster.start({
    env: { PATH: process.env.PATH },
    debugCommand: true,
    nodeTimeoutMs: 1000,
    ...options,
  });
}

/**
 * An ioredis Cluster on the harness's servers, as a node makes them: a request client (no
 * offline queue, one retry) or a subscriber (offline queue, sharded subscribers: one
 * connection per master). Slots are refreshed every second, as after a failover.
 */
export function clusterClient(
  cluster: RedisCluster,
  options: { subscriber?: boolean; offlineQueue?: boolean; tlsCa?: string } = {},
): Cluster {
  const subscriber = options.subscriber === true;
  const client = new Cluster(
    cluster.ports.map((port) => ({ host: '127.0.0.1', port })),
    {
      enableOfflineQueue: subscriber || options.offlineQueue === true,
      shardedSubscribers: subscriber,
      slotsRefreshInterval: 1000,
      redisOptions: {
        maxRetriesPerRequest: subscriber ? null : 1,
        commandTimeout: subscriber ? undefined : 2000,
        ...(options.tlsCa !== undefined ? { tls: { ca: options.tlsCa } } : {}),
      },
    },
  );
  client.on('error', () => undefined);
  client.on('node error', () => undefined);
  return client;
}

/** Resolves once the client is ready. */
export async function clusterReady(client: Cluster, timeoutMs = 10_000): Promise<void> {
  if (client.status === 'ready') return;
  await waitFor(() => client.status === 'ready', { what: 'redis cluster client ready', timeoutMs });
}

/**
 * The cluster as chat-cluster's RedisBackend: nodes get REDIS_CLUSTER_NODES (and, for a
 * cluster of TLS servers, REDIS_TLS and REDIS_TLS_CA_FILE).
 */
export function clusterBackend(cluster: RedisCluster, tls?: RedisTlsFiles): RedisBackend<Cluster> {
  const tlsCa = tls === undefined ? undefined : readFileSync(tls.ca, 'utf8');
  return {
    nodeEnv: () => ({
      REDIS_CLUSTER_NODES: cluster.seeds,
      ...(tls !== undefined ? { REDIS_TLS: 'true', REDIS_TLS_CA_FILE: tls.ca } : {}),
    }),
    // With an offline queue, unlike a node's clients: a test's first command waits for it.
    adminClient: () =>
      clusterClient(cluster, { offlineQueue: true, ...(tlsCa !== undefined ? { tlsCa } : {}) }),
  };
}
