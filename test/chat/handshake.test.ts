import { expect } from 'chai';
import { connect, refusal, openSocket, TestClient } from '../support/ws-client';
import { ChatCluster, ISSUER, type InProcessNode } from '../support/chat-cluster';
import { goodClaims, signEs256 } from '../support/jwt';
import { RedisServer } from '../support/redis-server';

describe('chat handshake @redis', () => {
  let redis: RedisServer;
  let cluster: ChatCluster;
  let a: InProcessNode;
  let b: InProcessNode;

  before(async () => {
    redis = await RedisServer.start();
    cluster = new ChatCluster(redis);
    a = await cluster.startNode('hs-a', { MAX_CONNECTIONS_PER_USER: '3', MAX_CONNECTIONS_PER_ADDRESS: '6' });
    b = await cluster.startNode('hs-b', { MAX_CONNECTIONS_PER_USER: '3' });
  });
  after(async () => {
    await cluster.stop();
    await redis.destroy();
  });

  for (const method of ['header', 'subprotocol', 'query'] as const) {
    it(`accepts a token by ${method} and greets with welcome`, async () => {
      const result = await openSocket(a.url, { token: cluster.token('alice'), method });
      expect(result).to.be.instanceOf(TestClient);
      const client = result as TestClient;
      const welcome = await client.next((f) => f.type === 'welcome');
      expect(welcome).to.include({ user: 'alice', node: 'hs-a' });
      expect(welcome.session).to.be.a('string');
      // the server selects chat.v1 and never echoes the bearer subprotocol
      expect(client.ws.protocol).to.equal('chat.v1');
      await client.close();
    });
  }

  it('refuses a missing, wrong or look-alike Origin with 403', async () => {
    const token = cluster.token('alice');
    expect((await refusal(a.url, { token, origin: null })).status).to.equal(403);
    expect((await refusal(a.url, { token, origin: 'http://evil.example' })).status).to.equal(403);
    const own = a.url.replace('ws://', 'http://');
    expect((await refusal(a.url, { token, origin: `${own}.evil.example` })).status).to.equal(403);
    expect((await refusal(a.url, { token, origin: own.toUpperCase() })).status).to.equal(403);
  });

  it('refuses missing, malformed, badly signed, expired or other-typ tokens with 401 and a JSON body', async () => {
    const good = cluster.token('alice');
    const [h, p] = good.split('.') as [string, string, string];
    const forged = `${h}.${Buffer.from(JSON.stringify({ sub: 'mallory' })).toString('base64url')}.${good.split('.')[2]}`;
    const expired = cluster.token('alice', 60, { now: Date.now() - 3600_000 });
    for (const token of [undefined, 'garbage', `${h}.${p}.`, forged, expired]) {
      const r = await refusal(a.url, token === undefined ? {} : { token });
      expect(r.status, String(token)).to.equal(401);
      expect(JSON.parse(r.body)).to.have.property('error', 'invalid_token');
    }
  });

  it('refuses a token of another typ, without exp, or for another aud with 401 by every method, never a 101', async () => {
    const claims = goodClaims({ issuer: ISSUER, audience: ISSUER }, 'alice');
    const sign = (payload: Record<string, unknown>) =>
      signEs256({ alg: 'ES256', typ: 'JWT', kid: cluster.key.kid }, payload, cluster.key.privateKey);
    const without = (name: string) => {
      const copy = { ...claims };
      delete copy[name];
      return sign(copy);
    };
    // The same hand-made token with the right claims is accepted: each refusal below is
    // for the one claim that differs.
    const control = await connect(a.url, { token: sign(claims) });
    await control.close();
    const cases: [string, string][] = [
      ['typ refresh', sign({ ...claims, typ: 'refresh' })],
      ['typ id', sign({ ...claims, typ: 'id' })],
      ['typ Access', sign({ ...claims, typ: 'Access' })],
      ['no typ', without('typ')],
      ['no exp', without('exp')],
      ['exp null', sign({ ...claims, exp: null })],
      ['exp a string', sign({ ...claims, exp: String(claims.exp) })],
      ['wrong aud', sign({ ...claims, aud: 'someone-else' })],
      ['aud list without ours', sign({ ...claims, aud: ['someone-else', 'other'] })],
      ['no aud', without('aud')],
    ];
    for (const [name, token] of cases) {
      for (const method of ['header', 'subprotocol', 'query'] as const) {
        // refusal() fails the test if the server answered 101
        const r = await refusal(a.url, { token, method });
        expect(r.status, `${name} by ${method}`).to.equal(401);
        expect(JSON.parse(r.body), name).to.deep.equal({ error: 'invalid_token', message: 'Unauthorized' });
        expect(r.headers['www-authenticate'], name).to.equal('Bearer error="invalid_token"');
      }
    }
  });

  it('refuses a revoked token with 401 and a blocked user with 403', async () => {
    const issued = cluster.issue('carol');
    await cluster.admin.set(cluster.keys.revoked(issued.jti), 'test', 'EX', 600);
    expect((await refusal(a.url, { token: issued.token })).status).to.equal(401);
    await cluster.admin.set(cluster.keys.blocked('dave'), 'test', 'EX', 600);
    expect((await refusal(a.url, { token: cluster.token('dave') })).status).to.equal(403);
  });

  it('refuses subprotocols without chat.v1, and paths other than /ws', async () => {
    const token = cluster.token('alice');
    expect((await refusal(a.url, { token, protocols: ['other'] })).status).to.equal(400);
    expect((await refusal(a.url, { token, path: '/elsewhere' })).status).to.equal(404);
  });

  it('caps connections per user across nodes with 429', async () => {
    const token = cluster.token('erin');
    const open = [
      await connect(a.url, { token }),
      await connect(b.url, { token }),
      await connect(a.url, { token }),
    ];
    const r = await refusal(b.url, { token });
    expect(r.status).to.equal(429);
    await open[0]?.close();
    // the freed slot is reusable on any node
    const again = await connect(b.url, { token });
    await Promise.all([again.close(), ...open.map((c) => c.close())]);
  });

  it('caps connections per address on a node with 429', async () => {
    const clients: TestClient[] = [];
    for (let i = 0; i < 6; i++) clients.push(await connect(a.url, { token: cluster.token(`user${i}`) }));
    expect((await refusal(a.url, { token: cluster.token('user9') })).status).to.equal(429);
    await Promise.all(clients.map((c) => c.close()));
  });

  it('refuses a percent-encoded parameter name or a second token in the query with 400, never a 101', async () => {
    const token = cluster.token('alice');
    const queries = [
      `%74oken=${token}`,
      `%74%6F%6B%65%6E=${token}`,
      `x=1&T%4fKEN=${token}`,
      `token=${token}&token=${token}`,
    ];
    for (const query of queries) {
      const r = await refusal(b.url, { path: `/ws?${query}` });
      expect(r.status, query).to.equal(400);
      expect(JSON.parse(r.body)).to.have.property('error', 'bad_request');
    }
    const reasons = b.logs
      .lines()
      .filter((l) => l.event === 'handshake_refused')
      .map((l) => l.reason);
    expect(reasons.slice(-4)).to.deep.equal([
      'query_encoding',
      'query_encoding',
      'query_encoding',
      'query_duplicate',
    ]);
    // the literal name still works, beside parameters it does not know
    const ok = await connect(b.url, { path: `/ws?v=1&token=${encodeURIComponent(token)}` });
    await ok.close();
    expect(b.logs.text()).not.to.include(token.split('.')[2] as string);
  });

  it('with ALLOW_QUERY_TOKEN=false refuses ?token= with 401 and takes the header and the subprotocol', async () => {
    const strict = await cluster.startNode('hs-noquery', { ALLOW_QUERY_TOKEN: 'false' });
    const token = cluster.token('alice');
    expect((await refusal(strict.url, { token, method: 'query' })).status).to.equal(401);
    // a token in the query is refused even beside one in the header
    expect((await refusal(strict.url, { token, path: `/ws?token=${token}` })).status).to.equal(401);
    for (const method of ['header', 'subprotocol'] as const)
      await (await connect(strict.url, { token, method })).close();
    const refused = strict.logs.lines().filter((l) => l.event === 'handshake_refused');
    expect(refused.map((l) => l.reason)).to.deep.equal(['query_token_disabled', 'query_token_disabled']);
  });

  it('never logs a token', async () => {
    const token = cluster.token('frank');
    const c = await connect(a.url, { token, method: 'query' });
    await c.close();
    await refusal(a.url, { token: `${token}x`, method: 'query' });
    expect(a.logs.text()).not.to.include(token.split('.')[2] as string);
    expect(a.logs.text()).to.include('handshake_refused');
  });
});

describe('chat handshake rate per address @redis', () => {
  let redis: RedisServer;
  let cluster: ChatCluster;
  before(async () => {
    redis = await RedisServer.start();
    cluster = new ChatCluster(redis);
  });
  after(async () => {
    await cluster.stop();
    await redis.destroy();
  });

  it('answers 429 past MAX_HANDSHAKES_PER_ADDRESS_PER_MIN', async () => {
    const node = await cluster.startNode('rate', { MAX_HANDSHAKES_PER_ADDRESS_PER_MIN: '3' });
    for (let i = 0; i < 3; i++) expect((await refusal(node.url, { token: 'bad' })).status).to.equal(401);
    expect((await refusal(node.url, { token: cluster.token('alice') })).status).to.equal(429);
  });
});
