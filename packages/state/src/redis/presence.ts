import type { RedisLike } from './channel-subscriber';
import type { KeySchema } from '@securechat/common';
import type { Presence } from '../chat-ports';
import { guard } from './errors';
import { luaScript } from './lua';

type PresenceClient = RedisLike & {
  chatPresence(hash: string, zset: string, channel: string, ...args: (string | number)[]): Promise<number>;
};

function defineScripts(redis: RedisLike): PresenceClient {
  const client = redis as PresenceClient;
  if (typeof client.chatPresence !== 'function') {
    redis.defineCommand('chatPresence', { numberOfKeys: 3, lua: luaScript('presence') });
  }
  return client;
}

/**
 * Presence per room across nodes (presence.lua): each node keeps expiring entries for
 * its users, and the first one in or the last one out announces the change on the
 * room's channel (see room-channel.ts).
 */
export class RedisPresence implements Presence {
  private readonly redis: PresenceClient;

  constructor(
    redis: RedisLike,
    private readonly keys: KeySchema,
    private readonly node: string,
    private readonly ttlMs: number,
  ) {
    this.redis = defineScripts(redis);
  }

  private run(op: string, room: string, users: string[]): Promise<number> {
    const now = Date.now();
    const k = this.keys;
    return guard(
      this.redis.chatPresence(
        k.presence(room),
        k.presenceExpiry(room),
        k.roomChannel(room),
        op,
        now,
        now + this.ttlMs,
        this.node,
        k.channelPublish,
        ...users,
      ),
    );
  }

  async join(room: string, user: string): Promise<void> {
    await this.run('join', room, [user]);
  }

  async leave(room: string, user: string): Promise<void> {
    await this.run('leave', room, [user]);
  }

  async members(room: string): Promise<string[]> {
    // Sweep first so a dead node's users are not listed.
    await this.run('refresh', room, []);
    return (await guard(this.redis.hkeys(this.keys.presence(room)))).sort();
  }

  async heartbeat(entries: readonly { room: string; user: string }[]): Promise<void> {
    const byRoom = new Map<string, string[]>();
    for (const { room, user } of entries) {
      const users = byRoom.get(room);
      if (users) users.push(user);
      else byRoom.set(room, [user]);
    }
    await Promise.all([...byRoom].map(([room, users]) => this.run('refresh', room, users)));
  }
}
