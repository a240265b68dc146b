import type { Redis } from 'ioredis';
import { waitReady, type KeySchema, type Logger } from '@securechat/common';
import { parseControlMessage, type EnforcementEvent, type EnforcementFeed } from '../enforcement';

/** Keyspace event classes the feed needs: keyevent channels for string SETs, DEL and expiry. */
export const KEYSPACE_FLAGS = 'E$gx';

export interface RedisEnforcementOptions {
  /** The node's subscriber connection (shared with the broker; it does nothing else). */
  subscriber: Redis;
  /** A request-path client, for CONFIG GET/SET of notify-keyspace-events. */
  redis: Redis;
  keys: KeySchema;
  logger: Logger;
  /** Try `CONFIG SET notify-keyspace-events` when the server lacks the flags. */
  configureKeyspaceEvents: boolean;
}

/**
 * Listens on `<prefix>control` and on `__keyevent@<db>__:set|del|expired`, keeping only
 * keys under this deployment's prefix. Subscriptions are plain SUBSCRIBEs on fixed
 * channel names; no pattern is ever built from input.
 */
export class RedisEnforcementFeed implements EnforcementFeed {
  private handler: (event: EnforcementEvent) => void = () => undefined;
  /** The CONFIG SET in progress (at start, after a reconnect), shared by whoever asks. */
  private configuring: Promise<void> | undefined;
  private closed = false;
  private readonly channels: { control: string; set: string; del: string; expired: string };

  constructor(private readonly options: RedisEnforcementOptions) {
    const db = options.subscriber.options.db ?? 0;
    this.channels = {
      control: options.keys.control,
      set: `__keyevent@${db}__:set`,
      del: `__keyevent@${db}__:del`,
      expired: `__keyevent@${db}__:expired`,
    };
    const mine = new Set(Object.values(this.channels));
    options.subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      const name = channel.toString('latin1');
      if (mine.has(name)) this.onMessage(name, message.toString());
    });
  }

  onEvent(handler: (event: EnforcementEvent) => void): void {
    this.handler = handler;
  }

  /**
   * Resolves once subscribed and, with `configureKeyspaceEvents`, once the server emits
   * the events (or refuses CONFIG for good: an ACL user without it, a managed Redis).
   */
  async start(): Promise<void> {
    if (this.options.configureKeyspaceEvents) {
      // A restarted Redis (or a new master) has forgotten a CONFIG SET that its config
      // file does not hold: check again whenever the subscriber comes back.
      this.options.subscriber.on('ready', () => void this.ensureKeyspaceEvents());
      await this.ensureKeyspaceEvents();
    }
    const { control, set, del, expired } = this.channels;
    await this.options.subscriber.subscribe(control, set, del, expired);
  }

  private ensureKeyspaceEvents(): Promise<void> {
    this.configuring ??= this.configureUntilDone().finally(() => {
      this.configuring = undefined;
    });
    return this.configuring;
  }

  /**
   * The request-path client has no offline queue, and at start (or after a reconnect)
   * it may come up after the subscriber: wait for it, and retry a failed attempt with
   * back-off until it succeeds, the server refuses for good, or the feed closes.
   */
  private async configureUntilDone(): Promise<void> {
    const { redis, logger } = this.options;
    for (let attempt = 0; !this.closed; attempt++) {
      try {
        await waitReady(redis, 5000);
        await this.configureOnce();
        return;
      } catch (err) {
        if (refusedForGood(err)) {
          logger.warn(
            'cannot enable keyspace events; changes made with redis-cli alone are seen at revalidation',
            { err, needed: KEYSPACE_FLAGS },
          );
          return;
        }
        if (attempt === 0) logger.info('keyspace events not set yet, retrying', { err });
        await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** attempt, 2000)));
      }
    }
  }

  private configureOnce(): Promise<void> {
    return enableKeyspaceEvents(this.options.redis, this.options.logger);
  }

  private onMessage(channel: string, message: string): void {
    const { channels } = this;
    const event =
      channel === channels.control
        ? parseControlMessage(message)
        : keyspaceEvent(this.options.keys, channel === channels.set, message);
    if (event !== undefined) this.handler(event);
  }

  async close(): Promise<void> {
    this.closed = true;
    const { control, set, del, expired } = this.channels;
    await this.options.subscriber.unsubscribe(control, set, del, expired).catch(() => undefined);
  }
}

/** A reply that no retry changes: no right to CONFIG (ACL), or CONFIG renamed or disabled. */
function refusedForGood(err: unknown): boolean {
  const message = err instanceof Error ? err.message : '';
  return /^(NOPERM|ERR unknown command|ERR unknown subcommand)/.test(message);
}

/**
 * Adds the KEYSPACE_FLAGS that one server's `notify-keyspace-events` lacks (CONFIG GET,
 * then CONFIG SET); throws when it cannot.
 */
export async function enableKeyspaceEvents(redis: Redis, logger: Logger): Promise<void> {
  const reply = (await redis.config('GET', 'notify-keyspace-events')) as string[];
  const current = reply[1] ?? '';
  const has = (flag: string) =>
    current.includes(flag) || (flag !== 'E' && flag !== 'K' && current.includes('A'));
  const missing = [...KEYSPACE_FLAGS].filter((f) => !has(f));
  if (missing.length === 0) return;
  await redis.config('SET', 'notify-keyspace-events', current + missing.join(''));
  logger.info('enabled keyspace events', { flags: current + missing.join(''), server: describe(redis) });
}

function describe(redis: Redis): string {
  return `${redis.options.host ?? ''}:${redis.options.port ?? ''}`;
}

/**
 * What a keyevent notification about `key` means: a SET (`set` true) of a block or a
 * revocation, or a DEL or expiry (`set` false) of a block. Other keys mean nothing.
 */
export function keyspaceEvent(keys: KeySchema, set: boolean, key: string): EnforcementEvent | undefined {
  const blocked = keys.blockedUser(key);
  if (blocked !== undefined) return { kind: set ? 'blocked' : 'unblocked', user: blocked };
  if (!set) return undefined;
  const before = keys.revokedBeforeUser(key);
  if (before !== undefined) return { kind: 'revoked_all', user: before };
  const jti = keys.revokedJti(key);
  return jti !== undefined ? { kind: 'revoked', jti } : undefined;
}
