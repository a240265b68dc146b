import type { Redis } from 'ioredis';
import type { KeySchema } from '@securechat/common';
import type {
  ConnectionRegistry,
  MessageRateLimiter,
  Presence,
  RateDecision,
  RateLimits,
  RateRefusal,
} from '../chat-ports';
import { guard } from './auth-state';
import { luaScript, luaScriptWith } from './lua';
import { randomBytes } from 'node:crypto';

type PresenceClient = Redis & {
  chatPresence(hash: string, zset: string, channel: string, ...args: (string | number)[]): Promise<number>;
  chatAcquire(key: string, now: number, expiry: number, session: string, limit: number): Promise<number>;
  chatRate(...keysAndArgs: (string | number)[]): Promise<number[]>;
  chatRateViolation(...keysAndArgs: (string | number)[]): Promise<number[]>;
};

function defineScripts(redis: Redis): PresenceClient {
  const client = redis as PresenceClient;
  if (typeof client.chatPresence !== 'function') {
    redis.defineCommand('chatPresence', { numberOfKeys: 3, lua: luaScript('presence') });
    redis.defineCommand('chatAcquire', { numberOfKeys: 1, lua: luaScript('acquire_connection') });
    redis.defineCommand('chatRate', {
      numberOfKeys: 4,
      lua: luaScriptWith('rate_limit', 'sliding_window', 'violation'),
    });
    redis.defineCommand('chatRateViolation', {
      numberOfKeys: 3,
      lua: luaScriptWith('rate_violation', 'violation'),
    });
  }
  return client;
}

export class RedisPresence implements Presence {
  private readonly redis: PresenceClient;

  constructor(
    redis: Redis,
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
        room,
        this.node,
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

export class RedisConnectionRegistry implements ConnectionRegistry {
  private readonly redis: PresenceClient;

  constructor(
    redis: Redis,
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
    const pipeline = this.redis.pipeline();
    for (const { user, session } of sessions) {
      pipeline.zadd(this.keys.connections(user), expiry, session);
      pipeline.pexpireat(this.keys.connections(user), expiry);
    }
    await guard(pipeline.exec());
  }
}

export class RedisMessageRateLimiter implements MessageRateLimiter {
  private readonly redis: PresenceClient;

  constructor(
    redis: Redis,
    private readonly keys: KeySchema,
  ) {
    this.redis = defineScripts(redis);
  }

  async consume(user: string, limits: RateLimits): Promise<RateDecision> {
    const { keys, args } = rateLimitArgs(this.keys, user, limits);
    return rateDecision(await guard(this.redis.chatRate(...keys, ...args)));
  }

  /** Records a message refused by publish_limited.lua as a violation (and blocks at the limit). */
  async violation(user: string, limits: RateLimits, retryAfterMs: number): Promise<RateRefusal> {
    const now = Date.now();
    const k = this.keys;
    const [violations, blocked] = await guard(
      this.redis.chatRateViolation(
        k.rateViolations(user),
        k.blocked(user),
        k.control,
        now,
        limits.windowMs,
        uniqueMember(now),
        limits.blockAfterViolations,
        limits.blockDurationS,
        user,
      ),
    );
    return { allowed: false, retryAfterMs, violations: Number(violations), blocked: Number(blocked) === 1 };
  }
}

/**
 * Members of the violations set must be unique per message: a random prefix per process
 * and a counter (no random bytes drawn per message).
 */
const memberPrefix = randomBytes(6).toString('base64url');
let memberCounter = 0;

function uniqueMember(now: number): string {
  memberCounter = (memberCounter + 1) % Number.MAX_SAFE_INTEGER;
  return `${now}-${memberPrefix}-${memberCounter}`;
}

/** KEYS and ARGV of rate_limit.lua. */
export function rateLimitArgs(
  keys: KeySchema,
  user: string,
  limits: RateLimits,
): { keys: string[]; args: (string | number)[] } {
  const now = Date.now();
  return {
    keys: [keys.rateWindow(user), keys.rateViolations(user), keys.blocked(user), keys.control],
    args: [
      now,
      limits.windowMs,
      limits.max,
      uniqueMember(now),
      limits.blockAfterViolations,
      limits.blockDurationS,
      user,
    ],
  };
}

/** Reads rate_limit.lua's reply. */
export function rateDecision(reply: (number | string)[]): RateDecision {
  if (Number(reply[0]) === 1) return { allowed: true };
  return {
    allowed: false,
    retryAfterMs: Number(reply[1]),
    violations: Number(reply[2]),
    blocked: Number(reply[3]) === 1,
  };
}
