import { expect } from 'chai';
import { ChatClient, type MessageFrame } from '@securechat/sdk';
import { ChatCluster } from '../support/chat-cluster';
import { startChatNode, writeJwks, type ServiceProcess } from '../support/processes';
import { RedisServer } from '../support/redis-server';
import { waitFor } from '../support/wait';

describe('the SDK against real chat nodes @redis', () => {
  let redis: RedisServer;
  let cluster: ChatCluster;
  let victim: ServiceProcess | undefined;
  let survivor: ServiceProcess;

  before(async () => {
    redis = await RedisServer.start();
    cluster = new ChatCluster(redis);
    const env = {
      REDIS_URL: redis.url,
      REDIS_PREFIX: cluster.prefix,
      JWT_PUBLIC_KEYS_FILE: writeJwks([cluster.key]),
      ALLOWED_ORIGINS: 'http://sdk.test',
      RATE_LIMIT_MAX: '100000',
    };
    victim = await startChatNode({ ...env, NODE_ID: 'victim' });
    survivor = await startChatNode({ ...env, NODE_ID: 'survivor' });
  });
  after(async () => {
    await victim?.kill();
    await survivor.stop();
    await cluster.stop();
    await redis.destroy();
  });

  it('reconnects to another node after kill -9 of its own, and resumes without loss or duplicate', async () => {
    const reader = new ChatClient({
      url: [(victim as ServiceProcess).wsUrl + '/ws', survivor.wsUrl + '/ws'],
      origin: 'http://sdk.test',
      getToken: () => Promise.resolve(cluster.token('reader')),
      tokenMethod: 'subprotocol',
      reconnect: { baseDelayMs: 50, maxDelayMs: 500 },
    });
    const writer = new ChatClient({
      url: survivor.wsUrl + '/ws',
      origin: 'http://sdk.test',
      getToken: () => Promise.resolve(cluster.token('writer')),
    });
    const got: MessageFrame[] = [];
    reader.on('message', (m) => got.push(m));
    expect((await reader.connect()).node).to.equal('victim');
    await writer.connect();
    await reader.join('failover');
    await writer.join('failover');

    let sent = 0;
    let stop = false;
    const writing = (async () => {
      while (!stop) {
        await writer.send('failover', `m${sent}`);
        sent += 1;
      }
    })();
    await waitFor(() => got.length >= 20, { what: 'messages before the kill' });
    await (victim as ServiceProcess).kill();
    victim = undefined;
    const reconnected = new Promise<string>((resolve) =>
      reader.once('reconnected', (e) => resolve(e.welcome.node)),
    );
    expect(await reconnected).to.equal('survivor');
    const target = sent + 30;
    await waitFor(() => sent >= target, { what: 'messages after the reconnect', timeoutMs: 10_000 });
    stop = true;
    await writing;
    await waitFor(() => got.length >= sent, { what: 'every message', timeoutMs: 10_000 });
    expect(got.map((m) => m.text)).to.deep.equal(Array.from({ length: sent }, (_, i) => `m${i}`));
    await Promise.all([reader.close(), writer.close()]);
  });
});
