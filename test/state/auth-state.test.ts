import { Redis } from 'ioredis';
import { expect } from 'chai';
import { keySchema, loadConfig, waitReady, type KeySchema } from '@securechat/common';
import {
  authLimits,
  createMemoryAuthState,
  createRedisAuthState,
  type AuthLimits,
  type AuthState,
} from '@securechat/state';
import { RedisServer, uniquePrefix } from '../support/redis-server';
import { authStateContract } from './auth-state.contract';

/** Small limits, so that the contract reaches each of them in a few calls. */
const limits: AuthLimits = {
  ...authLimits(loadConfig({}, 'embedded')),
  maxConsecutiveFailures: 3,
  maxFailuresPerAddressPerDay: 5,
  accountFreeFailures: 4,
  accountMaxDelayS: 60,
  registerMaxPerAddressPerHour: 2,
  registerMaxPerAddressPerDay: 3,
};

/** A plain client; a failed command fails its test, the listener only keeps it from crashing. */
function client(url: string): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  return redis;
}

authStateContract(
  'memory',
  () => Promise.resolve(createMemoryAuthState(limits)),
  () => Promise.resolve(),
);

describe('redis-backed @redis', () => {
  let server: RedisServer;
  let state: AuthState | undefined;
  let redis: Redis | undefined;
  let keys: KeySchema;
  before(async () => {
    server = await RedisServer.start();
  });
  after(async () => {
    await server.destroy();
  });
  authStateContract(
    'redis',
    async () => {
      redis = client(server.url);
      await waitReady(redis);
      keys = keySchema(uniquePrefix());
      state = createRedisAuthState(redis, keys, limits);
      return state;
    },
    async () => {
      await state?.close();
    },
  );

  describe('keys as the contract names them', () => {
    beforeEach(async () => {
      redis = client(server.url);
      keys = keySchema(uniquePrefix());
      state = createRedisAuthState(redis, keys, limits);
      await waitReady(redis);
    });
    afterEach(async () => {
      await state?.close();
    });

    it('keeps the account in <prefix>user:<name> and revocations in <prefix>revoked:<jti>', async () => {
      const r = redis as Redis;
      await state?.users.create({ username: 'frank', passwordHash: '$2b$10$x', createdAt: 1 });
      expect(await r.hgetall(`${keys.prefix}user:frank`)).to.include({ password_hash: '$2b$10$x' });
      const exp = Math.floor(Date.now() / 1000) + 600;
      await state?.revocations.revoke('jti-f0000001', exp, 'logout');
      expect(await r.get(`${keys.prefix}revoked:jti-f0000001`)).to.equal('logout');
      expect(await r.ttl(`${keys.prefix}revoked:jti-f0000001`)).to.be.within(600, 610);
    });

    it('honours a block set and cleared with plain SET/DEL', async () => {
      const r = redis as Redis;
      await r.set(`${keys.prefix}blocked:gina`, 'operator', 'EX', 60);
      expect(await state?.blocklist.blockedReason('gina')).to.equal('operator');
      await r.del(`${keys.prefix}blocked:gina`);
      expect(await state?.blocklist.blockedReason('gina')).to.equal(undefined);
    });

    it('keeps the account throttle in <prefix>rl:login:account:<name>, known networks in <prefix>rl:login:known:<name>', async () => {
      const r = redis as Redis;
      await state?.loginLimiter.recordSuccess('owen', '2001:db8:9:9::1');
      expect(await r.zrange(`${keys.prefix}rl:login:known:owen`, '0', '-1')).to.deep.equal([
        '2001:db8:9:9::/64',
      ]);
      const knownTtl = await r.pttl(`${keys.prefix}rl:login:known:owen`);
      expect(knownTtl).to.be.within(29 * 86400_000, 30 * 86400_000);
      for (let i = 0; i < 5; i++) await state?.loginLimiter.attempt('owen', `10.5.0.${i}`);
      const delayOf = async () => {
        const count = await r.hgetall(`${keys.prefix}rl:login:account:owen`);
        return { failures: Number(count.failures), delay: Number(count.next_at) - Date.now() };
      };
      const first = await delayOf();
      expect(first.failures).to.equal(5);
      expect(first.delay).to.be.within(500, 1000);
      // The delay is over (an operator could do this to lift it): the next one doubles.
      await r.hset(`${keys.prefix}rl:login:account:owen`, 'next_at', '0');
      expect(await state?.loginLimiter.attempt('owen', '10.5.1.1')).to.deep.equal({ allowed: true });
      const second = await delayOf();
      expect(second.failures).to.equal(6);
      expect(second.delay).to.be.within(1500, 2000);
      expect(await r.pttl(`${keys.prefix}rl:login:account:owen`)).to.be.within(86000_000, 86400_000);
      // the known network is not counted
      await state?.loginLimiter.attempt('owen', '2001:db8:9:9:1::2');
      expect((await delayOf()).failures).to.equal(6);
    });

    it('keeps registration counts per network under <prefix>rl:register:', async () => {
      const r = redis as Redis;
      await state?.registrationLimiter.attempt('2001:db8:5:5::1');
      expect(await r.get(`${keys.prefix}rl:register:hour:2001:db8:5:5::/64`)).to.equal('1');
      expect(await r.get(`${keys.prefix}rl:register:day:2001:db8:5:5::/64`)).to.equal('1');
    });

    it('revoking a family already gone leaves no key without a TTL behind', async () => {
      const r = redis as Redis;
      expect(await state?.refreshTokens.revokeFamily('family-gone1')).to.deep.equal([]);
      expect(await r.exists(keys.refreshFamily('family-gone1'))).to.equal(0);
      await state?.refreshTokens.createFamily('family-ttl01', 'hank', 'hash-h1', 600);
      await state?.refreshTokens.recordAccessToken('family-ttl01', 'jti-h0000001', Date.now() / 1000 + 60);
      await state?.refreshTokens.revokeFamily('family-ttl01');
      expect(await r.ttl(keys.refreshFamily('family-ttl01'))).to.be.within(590, 600);
      expect(await r.ttl(keys.refreshFamilyTokens('family-ttl01'))).to.be.within(590, 600);
    });
  });
});
