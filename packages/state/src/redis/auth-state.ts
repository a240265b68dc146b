import type { RedisLike } from './channel-subscriber';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { closeRedis, type KeySchema } from '@securechat/common';
import {
  REVOCATION_MARGIN_S,
  type AuthLimits,
  type AuthState,
  type Blocklist,
  type LoginLimiter,
  type RegistrationLimiter,
  type RefreshTokenStore,
  type RevocationStore,
  type RotateResult,
  type TokenRef,
  type UserRecord,
  type UserStore,
} from '../ports';
import {
  ACCOUNT_POLICY,
  FlexibleLoginLimiter,
  FlexibleRegistrationLimiter,
  type AccountThrottle,
  type ThrottleCheck,
} from '../login-limits';
import { luaScript } from './lua';
import { formatControlMessage } from '../enforcement';
import { guard } from './errors';

type ScriptClient = RedisLike & {
  createUser(key: string, username: string, hash: string, createdAt: number): Promise<number>;
  rotateRefresh(
    oldKey: string,
    newKey: string,
    familyKey: string,
    familyTokensKey: string,
    family: string,
    ttlS: number,
  ): Promise<string[]>;
  recordAccess(
    familyKey: string,
    familyTokensKey: string,
    jti: string,
    exp: number,
    nowS: number,
  ): Promise<number>;
  revokeFamily(familyKey: string, familyTokensKey: string, nowS: number): Promise<string[]>;
  loginAccount(
    countKey: string,
    knownKey: string,
    nowMs: number,
    network: string,
    free: number,
    baseDelayMs: number,
    maxDelayMs: number,
    lifetimeMs: number,
  ): Promise<number[]>;
  loginKnown(
    knownKey: string,
    countKey: string,
    nowMs: number,
    network: string,
    ttlMs: number,
    max: number,
  ): Promise<number>;
};

function withScripts(redis: RedisLike): ScriptClient {
  const client = redis as ScriptClient;
  if (typeof client.createUser !== 'function') {
    redis.defineCommand('createUser', { numberOfKeys: 1, lua: luaScript('create_user') });
    redis.defineCommand('rotateRefresh', { numberOfKeys: 4, lua: luaScript('rotate_refresh') });
    redis.defineCommand('recordAccess', { numberOfKeys: 2, lua: luaScript('record_access') });
    redis.defineCommand('revokeFamily', { numberOfKeys: 2, lua: luaScript('revoke_family') });
    redis.defineCommand('loginAccount', { numberOfKeys: 2, lua: luaScript('login_account') });
    redis.defineCommand('loginKnown', { numberOfKeys: 2, lua: luaScript('login_known') });
  }
  return client;
}

export class RedisUserStore implements UserStore {
  private readonly redis: ScriptClient;

  constructor(
    redis: RedisLike,
    private readonly keys: KeySchema,
  ) {
    this.redis = withScripts(redis);
  }

  async create(user: UserRecord): Promise<boolean> {
    const created = await guard(
      this.redis.createUser(this.keys.user(user.username), user.username, user.passwordHash, user.createdAt),
    );
    return created === 1;
  }

  async get(username: string): Promise<UserRecord | undefined> {
    const h = await guard(this.redis.hgetall(this.keys.user(username)));
    if (h.password_hash === undefined) return undefined;
    return {
      username: h.username ?? username,
      passwordHash: h.password_hash,
      createdAt: Number(h.created_at),
    };
  }
}

export class RedisRevocationStore implements RevocationStore {
  constructor(
    private readonly redis: RedisLike,
    private readonly keys: KeySchema,
  ) {}

  async revoke(jti: string, exp: number, reason: string): Promise<void> {
    const ttl = Math.ceil(exp - Date.now() / 1000) + REVOCATION_MARGIN_S;
    if (ttl <= 0) return;
    // Announced on the control channel in the same transaction, so the chat nodes close
    // the token's sessions at once even where keyspace events are off.
    await guard(
      this.redis
        .multi()
        .set(this.keys.revoked(jti), reason, 'EX', ttl)
        .publish(this.keys.control, formatControlMessage({ kind: 'revoked', jti }))
        .exec(),
    );
  }

  async revokeAllOf(username: string, maxTokenLifeS: number): Promise<void> {
    await guard(
      this.redis
        .multi()
        .set(this.keys.revokedBefore(username), String(Date.now()), 'EX', maxTokenLifeS + REVOCATION_MARGIN_S)
        .publish(this.keys.control, formatControlMessage({ kind: 'revoked_all', user: username }))
        .exec(),
    );
  }

