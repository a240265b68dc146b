import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import {
  createRedisClient,
  singleTarget,
  keySchema,
  loadConfig,
  waitReady,
  type KeySchema,
} from '@securechat/common';
import { authLimits, createMemoryAuthState, createRedisAuthState, type AuthState } from '@securechat/state';
import { startAuthNode, type TestAuthNode } from '../support/auth-node';
import { expectError, fields, type Reply } from '../support/http';
import { memoryLogger } from '../support/logs';
import { RedisServer, uniquePrefix } from '../support/redis-server';
import { waitFor } from '../support/wait';
import { authHttpSuite } from './auth-http.contract';
import { browserSessionSuite } from './browser-session.contract';

authHttpSuite('embedded (memory state)', (limits) => Promise.resolve(createMemoryAuthState(limits)));
browserSessionSuite('embedded (memory state)', (limits) => Promise.resolve(createMemoryAuthState(limits)));

const LIMITS = authLimits(loadConfig({}, 'embedded'));

/** The request-path client the services use: no offline queue, a command timeout. */
async function redisState(url: string, keys: KeySchema = keySchema(uniquePrefix())): Promise<AuthState> {
  const redis = createRedisClient({
    target: singleTarget(url),
    name: 'test-auth',
    commandTimeoutMs: 1000,
    logger: memoryLogger('redis').logger,
  });
  await waitReady(redis);
  return createRedisAuthState(redis, keys, LIMITS);
}

