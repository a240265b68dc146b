import { expect } from 'chai';
import { ChatCluster, type InProcessNode } from '../support/chat-cluster';
import { RedisServer } from '../support/redis-server';
import { waitFor } from '../support/wait';
import { connect } from '../support/ws-client';

/**
 * A chat node's /readyz tells whether its pub/sub delivers, not only whether Redis
 * answers: a probe published on the node's own channel must come back through its
 * subscriber connection within 3 s.
 */
describe('chat node readiness follows delivery @redis', function () {
  this.timeout(60_000);
  let redis: RedisServer;
  let cluster: ChatCluster;
  let node: InProcessNode;
  let other: InProcessNode;

  before(async () => {
    redis = await RedisServer.start();
    cluster = new ChatCluster(redis, { RATE_LIMIT_MAX: '100000' });
    node = await cluster.startNode('ready1');
    other = await cluster.startNode('ready2');
  });
  after(async () => {
    await cluster.stop();
    await redis.destroy();
  });

  it('is ready once its first probe came back', async () => {
    expect(await node.readyz()).to.equal(200);
    const reply = (await cluster.admin.call('PUBSUB', 'NUMSUB', cluster.keys.probe('ready1'))) as [
      string,
      number,
    ];
    expect(Number(reply[1])).to.equal(1);
  });

  it('answers 503 while its subscription stalls though commands work, and 200 once it flows again', async () => {
    const alice = await connect(node.url, { token: cluster.token('alice') });
    await alice.join('stall');
    // The node stops reading its subscriber connection: Redis still answers every command.
    node.subscriber.stream.pause();
    try {
      await waitFor(async () => (await node.readyz()) === 503, {
        what: '503 while stalled',
        timeoutMs: 6000,
        intervalMs: 200,
      });
      expect(await node.redis.ping()).to.equal('PONG');
      expect(node.subscriber.status).to.equal('ready');
      expect((await alice.request({ type: 'send', room: 'stall', text: 'still accepted' })).type).to.equal(
        'ack',
      );
      expect(await other.readyz()).to.equal(200);
    } finally {
      node.subscriber.stream.resume();
    }
    await waitFor(async () => (await node.readyz()) === 200, {
      what: '200 again',
      timeoutMs: 6000,
      intervalMs: 100,
    });
    await alice.close();
  });

  it('is ready again after its subscriber connection was killed and came back', async () => {
    const bob = await connect(node.url, { token: cluster.token('bob') });
    await bob.join('killed');
    await cluster.killConnection('ready1-sub');
    await waitFor(async () => (await node.readyz()) === 200 && node.subscriber.status === 'ready', {
      what: 'ready after the reconnect',
      timeoutMs: 6000,
    });
    const sender = await connect(other.url, { token: cluster.token('carol') });
    await sender.join('killed');
    const ack = await sender.request({ type: 'send', room: 'killed', text: 'after' });
    await bob.next((f) => f.type === 'message' && f.id === ack.id);
    await Promise.all([bob.close(), sender.close()]);
  });
});