  async revokedBefore(username: string): Promise<number | undefined> {
    const value = await guard(this.redis.get(this.keys.revokedBefore(username)));
    return value === null ? undefined : Number(value);
  }

  async isRevoked(token: TokenRef): Promise<boolean> {
    const keys = [this.keys.revoked(token.jti), this.keys.revokedBefore(token.sub)] as const;
    // In Redis Cluster the two keys are in different slots: two GETs, sent together.
    const [one, before] = await guard(
      this.keys.layout === 'cluster'
        ? Promise.all(keys.map((key) => this.redis.get(key)))
        : this.redis.mget(...keys),
    );
    if (one !== null && one !== undefined) return true;
    return before !== null && before !== undefined && token.iat * 1000 <= Number(before);
  }
}

export class RedisBlocklist implements Blocklist {
  constructor(
    private readonly redis: RedisLike,
    private readonly keys: KeySchema,
  ) {}

  async block(username: string, reason: string, ttlS: number): Promise<void> {
    await guard(
      this.redis
        .multi()
        .set(this.keys.blocked(username), reason, 'EX', ttlS)
        .publish(this.keys.control, formatControlMessage({ kind: 'blocked', user: username }))
        .exec(),
    );
  }

  async unblock(username: string): Promise<boolean> {
    const results = await guard(
      this.redis
        .multi()
        .del(this.keys.blocked(username))
        .publish(this.keys.control, formatControlMessage({ kind: 'unblocked', user: username }))
        .exec(),
    );
    return results?.[0]?.[1] === 1;
  }

  async blockedReason(username: string): Promise<string | undefined> {
    const reason = await guard(this.redis.get(this.keys.blocked(username)));
    return reason ?? undefined;
  }
}

export class RedisRefreshTokenStore implements RefreshTokenStore {
  private readonly redis: ScriptClient;
  /** The key of a token's state: by its hash alone, or (Redis Cluster) in its family's slot. */
  private readonly tokenKey: (family: string, hash: string) => string;

  constructor(
    redis: RedisLike,
    private readonly keys: KeySchema,
  ) {
    this.redis = withScripts(redis);
    this.tokenKey =
      keys.layout === 'cluster'
        ? (family, hash) => keys.refreshFamilyToken(family, hash)
        : (_family, hash) => keys.refreshToken(hash);
  }

  /*
   * Redis Cluster: a family's keys, its tokens' states included, share the family's slot,
   * so that rotate_refresh.lua runs unchanged there; `refresh:<hash>` is then only an
   * index from a presented token to its family, written before the token's state. An
   * index without a state (a failure between the two) finds nothing: `invalid`.
   */
  async createFamily(family: string, username: string, tokenHash: string, ttlS: number): Promise<void> {
    const tokenKey = this.tokenKey(family, tokenHash);
    if (this.keys.layout === 'cluster') {
      await guard(this.redis.set(this.keys.refreshToken(tokenHash), family, 'EX', ttlS));
    }
    await guard(
      this.redis
        .multi()
        .hset(
          this.keys.refreshFamily(family),
          'user',
          username,
          'state',
          'active',
          'created',
          String(Date.now()),
        )
        .expire(this.keys.refreshFamily(family), ttlS)
        .hset(tokenKey, 'family', family, 'user', username, 'state', 'active')
        .expire(tokenKey, ttlS)
        .exec(),
    );
  }

  private async familyOf(tokenHash: string): Promise<string | null> {
    const key = this.keys.refreshToken(tokenHash);
    return guard(this.keys.layout === 'cluster' ? this.redis.get(key) : this.redis.hget(key, 'family'));
  }

  async rotate(oldHash: string, newHash: string, ttlS: number): Promise<RotateResult> {
    const family = await this.familyOf(oldHash);
    if (family === null || !/^[A-Za-z0-9_-]{8,64}$/.test(family)) return { kind: 'invalid' };
    if (this.keys.layout === 'cluster') {
      await guard(this.redis.set(this.keys.refreshToken(newHash), family, 'EX', ttlS));
    }
    const reply = await guard(
      this.redis.rotateRefresh(
        this.tokenKey(family, oldHash),
        this.tokenKey(family, newHash),
        this.keys.refreshFamily(family),
        this.keys.refreshFamilyTokens(family),
        family,
        ttlS,
      ),
    );
    const [kind, username, created] = reply;
    if (kind === 'ok' && typeof username === 'string') {
      return { kind, family, username, createdAt: Number(created ?? 0) };
    }
    if ((kind === 'reused' || kind === 'revoked') && typeof username === 'string') {
      return { kind, family, username };
    }
    return { kind: 'invalid' };
  }

