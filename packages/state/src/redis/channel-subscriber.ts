import type { Cluster, Redis } from 'ioredis';
import { closeRedis, type RedisLike } from '@securechat/common';

export type { RedisLike };

/**
 * The broker's subscriptions to room and user channels, in either layout: plain pub/sub
 * on the node's one subscriber connection, or sharded pub/sub in Redis Cluster (one
 * connection per master, each carrying only its own slots' channels: a message crosses
 * one shard instead of being broadcast to every master). Chosen once at construction.
 */
export interface ChannelSubscriber {
  subscribe(channel: string): Promise<unknown>;
  /**
   * Subscribes `channels` again, resolving once Redis has confirmed every one (after a
   * reconnect: the subscriptions are in effect from then on). In as few commands as the
   * layout allows.
   */
  confirm(channels: readonly string[]): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  /** Every message of a subscribed channel, as the bytes Redis sent. */
  onMessage(handler: (channel: Buffer, payload: Buffer) => void): void;
  /** A connection carrying subscriptions was lost: messages may be missed from now. */
  onLost(handler: () => void): void;
  /** Every subscription is back after a loss (and also once at the first connection). */
  onRestored(handler: () => void): void;
  /** Resolves once subscriptions can be made; rejects after `timeoutMs`. */
  ready(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/** Channels per SUBSCRIBE when confirming a node's subscriptions after a reconnect. */
const CONFIRM_BATCH = 1000;

function once(emitter: Redis | Cluster, event: string, timeoutMs: number, what: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, done);
      reject(new Error(what));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    emitter.once(event, done);
  });
}

/** SUBSCRIBE on one connection (single server, Sentinel); ioredis resubscribes after a reconnect. */
export function plainSubscriber(sub: Redis): ChannelSubscriber {
  return {
    subscribe: (channel) => sub.subscribe(channel),
    confirm: (channels) => {
      const commands: Promise<unknown>[] = [];
      for (let i = 0; i < channels.length; i += CONFIRM_BATCH) {
        commands.push(sub.subscribe(...channels.slice(i, i + CONFIRM_BATCH)));
      }
      return Promise.all(commands);
    },
    unsubscribe: (channel) => sub.unsubscribe(channel),
    onMessage: (handler) => sub.on('messageBuffer', handler),
    onLost: (handler) => sub.on('close', handler),
    onRestored: (handler) => sub.on('ready', handler),
    ready: (timeoutMs) =>
      sub.status === 'ready'
        ? Promise.resolve()
        : once(sub, 'ready', timeoutMs, 'redis subscriber not ready'),
    close: async () => {
      await closeRedis(sub);
    },
  };
}

/**
 * SSUBSCRIBE through an ioredis Cluster made with `shardedSubscribers: true`: it keeps one
 * subscriber connection per master, follows slot moves and failovers, and resubscribes
 * each shard's channels on its new master (`subscribersReady` once done).
 */
export function shardedSubscriber(cluster: Cluster): ChannelSubscriber {
  return {
    subscribe: (channel) => cluster.ssubscribe(channel),
    // One command per channel: an SSUBSCRIBE takes channels of one slot only.
    confirm: (channels) => Promise.all(channels.map((channel) => cluster.ssubscribe(channel))),
    unsubscribe: (channel) => cluster.sunsubscribe(channel),
    onMessage: (handler) => cluster.on('smessageBuffer', handler),
    // A shard's connection ends ('-node') before the group replaces it ('-subscriber').
    onLost: (handler) => {
      cluster.on('-node', handler);
      cluster.on('-subscriber', handler);
    },
    onRestored: (handler) => cluster.on('subscribersReady', handler),
    ready: (timeoutMs) =>
      cluster.status === 'ready'
        ? Promise.resolve()
        : once(cluster, 'ready', timeoutMs, 'redis cluster not ready'),
    close: async () => {
      await closeRedis(cluster);
    },
  };
}
