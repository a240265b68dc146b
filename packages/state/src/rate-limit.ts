import type { RateLimits, RateRefusal } from './chat-ports';

/**
 * Counts a message its sender's limit refused; enough refusals within one window block
 * the sender. A broker's `publishLimited` calls it after a refusal (the memory and Redis
 * implementations sit beside each broker); no node calls it.
 */
export interface ViolationRecorder {
  record(user: string, limits: RateLimits, retryAfterMs: number): Promise<RateRefusal>;
}
