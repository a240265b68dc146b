import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { StateUnavailableError, type LoginCheck, type LoginLimits } from './ports';

/**
 * rate-limiter-flexible's login pattern: consecutive failures per username+address, and
 * failures per address per day. Both are checked before any password work.
 */
export interface LoginLimiterPair {
  limits: LoginLimits;
  consecutive: RateLimiterAbstract;
  daily: RateLimiterAbstract;
}

/** rate-limiter-flexible rejects with a RateLimiterRes for a limit, an Error for a store failure. */
function storeError(err: unknown): never {
  if (err instanceof RateLimiterRes) throw new Error('unexpected limiter result');
  throw new StateUnavailableError(err);
}

function retryAfter(res: RateLimiterRes | null): number {
  return Math.max(1, Math.ceil((res?.msBeforeNext ?? 1000) / 1000));
}

export async function checkLogin(
  pair: LoginLimiterPair,
  usernameKey: string,
  address: string,
): Promise<LoginCheck> {
  const [byUser, byAddress] = await Promise.all([
    pair.consecutive.get(`${usernameKey}_${address}`),
    pair.daily.get(address),
  ]).catch(storeError);
  if (byUser !== null && byUser.consumedPoints >= pair.limits.maxConsecutiveFailures) {
    return { allowed: false, retryAfterS: retryAfter(byUser) };
  }
  if (byAddress !== null && byAddress.consumedPoints >= pair.limits.maxFailuresPerAddressPerDay) {
    return { allowed: false, retryAfterS: retryAfter(byAddress) };
  }
  return { allowed: true };
}

export async function consumeFailure(
  pair: LoginLimiterPair,
  usernameKey: string,
  address: string,
): Promise<LoginCheck> {
  const results = await Promise.allSettled([
    pair.consecutive.consume(`${usernameKey}_${address}`),
    pair.daily.consume(address),
  ]);
  let blockedFor = 0;
  for (const r of results) {
    if (r.status === 'fulfilled') continue;
    if (r.reason instanceof RateLimiterRes) blockedFor = Math.max(blockedFor, retryAfter(r.reason));
    else storeError(r.reason);
  }
  return blockedFor > 0 ? { allowed: false, retryAfterS: blockedFor } : { allowed: true };
}
