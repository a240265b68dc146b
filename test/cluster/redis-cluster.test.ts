import { expect } from 'chai';
import { Cluster } from 'ioredis';
import { parseClusterNodes, type RedisCluster } from '@securechat/cluster';
import { startRedisCluster } from '../support/redis-cluster';
import { waitFor } from '../support/wait';

describe('the Redis Cluster harness @redis', function () {
  this.timeout(60_000);
  let cluster: RedisCluster;
  let client: Cluster | undefined;
  before(async () => {
    cluster = await startRedisCluster();
  });
  after(async () => {
    client?.disconnect();
    await cluster?.destroy();
  });

  it('forms 3 masters and 3 replicas holding every slot, with bus ports free', async () => {
    const nodes = await cluster.nodes();
    expect(nodes).to.have.length(6);
    const masters = nodes.filter((n) => n.role === 'master');
    expect(masters).to.have.length(3);
    for (const master of masters) {
      expect(nodes.filter((n) => n.masterId === master.id)).to.have.length(1);
    }
    const covered = masters.flatMap((m) => m.slots).reduce((sum, [a, b]) => sum + b - a + 1, 0);
    expect(covered).to.equal(16384);
    expect(cluster.seeds.split(',')).to.have.length(6);
  });

  it('serves keys through ioredis Cluster, and a killed master is replaced by its replica', async () => {
    client = new Cluster(
      cluster.seeds.split(',').map((s) => ({ host: '127.0.0.1', port: Number(s.split(':')[1]) })),
    );
    await client.set('harness:{a}', '1');
    const slot = Number(await client.cluster('KEYSLOT', 'harness:{a}'));
    const before = await cluster.masterOf(slot);
    const replica = (await cluster.nodes()).find((n) => n.masterId === before.id);
    expect(replica).to.not.equal(undefined);
    await cluster.server(before.port).stop(true);
    const after = await waitFor(
      async () => {
        const m = await cluster.masterOf(slot).catch(() => undefined);
        return m !== undefined && m.port !== before.port ? m : undefined;
      },
      { what: 'the replica promoted', timeoutMs: 20_000, intervalMs: 100 },
    );
    expect(after.port).to.equal(replica?.port);
    await waitFor(async () => (await client?.get('harness:{a}').catch(() => null)) === '1', {
      what: 'the key read from the new master',
      timeoutMs: 10_000,
    });
  });

  it('parses CLUSTER NODES lines, migrating slots left out', () => {
    const nodes = parseClusterNodes(
      'abc 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460 [5461->-def]\n' +
        'def 127.0.0.1:7001@17001 slave,fail abc 0 0 1 connected\n',
    );
    expect(nodes).to.deep.equal([
      { id: 'abc', port: 7000, role: 'master', masterId: undefined, failed: false, slots: [[0, 5460]] },
      { id: 'def', port: 7001, role: 'replica', masterId: 'abc', failed: true, slots: [] },
    ]);
  });
});
