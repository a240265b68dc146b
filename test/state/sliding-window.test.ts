import { expect } from 'chai';
import fc from 'fast-check';
import { luaScript } from '@securechat/state';
import { Redis } from 'ioredis';
import { RedisServer, uniquePrefix } from '../support/redis-server';

/**
 * The sliding window before it pushed first (LLEN, then LINDEX, LTRIM, LPUSH): the
 * reference the current lib/sliding_window.lua must agree with, reply for reply and
 * list for list (but for max 1, below), whatever the sequence of sends, clocks and limits.
 */
const REFERENCE = `
local function sliding_window(key, now, window, max)
  local n = redis.call('LLEN', key)
  if n >= max then
    local oldest = tonumber(redis.call('LINDEX', key, max - 1))
    if oldest ~= nil and oldest > now - window then
      return math.max(1, oldest + window - now)
    end
    redis.call('LTRIM', key, 0, max - 2)
  end
  redis.call('LPUSH', key, now)
  redis.call('PEXPIRE', key, window)
  return 0
end
return sliding_window(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
`;

describe('sliding_window.lua @redis', () => {
  let server: RedisServer;
  let redis: Redis;
  before(async () => {
    server = await RedisServer.start();
    redis = new Redis(server.url);
  });
  after(async () => {
    redis.disconnect();
    await server.destroy();
  });

  it('answers and leaves the list exactly as the window without the push first did', async () => {
    // rate_take.lua is the window alone, as publish_limited.lua and the Cluster path use it.
    const current = luaScript('rate_take');
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        // windows long enough that Redis's own expiry (real time) never runs during a case
        fc.integer({ min: 10, max: 50 }).map((s) => s * 1000),
        // steps of the clock, 0 (the same ms) and backwards (another node's clock) included
        fc.array(
          fc.oneof(
            fc.integer({ min: -20, max: 40 }).map((s) => s * 1000),
            fc.integer({ min: -2, max: 2 }),
          ),
          { minLength: 1, maxLength: 40 },
        ),
        // a list already longer than max, as after RATE_LIMIT_MAX was lowered
        fc.integer({ min: 0, max: 8 }),
        async (max, windowMs, steps, preloaded) => {
          const prefix = uniquePrefix();
          const [a, b] = [`${prefix}ref`, `${prefix}cur`];
          let now = 1_000_000;
          for (let i = 0; i < preloaded; i++) {
            await redis.lpush(a, now - 60_000 + i * 5000);
            await redis.lpush(b, now - 60_000 + i * 5000);
          }
          for (const step of steps) {
            now += step;
            const expected = await redis.eval(REFERENCE, 1, a, now, windowMs, max);
            const actual = await redis.eval(current, 1, b, now, windowMs, max);
            expect(actual).to.equal(expected);
            if (max > 1) {
              expect(await redis.lrange(b, 0, -1)).to.deep.equal(await redis.lrange(a, 0, -1));
            } else {
              // With max 1 the reference's LTRIM 0 -1 kept the whole list (it grew by one
              // per window); the same newest entry decides, and now the list holds just it.
              expect(await redis.lindex(b, 0)).to.equal(await redis.lindex(a, 0));
              if (expected === 0) expect(await redis.llen(b)).to.equal(1);
            }
            expect((await redis.pttl(b)) > 0).to.equal((await redis.pttl(a)) > 0);
          }
          await redis.del(a, b);
        },
      ),
      { numRuns: 200 },
    );
  });
});