describe('auth on Redis @redis', function () {
  this.timeout(30_000);
  let server: RedisServer;
  before(async () => {
    server = await RedisServer.start();
  });
  after(async () => {
    await server.destroy();
  });

  const makeRedisState = async (limits: typeof LIMITS) => {
    const redis = createRedisClient({
      target: singleTarget(server.url),
      name: 'test-auth',
      commandTimeoutMs: 1000,
      logger: memoryLogger('redis').logger,
    });
    await waitReady(redis);
    return createRedisAuthState(redis, keySchema(uniquePrefix()), limits);
  };
  authHttpSuite('redis', makeRedisState);
  browserSessionSuite('redis', makeRedisState);

  const newUser = () => ({
    username: `u${randomBytes(5).toString('hex')}`,
    password: `pw-${randomBytes(12).toString('hex')}`,
  });
  const session = (reply: Reply) => {
    expect(reply.status, reply.text).to.equal(200);
    const body = fields(reply);
    return { access: String(body.access_token), refresh: String(body.refresh_token) };
  };

  describe('two auth nodes on one Redis', () => {
    let one: TestAuthNode;
    let two: TestAuthNode;
    let stateOne: AuthState;
    let stateTwo: AuthState;
    before(async () => {
      const keys = keySchema(uniquePrefix());
      stateOne = await redisState(server.url, keys);
      stateTwo = await redisState(server.url, keys);
      one = await startAuthNode({ state: stateOne });
      // every auth node signs with the same key file
      two = await startAuthNode({ state: stateTwo, signingKey: one.signingKey });
    });
    after(async () => {
      await one.close();
      await two.close();
      await stateOne.close();
      await stateTwo.close();
    });

    it('a session made on one node is refreshed, checked and ended on the other', async () => {
      const user = newUser();
      expect((await one.client.post('/auth/register', user)).status).to.equal(201);
      expectError(await two.client.post('/auth/register', user), 409, 'username_taken');
      const first = session(await two.client.post('/auth/login', user));
      const second = session(await one.client.post('/auth/refresh', { refresh_token: first.refresh }));
      expect(
        (await two.client.get('/auth/me', { authorization: `Bearer ${second.access}` })).status,
      ).to.equal(200);
      // reuse detected on the other node than the one that rotated
      expectError(
        await two.client.post('/auth/refresh', { refresh_token: first.refresh }),
        401,
        'invalid_grant',
      );
      expectError(
        await one.client.get('/auth/me', { authorization: `Bearer ${second.access}` }),
        401,
        'invalid_token',
      );
      const third = session(await one.client.post('/auth/login', user));
      expect(
        (
          await two.client.send('POST', '/auth/logout', {
            headers: { authorization: `Bearer ${third.access}` },
          })
        ).status,
      ).to.equal(204);
      expectError(
        await one.client.get('/auth/me', { authorization: `Bearer ${third.access}` }),
        401,
        'invalid_token',
      );
    });
  });

  describe('keys an operator reads and writes with redis-cli', () => {
    let node: TestAuthNode;
    let state: AuthState;
    let keys: KeySchema;
    let raw: ReturnType<typeof createRedisClient>;
    before(async () => {
      keys = keySchema(uniquePrefix());
      state = await redisState(server.url, keys);
      node = await startAuthNode({ state });
      raw = createRedisClient({
        target: singleTarget(server.url),
        name: 'operator',
        commandTimeoutMs: 1000,
        logger: memoryLogger().logger,
      });
      await waitReady(raw);
    });
    after(async () => {
      await node.close();
      await state.close();
      raw.disconnect();
    });

    it('<prefix>user:<name> holds the bcrypt hash; <prefix>revoked:<jti> lives at least as long as the token', async () => {
      const user = newUser();
      await node.client.post('/auth/register', { ...user, username: user.username.toUpperCase() });
      const account = await raw.hgetall(`${keys.prefix}user:${user.username}`);
      expect(account.password_hash).to.match(/^\$2[aby]\$10\$/);
      expect(Number(account.created_at)).to.be.closeTo(Date.now(), 60_000);
      expect(JSON.stringify(account)).not.to.include(user.password);
      const { access } = session(await node.client.post('/auth/login', user));
      expect(
        (await node.client.send('POST', '/auth/logout', { headers: { authorization: `Bearer ${access}` } }))
          .status,
      ).to.equal(204);
      const claims = JSON.parse(Buffer.from(access.split('.')[1] as string, 'base64url').toString()) as {
        jti: string;
        exp: number;
      };
      const ttl = await raw.ttl(`${keys.prefix}revoked:${claims.jti}`);
      expect(ttl).to.be.at.least(claims.exp - Math.floor(Date.now() / 1000));
    });

    it('SET <prefix>blocked:<name> blocks logins at once; DEL unblocks', async () => {
      const user = newUser();
      await node.client.post('/auth/register', user);
      await raw.set(`${keys.prefix}blocked:${user.username}`, 'operator', 'EX', 60);
      expectError(await node.client.post('/auth/login', user), 403, 'blocked');
      await raw.del(`${keys.prefix}blocked:${user.username}`);
      expect((await node.client.post('/auth/login', user)).status).to.equal(200);
    });
  });

  describe('when Redis stops', () => {
    let outage: RedisServer;
    let node: TestAuthNode;
    let state: AuthState;
    before(async () => {
      // appendonly: the accounts survive the restart, as in production
      outage = await RedisServer.start({ appendonly: true });
      state = await redisState(outage.url);
      node = await startAuthNode({ state });
    });
    after(async () => {
      await node.close();
      await state.close();
      await outage.destroy();
    });

    it('fails fast with 503 unavailable, /readyz 503, /healthz 200, and recovers without a restart', async () => {
      const user = newUser();
      expect((await node.client.post('/auth/register', user)).status).to.equal(201);
      const live = session(await node.client.post('/auth/login', user));
      await outage.stop();

      const within = async (what: string, call: () => Promise<Reply>): Promise<Reply> => {
        const started = Date.now();
        const reply = await call();
        expect(Date.now() - started, what).to.be.below(1500);
        return reply;
      };
      const auth = { authorization: `Bearer ${live.access}` };
      const failing: [string, () => Promise<Reply>][] = [
        ['login', () => node.client.post('/auth/login', user)],
        ['register', () => node.client.post('/auth/register', newUser())],
        ['refresh', () => node.client.post('/auth/refresh', { refresh_token: live.refresh })],
        ['me', () => node.client.get('/auth/me', auth)],
        ['logout', () => node.client.send('POST', '/auth/logout', { headers: auth })],
      ];
      for (const [what, call] of failing) {
        const reply = await within(what, call);
        expectError(reply, 503, 'unavailable');
        expect(reply.headers.get('retry-after'), what).to.equal('1');
      }
      expectError(await within('readyz', () => node.client.get('/readyz')), 503, 'not_ready');
      expect((await within('healthz', () => node.client.get('/healthz'))).status).to.equal(200);
      expect(node.logs.lines().some((l) => l.level === 'error' && l.code === 'unavailable')).to.equal(true);

      await outage.start();
      await waitFor(async () => (await node.client.get('/readyz')).status === 200, {
        timeoutMs: 10_000,
        what: '/readyz 200 after Redis restarted',
      });
      expect((await node.client.get('/auth/me', auth)).status).to.equal(200);
      expect((await node.client.post('/auth/login', user)).status).to.equal(200);
    });

    it('fails fast with 503 while Redis hangs (DEBUG SLEEP), on the command timeout', async () => {
      const user = newUser();
      expect((await node.client.post('/auth/register', user)).status).to.equal(201);
      const live = session(await node.client.post('/auth/login', user));
      const blocker = new Redis(outage.url, { maxRetriesPerRequest: 0 });
      blocker.on('error', () => undefined);
      try {
        await waitReady(blocker);
        const sleeping = blocker.call('DEBUG', 'SLEEP', '4');
        // /readyz going 503 shows the server is really stuck (its PING timed out)
        await waitFor(async () => (await node.client.get('/readyz')).status === 503, {
          timeoutMs: 3000,
          what: '/readyz 503 while Redis sleeps',
        });
        const started = Date.now();
        const replies = await Promise.all([
          node.client.post('/auth/login', user),
          node.client.post('/auth/register', newUser()),
          node.client.get('/auth/me', { authorization: `Bearer ${live.access}` }),
        ]);
        expect(Date.now() - started).to.be.below(1500);
        for (const reply of replies) expectError(reply, 503, 'unavailable');
        await sleeping;
        await waitFor(async () => (await node.client.get('/readyz')).status === 200, { timeoutMs: 5000 });
        expect((await node.client.post('/auth/login', user)).status).to.equal(200);
      } finally {
        blocker.disconnect();
      }
    });
  });
});
