import { Cluster } from 'ioredis';
import { hashSlot, messageFrameParts, type KeySchema, type Logger } from '@securechat/common';
import {
  frameOverhead,
  type Broker,
  type FrameHandler,
  type HistoryPage,
  type PageBounds,
  type PublishOutcome,
  type RateLimits,
  type ReplayResult,
  type ResubscribedHandler,
  type StoredMessage,
  type UserEventHandler,
} from '../chat-ports';
import { NotReplicatedError, StateUnavailableError } from '../ports';
import type { ChannelSubscriber, RedisLike } from './channel-subscriber';
import type { ViolationRecorder } from '../rate-limit';
import { directPayloadTag, dispatchRoomPayload, dispatchUserPayload } from '../room-channel';
import { guard } from './errors';
import { luaScript } from './lua';
import { Resubscription, type Subscription } from './resubscription';

type Entry = [string, string[]];

type BrokerClient = RedisLike & {
  chatReplay(
    stream: string,
    since: string,
    count: number,
    maxBytes: number,
    overhead: number,
  ): Promise<[number, number, Entry[]]>;
  chatHistory(
    stream: string,
    end: string,
    count: number,
    maxBytes: number,
    overhead: number,
  ): Promise<[number, Entry[]]>;
  chatPublishLimited(...keysAndArgs: (string | number)[]): Promise<(number | string)[]>;
  chatRateTake(window: string, now: number, windowMs: number, max: number): Promise<number>;
  chatStoreMessage(...keysAndArgs: (string | number)[]): Promise<string>;
};

function defineScripts(redis: RedisLike): BrokerClient {
  const client = redis as BrokerClient;
  if (typeof client.chatPublishLimited !== 'function') {
    redis.defineCommand('chatReplay', { numberOfKeys: 1, lua: luaScript('replay') });
    redis.defineCommand('chatHistory', { numberOfKeys: 1, lua: luaScript('history') });
    // No fixed number of keys: a room message has one channel, a DM two (numkeys goes first).
    redis.defineCommand('chatPublishLimited', { lua: luaScript('publish_limited') });
    // Redis Cluster: the same path in two steps, one per slot (publishInSteps).
    redis.defineCommand('chatRateTake', { numberOfKeys: 1, lua: luaScript('rate_take') });
    redis.defineCommand('chatStoreMessage', { lua: luaScript('store_message') });
  }
  return client;
}

/** In Redis Cluster, the connection to the master holding `key`'s slot; the client itself otherwise. */
function masterConnection(redis: RedisLike, key: string): RedisLike {
  if (!(redis instanceof Cluster)) return redis;
  const master = redis.slots[hashSlot(key)]?.[0];
  return (
    redis.nodes('master').find((node) => `${node.options.host}:${node.options.port}` === master) ?? redis
  );
}

export function toMessage(room: string, entry: Entry): StoredMessage {
  const [id, fields] = entry;
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i] as string] = fields[i + 1] as string;
  return { id, room, from: f.from ?? '', text: f.text ?? '', ts: Number(f.ts ?? 0) };
}

export interface RedisBrokerOptions {
  /** Request-path client: no offline queue, command timeout. */
  redis: RedisLike;
  /**
   * The node's subscriptions: its one subscriber connection, or in Redis Cluster sharded
   * pub/sub (one connection per master). It does nothing else.
   */
  subscriber: ChannelSubscriber;
  /** Its keys' layout decides how a message is published: one script, or two steps (Cluster). */
  keys: KeySchema;
  historyMaxLen: number;
  /** Messages older than this are trimmed, and an idle room expires (0: no age bound). */
  historyMaxAgeMs: number;
  /** Counts the messages publish_limited.lua refused (RedisViolationRecorder). */
  violations: ViolationRecorder;
  logger: Logger;
  /** How long a join may wait for its SUBSCRIBE (default 2000 ms). */
  subscribeTimeoutMs?: number;
  /**
   * REDIS_WAIT_REPLICAS / REDIS_WAIT_TIMEOUT_MS: a published message is acknowledged only
   * once this many replicas have it (WAIT); 0 replicas (the default): no WAIT.
   */
  replication?: { replicas: number; timeoutMs: number };
}

/**
 * Fan-out through Redis pub/sub with the room's Stream as the source of truth. One
 * subscriber connection per node, one channel per room with local members and one per
 * user with a local session (their DMs and read markers). A message is stored and
 * published by one script; pub/sub is at-most-once, so after the subscriber reconnects
 * the node is told to catch up from the streams.
 */
