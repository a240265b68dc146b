import type { RateLimits, RateRefusal } from '../chat-ports';
import type { Blocklist } from '../ports';
import type { ViolationRecorder } from '../rate-limit';

type Clock = () => number;

/**
 * The message limit of the memory nodes of one MemoryCluster: the sliding window of
 * publish_limited.lua and the escalation of rate_violation.lua, blocking in the auth
 * state's blocklist.
 */
export class MemoryMessageLimiter implements ViolationRecorder {
  private readonly accepted = new Map<string, number[]>();
  private readonly violations = new Map<string, number[]>();

  constructor(
    private readonly blocklist: Blocklist,
    private readonly now: Clock = Date.now,
  ) {}

  /** 0 when the message is allowed (and counted), else the ms until a slot frees up. */
  take(user: string, limits: RateLimits): number {
    const now = this.now();
    const window = (this.accepted.get(user) ?? []).filter((t) => t > now - limits.windowMs);
    this.accepted.set(user, window);
    if (window.length < limits.max) {
      window.push(now);
      return 0;
    }
    return Math.max(1, (window[0] as number) + limits.windowMs - now);
  }

  async record(user: string, limits: RateLimits, retryAfterMs: number): Promise<RateRefusal> {
    const now = this.now();
    let bad = (this.violations.get(user) ?? []).filter((t) => t > now - limits.windowMs);
    bad.push(now);
    let blocked = false;
    const count = bad.length;
    if (count >= limits.blockAfterViolations) {
      if ((await this.blocklist.blockedReason(user)) === undefined) {
        await this.blocklist.block(user, 'rate_limit', limits.blockDurationS);
        blocked = true;
      }
      bad = [];
    }
    this.violations.set(user, bad);
    return { retryAfterMs, violations: count, blocked };
  }
}