  async recordAccessToken(family: string, jti: string, exp: number): Promise<boolean> {
    const recorded = await guard(
      this.redis.recordAccess(
        this.keys.refreshFamily(family),
        this.keys.refreshFamilyTokens(family),
        jti,
        exp,
        Math.floor(Date.now() / 1000),
      ),
    );
    return recorded === 1;
  }

  async revokeFamily(family: string): Promise<{ jti: string; exp: number }[]> {
    const flat = await guard(
      this.redis.revokeFamily(
        this.keys.refreshFamily(family),
        this.keys.refreshFamilyTokens(family),
        Math.floor(Date.now() / 1000),
      ),
    );
    const out: { jti: string; exp: number }[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      out.push({ jti: String(flat[i]), exp: Number(flat[i + 1]) });
    }
    return out;
  }
}

/** The account throttle of docs/AUTH.md in Redis: one script per attempt, shared by every auth node. */
export class RedisAccountThrottle implements AccountThrottle {
  private readonly redis: ScriptClient;

  constructor(
    redis: RedisLike,
    private readonly keys: KeySchema,
    private readonly limits: AuthLimits,
  ) {
    this.redis = withScripts(redis);
  }

  async attempt(account: string, network: string): Promise<ThrottleCheck> {
    const [allowed, retryAfterMs] = await guard(
      this.redis.loginAccount(
        this.keys.loginAccount(account),
        this.keys.loginKnownNetworks(account),
        Date.now(),
        network,
        this.limits.accountFreeFailures,
        ACCOUNT_POLICY.baseDelayMs,
        this.limits.accountMaxDelayS * 1000,
        ACCOUNT_POLICY.countLifetimeMs,
      ),
    );
    return allowed === 1 ? { allowed: true } : { allowed: false, retryAfterMs: Number(retryAfterMs ?? 1000) };
  }

  async remember(account: string, network: string): Promise<void> {
    await guard(
      this.redis.loginKnown(
        this.keys.loginKnownNetworks(account),
        this.keys.loginAccount(account),
        Date.now(),
        network,
        ACCOUNT_POLICY.knownNetworkTtlMs,
        ACCOUNT_POLICY.maxKnownNetworks,
      ),
    );
  }
}

/** The login limiter counting in Redis, shared by every auth node. */
export function redisLoginLimiter(redis: RedisLike, keys: KeySchema, limits: AuthLimits): LoginLimiter {
  const prefixes = { consecutive: keys.loginConsecutive, daily: keys.loginDaily };
  return new FlexibleLoginLimiter(
    limits,
    (name, window) =>
      new RateLimiterRedis({
        storeClient: redis,
        rejectIfRedisNotReady: true,
        keyPrefix: prefixes[name],
        ...window,
      }),
    new RedisAccountThrottle(redis, keys, limits),
  );
}

/** The registration limiter counting in Redis, shared by every auth node. */
export function redisRegistrationLimiter(
  redis: RedisLike,
  keys: KeySchema,
  limits: AuthLimits,
): RegistrationLimiter {
  const prefixes = { hourly: keys.registerHourly, daily: keys.registerDaily };
  return new FlexibleRegistrationLimiter(
    limits,
    (name, window) =>
      new RateLimiterRedis({
        storeClient: redis,
        rejectIfRedisNotReady: true,
        keyPrefix: prefixes[name],
        ...window,
      }),
  );
}

export function createRedisAuthState(redis: RedisLike, keys: KeySchema, limits: AuthLimits): AuthState {
  return {
    users: new RedisUserStore(redis, keys),
    revocations: new RedisRevocationStore(redis, keys),
    blocklist: new RedisBlocklist(redis, keys),
    refreshTokens: new RedisRefreshTokenStore(redis, keys),
    loginLimiter: redisLoginLimiter(redis, keys, limits),
    registrationLimiter: redisRegistrationLimiter(redis, keys, limits),
    ready: async () => {
      try {
        return (await redis.ping()) === 'PONG';
      } catch {
        return false;
      }
    },
    close: async () => {
      await closeRedis(redis);
    },
  };
}