export class RedisBroker implements Broker {
  private readonly redis: BrokerClient;
  private readonly channels = new Map<string, Subscription>();
  private handler: FrameHandler = () => undefined;
  private userHandler: UserEventHandler = () => undefined;
  private readonly resubscription: Resubscription;

  constructor(private readonly options: RedisBrokerOptions) {
    this.redis = defineScripts(options.redis);
    if (options.keys.layout === 'cluster') this.publishLimited = this.publishInSteps;
    this.resubscription = new Resubscription({
      subscriber: options.subscriber,
      channels: () => this.channels,
      dispatch: (channel, payload) => this.dispatch(channel, payload),
      logger: options.logger,
    });
  }

  private dispatch(channel: Buffer, payload: Buffer): void {
    const target = this.channels.get(channel.toString('latin1'));
    if (target?.room !== undefined) dispatchRoomPayload(target.room, payload, this.handler);
    else if (target?.user !== undefined) dispatchUserPayload(target.user, payload, this.userHandler);
  }

  onFrame(handler: FrameHandler): void {
    this.handler = handler;
  }

  onUserEvent(handler: UserEventHandler): void {
    this.userHandler = handler;
  }

  onResubscribed(handler: ResubscribedHandler): void {
    this.resubscription.onResubscribed(handler);
  }

  async start(): Promise<void> {
    await this.options.subscriber.ready(10_000);
    this.resubscription.connected();
  }

  async publishLimited(
    room: string,
    from: string,
    text: string,
    limits: RateLimits,
    direct?: readonly string[],
  ): Promise<PublishOutcome> {
    const ts = Date.now();
    const [head, tail] = messageFrameParts(room, from, text, ts);
    const { keys } = this.options;
    const channels = direct === undefined ? [keys.roomChannel(room)] : direct.map((u) => keys.userChannel(u));
    // Few and short arguments: each one costs ioredis and Redis on every message.
    const reply = await guard(
      this.redis.chatPublishLimited(
        3 + channels.length,
        keys.rateWindow(from),
        keys.roomLog(room),
        keys.inboxRead(from),
        ...channels,
        ts,
        limits.windowMs,
        limits.max,
        this.options.historyMaxLen,
        from,
        text,
        head,
        tail,
        room,
        direct === undefined ? '' : directPayloadTag(room),
        this.options.historyMaxAgeMs,
      ),
    );
    if (Number(reply[0]) === 1) {
      const id = String(reply[1]);
      // Without replicas to wait for (the default), no await at all: one fewer promise per message.
      if (this.waitsForReplicas) await this.replicated(id);
      return { published: { id, room, from, text, ts } };
    }
    // Only a refused message pays a second round trip, to count the violation.
    return { refused: await this.options.violations.record(from, limits, Number(reply[1])) };
  }

  /**
   * publishLimited in Redis Cluster, where the sender's keys and the room's are in
   * different slots and no script may touch both: (1) the rate window (rate_take.lua, the
   * user's slot); (2) the stream and the room's shard channel (store_message.lua, the
   * room's slot); then a DM's frame on both users' shard channels and the sender's read
   * marker, each in its user's slot. When (2) fails, the rate slot is given back (LREM of
   * its accept time) and the send fails: a message that is not stored is not counted. A
   * failure after (2) leaves the message stored and acknowledged (history and catch-up
   * have it), and is logged.
   */
  private async publishInSteps(
    room: string,
    from: string,
    text: string,
    limits: RateLimits,
    direct?: readonly string[],
  ): Promise<PublishOutcome> {
    const ts = Date.now();
    const { keys } = this.options;
    const window = keys.rateWindow(from);
    const retry = Number(await guard(this.redis.chatRateTake(window, ts, limits.windowMs, limits.max)));
    if (retry !== 0) return { refused: await this.options.violations.record(from, limits, retry) };
    const [head, tail] = messageFrameParts(room, from, text, ts);
    const channels = direct === undefined ? [keys.roomChannel(room)] : [];
    let id: string;
    try {
      id = String(
        await this.redis.chatStoreMessage(
          1 + channels.length,
          keys.roomLog(room),
          ...channels,
          ts,
          this.options.historyMaxLen,
          from,
          text,
          head,
          tail,
          this.options.historyMaxAgeMs,
        ),
      );
    } catch (err) {
      await this.redis.lrem(window, 1, String(ts)).catch((giveBackErr: unknown) => {
        this.options.logger.warn('rate slot not given back after a failed store', { err: giveBackErr });
      });
      throw new StateUnavailableError(err);
    }
    const after: Promise<unknown>[] = [this.redis.hset(keys.inboxRead(from), room, id)];
    if (direct !== undefined) {
      const payload = `${id}${directPayloadTag(room)}\n${head}${id}${tail}`;
      for (const user of direct) after.push(this.redis.spublish(keys.userChannel(user), payload));
    }
    const failed = (await Promise.allSettled(after)).filter((r) => r.status === 'rejected');
    if (failed.length > 0) {
      this.options.logger.warn('message stored, but not all of its fan-out and read marker were written', {
        room,
        failed: failed.length,
      });
    }
    await this.replicated(id, keys.roomLog(room));
    return { published: { id, room, from, text, ts } };
  }

