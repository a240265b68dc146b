import { Redis } from 'ioredis';
import { keySchema, waitReady } from '@securechat/common';
import { createMemoryAuthState, createRedisAuthState, type AuthState } from '@securechat/state';
import { RedisServer, uniquePrefix } from '../support/redis-server';
import { authStateContract } from './auth-state.contract';

const limits = { maxConsecutiveFailures: 3, maxFailuresPerAddressPerDay: 5 };

authStateContract(
  'memory',
  () => Promise.resolve(createMemoryAuthState(limits)),
  () => Promise.resolve(),
);

describe('redis-backed @redis', () => {
  let server: RedisServer;
  let state: AuthState | undefined;
  before(async () => {
    server = await RedisServer.start();
  });
  after(async () => {
    await server.destroy();
  });
  authStateContract(
    'redis',
    async () => {
      const redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
      await waitReady(redis);
      state = createRedisAuthState(redis, keySchema(uniquePrefix()), limits);
      return state;
    },
    async () => {
      await state?.close();
    },
  );
});
