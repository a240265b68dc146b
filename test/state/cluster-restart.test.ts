import { expect } from 'chai';
import { hashSlot, keySchema } from '@securechat/common';
import type { RedisCluster } from '@securechat/cluster';
import { RedisClusterEnforcementFeed, type EnforcementEvent } from '@securechat/state';
import { memoryLogger } from '../support/logs';
import { clusterClient, clusterReady, startRedisCluster } from '../support/redis-cluster';
import { uniquePrefix } from '../support/redis-server';
import { waitFor } from '../support/wait';

describe('the keyevent feed when a Redis Cluster server restarts @redis', function () {
  this.timeout(60_000);
  let cluster: RedisCluster;
  const clients: ReturnType<typeof clusterClient>[] = [];
  before(async () => {
    cluster = await startRedisCluster();
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await cluster?.destroy();
  });

  it('hears blocks on a master killed and started again, whichever server holds its slots after', async () => {
    const keys = keySchema(uniquePrefix(), 'cluster');
    const client = () => {
      const c = clusterClient(cluster, { subscriber: clients.length % 2 === 1 });
      clients.push(c);
      return c;
    };
    const redis = client();
    const subscriber = client();
    await clusterReady(redis);
    const feed = new RedisClusterEnforcementFeed({
      redis,
      subscriber,
      keys,
      logger: memoryLogger().logger,
      configureKeyspaceEvents: true,
    });
    const events: EnforcementEvent[] = [];
    feed.onEvent((e) => events.push(e));
    await feed.start();
    const master = (await cluster.masters())[0];
    if (master === undefined) throw new Error('no master');
    let user = '';
    for (let i = 0; user === '' && i < 5000; i++) {
      const slot = hashSlot(keys.blocked(`u${i}`));
      if (master.slots.some(([a, b]) => slot >= a && slot <= b)) user = `u${i}`;
    }
    const slot = hashSlot(keys.blocked(user));
    // Killed and started again at once: it may come back as the master, or its replica may
    // have taken over meanwhile; either way a block on its slots must reach the feed.
    await cluster.server(master.port).stop(true);
    await cluster.server(master.port).start();
    await cluster.waitHealthy(20_000);
    const holder = await cluster.masterOf(slot);
    await waitFor(() => feed.followed.includes(`127.0.0.1:${holder.port}`), {
      what: `the feed following :${holder.port}`,
      timeoutMs: 10_000,
    });
    await waitFor(
      async () => (await redis.set(keys.blocked(user), 'x', 'EX', 60).catch(() => null)) === 'OK',
      {
        what: 'a write to the slot',
        timeoutMs: 10_000,
        intervalMs: 100,
      },
    );
    await waitFor(() => events.some((e) => e.kind === 'blocked' && e.user === user), {
      what: 'the block event',
      timeoutMs: 2000,
    });
    expect(events.filter((e) => e.kind === 'blocked' && e.user === user)).to.have.length.at.least(1);
    await feed.close();
  });
});
