import { Cluster } from 'ioredis';
import {
  closeRedis,
  hashSlot,
  type AuthSettings,
  type ChatNodeConfig,
  type KeySchema,
  type Logger,
} from '@securechat/common';
import type { ChatState } from './chat-ports';
import type { AuthLimits, AuthState, Blocklist } from './ports';
import { MemoryBroker, MemoryBus } from './memory/broker';
import { MemoryInbox } from './memory/inbox';
import { MemoryPresence, MemoryPresenceTable } from './memory/presence';
import { MemoryMessageLimiter } from './memory/rate-limit';
import { MemoryConnectionRegistry } from './memory/registry';
import { RedisBlocklist, RedisRevocationStore } from './redis/auth-state';
import { RedisBroker } from './redis/broker';
import { plainSubscriber, shardedSubscriber, type RedisLike } from './redis/channel-subscriber';
import { RedisClusterEnforcementFeed } from './redis/cluster-enforcement';
import { RedisEnforcementFeed } from './redis/enforcement';
import { RedisInbox } from './redis/inbox';
import { RedisPresence } from './redis/presence';
import { RedisViolationRecorder } from './redis/rate-limit';
import { DeliveryProbe } from './redis/probe';
import { RedisConnectionRegistry } from './redis/registry';
import { MemoryControlBus, type EnforcementEvent } from './enforcement';

export interface ChatStateOptions {
  nodeId: string;
  presenceTtlMs: number;
  historyMaxLen: number;
  /** Messages older than this are trimmed (0, the default: no age bound). */
  historyMaxAgeMs?: number;
  /** Redis only: try CONFIG SET notify-keyspace-events when flags are missing (default true). */
  configureKeyspaceEvents?: boolean;
  /** Redis only: acknowledge a message once this many replicas hold it (WAIT); 0 or unset: no WAIT. */
  waitReplicas?: number;
  waitTimeoutMs?: number;
  /** Redis only: the delivery probe's period and how recent a returned probe must be (1000, 3000 ms). */
  probeIntervalMs?: number;
  probeFreshMs?: number;
}

/** A chat node's state options from its configuration (`start:chat`, embedded mode, tests). */
export function chatStateOptions(
  config: Pick<
    ChatNodeConfig,
    | 'nodeId'
    | 'presenceTtlS'
    | 'historyMaxLen'
    | 'historyMaxAgeS'
    | 'configureKeyspaceEvents'
    | 'redisWaitReplicas'
    | 'redisWaitTimeoutMs'
  >,
): ChatStateOptions {
  return {
    nodeId: config.nodeId,
    presenceTtlMs: config.presenceTtlS * 1000,
    historyMaxLen: config.historyMaxLen,
    historyMaxAgeMs: config.historyMaxAgeS * 1000,
    configureKeyspaceEvents: config.configureKeyspaceEvents,
    waitReplicas: config.redisWaitReplicas,
    waitTimeoutMs: config.redisWaitTimeoutMs,
  };
}

/** The limits of an auth node's configuration (`start:auth`, embedded mode). */
export function authLimits(
  config: Pick<
    AuthSettings,
    | 'loginMaxConsecutiveFailures'
    | 'loginMaxFailuresPerAddressPerDay'
    | 'loginAccountFreeFailures'
    | 'loginAccountMaxDelayS'
    | 'registerMaxPerAddressPerHour'
    | 'registerMaxPerAddressPerDay'
  >,
): AuthLimits {
  return {
    maxConsecutiveFailures: config.loginMaxConsecutiveFailures,
    maxFailuresPerAddressPerDay: config.loginMaxFailuresPerAddressPerDay,
    accountFreeFailures: config.loginAccountFreeFailures,
    accountMaxDelayS: config.loginAccountMaxDelayS,
    registerMaxPerAddressPerHour: config.registerMaxPerAddressPerHour,
    registerMaxPerAddressPerDay: config.registerMaxPerAddressPerDay,
  };
}

/**
 * A chat node's state on Redis: a request-path client and its subscriber, both `Redis`
 * (single server, Sentinel: one subscriber connection) or both `Cluster` (Redis Cluster,
 * the key schema's `cluster` layout; the subscriber made with `shardedSubscribers: true`).
 */
export function createRedisChatState(
  redis: RedisLike,
  subscriber: RedisLike,
  keys: KeySchema,
  options: ChatStateOptions,
  logger: Logger,
): ChatState {
  const configureKeyspaceEvents = options.configureKeyspaceEvents ?? true;
  const { channels, enforcement } = subscriptions(redis, subscriber, keys, logger, configureKeyspaceEvents);
  const probe = new DeliveryProbe({
    subscriber: channels,
    publish: keys.layout === 'cluster' ? (c, m) => redis.spublish(c, m) : (c, m) => redis.publish(c, m),
    channels: () => probeChannels(redis, keys, options.nodeId),
    logger,
    intervalMs: options.probeIntervalMs,
    freshMs: options.probeFreshMs,
  });
  return {
    broker: new RedisBroker({
      redis,
      subscriber: channels,
      keys,
      historyMaxLen: options.historyMaxLen,
      historyMaxAgeMs: options.historyMaxAgeMs ?? 0,
      violations: new RedisViolationRecorder(redis, keys),
      logger,
      replication: { replicas: options.waitReplicas ?? 0, timeoutMs: options.waitTimeoutMs ?? 500 },
    }),
    inbox: new RedisInbox(redis, keys),
    presence: new RedisPresence(redis, keys, options.nodeId, options.presenceTtlMs),
    registry: new RedisConnectionRegistry(redis, keys, options.presenceTtlMs),
    revocations: new RedisRevocationStore(redis, keys),
    blocklist: new RedisBlocklist(redis, keys),
    enforcement,
    start: () => probe.start(),
    ready: async () => {
      try {
        return (await redis.ping()) === 'PONG' && subscriber.status === 'ready' && probe.delivering();
      } catch {
        return false;
      }
    },
    close: async () => {
      await probe.close();
      await enforcement.close();
      await channels.close();
      await closeRedis(redis);
    },
  };
}

