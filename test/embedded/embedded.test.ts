import { expect } from 'chai';
import { hostname } from 'node:os';
import { loadConfig } from '@securechat/common';
import { readNginxTemplate } from '@securechat/cluster';
import { startEmbedded, WEB_SECURITY_HEADERS, type Embedded } from '@securechat/embedded';
import { ROOT } from '../support/processes';
import { connect, refusal } from '../support/ws-client';
import { decodePart } from '../support/jwt';
import { Redis } from 'ioredis';
import { memoryLogger } from '../support/logs';
import { RedisServer } from '../support/redis-server';

describe('embedded mode: auth, chat and the page in one process, memory state', () => {
  let app: Embedded;
  let http: string;
  let ws: string;

  before(async () => {
    const config = loadConfig(
      {
        PORT: '0',
        METRICS_PORT: '0',
        RATE_LIMIT_MAX: '3',
        RATE_LIMIT_WINDOW_MS: '60000',
        BLOCK_AFTER_VIOLATIONS: '2',
        MAX_MESSAGE_BYTES: '8192',
      },
      'embedded',
    );
    app = await startEmbedded(config, memoryLogger('embedded').logger);
    http = `http://127.0.0.1:${app.port}`;
    ws = `ws://127.0.0.1:${app.port}`;
  });
  after(async () => {
    await app.close();
  });

  async function post(path: string, body: unknown, token?: string) {
    const res = await fetch(`${http}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, string> };
  }

  async function loginPair(username: string): Promise<Record<string, string>> {
    await post('/auth/register', { username, password: 'password-1' });
    const res = await post('/auth/login', { username, password: 'password-1' });
    expect(res.status).to.equal(200);
    return res.body;
  }

  async function login(username: string): Promise<string> {
    return (await loginPair(username)).access_token as string;
  }

  it('serves a page at /', async () => {
    const res = await fetch(`${http}/`);
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.match(/html/);
  });

  it('serves the web client with the security headers nginx sends with it', async () => {
    // What nginx adds to the web client (location /), HSTS aside: it means nothing over HTTP.
    const template = readNginxTemplate(ROOT);
    const start = template.lastIndexOf('\n        location / {');
    const block = template.slice(start, template.indexOf('\n        }', start));
    const edge = Object.fromEntries(
      [...block.matchAll(/add_header ([\w-]+) (?:"([^"]*)"|(\S+?))(?: always)?;/g)]
        .map((m) => [m[1] as string, (m[2] ?? m[3]) as string])
        .filter(([name]) => name !== 'Strict-Transport-Security'),
    );
    expect(Object.keys(edge)).to.include.members(['Content-Security-Policy', 'X-Frame-Options']);
    expect(WEB_SECURITY_HEADERS).to.deep.equal(edge);
    for (const path of ['/', '/app.js', '/style.css']) {
      const res = await fetch(`${http}${path}`);
      expect(res.status, path).to.equal(200);
      for (const [name, value] of Object.entries(edge))
        expect(res.headers.get(name), `${path} ${name}`).to.equal(value);
    }
    // The API keeps its own (helmet's, and no-store).
    const jwks = await fetch(`${http}/auth/jwks.json`);
    expect(jwks.headers.get('content-security-policy')).to.not.equal(edge['Content-Security-Policy']);
    expect((await fetch(`${http}/auth/me`)).headers.get('cache-control')).to.equal('no-store');
  });

  it('gives its own pages the browser session and CORS by default (ALLOWED_ORIGINS unset), and nobody else', async () => {
    const own = `http://localhost:${app.port}`;
    await post('/auth/register', { username: 'cookie', password: 'password-1' });
    const login = (origin: string) =>
      fetch(`${http}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin },
        body: JSON.stringify({ username: 'cookie', password: 'password-1', session: 'cookie' }),
      });
    for (const origin of [own, `http://127.0.0.1:${app.port}`]) {
      const res = await login(origin);
      expect(res.status, origin).to.equal(200);
      expect(res.headers.getSetCookie()[0]).to.match(
        /^__Secure-securechat_refresh=[\w-]{43}; Path=\/auth\/refresh; HttpOnly; Secure; SameSite=Strict/,
      );
      expect(res.headers.get('access-control-allow-origin')).to.equal(origin);
    }
    const other = await login('http://localhost:1');
    expect(other.status).to.equal(403);
    expect(((await other.json()) as { error: string }).error).to.equal('origin_not_allowed');
    const preflight = await fetch(`${http}/auth/refresh`, {
      method: 'OPTIONS',
      headers: { origin: own, 'access-control-request-method': 'POST' },
    });
    expect(preflight.status).to.equal(204);
    expect(preflight.headers.get('access-control-allow-credentials')).to.equal('true');
  });

  it('names itself in welcome without the host name or the pid', async () => {
    const c = await connect(ws, { token: await login('dee') });
    const welcome = c.frames.find((f) => f.type === 'welcome');
    expect(String(welcome?.node)).to.match(/^node-[0-9a-f]{12}$/);
    expect(String(welcome?.node)).not.to.include(hostname());
    expect(String(welcome?.node)).not.to.include(String(process.pid));
    // what a client needs to stay within the limits: MAX_MESSAGE_BYTES and the rate limit
    expect(welcome?.max_message_bytes).to.equal(8192);
    expect(welcome?.limits).to.deep.equal({ messages: 3, window_ms: 60000 });
    await c.close();
  });

  it('runs the WebSocket protocol with tokens from its own auth API, by every method', async () => {
    const ann = await login('ann');
    const ben = await login('ben');
    const a = await connect(ws, { token: ann, method: 'subprotocol' });
    const b = await connect(ws, { token: ben, method: 'query' });
    expect((await a.join('lobby')).members).to.deep.equal(['ann']);
    expect((await b.join('lobby')).members).to.deep.equal(['ann', 'ben']);
    await a.next((f) => f.type === 'presence' && f.user === 'ben' && f.state === 'online');
    const ack = await a.request({ type: 'send', room: 'lobby', text: 'hi' });
    expect((await b.next((f) => f.type === 'message' && f.id === ack.id)).from).to.equal('ann');
    expect((await b.request({ type: 'join', room: 'dm:ann:cat' })).code).to.equal('forbidden');
    const resumed = await connect(ws, { token: ben });
    await resumed.join('lobby', '0-0');
    await resumed.next((f) => f.type === 'message' && f.id === ack.id);
    await Promise.all([a.close(), b.close(), resumed.close()]);
  });

  it('refuses bad origins and tokens', async () => {
    const token = await login('cid');
    expect((await refusal(ws, { token, origin: 'http://evil.example' })).status).to.equal(403);
    expect((await refusal(ws, { token: 'nope' })).status).to.equal(401);
  });

  it('closes a session at logout, and blocks a flooding user on the spot', async () => {
    const token = await login('dee');
    const c = await connect(ws, { token });
    expect((await post('/auth/logout', {}, token)).status).to.equal(204);
    expect(await c.waitClose(2000)).to.deep.equal({ code: 1008, reason: 'token_revoked' });

    const flood = await login('eve');
    const f = await connect(ws, { token: flood });
    await f.join('flood');
    for (let i = 0; i < 6; i++) f.send({ type: 'send', room: 'flood', text: `x${i}` });
    expect(await f.waitClose(2000)).to.deep.equal({ code: 1008, reason: 'blocked' });
    const again = await post('/auth/login', { username: 'eve', password: 'password-1' });
    expect(again.status).to.equal(403);
    expect(again.body.error).to.equal('blocked');
  });

  it('leave answers left and ends delivery; history pages the room oldest first', async () => {
    const g = await connect(ws, { token: await login('gus') });
    const h = await connect(ws, { token: await login('hal') });
    await g.join('hist');
    await h.join('hist');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push((await g.request({ type: 'send', room: 'hist', text: `m${i}` })).id as string);
    const all = await h.request({ type: 'history', room: 'hist' });
    expect(all).to.deep.include({ type: 'history', room: 'hist' });
    const messages = all.messages as Record<string, unknown>[];
    expect(messages.map((m) => m.text)).to.deep.equal(['m0', 'm1', 'm2']);
    expect(messages.map((m) => m.id)).to.deep.equal(ids);
    for (const m of messages) {
      expect(m).to.include({ room: 'hist', from: 'gus' });
      expect(m.ts).to.be.a('number');
    }
    const page = await h.request({ type: 'history', room: 'hist', before: ids[2], limit: 1 });
    expect((page.messages as Record<string, unknown>[]).map((m) => m.text)).to.deep.equal(['m1']);

    h.send({ type: 'leave', room: 'hist', ref: 'bye' });
    expect(await h.next((f) => f.ref === 'bye')).to.deep.equal({ type: 'left', room: 'hist', ref: 'bye' });
    await g.next((f) => f.type === 'presence' && f.user === 'hal' && f.state === 'offline');
    expect(await h.request({ type: 'send', room: 'hist', text: 'x' })).to.include({
      type: 'error',
      code: 'forbidden',
    });
    expect(await h.request({ type: 'leave', room: 'hist' })).to.include({ type: 'error', code: 'forbidden' });
    await Promise.all([g.close(), h.close()]);
  });

  it('delivers a dm in the dm:<a>:<b> room, which a third user can neither join nor read', async () => {
    const ida = await connect(ws, { token: await login('ida') });
    const jon = await connect(ws, { token: await login('jon') });
    const kim = await connect(ws, { token: await login('kim') });
    await jon.join('dm:ida:jon');
    const ack = await ida.request({ type: 'dm', to: 'Jon', text: 'psst' });
    expect(ack).to.deep.include({ type: 'ack', room: 'dm:ida:jon' });
    const m = await jon.next((f) => f.type === 'message' && f.id === ack.id);
    expect(m).to.deep.include({ room: 'dm:ida:jon', from: 'ida', text: 'psst' });
    expect(await kim.request({ type: 'join', room: 'dm:ida:jon' })).to.include({
      type: 'error',
      code: 'forbidden',
    });
    expect(await kim.request({ type: 'history', room: 'dm:ida:jon' })).to.include({
      type: 'error',
      code: 'forbidden',
    });
    const history = await ida.request({ type: 'history', room: 'dm:ida:jon' });
    expect((history.messages as Record<string, unknown>[]).map((x) => x.text)).to.deep.equal(['psst']);
    expect(await ida.request({ type: 'dm', to: 'ida', text: 'me' })).to.include({ code: 'bad_request' });
    expect(kim.messages()).to.have.length(0);
    await Promise.all([ida.close(), jon.close(), kim.close()]);
  });

  it('delivers a dm to every connection of a recipient who joined nothing, lists it and shares read markers', async () => {
    const token = await login('noa');
    const max = await connect(ws, { token: await login('max') });
    const tab1 = await connect(ws, { token });
    const tab2 = await connect(ws, { token });
    const ack = await max.request({ type: 'dm', to: 'noa', text: 'are you there?' });
    for (const tab of [tab1, tab2, max]) {
      expect(await tab.next((f) => f.type === 'message' && f.id === ack.id)).to.deep.include({
        room: 'dm:max:noa',
        text: 'are you there?',
      });
    }
    const list = await tab1.request({ type: 'conversations' });
    expect(list.items).to.deep.equal([
      {
        room: 'dm:max:noa',
        last: {
          id: ack.id,
          room: 'dm:max:noa',
          from: 'max',
          text: 'are you there?',
          ts: (list.items as { last: { ts: number } }[])[0]?.last.ts,
        },
        unread: 1,
      },
    ]);
    expect(await tab1.request({ type: 'read', room: 'dm:max:noa', id: ack.id })).to.include({
      type: 'read',
      id: ack.id,
    });
    expect(await tab2.next((f) => f.type === 'read')).to.deep.equal({
      type: 'read',
      room: 'dm:max:noa',
      id: ack.id,
    });
    await Promise.all([max.close(), tab1.close(), tab2.close()]);
  });

  it('answers ping with pong, and refresh_token with token_refreshed', async () => {
    const pair = await loginPair('lou');
    const c = await connect(ws, { token: pair.access_token as string });
    c.send({ type: 'ping', ref: 'p-1' });
    expect(await c.next((f) => f.ref === 'p-1')).to.deep.equal({ type: 'pong', ref: 'p-1' });
    const refreshed = await post('/auth/refresh', { refresh_token: pair.refresh_token });
    expect(refreshed.status).to.equal(200);
    const newer = refreshed.body.access_token as string;
    const reply = await c.request({ type: 'refresh_token', token: newer });
    expect(reply.type).to.equal('token_refreshed');
    expect(reply.exp).to.equal(decodePart(newer, 1).exp);
    // another user's token is refused and changes nothing
    const other = await c.request({ type: 'refresh_token', token: await login('mel') });
    expect(other).to.include({ type: 'error', code: 'forbidden' });
    await c.join('lou-room');
    const ack = await c.request({ type: 'send', room: 'lou-room', text: 'me' });
    expect((await c.next((f) => f.type === 'message' && f.id === ack.id)).from).to.equal('lou');
    await c.close();
  });

  it('answers malformed JSON and wrong types with bad_request and keeps the connection open', async () => {
    const c = await connect(ws, { token: await login('ned') });
    c.send('{not json');
    expect(await c.next((f) => f.type === 'error')).to.include({ code: 'bad_request', message: 'not JSON' });
    for (const bad of [
      { type: 'join', room: 5 },
      { type: 'join', room: 'Bad*Name' },
      { type: 'send', room: 'lobby', text: { a: 1 } },
      { type: 'dm', to: ['bob'], text: 'x' },
      { type: 'history', room: 'lobby', limit: 'all' },
      { type: 'refresh_token', token: 7 },
      { type: 'nope' },
      [1, 2, 3],
      'string',
      null,
    ]) {
      const before = c.frames.length;
      c.send(JSON.stringify(bad));
      const reply = await c.next((f) => f.type === 'error', 2000, before);
      expect(reply.code, JSON.stringify(bad)).to.equal('bad_request');
    }
    expect(c.closed).to.equal(undefined);
    expect((await c.request({ type: 'ping' })).type).to.equal('pong');
    await c.close();
  });

  it('refuses a message over the rate limit with rate_limited and retry_after_ms, storing nothing', async () => {
    const c = await connect(ws, { token: await login('oli') });
    await c.join('oli-room');
    for (let i = 0; i < 3; i++)
      expect((await c.request({ type: 'send', room: 'oli-room', text: `m${i}` })).type).to.equal('ack');
    const refused = await c.request({ type: 'send', room: 'oli-room', text: 'one too many' });
    expect(refused).to.include({ type: 'error', code: 'rate_limited' });
    expect(refused.retry_after_ms).to.be.a('number').within(1, 60_000);
    expect(c.closed).to.equal(undefined);
    const history = await c.request({ type: 'history', room: 'oli-room' });
    expect((history.messages as unknown[]).length).to.equal(3);
    await c.close();
  });

  it('closes 1003 on a binary frame', async () => {
    const c = await connect(ws, { token: await login('pam') });
    c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    expect((await c.waitClose()).code).to.equal(1003);
  });

  it('closes 1009 on a message over MAX_MESSAGE_BYTES, and not on one just under it', async () => {
    const c = await connect(ws, { token: await login('quin') });
    const under = JSON.stringify({ type: 'ping', ref: 'big', pad: 'x'.repeat(8000) });
    expect(Buffer.byteLength(under)).to.be.within(8000, 8192);
    c.send(under);
    expect((await c.next((f) => f.ref === 'big')).type).to.equal('pong');
    c.send(JSON.stringify({ type: 'ping', pad: 'x'.repeat(8200) }));
    expect((await c.waitClose()).code).to.equal(1009);
  });
});

