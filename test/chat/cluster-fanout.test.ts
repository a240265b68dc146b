import { expect } from 'chai';
import { execFile } from 'node:child_process';
import type { Cluster } from 'ioredis';
import type { RedisCluster } from '@securechat/cluster';
import { ChatCluster, type InProcessNode } from '../support/chat-cluster';
import { clusterBackend, startRedisCluster } from '../support/redis-cluster';
import { waitFor } from '../support/wait';
import { connect, refusal, type Frame, type TestClient } from '../support/ws-client';

/** `redis-cli -c -p <port> <args>`: what an operator types. */
function redisCli(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('redis-cli', ['-c', '-p', String(port), ...args], { timeout: 5000 }, (err, stdout) =>
      err ? reject(err) : resolve(stdout.trim()),
    );
  });
}

describe('chat across two nodes on a Redis Cluster (3 masters, 3 replicas) @redis', function () {
  this.timeout(120_000);
  let redis: RedisCluster;
  let cluster: ChatCluster<Cluster>;
  let nodes: InProcessNode<Cluster>[];
  const opened: TestClient[] = [];
  const env = { RATE_LIMIT_MAX: '100000', PRESENCE_TTL_S: '5' };

  before(async () => {
    redis = await startRedisCluster();
    cluster = new ChatCluster(clusterBackend(redis), env);
    nodes = [await cluster.startNode('n1'), await cluster.startNode('n2')];
  });
  after(async () => {
    await Promise.all(opened.map((c) => c.close()));
    await cluster?.stop();
    await redis?.destroy();
  });

  async function client(node: number, user: string): Promise<TestClient> {
    const c = await connect((nodes[node] as InProcessNode<Cluster>).url, { token: cluster.token(user) });
    opened.push(c);
    return c;
  }

  /** One room name per master: rooms whose keys and channels live on different shards. */
  async function roomsOnEveryMaster(tag: string): Promise<Map<number, string>> {
    const masters = await redis.masters();
    const rooms = new Map<number, string>();
    for (let i = 0; rooms.size < masters.length && i < 1000; i++) {
      const room = `${tag}${i}`;
      const slot = Number(await cluster.admin.cluster('KEYSLOT', cluster.keys.roomLog(room)));
      const master = masters.find((m) => m.slots.some(([a, b]) => slot >= a && slot <= b));
      if (master !== undefined && !rooms.has(master.port)) rooms.set(master.port, room);
    }
    expect(rooms.size).to.equal(masters.length);
    return rooms;
  }

  /** A name (`prefix` + n) whose key `make(name)` is held by the master on `port`. */
  async function nameOnMaster(
    port: number,
    make: (name: string) => string,
    prefix = 'user',
  ): Promise<string> {
    const master = (await redis.masters()).find((m) => m.port === port);
    for (let i = 0; master !== undefined && i < 5000; i++) {
      const name = `${prefix}${i}`;
      const slot = Number(await cluster.admin.cluster('KEYSLOT', make(name)));
      if (master.slots.some(([a, b]) => slot >= a && slot <= b)) return name;
    }
    throw new Error(`no name found on the master :${port}`);
  }

  it('delivers every message of rooms on every shard exactly once and in order, on both nodes', async () => {
    const rooms = [...(await roomsOnEveryMaster('shard')).values()];
    const members = [
      await client(0, 'ann'),
      await client(1, 'bob'),
      await client(0, 'cat'),
      await client(1, 'dan'),
    ];
    for (const m of members) for (const room of rooms) await m.join(room);
    const per = 20;
    await Promise.all(
      members.slice(0, 2).map(async (sender, s) => {
        for (let k = 0; k < per; k++) {
          for (const room of rooms) await sender.request({ type: 'send', room, text: `${s}-${k}` });
        }
      }),
    );
    const total = rooms.length * per * 2;
    const received = await Promise.all(members.map((m) => m.count((f) => f.type === 'message', total)));
    for (const room of rooms) {
      const ids = (frames: Frame[]) => frames.filter((f) => f.room === room).map((f) => f.id as string);
      const reference = ids(received[0] as Frame[]);
      expect(reference).to.have.length(per * 2);
      expect(new Set(reference).size).to.equal(per * 2);
      for (const frames of received) expect(ids(frames)).to.deep.equal(reference);
    }
    // A round trip later, nothing more came.
    await Promise.all(members.map((m) => m.request({ type: 'ping' })));
    for (const m of members) expect(m.messages()).to.have.length(total);
  });

  it('delivers a DM to every connection of both users on both nodes, once', async () => {
    const a1 = await client(0, 'eve');
    const a2 = await client(1, 'eve');
    const b1 = await client(1, 'fay');
    const ack = await a1.request({ type: 'dm', to: 'fay', text: 'hello' });
    expect(ack.type).to.equal('ack');
    for (const c of [a1, a2, b1]) {
      const frame = await c.next((f) => f.type === 'message' && f.id === ack.id);
      expect(frame.room).to.equal('dm:eve:fay');
    }
    await Promise.all([a1, a2, b1].map((c) => c.request({ type: 'ping' })));
    for (const c of [a1, a2, b1]) expect(c.messages('dm:eve:fay')).to.have.length(1);
  });

  it('closes every session of a user blocked with redis-cli -c SET within 2 s, on both nodes', async () => {
    const sessions = [await client(0, 'gus'), await client(1, 'gus')];
    const key = cluster.keys.blocked('gus');
    expect(key).to.equal(`${cluster.prefix}blocked:{gus}`);
    const start = Date.now();
    expect(await redisCli(redis.ports[0] as number, 'SET', key, 'operator', 'EX', '60')).to.equal('OK');
    const closes = await Promise.all(sessions.map((s) => s.waitClose(2000)));
    for (const close of closes) expect(close).to.deep.equal({ code: 1008, reason: 'blocked' });
    expect(Date.now() - start).to.be.below(2000);
    expect(await redisCli(redis.ports[0] as number, 'DEL', key)).to.equal('1');
  });

  it('a master killed under steady sends: its replica takes over, nodes resubscribe, acked messages reach live members', async () => {
    const rooms = await roomsOnEveryMaster('fail');
    const [victimPort, room] = [...rooms.entries()][0] as [number, string];
    const sender = await client(0, 'hal');
    const members = [await client(0, 'ivy'), await client(1, 'jay')];
    for (const c of [sender, ...members]) await c.join(room);
    // A block and a revocation on the master about to die, replicated (WAIT), must survive.
    const blockedUser = await nameOnMaster(victimPort, (u) => cluster.keys.blocked(u));
    const blockedToken = cluster.issue(blockedUser);
    const victim = await client(1, blockedUser);
    await cluster.admin.set(cluster.keys.blocked(blockedUser), 'before the failover', 'EX', 600);
    expect(await victim.waitClose(2000)).to.deep.equal({ code: 1008, reason: 'blocked' });
    const revokedJti = await nameOnMaster(victimPort, (j) => cluster.keys.revoked(j), 'jti-');
    await cluster.admin.set(cluster.keys.revoked(revokedJti), 'operator', 'EX', 600);
    // WAIT counts the replicas that have this connection's writes so far: the admin's
    // own connection to that master (its pool's) wrote both keys.
    const master = cluster.admin.nodes('master').find((n) => n.options.port === victimPort);
    expect(Number(await master?.call('WAIT', '1', '2000'))).to.equal(1);
    const acked: string[] = [];
    let refused = 0;
    let stop = false;
    const sending = (async () => {
      for (let k = 0; !stop; k++) {
        const reply = await sender
          .request({ type: 'send', room, text: `m${k}` }, 10_000)
          .catch(() => undefined);
        if (reply?.type === 'ack') acked.push(reply.id as string);
        else refused += 1;
        // Steady, not flat out: about 50 sends a second.
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    await waitFor(() => acked.length >= 50, { what: '50 acked sends before the kill', timeoutMs: 10_000 });
    // Ready: each node's delivery probe comes back through every master's shard.
    for (const n of nodes) expect(await n.readyz()).to.equal(200);
    const ackedBefore = acked.length;
    await redis.server(victimPort).stop(true);
    await waitFor(() => acked.length >= ackedBefore + 50, {
      what: '50 more acked sends after the failover',
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    stop = true;
    await sending;
    // Ready again once the probes flow through the promoted replica.
    for (const n of nodes) {
      await waitFor(async () => (await n.readyz()) === 200, {
        what: `${n.name} ready after the failover`,
        timeoutMs: 10_000,
        intervalMs: 100,
      });
    }
    // With asynchronous replication, an ack the dead master gave before its replica had
    // the entry is lost with it: measured (below), not a delivery fault. Every acked message
    // the stream still holds must reach every live member, live or through the catch-up.
    const stored = new Set(
      (await cluster.admin.xrange(cluster.keys.roomLog(room), '-', '+')).map(([id]) => id),
    );
    const durable = acked.filter((id) => stored.has(id));
    const undelivered = () =>
      members.map((m) => {
        const got = new Set(m.messages(room).map((f) => f.id as string));
        return durable.filter((id) => !got.has(id)).length;
      });
    await waitFor(() => undelivered().every((n) => n === 0), {
      what: 'every stored acked message at every member',
      timeoutMs: 10_000,
      intervalMs: 100,
    }).catch(() => undefined);
    // Figures for the report.
    // eslint-disable-next-line no-console
    console.log(
      `      failover: ${acked.length} acked, ${refused} failed meanwhile, ` +
        `${acked.length - durable.length} acked but lost with the master, undelivered per member: ${undelivered().join(', ')}`,
    );
    expect(undelivered()).to.deep.equal(members.map(() => 0));
    // The block and the revocation made before the failover hold on the promoted replica.
    expect(await cluster.admin.get(cluster.keys.blocked(blockedUser))).to.equal('before the failover');
    expect(await cluster.admin.get(cluster.keys.revoked(revokedJti))).to.equal('operator');
    const refusedAgain = await refusal((nodes[0] as InProcessNode<Cluster>).url, {
      token: blockedToken.token,
    });
    expect(refusedAgain.status).to.equal(403);
    for (const m of members) {
      const ids = m.messages(room).map((f) => f.id as string);
      expect(new Set(ids).size).to.equal(ids.length);
    }
  });
});
