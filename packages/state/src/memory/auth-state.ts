import { RateLimiterMemory } from 'rate-limiter-flexible';
import {
  REVOCATION_MARGIN_S,
  type AuthState,
  type Blocklist,
  type AuthLimits,
  type LoginLimiter,
  type RegistrationLimiter,
  type RefreshTokenStore,
  type RevocationStore,
  type RotateResult,
  type TokenRef,
  type UserRecord,
  type UserStore,
} from '../ports';
import { ExpiringMap } from './expiring-map';
import {
  ACCOUNT_POLICY,
  accountDelayMs,
  FlexibleLoginLimiter,
  FlexibleRegistrationLimiter,
  type AccountThrottle,
  type ThrottleCheck,
} from '../login-limits';
import type { EnforcementEvent } from '../enforcement';

type Announce = (event: EnforcementEvent) => void;
const silent: Announce = () => undefined;

export type Clock = () => number;

export class MemoryUserStore implements UserStore {
  private readonly users = new Map<string, UserRecord>();

  create(user: UserRecord): Promise<boolean> {
    if (this.users.has(user.username)) return Promise.resolve(false);
    this.users.set(user.username, { ...user });
    return Promise.resolve(true);
  }

  get(username: string): Promise<UserRecord | undefined> {
    const user = this.users.get(username);
    return Promise.resolve(user ? { ...user } : undefined);
  }
}

export class MemoryRevocationStore implements RevocationStore {
  private readonly revoked: ExpiringMap<string>;
  private readonly allRevokedAt: ExpiringMap<number>;

  constructor(
    private readonly now: Clock = Date.now,
    private readonly announce: Announce = silent,
  ) {
    this.revoked = new ExpiringMap(now);
    this.allRevokedAt = new ExpiringMap(now);
  }

  revoke(jti: string, exp: number, reason: string): Promise<void> {
    const ttlMs = (exp + REVOCATION_MARGIN_S) * 1000 - this.now();
    if (ttlMs > 0) this.revoked.set(jti, reason, ttlMs);
    this.announce({ kind: 'revoked', jti });
    return Promise.resolve();
  }

  revokeAllOf(username: string, maxTokenLifeS: number): Promise<void> {
    this.allRevokedAt.set(username, this.now(), (maxTokenLifeS + REVOCATION_MARGIN_S) * 1000);
    this.announce({ kind: 'revoked_all', user: username });
    return Promise.resolve();
  }

  revokedBefore(username: string): Promise<number | undefined> {
    return Promise.resolve(this.allRevokedAt.get(username));
  }

  isRevoked(token: TokenRef): Promise<boolean> {
    if (this.revoked.get(token.jti) !== undefined) return Promise.resolve(true);
    const before = this.allRevokedAt.get(token.sub);
    return Promise.resolve(before !== undefined && token.iat * 1000 <= before);
  }
}

export class MemoryBlocklist implements Blocklist {
  private readonly blocked: ExpiringMap<string>;

  constructor(
    now: Clock = Date.now,
    private readonly announce: Announce = silent,
  ) {
    this.blocked = new ExpiringMap(now);
  }

  block(username: string, reason: string, ttlS: number): Promise<void> {
    this.blocked.set(username, reason, ttlS * 1000);
    this.announce({ kind: 'blocked', user: username });
    return Promise.resolve();
  }

  unblock(username: string): Promise<boolean> {
    const had = this.blocked.delete(username);
    if (had) this.announce({ kind: 'unblocked', user: username });
    return Promise.resolve(had);
  }

  blockedReason(username: string): Promise<string | undefined> {
    return Promise.resolve(this.blocked.get(username));
  }
}

interface TokenEntry {
  family: string;
  username: string;
  state: 'active' | 'spent';
}

interface FamilyEntry {
  username: string;
  createdAt: number;
  state: 'active' | 'revoked';
  tokens: Map<string, number>;
}

export class MemoryRefreshTokenStore implements RefreshTokenStore {
  private readonly tokens: ExpiringMap<TokenEntry>;
  private readonly families: ExpiringMap<FamilyEntry>;

  constructor(private readonly now: Clock = Date.now) {
    this.tokens = new ExpiringMap(now);
    this.families = new ExpiringMap(now);
  }

  createFamily(family: string, username: string, tokenHash: string, ttlS: number): Promise<void> {
    this.families.set(
      family,
      { username, createdAt: this.now(), state: 'active', tokens: new Map() },
      ttlS * 1000,
    );
    this.tokens.set(tokenHash, { family, username, state: 'active' }, ttlS * 1000);
    return Promise.resolve();
  }

