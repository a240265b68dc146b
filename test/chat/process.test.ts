import { expect } from 'chai';
import { connect } from '../support/ws-client';
import { ChatCluster } from '../support/chat-cluster';
import { ENTRIES, runToExit, startChatNode, writeJwks, type ServiceProcess } from '../support/processes';
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
});
