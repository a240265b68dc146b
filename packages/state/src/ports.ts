/**
 * The state the nodes share, as ports shaped like the domain. Each port has a memory
 * implementation (embedded mode, unit tests) and a Redis one; one contract suite runs
 * against both (test/state/*.contract.ts).
 */

/** A store could not be reached or answered too late: a 503, never a hang. */
export class StateUnavailableError extends Error {
  constructor(cause?: unknown) {
    super('state store unavailable', { cause });
    this.name = 'StateUnavailableError';
  }
}

/**
 * A message stored and published on the master that fewer replicas than
 * REDIS_WAIT_REPLICAS confirmed within REDIS_WAIT_TIMEOUT_MS: it may be delivered and
 * kept, or lost in a failover. Not an ack: the client learns that resending may repeat it.
 */
export class NotReplicatedError extends StateUnavailableError {
  constructor(
    readonly id: string,
    readonly replicas: number,
  ) {
    super();
    this.message = `message ${id} confirmed by ${replicas} replica(s) only`;
    this.name = 'NotReplicatedError';
  }
}

/**
 * How long a revocation outlives its token's `exp`: verifiers accept a token up to
 * their clock tolerance (5 s by default) past it, so the revocation must still be there.
 */
export const REVOCATION_MARGIN_S = 5;

export interface UserRecord {
  readonly username: string;
  readonly passwordHash: string;
  readonly createdAt: number;
}

export interface UserStore {
  /** false when the name is taken. */
  create(user: UserRecord): Promise<boolean>;
  get(username: string): Promise<UserRecord | undefined>;
}

export interface TokenRef {
  readonly jti: string;
  readonly sub: string;
  /** unix seconds */
  readonly iat: number;
  /** unix seconds */
  readonly exp: number;
}

export interface RevocationStore {
  /** Revokes one access token until its expiry (unix seconds). */
  revoke(jti: string, exp: number, reason: string): Promise<void>;
  /** Revokes every token of `username` issued up to now (for `maxTokenLifeS`). */
  revokeAllOf(username: string, maxTokenLifeS: number): Promise<void>;
  isRevoked(token: TokenRef): Promise<boolean>;
  /** When `revokeAllOf(username)` last ran (unix ms), if its mark is still kept. */
  revokedBefore(username: string): Promise<number | undefined>;
}

export interface Blocklist {
  block(username: string, reason: string, ttlS: number): Promise<void>;
  unblock(username: string): Promise<boolean>;
  /** The reason when blocked, undefined otherwise. */
  blockedReason(username: string): Promise<string | undefined>;
}

export type RotateResult =
  /** `createdAt`: when the family began (its login), unix ms. */
  | { readonly kind: 'ok'; readonly family: string; readonly username: string; readonly createdAt: number }
  /** A spent token came back: the family is now revoked. */
  | { readonly kind: 'reused'; readonly family: string; readonly username: string }
  /** An unspent token of a family revoked earlier (logout, reuse, block). */
  | { readonly kind: 'revoked'; readonly family: string; readonly username: string }
  | { readonly kind: 'invalid' };

export interface RefreshTokenStore {
  /** Starts a family with its first token (stored by hash only). */
  createFamily(family: string, username: string, tokenHash: string, ttlS: number): Promise<void>;
  /**
   * Spends `oldHash` and stores `newHash` in its family, atomically. A token already
   * spent revokes the family and reports `reused`; a live token of a revoked family
   * reports `revoked`.
   */
  rotate(oldHash: string, newHash: string, ttlS: number): Promise<RotateResult>;
  /**
   * Remembers an access token issued from the family, to revoke it with the family.
   * false when the family was revoked meanwhile: the token must not be handed out.
   */
  recordAccessToken(family: string, jti: string, exp: number): Promise<boolean>;
  /** Marks the family revoked (if it still exists); returns its access tokens still alive. */
  revokeFamily(family: string): Promise<{ jti: string; exp: number }[]>;
}

/** Which limit refused an attempt (for the audit log; clients see one 429 for all). */
export type LimitName =
  'username_address' | 'address_daily' | 'account' | 'register_hourly' | 'register_daily';

export type LimitCheck =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly retryAfterS: number; readonly limit: LimitName };

export type LoginCheck = LimitCheck;

/**
 * Limits count per network, never per full address: an IPv4 address, or an IPv6 /64
 * (`addressNetwork` in @securechat/common). `address` is the client address as seen.
 */
export interface LoginLimiter {
  /**
   * Counts one login attempt before any password work, and refuses it when a limit is
   * reached: failures per username+network, failures per network per day, and the
   * account's own throttle for networks that never logged in to it (growing delays
   * once it has had LOGIN_ACCOUNT_FREE_FAILURES of them). Counting up front (rather
   * than checking, then counting the failure) keeps a burst of concurrent guesses from
   * all passing the check before the first failure is recorded.
   */
  attempt(usernameKey: string, address: string): Promise<LoginCheck>;
  /**
   * The password was right: the username+network count is cleared, the network gets its
   * daily attempt back, and it becomes known to the account (exempt from its throttle).
   */
  recordSuccess(usernameKey: string, address: string): Promise<void>;
}

export interface RegistrationLimiter {
  /** Counts one registration from the address's network, before any lookup or hashing. */
  attempt(address: string): Promise<LimitCheck>;
}

/** Every limit of the auth API, from the configuration (`authLimits(config)`). */
export interface AuthLimits {
  maxConsecutiveFailures: number;
  maxFailuresPerAddressPerDay: number;
  /** Failed logins to one account from unknown networks before its delays start. */
  accountFreeFailures: number;
  /** The cap of the account's growing delay. */
  accountMaxDelayS: number;
  registerMaxPerAddressPerHour: number;
  registerMaxPerAddressPerDay: number;
}

export interface AuthState {
  users: UserStore;
  revocations: RevocationStore;
  blocklist: Blocklist;
  refreshTokens: RefreshTokenStore;
  loginLimiter: LoginLimiter;
  registrationLimiter: RegistrationLimiter;
  /** true when the backing store answers. */
  ready(): Promise<boolean>;
  close(): Promise<void>;
}
