import { expect } from 'chai';
import { createRedisClient, singleTarget, keySchema, loadConfig, waitReady } from '@securechat/common';
import { RedisMetrics } from '@securechat/metrics';
import { authLimits, createMemoryAuthState, createRedisAuthState, luaScriptNames } from '@securechat/state';
import { startAuthNode, type TestAuthNode } from '../support/auth-node';
import { fields } from '../support/http';
import { memoryLogger } from '../support/logs';
import { moved } from '../support/metrics';
import { RedisServer, uniquePrefix } from '../support/redis-server';
import { waitFor } from '../support/wait';

const PASSWORD = 'correct horse battery';

describe('auth node metrics, scraped from a real node', function () {
  this.timeout(30_000);
  let node: TestAuthNode;
  const state = createMemoryAuthState({
    ...authLimits(loadConfig({}, 'embedded')),
    maxConsecutiveFailures: 2,
    maxFailuresPerAddressPerDay: 100,
  });

  before(async () => {
    node = await startAuthNode({ state, env: { LOGIN_MAX_CONSECUTIVE_FAILURES: '2' } });
  });
  after(() => node.close());

  const login = (username: string, password = PASSWORD) =>
    node.client.post('/auth/login', { username, password });

  it('counts logins by outcome: ok, invalid_credentials, limited (by window) and blocked', async () => {
    const before = await node.scrape();
    expect(
      (await node.client.post('/auth/register', { username: 'olivia', password: PASSWORD })).status,
    ).to.equal(201);
    expect(
      (await node.client.post('/auth/register', { username: 'olivia', password: PASSWORD })).status,
    ).to.equal(409);
    expect((await login('olivia')).status).to.equal(200);
    expect((await login('olivia', 'wrong password!')).status).to.equal(401);
    expect((await login('nobody-here')).status).to.equal(401);
    expect((await login('olivia', 'wrong again!!')).status).to.equal(401);
    // LOGIN_MAX_CONSECUTIVE_FAILURES=2 for olivia from this address: the next is refused unhashed.
    expect((await login('olivia')).status).to.equal(429);
    expect(
      (await node.client.post('/auth/register', { username: 'peggy', password: PASSWORD })).status,
    ).to.equal(201);
    await state.blocklist.block('peggy', 'test', 60);
    expect((await login('peggy')).status).to.equal(403);

    const after = await node.scrape();
    const logins = (outcome: string) => moved(before, after, 'securechat_auth_logins_total', { outcome });
    expect(logins('ok')).to.equal(1);
    expect(logins('invalid_credentials')).to.equal(3);
    expect(logins('limited')).to.equal(1);
    expect(logins('blocked')).to.equal(1);
    expect(logins('error')).to.equal(0);
    expect(
      moved(before, after, 'securechat_auth_limiter_refusals_total', { limit: 'username_address' }),
    ).to.equal(1);
    expect(moved(before, after, 'securechat_auth_registrations_total', { outcome: 'ok' })).to.equal(2);
    expect(moved(before, after, 'securechat_auth_registrations_total', { outcome: 'taken' })).to.equal(1);
    // bcrypt: a hash per new account (since issue 10 a taken name is found before any
    // hashing, so it costs none), a compare per login that passed the limiter.
    const bcrypt = (op: string) =>
      after.histogram('securechat_auth_bcrypt_seconds', { op }).count -
      before.histogram('securechat_auth_bcrypt_seconds', { op }).count;
    expect(bcrypt('hash')).to.equal(2);
    expect(bcrypt('compare')).to.equal(5);
    expect(after.histogram('securechat_auth_bcrypt_seconds', { op: 'compare' }).sum).to.be.above(0);
    // Requests by route pattern and status.
    const requests = (labels: Record<string, string>) =>
      moved(before, after, 'securechat_auth_requests_total', labels);
    expect(requests({ route: '/auth/login', method: 'POST', status: '200' })).to.equal(1);
    expect(requests({ route: '/auth/login', method: 'POST', status: '401' })).to.equal(3);
    expect(requests({ route: '/auth/login', method: 'POST', status: '429' })).to.equal(1);
    expect(requests({ route: '/auth/login', method: 'POST', status: '403' })).to.equal(1);
    expect(requests({ route: '/auth/register', status: '409' })).to.equal(1);
    expect(
      after.histogram('securechat_auth_request_duration_seconds', { route: '/auth/login' }).count -
        before.histogram('securechat_auth_request_duration_seconds', { route: '/auth/login' }).count,
    ).to.equal(6);
  });

  it('counts refreshes by outcome, a reuse among them', async () => {
    await node.client.post('/auth/register', { username: 'quentin', password: PASSWORD });
    const first = fields(await login('quentin'));
    const before = await node.scrape();
    const rotated = await node.client.post('/auth/refresh', { refresh_token: first.refresh_token });
    expect(rotated.status).to.equal(200);
    // The spent token comes back: reuse, the family is revoked.
    expect((await node.client.post('/auth/refresh', { refresh_token: first.refresh_token })).status).to.equal(
      401,
    );
    expect((await node.client.post('/auth/refresh', { refresh_token: 'x'.repeat(43) })).status).to.equal(401);
    const after = await node.scrape();
    const refreshes = (outcome: string) =>
      moved(before, after, 'securechat_auth_refreshes_total', { outcome });
    expect(refreshes('ok')).to.equal(1);
    expect(refreshes('reused')).to.equal(1);
    expect(refreshes('invalid')).to.equal(1);
  });

  it('labels any other URL and method as unmatched/other: never what the client sent', async () => {
    const before = await node.scrape();
    expect((await node.client.get('/auth/login/../../etc/passwd?token=abc')).status).to.equal(404);
    expect((await node.client.send('PATCH', '/auth/login', { json: {} })).status).to.equal(404);
    expect((await node.client.send('PROPFIND', '/x<hostile>')).status).to.equal(404);
    const after = await node.scrape();
    expect(
      moved(before, after, 'securechat_auth_requests_total', { route: 'unmatched', status: '404' }),
    ).to.equal(3);
    expect(moved(before, after, 'securechat_auth_requests_total', { method: 'other' })).to.equal(1);
    expect(after.text).not.to.include('passwd');
    expect(after.text).not.to.include('hostile');
    expect(after.text).not.to.include('PROPFIND');
  });
});

