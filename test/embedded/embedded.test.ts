import { expect } from 'chai';
import { loadConfig } from '@securechat/common';
import { startEmbedded, type Embedded } from '@securechat/embedded';
import { connect, refusal } from '../support/ws-client';
import { Redis } from 'ioredis';
import { memoryLogger } from '../support/logs';
import { RedisServer } from '../support/redis-server';

describe('embedded mode: auth, chat and the page in one process, memory state', () => {
  let app: Embedded;
  let http: string;
  let ws: string;

  before(async () => {
    const config = loadConfig(
      { PORT: '0', RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW_MS: '60000', BLOCK_AFTER_VIOLATIONS: '2' },
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

  async function login(username: string): Promise<string> {
    await post('/auth/register', { username, password: 'password-1' });
    const res = await post('/auth/login', { username, password: 'password-1' });
    expect(res.status).to.equal(200);
    return res.body.access_token as string;
  }

  it('serves a page at /', async () => {
    const res = await fetch(`${http}/`);
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.match(/html/);
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
});

describe('npm start with REDIS_URL set: one process on Redis state @redis', () => {
  it('serves auth and chat from Redis, so a raw SET blocked: reaches its sockets', async () => {
    const redis = await RedisServer.start();
    const config = loadConfig({ PORT: '0', REDIS_URL: redis.url, REDIS_PREFIX: 'emb:' }, 'embedded');
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