/**
 * The delivery probe's channels: the node's own one; in Redis Cluster one per master in
 * the client's slot map (each a tag on that master's slots), so that every shard's
 * subscription is probed. The same `<n>` is chosen as long as the master owns the same
 * first slot: a failover moves a master's slots, and its probe channel, to the replica
 * promoted; a master added (the map refreshes every second) gets a channel of its own.
 */
async function probeChannels(redis: RedisLike, keys: KeySchema, nodeId: string): Promise<string[]> {
  if (!(redis instanceof Cluster)) return [keys.probe(nodeId)];
  const masters = new Set(redis.slots.map((nodes) => nodes[0]));
  const chosen = new Map<string, string>();
  for (let i = 0; chosen.size < masters.size && i < 10_000; i++) {
    const channel = keys.probe(`${nodeId}.${i}`);
    const master = redis.slots[hashSlot(channel)]?.[0];
    if (master !== undefined && !chosen.has(master)) chosen.set(master, channel);
  }
  return [...chosen.values()];
}

/** The subscriptions of the layout: plain pub/sub, or sharded pub/sub and per-master keyspace events. */
function subscriptions(
  redis: RedisLike,
  subscriber: RedisLike,
  keys: KeySchema,
  logger: Logger,
  configureKeyspaceEvents: boolean,
) {
  if (keys.layout === 'cluster') {
    if (!(redis instanceof Cluster) || !(subscriber instanceof Cluster)) {
      throw new TypeError('the cluster key layout needs Redis Cluster clients');
    }
    return {
      channels: shardedSubscriber(subscriber),
      enforcement: new RedisClusterEnforcementFeed({
        subscriber,
        redis,
        keys,
        logger,
        configureKeyspaceEvents,
      }),
    };
  }
  if (redis instanceof Cluster || subscriber instanceof Cluster) {
    throw new TypeError('Redis Cluster clients need the cluster key layout');
  }
  return {
    channels: plainSubscriber(subscriber),
    enforcement: new RedisEnforcementFeed({ subscriber, redis, keys, logger, configureKeyspaceEvents }),
  };
}

/** What the memory chat nodes of one process share (embedded mode, unit tests). */
export class MemoryCluster {
  readonly bus: MemoryBus;
  readonly presence = new MemoryPresenceTable();
  /** Pass `announce` to createMemoryAuthState so its revocations and blocks reach the nodes. */
  readonly control = new MemoryControlBus();
  readonly announce = (event: EnforcementEvent): void => this.control.emit(event);
  private readonly registries = new Map<number, MemoryConnectionRegistry>();
  private readonly limiters = new Map<Blocklist, MemoryMessageLimiter>();

  constructor(now: () => number = Date.now) {
    this.bus = new MemoryBus(now);
  }

  /** The connection registry every memory node of this cluster shares. */
  registry(ttlMs: number): MemoryConnectionRegistry {
    let registry = this.registries.get(ttlMs);
    if (registry === undefined) {
      registry = new MemoryConnectionRegistry(ttlMs, this.bus.now);
      this.registries.set(ttlMs, registry);
    }
    return registry;
  }

  /** The message limit every memory node shares (blocks land in `blocklist`). */
  messageLimiter(blocklist: Blocklist): MemoryMessageLimiter {
    let limiter = this.limiters.get(blocklist);
    if (limiter === undefined) {
      limiter = new MemoryMessageLimiter(blocklist, this.bus.now);
      this.limiters.set(blocklist, limiter);
    }
    return limiter;
  }
}

/** A memory chat node sharing the auth state's revocations and blocklist (embedded mode). */
export function createMemoryChatState(
  cluster: MemoryCluster,
  auth: Pick<AuthState, 'revocations' | 'blocklist'>,
  options: ChatStateOptions,
): ChatState {
  return {
    broker: new MemoryBroker(
      cluster.bus,
      options.historyMaxLen,
      cluster.messageLimiter(auth.blocklist),
      options.historyMaxAgeMs ?? 0,
    ),
    inbox: new MemoryInbox(cluster.bus),
    presence: new MemoryPresence(cluster.bus, cluster.presence, options.nodeId, options.presenceTtlMs),
    registry: cluster.registry(options.presenceTtlMs),
    revocations: auth.revocations,
    blocklist: auth.blocklist,
    enforcement: cluster.control,
    start: () => Promise.resolve(),
    ready: () => Promise.resolve(true),
    close: () => Promise.resolve(),
  };
}
