import type { RedisLike } from './channel-subscriber';
import type { KeySchema } from '@securechat/common';
import type { ConnectionRegistry } from '../chat-ports';
import { guard } from './errors';
import { luaScript } from './lua';

type RegistryClient = RedisLike & {
  chatAcquire(key: string, now: number, expiry: number, session: string, limit: number): Promise<number>;
};

function defineScripts(redis: RedisLike): RegistryClient {
  const client = redis as RegistryClient;
  if (typeof client.chatAcquire !== 'function') {
    redis.defineCommand('chatAcquire', { numberOfKeys: 1, lua: luaScript('acquire_connection') });
  }
  return client;
}

/** The per-user connection cap over all nodes: a sorted set of sessions and their expiry. */
export class RedisConnectionRegistry implements ConnectionRegistry {
  private readonly redis: RegistryClient;

  constructor(
    redis: RedisLike,
    private readonly keys: KeySchema,
    private readonly ttlMs: number,
  ) {
    this.redis = defineScripts(redis);
  }

  async acquire(user: string, session: string, limit: number): Promise<boolean> {
    const now = Date.now();
    return (
      (await guard(
        this.redis.chatAcquire(this.keys.connections(user), now, now + this.ttlMs, session, limit),
      )) === 1
    );
  }

  async release(user: string, session: string): Promise<void> {
    await guard(this.redis.zrem(this.keys.connections(user), session));
  }

  async heartbeat(sessions: readonly { user: string; session: string }[]): Promise<void> {
    if (sessions.length === 0) return;
    const expiry = Date.now() + this.ttlMs;
    if (this.keys.layout === 'cluster') {
      // A pipeline must stay within one server in Redis Cluster: each user's pair alone,
      // all sent together (ioredis writes them in one go per server).
      await guard(
        Promise.all(
          sessions.map(({ user, session }) =>
            this.redis
              .multi()
              .zadd(this.keys.connections(user), expiry, session)
              .pexpireat(this.keys.connections(user), expiry)
              .exec(),
          ),
        ),
      );
      return;
    }
    const pipeline = this.redis.pipeline();
    for (const { user, session } of sessions) {
      pipeline.zadd(this.keys.connections(user), expiry, session);
      pipeline.pexpireat(this.keys.connections(user), expiry);
    }
    await guard(pipeline.exec());
  }
}