describe('npm start with REDIS_URL set: one process on Redis state @redis', () => {
  it('serves auth and chat from Redis, so a raw SET blocked: reaches its sockets', async () => {
    const redis = await RedisServer.start();
    const config = loadConfig(
      { PORT: '0', METRICS_PORT: '0', REDIS_URL: redis.url, REDIS_PREFIX: 'emb:' },
      'embedded',
    );
    const app = await startEmbedded(config, memoryLogger('embedded').logger);
    const admin = new Redis(redis.url);
    try {
      const base = `http://127.0.0.1:${app.port}`;
      const json = { 'content-type': 'application/json' };
      const body = JSON.stringify({ username: 'redisuser', password: 'password-1' });
      expect((await fetch(`${base}/auth/register`, { method: 'POST', headers: json, body })).status).to.equal(
        201,
      );
      expect(await admin.hget('emb:user:redisuser', 'username')).to.equal('redisuser');
      const login = (await (
        await fetch(`${base}/auth/login`, { method: 'POST', headers: json, body })
      ).json()) as {
        access_token: string;
      };
      const c = await connect(`ws://127.0.0.1:${app.port}`, { token: login.access_token });
      await admin.set('emb:blocked:redisuser', 'operator', 'EX', 60);
      expect(await c.waitClose(2000)).to.deep.equal({ code: 1008, reason: 'blocked' });
    } finally {
      admin.disconnect();
      await app.close();
      await redis.destroy();
    }
  });
});
