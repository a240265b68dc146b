import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { StateUnavailableError, type LoginCheck, type LoginLimits } from './ports';

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
  for (const r of results) {
    if (r.status === 'fulfilled') continue;
    if (r.reason instanceof RateLimiterRes) blockedFor = Math.max(blockedFor, retryAfter(r.reason));
    else storeError(r.reason);
  }
  return blockedFor > 0 ? { allowed: false, retryAfterS: blockedFor } : { allowed: true };
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