  rotate(oldHash: string, newHash: string, ttlS: number): Promise<RotateResult> {
    const token = this.tokens.get(oldHash);
    if (token === undefined) return Promise.resolve({ kind: 'invalid' });
    const family = this.families.get(token.family);
    if (family === undefined) return Promise.resolve({ kind: 'invalid' });
    const found = { family: token.family, username: token.username };
    if (token.state === 'spent') {
      family.state = 'revoked';
      return Promise.resolve({ kind: 'reused', ...found });
    }
    if (family.state === 'revoked') return Promise.resolve({ kind: 'revoked', ...found });
    token.state = 'spent';
    this.tokens.set(newHash, { ...found, state: 'active' }, ttlS * 1000);
    this.families.touch(token.family, ttlS * 1000);
    return Promise.resolve({ kind: 'ok', ...found, createdAt: family.createdAt });
  }

  recordAccessToken(family: string, jti: string, exp: number): Promise<boolean> {
    const entry = this.families.get(family);
    if (entry === undefined || entry.state !== 'active') return Promise.resolve(false);
    entry.tokens.set(jti, exp);
    return Promise.resolve(true);
  }

  revokeFamily(family: string): Promise<{ jti: string; exp: number }[]> {
    const entry = this.families.get(family);
    if (entry === undefined) return Promise.resolve([]);
    entry.state = 'revoked';
    const nowS = this.now() / 1000;
    return Promise.resolve(
      [...entry.tokens].filter(([, exp]) => exp > nowS).map(([jti, exp]) => ({ jti, exp })),
    );
  }
}

/** The account throttle of docs/AUTH.md, counted in this process. */
export class MemoryAccountThrottle implements AccountThrottle {
  private readonly counts: ExpiringMap<{ failures: number; nextAt: number }>;
  /** account -> network -> expiry (unix ms) */
  private readonly known: ExpiringMap<Map<string, number>>;

  constructor(
    private readonly limits: AuthLimits,
    private readonly now: Clock = Date.now,
  ) {
    this.counts = new ExpiringMap(now);
    this.known = new ExpiringMap(now);
  }

  attempt(account: string, network: string): Promise<ThrottleCheck> {
    const now = this.now();
    const knownUntil = this.known.get(account)?.get(network);
    if (knownUntil !== undefined && knownUntil > now) return Promise.resolve({ allowed: true });
    const count = this.counts.get(account) ?? { failures: 0, nextAt: 0 };
    if (now < count.nextAt) return Promise.resolve({ allowed: false, retryAfterMs: count.nextAt - now });
    const failures = count.failures + 1;
    this.counts.set(
      account,
      { failures, nextAt: now + accountDelayMs(failures, this.limits) },
      ACCOUNT_POLICY.countLifetimeMs,
    );
    return Promise.resolve({ allowed: true });
  }

  remember(account: string, network: string): Promise<void> {
    const now = this.now();
    const networks = new Map(
      [...(this.known.get(account) ?? new Map<string, number>())].filter(([, until]) => until > now),
    );
    // attempt() counted this login unless the network was known: a success is given back.
    const count = this.counts.get(account);
    if (!networks.has(network) && count !== undefined && count.failures > 0) count.failures -= 1;
    networks.delete(network);
    networks.set(network, now + ACCOUNT_POLICY.knownNetworkTtlMs);
    // Insertion order is age order: the oldest go first.
    while (networks.size > ACCOUNT_POLICY.maxKnownNetworks) {
      networks.delete(networks.keys().next().value as string);
    }
    this.known.set(account, networks, ACCOUNT_POLICY.knownNetworkTtlMs);
    return Promise.resolve();
  }
}

/** The login limiter counting in this process (embedded mode). */
export function memoryLoginLimiter(limits: AuthLimits, now: Clock = Date.now): LoginLimiter {
  return new FlexibleLoginLimiter(
    limits,
    (_name, window) => new RateLimiterMemory(window),
    new MemoryAccountThrottle(limits, now),
  );
}

/** The registration limiter counting in this process (embedded mode). */
export function memoryRegistrationLimiter(limits: AuthLimits): RegistrationLimiter {
  return new FlexibleRegistrationLimiter(limits, (_name, window) => new RateLimiterMemory(window));
}

export function createMemoryAuthState(
  limits: AuthLimits,
  now: Clock = Date.now,
  announce: Announce = silent,
): AuthState {
  return {
    users: new MemoryUserStore(),
    revocations: new MemoryRevocationStore(now, announce),
    blocklist: new MemoryBlocklist(now, announce),
    refreshTokens: new MemoryRefreshTokenStore(now),
    loginLimiter: memoryLoginLimiter(limits, now),
    registrationLimiter: memoryRegistrationLimiter(limits),
    ready: () => Promise.resolve(true),
    close: () => Promise.resolve(),
  };
}
