import type { Redis } from 'ioredis';
import type { KeySchema, Logger } from '@securechat/common';
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

  async start(): Promise<void> {
    if (this.options.configureKeyspaceEvents) {
      await this.ensureKeyspaceEvents(0);
      // The subscriber is ready now, so its next 'ready' is a reconnect: a restarted
      // Redis has forgotten a CONFIG SET that its config file does not hold.
      this.options.subscriber.on('ready', () => void this.ensureKeyspaceEvents(10));
    }
    const { control, set, del, expired } = this.channels;
    await this.options.subscriber.subscribe(control, set, del, expired);
  }

  private async ensureKeyspaceEvents(retries: number): Promise<void> {
    const { redis, logger } = this.options;
    try {
      await enableKeyspaceEvents(redis, logger);
    } catch (err) {
      if (retries > 0) {
        // the request-path client may reconnect a moment after the subscriber
        setTimeout(() => void this.ensureKeyspaceEvents(retries - 1), 500).unref();
        return;
      }
      logger.warn(
        'cannot enable keyspace events; changes made with redis-cli alone are seen at revalidation',
        {
          err,
          needed: KEYSPACE_FLAGS,
        },
      );
    }
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
    const { control, set, del, expired } = this.channels;
    await this.options.subscriber.unsubscribe(control, set, del, expired).catch(() => undefined);
  }
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
