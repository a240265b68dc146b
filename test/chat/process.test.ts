import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { privateKeyPem } from '@securechat/tokens';
import { connect } from '../support/ws-client';
import { ChatCluster } from '../support/chat-cluster';
import {
  ENTRIES,
  runToExit,
  slowlorisLifetime,
  startChatNode,
  writeJwks,
  ServiceProcess,
} from '../support/processes';
import { RedisServer } from '../support/redis-server';

describe('chat nodes as processes @redis', () => {
  let redis: RedisServer;
  let cluster: ChatCluster;
  let jwks: string;

  before(async () => {
    redis = await RedisServer.start();
    cluster = new ChatCluster(redis, { PRESENCE_TTL_S: '2' });
    jwks = writeJwks([cluster.key]);
  });
  after(async () => {
    await cluster.stop();
    await redis.destroy();
  });

  const env = (extra: Record<string, string> = {}) => ({
    REDIS_URL: redis.url,
    REDIS_PREFIX: cluster.prefix,
    JWT_PUBLIC_KEYS_FILE: jwks,
    ALLOW_MISSING_ORIGIN: 'true',
    PRESENCE_TTL_S: '2',
    ...extra,
  });

  it('refuses to start without REDIS_URL or JWT_PUBLIC_KEYS_FILE, naming the variable', async () => {
    const noRedis = await runToExit(ENTRIES.chat, { JWT_PUBLIC_KEYS_FILE: jwks });
    expect(noRedis.code).to.not.equal(0);
    expect(noRedis.output).to.include('REDIS_URL');
    const noKeys = await runToExit(ENTRIES.chat, { REDIS_URL: redis.url });
    expect(noKeys.code).to.not.equal(0);
    expect(noKeys.output).to.include('JWT_PUBLIC_KEYS_FILE');
    const bad = await runToExit(ENTRIES.chat, env({ MAX_MESSAGE_BYTES: 'lots' }));
    expect(bad.code).to.not.equal(0);
    expect(bad.output).to.include('MAX_MESSAGE_BYTES');
    expect(bad.output).not.to.match(/\n\s+at /); // no stack trace
  });

  it('drains on SIGTERM: clients get 1012 restart and the process exits 0', async () => {
    const child = await startChatNode(env({ NODE_ID: 'proc-drain', SHUTDOWN_GRACE_MS: '3000' }));
    const client = await connect(child.wsUrl, { token: cluster.token('drainee'), origin: null });
    const closing = client.waitClose(8000);
    const exit = await child.stop('SIGTERM');
    expect(await closing).to.deep.equal({ code: 1012, reason: 'restart' });
    expect(exit).to.deep.equal({ code: 0, signal: null });
  });

  it('a killed node leaves no presence ghost: its users go offline within the TTL', async () => {
    let child: ServiceProcess | undefined = await startChatNode(env({ NODE_ID: 'proc-victim' }));
    const survivor = await cluster.startNode('survivor');
    const watcher = await connect(survivor.url, { token: cluster.token('watcher') });
    await watcher.join('ghosts');
    const victim = await connect(child.wsUrl, { token: cluster.token('ghost'), origin: null });
    await victim.join('ghosts');
    await watcher.next((f) => f.type === 'presence' && f.user === 'ghost' && f.state === 'online');
    expect((await child.kill())?.signal).to.equal('SIGKILL');
    child = undefined;
    const started = Date.now();
    await watcher.next((f) => f.type === 'presence' && f.user === 'ghost' && f.state === 'offline', 8000);
    expect(Date.now() - started).to.be.lessThan(6000);
    const rejoin = await watcher.request({ type: 'join', room: 'ghosts' });
    expect(rejoin.members).to.deep.equal(['watcher']);
    await watcher.close();
  });

  it('cuts a slowloris on a chat node as fast as on an auth node (HTTP_HEADERS_TIMEOUT_MS)', async () => {
    const privateKey = join(dirname(jwks), 'private.pem');
    writeFileSync(privateKey, privateKeyPem(cluster.key), { mode: 0o600 });
    const timeouts = { HTTP_HEADERS_TIMEOUT_MS: '1000' };
    const chat = await startChatNode(env({ NODE_ID: 'proc-slow', ...timeouts }));
    const auth = await ServiceProcess.start(ENTRIES.auth, {
      name: 'auth',
      env: { ...env(timeouts), JWT_PRIVATE_KEY_FILE: privateKey },
    });
    try {
      const partial = {
        upgrade: 'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n',
        plain: 'GET /healthz HTTP/1.1\r\nHost: x\r\n',
      };
      // Headers never finished: cut after the timeout (checked every second), well
      // before Node's default 60 s.
      const lifetimes = await Promise.all([
        slowlorisLifetime(chat.port, partial.upgrade, 5000),
        slowlorisLifetime(chat.port, partial.plain, 5000),
        slowlorisLifetime(auth.port, partial.plain, 5000),
      ]);
      for (const ms of lifetimes) expect(ms).to.be.at.least(900);
    } finally {
      await Promise.all([chat.stop(), auth.stop()]);
    }
  });
});
