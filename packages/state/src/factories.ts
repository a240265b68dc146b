import type { Redis } from 'ioredis';
import type { KeySchema, Logger } from '@securechat/common';
import type { ChatState } from './chat-ports';
import type { AuthState } from './ports';
import {
  MemoryBroker,
  MemoryBus,
  MemoryConnectionRegistry,
  MemoryMessageRateLimiter,
  MemoryPresence,
  MemoryPresenceTable,
} from './memory/chat-state';
import { RedisBlocklist, RedisRevocationStore } from './redis/auth-state';
import { RedisBroker } from './redis/broker';
import { RedisConnectionRegistry, RedisMessageRateLimiter, RedisPresence } from './redis/presence';

export interface ChatStateOptions {
  nodeId: string;
  presenceTtlMs: number;
  historyMaxLen: number;
}

/** A chat node's state on Redis: a request-path client and one subscriber connection. */
export function createRedisChatState(
  redis: Redis,
  subscriber: Redis,
  keys: KeySchema,
  options: ChatStateOptions,
  logger: Logger,
): ChatState {
  return {
    broker: new RedisBroker({ redis, subscriber, keys, historyMaxLen: options.historyMaxLen, logger }),
    presence: new RedisPresence(redis, keys, options.nodeId, options.presenceTtlMs),
    registry: new RedisConnectionRegistry(redis, keys, options.presenceTtlMs),
    rateLimiter: new RedisMessageRateLimiter(redis, keys),
    revocations: new RedisRevocationStore(redis, keys),
    blocklist: new RedisBlocklist(redis, keys),
    ready: async () => {
      try {
        return (await redis.ping()) === 'PONG' && subscriber.status === 'ready';
      } catch {
        return false;
      }
    },
    close: async () => {
      await subscriber.quit().catch(() => subscriber.disconnect());
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/** What the memory chat nodes of one process share (embedded mode, unit tests). */
export class MemoryCluster {
  readonly bus: MemoryBus;
  readonly presence = new MemoryPresenceTable();

  constructor(now: () => number = Date.now) {
    this.bus = new MemoryBus(now);
  }
}

/** A memory chat node sharing the auth state's revocations and blocklist (embedded mode). */
export function createMemoryChatState(
  cluster: MemoryCluster,
  auth: Pick<AuthState, 'revocations' | 'blocklist'>,
  options: ChatStateOptions,
): ChatState {
  return {
    broker: new MemoryBroker(cluster.bus, options.historyMaxLen),
    presence: new MemoryPresence(cluster.bus, cluster.presence, options.nodeId, options.presenceTtlMs),
    registry: new MemoryConnectionRegistry(options.presenceTtlMs, cluster.bus.now),
    rateLimiter: new MemoryMessageRateLimiter(auth.blocklist, cluster.bus.now),
    revocations: auth.revocations,
    blocklist: auth.blocklist,
    ready: () => Promise.resolve(true),
    close: () => Promise.resolve(),
  };
}