  private get waitsForReplicas(): boolean {
    return (this.options.replication?.replicas ?? 0) > 0;
  }

  /**
   * WAIT on the same connection as the publish, which it follows: the replicas' offsets
   * cover the message. Fewer than asked within the timeout is a NotReplicatedError. In
   * Redis Cluster that connection is the one to the master of the stream's slot (WAIT has
   * no key, so the Cluster client would send it to any server).
   */
  private async replicated(id: string, stream?: string): Promise<void> {
    const replication = this.options.replication;
    if (replication === undefined || replication.replicas === 0) return;
    const on = stream === undefined ? this.redis : masterConnection(this.redis, stream);
    const confirmed = Number(await guard(on.wait(replication.replicas, replication.timeoutMs)));
    if (confirmed < replication.replicas) throw new NotReplicatedError(id, confirmed);
  }

  subscribe(room: string): Promise<void> {
    return this.subscribeChannel(this.options.keys.roomChannel(room), { room });
  }

  unsubscribe(room: string): Promise<void> {
    return this.unsubscribeChannel(this.options.keys.roomChannel(room), { room });
  }

  subscribeUser(user: string): Promise<void> {
    return this.subscribeChannel(this.options.keys.userChannel(user), { user });
  }

  unsubscribeUser(user: string): Promise<void> {
    return this.unsubscribeChannel(this.options.keys.userChannel(user), { user });
  }

  private async subscribeChannel(channel: string, target: Subscription): Promise<void> {
    if (this.channels.has(channel)) return;
    this.channels.set(channel, target);
    // The subscriber keeps an offline queue (to resubscribe after a reconnect), so a
    // SUBSCRIBE while Redis is down would wait for it: a join fails after a deadline.
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new StateUnavailableError('subscribe timed out')),
        this.options.subscribeTimeoutMs ?? 2000,
      );
    });
    try {
      await Promise.race([this.options.subscriber.subscribe(channel), deadline]);
    } catch (err) {
      if (this.channels.get(channel) === target) {
        this.channels.delete(channel);
        this.options.subscriber.unsubscribe(channel).catch(() => undefined);
      }
      throw err instanceof StateUnavailableError ? err : new StateUnavailableError(err);
    } finally {
      clearTimeout(timer);
    }
  }

  private async unsubscribeChannel(channel: string, target: Subscription): Promise<void> {
    if (!this.channels.delete(channel)) return;
    // Not awaited: a leave must not wait for a Redis that is down (the queued
    // UNSUBSCRIBE goes out when it is back, and frames of unknown channels are dropped).
    this.options.subscriber.unsubscribe(channel).catch((err: unknown) => {
      this.options.logger.warn('unsubscribe failed', { ...target, err });
    });
  }

  // Both reads are scripts that stop at a byte bound: Redis never builds a reply larger
  // than one page, whatever the room holds and whether or not the caller still waits.
  async history(room: string, bounds: PageBounds, before?: string): Promise<HistoryPage> {
    // Nothing is before 0-0, and Redis refuses the exclusive end `(0-0` (found by fuzzing).
    if (before !== undefined && /^0+-0+$/.test(before)) return { messages: [], more: false };
    const end = before === undefined ? '+' : `(${before}`;
    const [more, entries] = await guard(
      this.redis.chatHistory(
        this.options.keys.roomLog(room),
        end,
        bounds.limit,
        bounds.maxBytes,
        frameOverhead(room),
      ),
    );
    return { messages: entries.reverse().map((e) => toMessage(room, e)), more: more === 1 };
  }

  async replay(room: string, since: string, bounds: PageBounds): Promise<ReplayResult> {
    const [truncated, more, entries] = await guard(
      this.redis.chatReplay(
        this.options.keys.roomLog(room),
        since,
        bounds.limit,
        bounds.maxBytes,
        frameOverhead(room),
      ),
    );
    return {
      messages: entries.map((e) => toMessage(room, e)),
      truncated: truncated === 1,
      more: more === 1,
    };
  }

  async close(): Promise<void> {
    this.channels.clear();
    await this.options.subscriber.close();
  }
}
