import { Redis, type Cluster } from 'ioredis';
import type { KeySchema, Logger } from '@securechat/common';
import { parseControlMessage, type EnforcementEvent, type EnforcementFeed } from '../enforcement';
import { enableKeyspaceEvents, KEYSPACE_FLAGS, keyspaceEvent } from './enforcement';

export interface RedisClusterEnforcementOptions {
  /** The node's subscriber Cluster (sharded subscribers too): the control channel. */
  subscriber: Cluster;
  /** The request-path Cluster: which servers there are, and CONFIG on each. */
  redis: Cluster;
  keys: KeySchema;
  logger: Logger;
  /** Try `CONFIG SET notify-keyspace-events` on every server that lacks the flags. */
  configureKeyspaceEvents: boolean;
}

/** Redis Cluster has one database. */
const KEYEVENT = { set: '__keyevent@0__:set', del: '__keyevent@0__:del', expired: '__keyevent@0__:expired' };
const KEYEVENT_CHANNELS = new Set(Object.values(KEYEVENT));

const address = (redis: Redis): string => `${redis.options.host ?? ''}:${redis.options.port ?? ''}`;

/**
 * The enforcement feed in Redis Cluster. The control channel is plain pub/sub, which the
 * cluster bus carries to every server: one subscription through the subscriber Cluster.
 * Keyspace events are emitted only by the server that holds the key, and not forwarded:
 * the feed keeps one subscriber connection per master, following the masters the
 * request Cluster knows (after every slots refresh: a failover, a master added), and
 * enables the flags on every server, replicas included, so that a promoted replica emits
 * them from its first write as a master.
 */
export class RedisClusterEnforcementFeed implements EnforcementFeed {
  private handler: (event: EnforcementEvent) => void = () => undefined;
  /** host:port of a master -> its keyevent subscriber. */
  private readonly followers = new Map<string, Redis>();
  /** Servers whose flags were set (or found set), by host:port. */
  private readonly configured = new Set<string>();
  /** Masters whose keyevent SUBSCRIBE was answered (host:port). */
  private readonly subscribed = new Set<string>();
  /** Servers already warned about (a dead one is retried at every refresh). */
  private readonly warned = new Set<string>();
  private started = false;
  private closed = false;
  private readonly refresh = (): void => void this.followMasters();

  constructor(private readonly options: RedisClusterEnforcementOptions) {
    options.subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      if (channel.toString('latin1') !== options.keys.control) return;
      const event = parseControlMessage(message.toString());
      if (event !== undefined) this.handler(event);
    });
  }

  onEvent(handler: (event: EnforcementEvent) => void): void {
    this.handler = handler;
  }

  /** The masters whose keyevents are subscribed to now (host:port), for tests and logs. */
  get followed(): string[] {
    return [...this.subscribed].filter((key) => this.followers.has(key)).sort();
  }

  async start(): Promise<void> {
    this.started = true;
    const { redis, subscriber, keys } = this.options;
    for (const event of ['refresh', '+node', '-node'] as const) redis.on(event, this.refresh);
    await subscriber.subscribe(keys.control);
    await this.followMasters();
  }

  /**
   * Opens a keyevent subscriber on every master not followed yet (and enables the flags
   * there first), closes those of former masters. The other servers get their flags in
   * the background: a dead one must not hold up following the live ones.
   */
  private async followMasters(): Promise<void> {
    if (!this.started || this.closed) return;
    const { redis, configureKeyspaceEvents } = this.options;
    const masters = new Map(redis.nodes('master').map((node) => [address(node), node]));
    for (const [key, follower] of this.followers) {
      if (!masters.has(key)) {
        this.followers.delete(key);
        this.subscribed.delete(key);
        follower.disconnect();
      }
    }
    const opened: Promise<unknown>[] = [];
    for (const [key, node] of masters) {
      if (this.followers.has(key)) continue;
      const follower = this.follow(node);
      this.followers.set(key, follower);
      opened.push(
        (configureKeyspaceEvents ? this.configure(node) : Promise.resolve())
          .then(() => follower.subscribe(KEYEVENT.set, KEYEVENT.del, KEYEVENT.expired))
          .then(() => this.subscribed.add(key))
          .catch(() => undefined),
      );
    }
    if (configureKeyspaceEvents) {
      for (const node of redis.nodes('all')) if (!masters.has(address(node))) void this.configure(node);
    }
    await Promise.all(opened);
  }

  private follow(node: Redis): Redis {
    const { logger, keys } = this.options;
    // The pool's own options (host, port, credentials, TLS), as a subscriber: it keeps its
    // offline queue and resubscribes by itself after a reconnect.
    const key = address(node);
    const follower = new Redis({
      ...node.options,
      connectionName: 'keyevents',
      lazyConnect: false,
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      commandTimeout: undefined,
      enableReadyCheck: true,
      readOnly: false,
      // The pool's connections leave reconnecting to the Cluster (retryStrategy null); this
      // one reconnects by itself (a restarted master) until a refresh says it is gone.
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    });
    follower.on('error', (err: Error) => {
      logger.debug('keyevent subscriber error', { server: key, err: err.message });
    });
    // Ended for good: forgotten, so that the next refresh follows that master afresh.
    follower.on('end', () => {
      if (this.followers.get(key) !== follower) return;
      this.followers.delete(key);
      this.subscribed.delete(key);
    });
    // A restarted server has forgotten a CONFIG SET that its config file does not hold.
    follower.on('ready', () => {
      this.configured.delete(key);
      if (this.options.configureKeyspaceEvents) void this.configure(node);
    });
    follower.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      const name = channel.toString('latin1');
      if (!KEYEVENT_CHANNELS.has(name)) return;
      const event = keyspaceEvent(keys, name === KEYEVENT.set, message.toString());
      if (event !== undefined) this.handler(event);
    });
    return follower;
  }

  private async configure(node: Redis): Promise<void> {
    const key = address(node);
    if (this.configured.has(key)) return;
    try {
      await enableKeyspaceEvents(node, this.options.logger);
      this.configured.add(key);
      this.warned.delete(key);
    } catch (err) {
      if (this.warned.has(key)) return;
      this.warned.add(key);
      this.options.logger.warn(
        'cannot enable keyspace events; changes made with redis-cli alone are seen at revalidation',
        { server: key, err, needed: KEYSPACE_FLAGS },
      );
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const { redis, subscriber, keys } = this.options;
    for (const event of ['refresh', '+node', '-node'] as const) redis.off(event, this.refresh);
    for (const follower of this.followers.values()) follower.disconnect();
    this.followers.clear();
    this.subscribed.clear();
    await subscriber.unsubscribe(keys.control).catch(() => undefined);
  }
}
