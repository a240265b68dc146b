import { expect } from 'chai';
import { connect, openSocket, TestClient, type Frame } from '../support/ws-client';
import { ChatCluster, type InProcessNode } from '../support/chat-cluster';
import { RedisServer } from '../support/redis-server';
import { waitFor } from '../support/wait';

describe('chat nodes while Redis is down, and after it returns @redis', () => {
  let redis: RedisServer;
  let cluster: ChatCluster;
  let a: InProcessNode;
  let b: InProcessNode;

  before(async () => {
    redis = await RedisServer.start({ appendonly: true });
    cluster = new ChatCluster(redis, { RATE_LIMIT_MAX: '1000' });
    a = await cluster.startNode('out-a');
    b = await cluster.startNode('out-b');
  });
  after(async () => {
    await cluster.stop();
    await redis.destroy();
  });

  it('fails closed and fast while Redis is down, keeps sessions open, and recovers without a restart', async () => {
    const alice = await connect(a.url, { token: cluster.token('alice') });
    const bob = await connect(b.url, { token: cluster.token('bob') });
    await alice.join('outage');
    await bob.join('outage');
    const revoked = cluster.issue('carol');
    await cluster.admin.set(cluster.keys.revoked(revoked.jti), 'test', 'EX', 600);

    await redis.stop();
    // handshakes fail closed with 503, quickly
    let start = Date.now();
    const refused = await openSocket(a.url, { token: cluster.token('dave') });
    expect(refused).not.to.be.instanceOf(TestClient);
    expect((refused as { status: number }).status).to.equal(503);
    expect(Date.now() - start).to.be.lessThan(2500);
    // a send is refused with a retryable error, quickly; the connection stays open
    start = Date.now();
    const reply = await alice.request({ type: 'send', room: 'outage', text: 'lost?' });
    expect(reply).to.include({ type: 'error', code: 'internal' });
    expect(Date.now() - start).to.be.lessThan(2500);
    expect((await alice.request({ type: 'ping' })).type).to.equal('pong');
    // joining a room this node has no subscription for, and leaving one, answer too
    start = Date.now();
    expect(await alice.request({ type: 'join', room: 'elsewhere' })).to.include({
      type: 'error',
      code: 'internal',
    });
    expect(await bob.request({ type: 'leave', room: 'outage' })).to.include({ type: 'left', room: 'outage' });
    expect(Date.now() - start).to.be.lessThan(5000);
    expect((await bob.request({ type: 'join', room: 'outage' })).type).to.equal('error');
    expect(alice.closed).to.equal(undefined);

    await redis.start();
    // the revocation written before the outage still holds (AOF)
    await waitFor(
      async () => {
        const r = await openSocket(b.url, { token: revoked.token });
        if (r instanceof TestClient) {
          await r.close();
          throw new Error('revoked token accepted');
        }
        return r.status === 401;
      },
      { timeoutMs: 10_000, what: 'revoked token refused after restart' },
    );
    // messages flow again across nodes, without restarting them
    await waitFor(async () => (await bob.request({ type: 'join', room: 'outage' })).type === 'joined', {
      timeoutMs: 10_000,
      what: 'bob back in the room',
    });
    let ack: Frame | undefined;
    await waitFor(
      async () => {
        const r = await alice.request({ type: 'send', room: 'outage', text: 'back' });
        if (r.type === 'ack') ack = r;
        return r.type === 'ack';
      },
      { timeoutMs: 10_000, what: 'sends accepted again' },
    );
    await bob.next((f) => f.type === 'message' && f.id === ack?.id, 10_000);
    const fresh = await connect(a.url, { token: cluster.token('erin') });
    // the restarted Redis lost its keyspace-event config; the nodes set it again
    await waitFor(
      async () => ((await cluster.admin.config('GET', 'notify-keyspace-events')) as string[])[1] !== '',
      {
        what: 'keyspace events re-enabled',
      },
    );
    start = Date.now();
    await cluster.admin.set(cluster.keys.blocked('erin'), 'operator', 'EX', 60);
    expect(await fresh.waitClose(2000)).to.deep.equal({ code: 1008, reason: 'blocked' });
    expect(Date.now() - start).to.be.lessThan(2000);
    await Promise.all([alice.close(), bob.close()]);
  });

  it("reads back the DMs a node's subscriber missed while it reconnected, once", async () => {
    const sender = await connect(a.url, { token: cluster.token('fred') });
    const reader = await connect(b.url, { token: cluster.token('gina') });
    const seen = await sender.request({ type: 'dm', to: 'gina', text: 'before' });
    await reader.next((f) => f.type === 'message' && f.id === seen.id);
    // Cut node b's subscriber connection: ioredis reconnects in about 100 ms, and a DM
    // published meanwhile never reaches it through pub/sub.
    const clients = (await cluster.admin.call('CLIENT', 'LIST')) as string;
    const line = clients.split('\n').find((l) => / name=out-b-sub /.test(l));
    const id = /^id=(\d+) /.exec(line ?? '')?.[1];
    expect(id, 'the subscriber of node b').to.be.a('string');
    await cluster.admin.call('CLIENT', 'KILL', 'ID', id as string);
    const missed = await sender.request({ type: 'dm', to: 'gina', text: 'while away' });
    await reader.next((f) => f.type === 'message' && f.id === missed.id, 10_000);
    const after = await sender.request({ type: 'dm', to: 'gina', text: 'after' });
    await reader.next((f) => f.type === 'message' && f.id === after.id, 10_000);
    await reader.request({ type: 'ping' });
    expect(reader.messages().map((f) => f.text)).to.deep.equal(['before', 'while away', 'after']);
    expect(b.logs.lines().some((l) => l.message === 'caught up DMs after resubscribe')).to.equal(true);
    await Promise.all([sender.close(), reader.close()]);
  });
});
