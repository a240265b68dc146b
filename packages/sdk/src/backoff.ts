export interface BackoffOptions {
  /** Upper bound of the first attempt's delay. */
  baseDelayMs: number;
  /** No delay ever exceeds this. */
  maxDelayMs: number;
}

/** The window attempt `attempt` (1-based) draws its delay from: [0, min(max, base * 2^(attempt-1))]. */
export function backoffCeiling(attempt: number, { baseDelayMs, maxDelayMs }: BackoffOptions): number {
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError('attempt must be an integer >= 1');
  // 2 ** 1100 is Infinity, which Math.min turns back into the cap: no overflow to guard.
  return Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
}

/**
 * Capped exponential backoff with full jitter: a uniform draw from the whole window, so
 * that clients dropped together (a node restart) spread out instead of retrying in waves.
 * `random` returns a number in [0, 1), like Math.random.
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number): number {
  const r = random();
  if (!(r >= 0 && r < 1)) throw new RangeError('random() must return a number in [0, 1)');
  return Math.floor(r * backoffCeiling(attempt, options));
}
