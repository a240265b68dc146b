import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import { Redis } from 'ioredis';
import { createRedisClient, singleTarget, loadConfig } from '@securechat/common';
import { authLimits, createRedisAuthState } from '@securechat/state';
import { createAuthNode } from '@securechat/auth';
import { connect, refusal, type TestClient } from '../support/ws-client';
import { ChatCluster, type InProcessNode } from '../support/chat-cluster';
import { memoryLogger } from '../support/logs';
import { RedisServer } from '../support/redis-server';
import { waitFor } from '../support/wait';

/** Measured enforcement latencies, printed at the end (docs/OPERATIONS.md quotes them). */
const latencies: Record<string, number[]> = {};
function record(what: string, ms: number): void {
  (latencies[what] ??= []).push(ms);
}

describe('abuse controls and live enforcement across three nodes @redis', () => {
  let redis: RedisServer;
  let cluster: ChatCluster;
  let nodes: InProcessNode[];
  /** A raw client, as an operator's redis-cli would be. */
  let cli: Redis;
  const url = (i: number) => (nodes[i] as InProcessNode).url;

  before(async () => {
    redis = await RedisServer.start();
    cluster = new ChatCluster(redis, {
      RATE_LIMIT_MAX: '5',
      RATE_LIMIT_WINDOW_MS: '1000',
      BLOCK_AFTER_VIOLATIONS: '4',
      BLOCK_DURATION_S: '30',
    });
    nodes = [await cluster.startNode('e1'), await cluster.startNode('e2'), await cluster.startNode('e3')];
    cli = new Redis(redis.url);
  });
  after(async () => {
    cli.disconnect();
    await cluster.stop();
    await redis.destroy();
    const summary = Object.entries(latencies).map(
      ([what, ms]) => `${what}: max ${Math.max(...ms)} ms over ${ms.length}`,
    );
    process.stdout.write(`      enforcement latency: ${summary.join('; ')}\n`);
  });

  async function sessions(user: string): Promise<TestClient[]> {
    const token = cluster.token(user);
    return [
      await connect(url(0), { token }),
      await connect(url(1), { token }),
      await connect(url(2), { token }),
    ];
  }

  async function timedClose(clients: TestClient[], what: string, start: number) {
    const closes = await Promise.all(clients.map((c) => c.waitClose(2000)));
    record(what, Date.now() - start);
    expect(Date.now() - start).to.be.lessThan(2000);
    return closes;
  }

  describe('sliding-window rate limit', () => {
    it("counts a user's messages over all connections on all nodes", async () => {
      const clients = await sessions('counted');
      for (const c of clients) await c.join('count-room');
      const replies = [];
      // 8 sends within the 1 s window: 5 accepted, 3 refused (4 refusals would block)
      for (let i = 0; i < 8; i++) {
        replies.push(
          await (clients[i % 3] as TestClient).request({ type: 'send', room: 'count-room', text: `m${i}` }),
        );
      }
      expect(replies.filter((r) => r.type === 'ack')).to.have.length(5);
      const refused = replies.filter((r) => r.type === 'error');
      expect(refused).to.have.length(3);
      for (const r of refused) {
        expect(r.code).to.equal('rate_limited');
        expect(r.retry_after_ms).to.be.a('number').within(1, 1000);
      }
      // nothing refused was stored or published; the connections stay open
      const history = await (clients[0] as TestClient).request({ type: 'history', room: 'count-room' });
      expect((history.messages as unknown[]).length).to.equal(5);
      for (const c of clients) expect(c.closed).to.equal(undefined);
      await Promise.all(clients.map((c) => c.close()));
    });

    it('refuses a burst on both sides of a bucket edge (a fixed window would not)', async () => {
      const c = await connect(url(0), { token: cluster.token('edgy') });
      await c.join('edge');
      // Start 700-800 ms into a wall-clock second, so a 1 s fixed bucket would end soon after.
      await waitFor(() => Date.now() % 1000 >= 700 && Date.now() % 1000 < 800, {
        what: 'late in a second',
        intervalMs: 2,
      });
      const startSecond = Math.floor(Date.now() / 1000);
      for (let i = 0; i < 5; i++)
        expect((await c.request({ type: 'send', room: 'edge', text: `a${i}` })).type).to.equal('ack');
      await waitFor(() => Math.floor(Date.now() / 1000) > startSecond, {
        what: 'next second',
        intervalMs: 2,
      });
      // In a new fixed bucket these would pass; in the sliding window the first five are still counted.
      const after = await c.request({ type: 'send', room: 'edge', text: 'b0' });
      expect(after).to.include({ type: 'error', code: 'rate_limited' });
      // once the first message leaves the window, there is room again
      await new Promise((r) => setTimeout(r, Number(after.retry_after_ms) + 20));
      expect((await c.request({ type: 'send', room: 'edge', text: 'b1' })).type).to.equal('ack');
      await c.close();
    });
  });

  describe('escalation to a block', () => {
    it('blocks after BLOCK_AFTER_VIOLATIONS rejections: every session closes 1008 blocked, handshakes 403', async () => {
      const clients = await sessions('spammer');
      await (clients[0] as TestClient).join('spam');
      const start = Date.now();
      for (let i = 0; i < 9; i++)
        (clients[0] as TestClient).send({ type: 'send', room: 'spam', text: `s${i}` });
      const closes = await timedClose(clients, 'automatic block', start);
      for (const close of closes) expect(close).to.deep.equal({ code: 1008, reason: 'blocked' });
      expect(await cli.get(cluster.keys.blocked('spammer'))).to.equal('rate_limit');
      const ttl = await cli.ttl(cluster.keys.blocked('spammer'));
      expect(ttl).to.be.within(25, 30);
      expect((await refusal(url(1), { token: cluster.token('spammer') })).status).to.equal(403);
      const text = nodes.map((n) => n.logs.text()).join('');
      expect(text).to.include('"event":"blocked"');
      expect(text).to.include('"event":"kicked_blocked"');
    });
  });

  describe('changes made with a raw Redis client alone', () => {
    it('SET blocked:<user> closes every session on every node within 2 s; DEL lets them back', async () => {
      const clients = await sessions('opblocked');
      const start = Date.now();
      await cli.set(cluster.keys.blocked('opblocked'), 'operator', 'EX', 60);
      const closes = await timedClose(clients, 'redis-cli SET blocked', start);
      for (const close of closes) expect(close).to.deep.equal({ code: 1008, reason: 'blocked' });
      expect((await refusal(url(2), { token: cluster.token('opblocked') })).status).to.equal(403);
      await cli.del(cluster.keys.blocked('opblocked'));
      const back = await connect(url(2), { token: cluster.token('opblocked') });
      await back.close();
    });

    it("SET revoked:<jti> closes that token's sessions within 2 s, not the user's others", async () => {
      const issued = cluster.issue('revokee');
      const other = await connect(url(1), { token: cluster.token('revokee') });
      const clients = [
        await connect(url(0), { token: issued.token }),
        await connect(url(2), { token: issued.token }),
      ];
      const start = Date.now();
      await cli.set(cluster.keys.revoked(issued.jti), 'operator', 'EX', 900);
      const closes = await timedClose(clients, 'redis-cli SET revoked', start);
      for (const close of closes) expect(close).to.deep.equal({ code: 1008, reason: 'token_revoked' });
      expect((await other.request({ type: 'ping' })).type).to.equal('pong');
      await other.close();
    });

    it('SET revoked-before:<user> revokes every token of the user issued so far', async () => {
      const clients = await sessions('allgone');
      const start = Date.now();
      await cli.set(cluster.keys.revokedBefore('allgone'), String(Date.now()), 'EX', 1000);
      await timedClose(clients, 'redis-cli SET revoked-before', start);
    });
  });

  describe('revalidation when no event arrives', () => {
    it('closes a revoked session at the next revalidation even with keyspace events off', async () => {
      const quiet = await cluster.startNode('quiet', {
        CONFIGURE_KEYSPACE_EVENTS: 'false',
        REVALIDATE_INTERVAL_MS: '300',
      });
      await cli.config('SET', 'notify-keyspace-events', '');
      const issued = cluster.issue('missed');
      const c = await connect(quiet.url, { token: issued.token });
      // a raw SET with notifications off: no event reaches any node
      await cli.set(cluster.keys.revoked(issued.jti), 'operator', 'EX', 900);
      expect(await c.waitClose(3000)).to.deep.equal({ code: 1008, reason: 'token_revoked' });
      await cli.config('SET', 'notify-keyspace-events', 'E$gx');
      await quiet.stop();
    });
  });

  describe('token lifetime on live connections', () => {
    it('closes 1008 token_expired at exp', async () => {
      const c = await connect(url(0), { token: cluster.token('expiring', 2) });
      const start = Date.now();
      expect(await c.waitClose(8000)).to.deep.equal({ code: 1008, reason: 'token_expired' });
      expect(Date.now() - start).to.be.within(1000, 6000);
    });

    it('keeps a connection open past exp after refresh_token with a newer token of the same user', async () => {
      const first = cluster.issue('refresher', 2);
      const c = await connect(url(1), { token: first.token });
      const newer = cluster.issue('refresher', 60);
      const reply = await c.request({ type: 'refresh_token', token: newer.token });
      expect(reply).to.deep.include({ type: 'token_refreshed', exp: newer.exp });
      // past the first token's exp and the close tolerance
      await waitFor(() => Date.now() >= first.exp * 1000 + 3000, {
        what: 'past the old exp',
        timeoutMs: 7000,
      });
      expect(c.closed).to.equal(undefined);
      expect((await c.request({ type: 'ping' })).type).to.equal('pong');
      await c.close();
    });

    it("refuses another user's, a revoked, an expired or a malformed token and keeps the identity", async () => {
      const c = await connect(url(2), { token: cluster.token('ident', 60) });
      const revoked = cluster.issue('ident', 120);
      await cli.set(cluster.keys.revoked(revoked.jti), 'test', 'EX', 200);
      for (const token of [
        cluster.token('someoneelse', 120),
        revoked.token,
        cluster.token('ident', 5, { now: Date.now() - 60_000 }),
        'not.a.token',
      ]) {
        const reply = await c.request({ type: 'refresh_token', token });
        expect(reply).to.include({ type: 'error', code: 'forbidden' });
      }
      await c.join('ident-room');
      const ack = await c.request({ type: 'send', room: 'ident-room', text: 'still me' });
      const m = await c.next((f) => f.type === 'message' && f.id === ack.id);
      expect(m.from).to.equal('ident');
      await c.close();
    });

    it('a refresh racing the expiry: sent inside the tolerance after exp, it wins', async () => {
      const first = cluster.issue('racer', 2);
      const c = await connect(url(0), { token: first.token });
      await waitFor(() => Date.now() >= first.exp * 1000 + 300, { what: 'just past exp', timeoutMs: 5000 });
      const reply = await c.request({ type: 'refresh_token', token: cluster.token('racer', 60) });
      expect(reply.type).to.equal('token_refreshed');
      await waitFor(() => Date.now() >= first.exp * 1000 + 3000, {
        what: 'past the tolerance',
        timeoutMs: 6000,
      });
      expect(c.closed).to.equal(undefined);
      await c.close();
    });
  });

  describe('through the auth API on the same Redis', () => {
    let server: Server;
    let base: string;

    before(async () => {
      const logs = memoryLogger('auth');
      const client = createRedisClient({
        target: singleTarget(redis.url),
        name: 'auth',
        commandTimeoutMs: 1000,
        logger: logs.logger,
      });
      // an auth node's own configuration; the key is given below, the file unused
      const config = loadConfig(
        {
          REDIS_URL: redis.url,
          REDIS_PREFIX: cluster.prefix,
          JWT_PRIVATE_KEY_FILE: '/unused',
          BCRYPT_COST: '10',
        },
        'auth',
      );
      const state = createRedisAuthState(client, cluster.keys, authLimits(config));
      const node = createAuthNode({
        config,
        state,
        signingKey: cluster.key,
        logger: logs.logger,
      });
      await node.ready();
      server = createServer(node.app);
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const address = server.address();
      base = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
    });
    after(async () => {
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      });
    });

    const post = async (path: string, body: unknown, token?: string) => {
      const res = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? (JSON.parse(text) as Record<string, string>) : {} };
    };

    it("logout closes the token's chat sessions within 2 s", async () => {
      await post('/auth/register', { username: 'leaver', password: 'password-1' });
      const login = await post('/auth/login', { username: 'leaver', password: 'password-1' });
      const token = login.body.access_token as string;
      const clients = [await connect(url(0), { token }), await connect(url(2), { token })];
      const start = Date.now();
      expect((await post('/auth/logout', {}, token)).status).to.equal(204);
      const closes = await timedClose(clients, 'logout', start);
      for (const close of closes) expect(close).to.deep.equal({ code: 1008, reason: 'token_revoked' });
    });

    it("refresh-token reuse closes the family's chat sessions within 2 s", async () => {
      await post('/auth/register', { username: 'reuser', password: 'password-1' });
      const login = await post('/auth/login', { username: 'reuser', password: 'password-1' });
      const refreshed = await post('/auth/refresh', { refresh_token: login.body.refresh_token });
      expect(refreshed.status).to.equal(200);
      const clients = [
        await connect(url(1), { token: login.body.access_token as string }),
        await connect(url(2), { token: refreshed.body.access_token as string }),
      ];
      const start = Date.now();
      expect((await post('/auth/refresh', { refresh_token: login.body.refresh_token })).status).to.equal(401);
      await timedClose(clients, 'refresh reuse', start);
    });

    it('revoking every token of a user also ends the refresh families begun before', async () => {
      await post('/auth/register', { username: 'wholesale', password: 'password-1' });
      const login = await post('/auth/login', { username: 'wholesale', password: 'password-1' });
      const c = await connect(url(0), { token: login.body.access_token as string });
      const mark = Date.now();
      await cli.set(cluster.keys.revokedBefore('wholesale'), String(mark), 'EX', 1000);
      expect(await c.waitClose(2000)).to.deep.equal({ code: 1008, reason: 'token_revoked' });
      const refreshed = await post('/auth/refresh', { refresh_token: login.body.refresh_token });
      expect(refreshed.status).to.equal(401);
      expect(refreshed.body.error).to.equal('invalid_grant');
      // a login in a later second works (iat has whole seconds: one in the same second as
      // the mark counts as issued before it)
      await waitFor(() => Math.floor(Date.now() / 1000) > Math.floor(mark / 1000), { what: 'next second' });
      const again = await post('/auth/login', { username: 'wholesale', password: 'password-1' });
      expect(again.status).to.equal(200);
      const fresh = await connect(url(1), { token: again.body.access_token as string });
      await fresh.close();
    });

    it('login of a blocked user is refused 403 blocked', async () => {
      await post('/auth/register', { username: 'barred', password: 'password-1' });
      await cli.set(cluster.keys.blocked('barred'), 'operator', 'EX', 60);
      const login = await post('/auth/login', { username: 'barred', password: 'password-1' });
      expect(login.status).to.equal(403);
      expect(login.body.error).to.equal('blocked');
    });
  });
});
