import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { addressNetwork } from '@securechat/common';
import {
  StateUnavailableError,
  type AuthLimits,
  type LimitCheck,
  type LimitName,
  type LoginLimiter,
  type RegistrationLimiter,
} from './ports';

/**
 * The account-level throttle against password spraying (many networks, few guesses
 * each, one account), the fixed part of its policy (docs/AUTH.md states it):
 * - a network that logged in to the account successfully is *known* to it for
 *   `knownNetworkTtlMs` (the newest `maxKnownNetworks` are kept) and is never throttled
 *   by it, so an attacker cannot lock the owner out of where they usually log in;
 * - attempts from other networks are counted; past `accountFreeFailures` of them, each
 *   must come a delay after the previous one, `baseDelayMs` doubling per attempt up to
 *   `accountMaxDelayS`; earlier ones get 429 without costing a guess;
 * - the count is forgotten `countLifetimeMs` after the last attempt it counted.
 */
export const ACCOUNT_POLICY = Object.freeze({
  baseDelayMs: 1000,
  countLifetimeMs: 24 * 3600 * 1000,
  knownNetworkTtlMs: 30 * 24 * 3600 * 1000,
  maxKnownNetworks: 10,
});

/** The delay an account imposes after its `failures`-th counted attempt. */
export function accountDelayMs(failures: number, limits: AuthLimits): number {
  if (failures <= limits.accountFreeFailures) return 0;
  const doublings = Math.min(failures - limits.accountFreeFailures - 1, 40);
  return Math.min(ACCOUNT_POLICY.baseDelayMs * 2 ** doublings, limits.accountMaxDelayS * 1000);
}

export type ThrottleCheck =
  { readonly allowed: true } | { readonly allowed: false; readonly retryAfterMs: number };

/** The account's own throttle, counted atomically in its store. */
export interface AccountThrottle {
  /** Allowed at once from a known network; otherwise counted, or refused during the delay. */
  attempt(account: string, network: string): Promise<ThrottleCheck>;
  /**
   * A successful login from `network`: it is known to the account from now on, and the
   * attempt counted for it (when it was not known yet) is given back.
   */
  remember(account: string, network: string): Promise<void>;
}

export type LoginWindowName = 'consecutive' | 'daily';
export type RegisterWindowName = 'hourly' | 'daily';

export interface LoginWindow {
  points: number;
  /** seconds counted */
  duration: number;
  /** seconds locked out once the points are used */
  blockDuration: number;
}

/** The two fixed windows of the login pattern, whatever store counts them. */
export function loginWindows(limits: AuthLimits): Record<LoginWindowName, LoginWindow> {
  return {
    consecutive: { points: limits.maxConsecutiveFailures, duration: 3600, blockDuration: 900 },
    daily: { points: limits.maxFailuresPerAddressPerDay, duration: 86400, blockDuration: 86400 },
  };
}

/** The registration windows per network. */
export function registerWindows(limits: AuthLimits): Record<RegisterWindowName, LoginWindow> {
  return {
    hourly: { points: limits.registerMaxPerAddressPerHour, duration: 3600, blockDuration: 0 },
    daily: { points: limits.registerMaxPerAddressPerDay, duration: 86400, blockDuration: 0 },
  };
}

/** rate-limiter-flexible rejects with a RateLimiterRes for a limit, an Error for a store failure. */
function storeError(err: unknown): never {
  if (err instanceof RateLimiterRes) throw new Error('unexpected limiter result');
  throw new StateUnavailableError(err);
}

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/**
 * Consumes a point from every window at once (all are counted, also when one refuses)
 * and refuses with the longest wait among those over their limit.
 */
async function consumeAll(windows: [RateLimiterAbstract, string, LimitName][]): Promise<LimitCheck> {
  const results = await Promise.allSettled(windows.map(([limiter, key]) => limiter.consume(key)));
  let refusal: { retryAfterS: number; limit: LimitName } | undefined;
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') return;
    if (!(r.reason instanceof RateLimiterRes)) storeError(r.reason);
    const retryAfterS = seconds(r.reason.msBeforeNext);
    if (refusal === undefined || retryAfterS > refusal.retryAfterS) {
      refusal = { retryAfterS, limit: (windows[i] as [RateLimiterAbstract, string, LimitName])[2] };
    }
  });
  return refusal === undefined ? { allowed: true } : { allowed: false, ...refusal };
}

/**
 * The login limiter: rate-limiter-flexible's login pattern (consecutive failures per
 * username+network, failures per network per day) in front of the account's throttle.
 * An attempt is counted before any password work; a success gives its points back, so
 * what stays counted are the failures (and attempts still in flight).
 */
export class FlexibleLoginLimiter implements LoginLimiter {
  private readonly consecutive: RateLimiterAbstract;
  private readonly daily: RateLimiterAbstract;

  constructor(
    limits: AuthLimits,
    store: (name: LoginWindowName, window: LoginWindow) => RateLimiterAbstract,
    private readonly account: AccountThrottle,
  ) {
    const windows = loginWindows(limits);
    this.consecutive = store('consecutive', windows.consecutive);
    this.daily = store('daily', windows.daily);
  }

  async attempt(usernameKey: string, address: string): Promise<LimitCheck> {
    const network = addressNetwork(address);
    const pair = `${usernameKey}_${network}`;
    const check = await consumeAll([
      [this.consecutive, pair, 'username_address'],
      [this.daily, network, 'address_daily'],
    ]);
    if (!check.allowed) return check;
    // The account's throttle comes second: an attempt the network's own limits refuse
    // does not advance the account's count (it would lock out owners on new networks
    // faster), and one the account refuses costs the network nothing.
    let account: ThrottleCheck;
    try {
      account = await this.account.attempt(usernameKey, network);
    } catch (err) {
      throw err instanceof StateUnavailableError ? err : new StateUnavailableError(err);
    }
    if (account.allowed) return check;
    await Promise.all([this.consecutive.reward(pair, 1), this.daily.reward(network, 1)]).catch(storeError);
    return { allowed: false, retryAfterS: seconds(account.retryAfterMs), limit: 'account' };
  }

  async recordSuccess(usernameKey: string, address: string): Promise<void> {
    const network = addressNetwork(address);
    await Promise.all([
      this.consecutive.delete(`${usernameKey}_${network}`),
      this.daily.reward(network, 1),
    ]).catch(storeError);
    try {
      await this.account.remember(usernameKey, network);
    } catch (err) {
      throw err instanceof StateUnavailableError ? err : new StateUnavailableError(err);
    }
  }
}

/** Registrations per network per hour and per day, counted before any lookup or hashing. */
export class FlexibleRegistrationLimiter implements RegistrationLimiter {
  private readonly hourly: RateLimiterAbstract;
  private readonly daily: RateLimiterAbstract;

  constructor(
    limits: AuthLimits,
    store: (name: RegisterWindowName, window: LoginWindow) => RateLimiterAbstract,
  ) {
    const windows = registerWindows(limits);
    this.hourly = store('hourly', windows.hourly);
    this.daily = store('daily', windows.daily);
  }

  attempt(address: string): Promise<LimitCheck> {
    const network = addressNetwork(address);
    return consumeAll([
      [this.hourly, network, 'register_hourly'],
      [this.daily, network, 'register_daily'],
    ]);
  }
}
