import { randomBytes } from 'node:crypto';
import type { RedisLike } from './channel-subscriber';
import type { KeySchema } from '@securechat/common';
import type { RateLimits, RateRefusal } from '../chat-ports';
import type { ViolationRecorder } from '../rate-limit';
import { guard } from './errors';
import { luaScript } from './lua';

type ViolationClient = RedisLike & {
  chatRateViolation(
    violations: string,
    blocked: string,
    now: number,
    windowMs: number,
    member: string,
    blockAfter: number,
    blockDurationS: number,
    user: string,
    control: string,
  ): Promise<[number, number]>;
};

function defineScripts(redis: RedisLike): ViolationClient {
  const client = redis as ViolationClient;
  if (typeof client.chatRateViolation !== 'function') {
    redis.defineCommand('chatRateViolation', { numberOfKeys: 2, lua: luaScript('rate_violation') });
  }
  return client;
}

/**
 * Records the messages publish_limited.lua refused (rate_violation.lua), in a second round
 * trip that only refused messages make; the sliding window itself is in that script.
 */
export class RedisViolationRecorder implements ViolationRecorder {
  private readonly redis: ViolationClient;
  /**
   * Members of the violations set must be unique per message: a random prefix per
   * recorder and a counter, so that no random bytes are drawn per message.
   */
  private readonly memberPrefix = randomBytes(6).toString('base64url');
  private memberCounter = 0;

  constructor(
    redis: RedisLike,
    private readonly keys: KeySchema,
  ) {
    this.redis = defineScripts(redis);
  }

  async record(user: string, limits: RateLimits, retryAfterMs: number): Promise<RateRefusal> {
    const now = Date.now();
    const k = this.keys;
    const [violations, blocked] = await guard(
      this.redis.chatRateViolation(
        k.rateViolations(user),
        k.blocked(user),
        now,
        limits.windowMs,
        this.uniqueMember(now),
        limits.blockAfterViolations,
        limits.blockDurationS,
        user,
        k.control,
      ),
    );
    return { retryAfterMs, violations: Number(violations), blocked: Number(blocked) === 1 };
  }

  private uniqueMember(now: number): string {
    this.memberCounter = (this.memberCounter + 1) % Number.MAX_SAFE_INTEGER;
    return `${now}-${this.memberPrefix}-${this.memberCounter}`;
  }
}