describe('auth node metrics when Redis fails @redis', function () {
  this.timeout(30_000);
  let redis: RedisServer;
  let node: TestAuthNode;

  before(async () => {
    redis = await RedisServer.start();
    const client = createRedisClient({
      target: singleTarget(redis.url),
      name: 'auth-metrics',
      commandTimeoutMs: 500,
      logger: memoryLogger('redis').logger,
    });
    await waitReady(client);
    const state = createRedisAuthState(
      client,
      keySchema(uniquePrefix('am')),
      authLimits(loadConfig({}, 'embedded')),
    );
    node = await startAuthNode({ state });
    new RedisMetrics(node.registry).instrument(client, 'auth', luaScriptNames());
  });
  after(async () => {
    await node.close();
    await redis.destroy();
  });

  it('counts the failed login as error, the limiter failure by policy, and the Redis errors', async () => {
    await node.client.post('/auth/register', { username: 'rupert', password: PASSWORD });
    const session = await node.client.post('/auth/login', { username: 'rupert', password: PASSWORD });
    const token = String((JSON.parse(session.text) as { access_token: unknown }).access_token);
    const before = await node.scrape();
    expect(before.value('securechat_redis_command_duration_seconds_count', { op: 'create_user' })).to.equal(
      1,
    );
    await redis.stop();
    await waitFor(
      async () => (await node.scrape()).value('securechat_redis_connected', { client: 'auth' }) === 0,
    );
    const reply = await node.client.post('/auth/login', { username: 'rupert', password: PASSWORD });
    expect(reply.status).to.equal(503);
    const after = await node.scrape();
    expect(moved(before, after, 'securechat_auth_logins_total', { outcome: 'error' })).to.equal(1);
    expect(moved(before, after, 'securechat_auth_limiter_errors_total', { policy: 'fail-closed' })).to.equal(
      1,
    );
    expect(
      moved(before, after, 'securechat_auth_requests_total', { route: '/auth/login', status: '503' }),
    ).to.equal(1);
    // rate-limiter-flexible sends nothing while the client is down (and since issue 10 a
    // registration's limiter comes first); the revocation check of /auth/me sends an MGET,
    // which fails.
    expect(
      (await node.client.post('/auth/register', { username: 'sybil', password: PASSWORD })).status,
    ).to.equal(503);
    const me = await node.client.get('/auth/me', { Authorization: `Bearer ${token}` });
    expect(me.status).to.equal(503);
    const failed = await node.scrape();
    expect(moved(after, failed, 'securechat_redis_command_errors_total', { op: 'mget' })).to.equal(1);
    expect(moved(after, failed, 'securechat_auth_registrations_total', { outcome: 'error' })).to.equal(1);
    await redis.start();
  });
});
