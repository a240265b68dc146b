import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { StateUnavailableError, type LoginCheck, type LoginLimiter, type LoginLimits } from './ports';

/**
 * rate-limiter-flexible's login pattern: consecutive failures per username+address, and
 * failures per address per day. An attempt is counted before any password work and
 * given back when it succeeds, so what stays counted are the failures (and attempts
 * still in flight).
 */
export interface LoginLimiterPair {
  limits: LoginLimits;
  consecutive: RateLimiterAbstract;
  daily: RateLimiterAbstract;
}

export type LoginWindowName = 'consecutive' | 'daily';

export interface LoginWindow {
  points: number;
  /** seconds counted */
  duration: number;
  /** seconds locked out once the points are used */
  blockDuration: number;
}

/** The two windows of the login pattern, whatever store counts them. */
export function loginWindows(limits: LoginLimits): Record<LoginWindowName, LoginWindow> {
  return {
    consecutive: { points: limits.maxConsecutiveFailures, duration: 3600, blockDuration: 900 },
    daily: { points: limits.maxFailuresPerAddressPerDay, duration: 86400, blockDuration: 86400 },
  };
}

/** The login limiter over rate-limiter-flexible; `store` makes a limiter of the backend. */
export class FlexibleLoginLimiter implements LoginLimiter {
  private readonly pair: LoginLimiterPair;

  constructor(
    limits: LoginLimits,
    store: (name: LoginWindowName, window: LoginWindow) => RateLimiterAbstract,
  ) {
    const windows = loginWindows(limits);
    this.pair = {
      limits,
      consecutive: store('consecutive', windows.consecutive),
      daily: store('daily', windows.daily),
    };
  }

  attempt(usernameKey: string, address: string): Promise<LoginCheck> {
    return countAttempt(this.pair, usernameKey, address);
  }

  recordSuccess(usernameKey: string, address: string): Promise<void> {
    return countSuccess(this.pair, usernameKey, address);
  }
}

/** rate-limiter-flexible rejects with a RateLimiterRes for a limit, an Error for a store failure. */
function storeError(err: unknown): never {
  if (err instanceof RateLimiterRes) throw new Error('unexpected limiter result');
  throw new StateUnavailableError(err);
}

function retryAfter(res: RateLimiterRes): number {
  return Math.max(1, Math.ceil(res.msBeforeNext / 1000));
}

const pairKey = (usernameKey: string, address: string) => `${usernameKey}_${address}`;

export async function countAttempt(
  pair: LoginLimiterPair,
  usernameKey: string,
  address: string,
): Promise<LoginCheck> {
  const results = await Promise.allSettled([
    pair.consecutive.consume(pairKey(usernameKey, address)),
    pair.daily.consume(address),
  ]);
  let blockedFor = 0;
  const windows: LoginWindowName[] = [];
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') return;
    if (!(r.reason instanceof RateLimiterRes)) storeError(r.reason);
    blockedFor = Math.max(blockedFor, retryAfter(r.reason));
    windows.push(i === 0 ? 'consecutive' : 'daily');
  });
  return blockedFor > 0 ? { allowed: false, retryAfterS: blockedFor, windows } : { allowed: true };
}

export async function countSuccess(
  pair: LoginLimiterPair,
  usernameKey: string,
  address: string,
): Promise<void> {
  await Promise.all([
    pair.consecutive.delete(pairKey(usernameKey, address)),
    pair.daily.reward(address, 1),
  ]).catch(storeError);
}
