import { RedisCluster, type RedisClusterOptions } from '@securechat/cluster';

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

export type { RedisCluster };
