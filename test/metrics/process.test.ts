import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { keySchema } from '@securechat/common';
import { parseDirectory } from '@securechat/metrics';
import { fields, Client } from '../support/http';
import { scrape } from '../support/metrics';
import { ENTRIES, makeKeys, runScript, runToExit, ServiceProcess, startChatNode } from '../support/processes';
import { RedisServer, uniquePrefix } from '../support/redis-server';
import { waitFor } from '../support/wait';
import { connect, type TestClient } from '../support/ws-client';

/**
 * The nodes as `npm run start:auth`, `start:chat` and `npm start` run them, each its own
 * process: their metrics listeners, their entries in the directory chatctl top reads,
 * and `npm run chatctl -- top` itself against them.
 */
describe('metrics of node processes, and chatctl top @redis', function () {
  this.timeout(60_000);
  let redis: RedisServer;
  let admin: Redis;
  let keysDir: string;
  let keys: { privateKey: string; jwks: string };
  const prefix = uniquePrefix('top');
  const schema = keySchema(prefix);
  let auth: ServiceProcess;
  let chat: ServiceProcess;
  const clients: TestClient[] = [];

  const base = () => ({ PATH: process.env.PATH ?? '', REDIS_URL: redis.url, REDIS_PREFIX: prefix });
  const top = (args: string[], env: Record<string, string> = base()) =>
    runToExit(ENTRIES.chatctl, env, { args: ['top', ...args], name: 'chatctl-top', timeoutMs: 20_000 });
  const directory = async () => parseDirectory(await admin.hgetall(schema.nodes)).entries;

  before(async () => {
    redis = await RedisServer.start();
    admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    admin.on('error', () => undefined);
    keysDir = mkdtempSync(join(tmpdir(), 'securechat-top-'));
    keys = makeKeys(keysDir);
    auth = await ServiceProcess.start(ENTRIES.auth, {
      name: 'top-auth-1',
      env: { ...base(), NODE_ID: 'top-auth-1', JWT_PRIVATE_KEY_FILE: keys.privateKey },
    });
    chat = await startChatNode({
      ...base(),
      NODE_ID: 'top-chat-1',
      JWT_PUBLIC_KEYS_FILE: keys.jwks,
      RATE_LIMIT_MAX: '100000',
    });
  });
  after(async () => {
    for (const c of clients) c.ws.terminate();
    await Promise.all([auth.kill(), chat.kill()]);
    admin.disconnect();
    await redis.destroy();
    rmSync(keysDir, { recursive: true, force: true });
  });

  it('each node serves /metrics on its own port and registers that URL in <prefix>nodes', async () => {
    const chatScrape = await scrape(chat.metricsUrl);
    expect(chatScrape.value('securechat_node_info', { service: 'chat', node: 'top-chat-1' })).to.equal(1);
    expect(chatScrape.families()).to.include('securechat_chat_connections');
    const authScrape = await scrape(auth.metricsUrl);
    expect(authScrape.value('securechat_node_info', { service: 'auth', node: 'top-auth-1' })).to.equal(1);
    expect(authScrape.families()).to.include('securechat_auth_logins_total');
    // The public port serves no metrics: they are on the separate listener only.
    expect((await fetch(`${chat.url}/metrics`)).status).to.equal(404);
    expect((await fetch(`${auth.url}/metrics`)).status).to.equal(404);
    const entries = await directory();
    expect(entries.map((e) => [e.node, e.service, e.url])).to.deep.equal([
      ['top-auth-1', 'auth', auth.metricsUrl],
      ['top-chat-1', 'chat', chat.metricsUrl],
    ]);
  });

  it('chatctl top --once shows the nodes, their connections, message rates and Redis health', async () => {
    const api = new Client(auth.url);
    const user = { username: 'topuser', password: 'top-password-1' };
    expect((await api.post('/auth/register', user)).status).to.equal(201);
    const token = String(fields(await api.post('/auth/login', user)).access_token);
    const c = await connect(chat.wsUrl, { token, origin: chat.url });
    clients.push(c);
    await c.join('top-room');
    // Messages keep flowing while top takes its two samples.
    let sending = true;
    const flow = (async () => {
      for (let i = 0; sending && i < 300; i++) {
        await c.request({ type: 'send', room: 'top-room', text: `m${i}` });
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const result = await top(['--once', '--interval=0.5']);
    sending = false;
    await flow;
    expect(result.code, result.output).to.equal(0);
    const out = result.stdout;
    expect(out).to.match(/^securechat top - .* - 2 node\(s\) up, 0 down - rates over 0\.\d+s$/m);
    expect(out).to.match(/^redis 127\.0\.0\.1:\d+: up, ping [\d.]+ms, v7\.[\d.]+, role master, /m);
    expect(out).not.to.include('\x1b[');
    const chatLine = out.split('\n').find((l) => l.startsWith('top-chat-1'));
    expect(chatLine, out).to.not.equal(undefined);
    const cells = (chatLine as string).trim().split(/\s+/);
    expect(cells[1], 'CONNS').to.equal('1');
    expect(cells[2], 'ROOMS').to.equal('1');
    expect(Number(cells[3]), `MSG/S in\n${out}`).to.be.above(0);
    expect(cells[10], 'REDIS').to.equal('up');
    expect(out).to.match(/^top-auth-1 /m);
    expect(out).to.match(/^auth$/m);
  });

  it('takes --metrics URLs instead of the directory; a node that does not answer is DOWN, exit 2', async () => {
    const one = await top(['--once', '--interval=0.2', `--metrics=${chat.metricsUrl}`]);
    expect(one.code, one.output).to.equal(0);
    expect(one.stdout).to.match(/^top-chat-1 /m);
    expect(one.stdout).not.to.match(/^top-auth-1 /m);

    const dead = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const address = s.address();
        s.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
      });
    });
    const down = await top([
      '--once',
      '--interval=0.2',
      `--metrics=${chat.metricsUrl},http://127.0.0.1:${dead}/metrics`,
    ]);
    expect(down.code).to.equal(2);
    expect(down.stdout).to.include(`DOWN http://127.0.0.1:${dead}/metrics`);

    const bad = await top(['--interval=0.01']);
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.include('usage: npm run chatctl -- top');
  });

  it('says Redis is DOWN and exits 2 when Redis does not answer', async () => {
    const result = await top(['--once', '--interval=0.2'], { ...base(), REDIS_URL: 'redis://127.0.0.1:1' });
    expect(result.code).to.equal(2);
    expect(result.stdout).to.match(/^redis 127\.0\.0\.1:1: DOWN/m);
  });

  it('a node stopped cleanly withdraws its entry; METRICS_PORT=off registers nothing', async () => {
    const extra = await startChatNode({ ...base(), NODE_ID: 'top-chat-2', JWT_PUBLIC_KEYS_FILE: keys.jwks });
    await waitFor(async () => (await directory()).some((e) => e.node === 'top-chat-2'));
    await extra.stop('SIGTERM');
    expect((await directory()).map((e) => e.node)).to.not.include('top-chat-2');

    const off = await startChatNode({
      ...base(),
      NODE_ID: 'top-chat-off',
      JWT_PUBLIC_KEYS_FILE: keys.jwks,
      METRICS_PORT: 'off',
    });
    expect(off.proc.logLines().some((l) => l.message === 'metrics off (METRICS_PORT=off)')).to.equal(true);
    expect(() => off.metricsUrl).to.throw('logged no metrics listener');
    expect((await directory()).map((e) => e.node)).to.not.include('top-chat-off');
    await off.stop('SIGTERM');
  });

  it('stops at start-up, naming METRICS_PORT, when the port is taken or not a port', async () => {
    const taken = new URL(chat.metricsUrl).port;
    const env = { ...base(), NODE_ID: 'top-chat-3', JWT_PUBLIC_KEYS_FILE: keys.jwks, PORT: '0' };
    const busy = await runToExit(ENTRIES.chat, { ...env, METRICS_PORT: taken });
    expect(busy.code).to.not.equal(0);
    expect(busy.stderr).to.include('METRICS_PORT');
    expect(busy.stderr).to.include('EADDRINUSE');
    const bad = await runToExit(ENTRIES.chat, { ...env, METRICS_PORT: 'ninety' });
    expect(bad.code).to.not.equal(0);
    expect(bad.stderr).to.include('METRICS_PORT must be a port');
  });

  it('npm start (embedded) exports the auth and the chat metrics from one listener', async () => {
    const proc = runScript(ENTRIES.embedded, { PATH: process.env.PATH ?? '', PORT: '0', METRICS_PORT: '0' });
    try {
      const ready = await proc.waitForLog((l) => l.message === 'embedded node listening');
      const s = await scrape(String(ready.metrics));
      expect(s.value('securechat_node_info', { service: 'embedded' })).to.equal(1);
      expect(s.families()).to.include('securechat_chat_connections');
      expect(s.families()).to.include('securechat_auth_logins_total');
    } finally {
      await proc.stop('SIGKILL');
    }
  });
});
