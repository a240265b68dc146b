import { expect } from 'chai';
import { ChatCluster, type InProcessNode } from '../support/chat-cluster';
import { moved, type Scrape } from '../support/metrics';
import { RedisServer } from '../support/redis-server';
import { waitFor } from '../support/wait';
import { connect, refusal, type TestClient } from '../support/ws-client';

/**
 * Real chat nodes (in this process, on a real redis-server) scraped over HTTP on their
 * metrics listeners, as Prometheus does: each action moves exactly the series it should.
 */
describe('chat node metrics, scraped from real nodes @redis', function () {
  this.timeout(30_000);
  let redis: RedisServer;
  let cluster: ChatCluster;
  let n1: InProcessNode;
  let n2: InProcessNode;
  const clients: TestClient[] = [];
  const env = { RATE_LIMIT_MAX: '3', BLOCK_AFTER_VIOLATIONS: '2', MAX_MESSAGE_BYTES: '1024' };

  before(async () => {
    redis = await RedisServer.start();
    cluster = new ChatCluster(redis, env);
    n1 = await cluster.startNode('m1');
    n2 = await cluster.startNode('m2');
  });
  after(async () => {
    for (const c of clients) c.ws.terminate();
    await cluster.stop();
    await redis.destroy();
  });

  async function client(node: InProcessNode, user: string): Promise<TestClient> {
    const c = await connect(node.url, { token: cluster.token(user) });
    clients.push(c);
    return c;
  }

  const both = () => Promise.all([n1.scrape(), n2.scrape()]);

  it('serves the text format on its own listener, with the node identity and process metrics', async () => {
    const s = await n1.scrape();
    expect(s.value('securechat_node_info', { service: 'chat', node: 'm1' })).to.equal(1);
    for (const name of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_p99_seconds',
      'nodejs_gc_duration_seconds',
      'securechat_chat_connections',
      'securechat_chat_messages_total',
      'securechat_chat_deliveries_total',
      'securechat_chat_delivery_seconds',
      'securechat_chat_closes_total',
      'securechat_redis_command_duration_seconds',
    ]) {
      expect(s.families(), name).to.include(name);
    }
    // The contract's outcomes exist from the start, at 0, so rate() works before the first event.
    for (const outcome of ['accepted', 'rate_limited', 'forbidden', 'bad_request', 'error']) {
      const series = s.samples.filter((x) => x.name === 'securechat_chat_messages_total');
      expect(series.map((x) => x.labels.outcome)).to.include(outcome);
    }
    const other = await fetch(n1.metricsUrl.replace('/metrics', '/'));
    expect(other.status).to.equal(404);
    expect(await other.json()).to.deep.equal({ error: 'not_found', message: 'no such endpoint' });
    expect((await fetch(n1.metricsUrl, { method: 'POST' })).status).to.equal(405);
  });

  it('a connection, a join and a message move the series on both nodes', async () => {
    const [b1, b2] = await both();
    const a = await client(n1, 'alice');
    const b = await client(n2, 'bob');
    await a.join('metrics');
    await b.join('metrics');
    const ack = await a.request({ type: 'send', room: 'metrics', text: 'hello' });
    expect(ack.type).to.equal('ack');
    await b.next((f) => f.type === 'message' && f.id === ack.id);
    await a.next((f) => f.type === 'message' && f.id === ack.id);
    const [a1, a2] = await both();

    for (const [before, after] of [
      [b1, a1],
      [b2, a2],
    ] as [Scrape, Scrape][]) {
      expect(after.value('securechat_chat_connections')).to.equal(1);
      expect(after.value('securechat_chat_rooms')).to.equal(1);
      expect(moved(before, after, 'securechat_chat_handshakes_total', { outcome: 'accepted' })).to.equal(1);
      expect(moved(before, after, 'securechat_chat_joins_total')).to.equal(1);
      // One message fanned out to the one local member, its delivery time observed once.
      expect(moved(before, after, 'securechat_chat_deliveries_total')).to.equal(1);
      const latency = after.histogram('securechat_chat_delivery_seconds');
      expect(latency.count - before.histogram('securechat_chat_delivery_seconds').count).to.equal(1);
      expect(latency.sum).to.be.below(5);
      expect(moved(before, after, 'securechat_chat_received_frames_total')).to.be.at.least(1);
      expect(moved(before, after, 'securechat_chat_sent_bytes_total')).to.be.above(0);
      expect(
        moved(before, after, 'securechat_redis_command_duration_seconds_count', { op: 'presence' }),
      ).to.be.at.least(1);
    }
    // Only the publishing node counts the send, and its one publish_limited round trip.
    expect(moved(b1, a1, 'securechat_chat_messages_total', { outcome: 'accepted' })).to.equal(1);
    expect(moved(b2, a2, 'securechat_chat_messages_total', { outcome: 'accepted' })).to.equal(0);
    expect(
      moved(b1, a1, 'securechat_redis_command_duration_seconds_count', {
        client: 'chat',
        op: 'publish_limited',
      }),
    ).to.equal(1);
    expect(
      moved(b1, a1, 'securechat_redis_command_duration_seconds_count', {
        client: 'subscriber',
        op: 'subscribe',
      }),
    ).to.equal(2, "the room's channel, and (issue 11) alice's own channel for her DMs");
    expect(a1.value('securechat_redis_connected', { client: 'subscriber' })).to.equal(1);
    await a.close();
    await b.close();
    await waitFor(async () => (await n1.scrape()).value('securechat_chat_connections') === 0);
    const [c1] = await both();
    expect(moved(a1, c1, 'securechat_chat_leaves_total')).to.equal(1);
  });

  it('counts refused handshakes by reason, and never a 101 for them', async () => {
    const before = await n1.scrape();
    const blocked = 'mallory';
    await cluster.admin.set(cluster.keys.blocked(blocked), 'test', 'EX', 60);
    expect(
      (await refusal(n1.url, { token: cluster.token('carol'), origin: 'https://evil.example' })).status,
    ).to.equal(403);
    expect((await refusal(n1.url, {})).status).to.equal(401);
    expect((await refusal(n1.url, { token: 'not.a.jwt' })).status).to.equal(401);
    expect((await refusal(n1.url, { token: cluster.token('carol'), path: '/elsewhere' })).status).to.equal(
      404,
    );
    expect((await refusal(n1.url, { token: cluster.token(blocked) })).status).to.equal(403);
    const after = await n1.scrape();
    const refused = (reason: string) => moved(before, after, 'securechat_chat_handshakes_total', { reason });
    expect(refused('origin')).to.equal(1);
    expect(refused('no_token')).to.equal(1);
    expect(refused('token_malformed')).to.equal(1);
    expect(refused('path')).to.equal(1);
    expect(refused('blocked')).to.equal(1);
    expect(refused('other')).to.equal(0);
    expect(moved(before, after, 'securechat_chat_handshakes_total', { outcome: 'accepted' })).to.equal(0);
  });

  it('counts sends and DMs by outcome: forbidden, bad_request, rate_limited, then the block', async () => {
    const dave = await client(n1, 'dave');
    const watcher = await client(n2, 'dave');
    await dave.join('limits');
    const before = await both();
    const outcome = (s: Scrape, o: string, name = 'securechat_chat_messages_total') =>
      s.value(name, { outcome: o });

    expect((await dave.request({ type: 'send', room: 'not-joined', text: 'x' })).code).to.equal('forbidden');
    expect((await dave.request({ type: 'send', room: 'limits' })).code).to.equal('bad_request');
    expect((await dave.request({ type: 'dm', to: 'x', text: 'hi' })).code).to.equal('bad_request');
    expect((await dave.request({ type: 'dm', to: 'erin', text: 'hi' })).type).to.equal('ack');
    for (let i = 0; i < 2; i++) await dave.request({ type: 'send', room: 'limits', text: `m${i}` });
    // RATE_LIMIT_MAX=3: the fourth is refused; BLOCK_AFTER_VIOLATIONS=2: the fifth blocks.
    expect((await dave.request({ type: 'send', room: 'limits', text: 'over' })).code).to.equal(
      'rate_limited',
    );
    expect((await dave.request({ type: 'send', room: 'limits', text: 'over' })).code).to.equal(
      'rate_limited',
    );
    expect((await dave.waitClose()).reason).to.equal('blocked');
    expect((await watcher.waitClose()).reason).to.equal('blocked');

    const after = await both();
    const [b1, b2] = before;
    const [a1, a2] = after;
    expect(outcome(a1, 'forbidden') - outcome(b1, 'forbidden')).to.equal(1);
    expect(outcome(a1, 'bad_request') - outcome(b1, 'bad_request')).to.equal(2);
    expect(outcome(a1, 'accepted') - outcome(b1, 'accepted')).to.equal(3);
    expect(outcome(a1, 'rate_limited') - outcome(b1, 'rate_limited')).to.equal(2);
    const dm = (s: Scrape, o: string) => outcome(s, o, 'securechat_chat_dms_total');
    expect(dm(a1, 'accepted') - dm(b1, 'accepted')).to.equal(1);
    expect(dm(a1, 'bad_request') - dm(b1, 'bad_request')).to.equal(1);
    expect(moved(b1, a1, 'securechat_chat_errors_total', { code: 'rate_limited' })).to.equal(2);
    expect(moved(b1, a1, 'securechat_chat_blocks_total')).to.equal(1);
    // Each node closed its own session of the user; the other node heard the block announced.
    expect(moved(b1, a1, 'securechat_chat_closes_total', { reason: 'blocked' })).to.equal(1);
    expect(moved(b2, a2, 'securechat_chat_closes_total', { reason: 'blocked' })).to.equal(1);
    expect(moved(b2, a2, 'securechat_chat_enforcement_events_total', { kind: 'blocked' })).to.be.at.least(1);
  });

  it('counts closes by reason: binary frames, oversized messages, revocations, replays', async () => {
    const before = await n1.scrape();
    const binary = await client(n1, 'frank');
    binary.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    expect((await binary.waitClose()).code).to.equal(1003);
    const big = await client(n1, 'grace');
    big.ws.send(JSON.stringify({ type: 'send', room: 'x', text: 'y'.repeat(2000) }));
    expect((await big.waitClose()).code).to.equal(1009);
    const issued = cluster.issue('heidi');
    const revoked = await connect(n1.url, { token: issued.token });
    clients.push(revoked);
    await cluster.admin.set(cluster.keys.revoked(issued.jti), 'test', 'EX', 900);
    expect((await revoked.waitClose()).reason).to.equal('token_revoked');

    const writer = await client(n1, 'ivan');
    const first = await writer.join('replayed');
    expect(first.type).to.equal('joined');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push(String((await writer.request({ type: 'send', room: 'replayed', text: `r${i}` })).id));
    const reader = await client(n1, 'judy');
    await reader.join('replayed', ids[0]);
    await reader.count((f) => f.type === 'message', 2);

    const after = await n1.scrape();
    const closed = (reason: string) => moved(before, after, 'securechat_chat_closes_total', { reason });
    expect(closed('unsupported_data')).to.equal(1);
    expect(closed('too_big')).to.equal(1);
    expect(closed('token_revoked')).to.equal(1);
    const replay = after.histogram('securechat_chat_replay_messages', { kind: 'join' });
    const earlier = before.histogram('securechat_chat_replay_messages', { kind: 'join' });
    expect(replay.count - earlier.count).to.equal(1);
    expect(replay.sum - earlier.sum).to.equal(2);
  });

  it('closes a slow consumer and counts it', async () => {
    const node = await cluster.startNode('m-slow', {
      MAX_BUFFERED_BYTES: '65536',
      MAX_MESSAGE_BYTES: '65536',
      RATE_LIMIT_MAX: '100000',
    });
    const slow = await client(node, 'slow');
    const pub = await client(node, 'pub');
    for (const c of [slow, pub]) await c.join('flood');
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const slowSession = [...node.node.hub.sessions].find((s) => s.user === 'slow');
    const text = 'z'.repeat(16_000);
    for (let sent = 0; slowSession?.closed === false && sent < 2000; sent += 1) {
      await pub.request({ type: 'send', room: 'flood', text });
    }
    expect(slowSession?.closed).to.equal(true);
    expect((await node.scrape()).value('securechat_chat_closes_total', { reason: 'slow_consumer' })).to.equal(
      1,
    );
    await node.stop();
  });

  it('kill Redis: commands fail and are counted, the subscriber reconnects and resubscribes', async function () {
    this.timeout(60_000);
    const a = await client(n1, 'kim');
    await a.join('outage');
    // A message fanned out before the outage: the node catches the room up from it after.
    const first = await a.request({ type: 'send', room: 'outage', text: 'before' });
    await a.next((f) => f.type === 'message' && f.id === first.id);
    const before = await n1.scrape();
    await redis.stop();
    await waitFor(
      async () => (await n1.scrape()).value('securechat_redis_connected', { client: 'subscriber' }) === 0,
      {
        timeoutMs: 10_000,
      },
    );
    const failed = await a.request({ type: 'send', room: 'outage', text: 'lost' });
    expect(failed.code).to.equal('internal');
    const down = await n1.scrape();
    expect(moved(before, down, 'securechat_chat_messages_total', { outcome: 'error' })).to.equal(1);
    expect(
      moved(before, down, 'securechat_redis_command_errors_total', { client: 'chat', op: 'publish_limited' }),
    ).to.equal(1);
    expect(down.value('securechat_redis_connected', { client: 'chat' })).to.equal(0);

    await redis.start();
    // The catch-up is counted when its replay returns, after the resubscribe.
    const catchups = (x: Scrape) => x.histogram('securechat_chat_replay_messages', { kind: 'catchup' }).count;
    await waitFor(
      async () => {
        const s = await n1.scrape();
        return (
          s.value('securechat_redis_connected') === 2 &&
          moved(before, s, 'securechat_chat_resubscribes_total') >= 1 &&
          moved(before, s, 'securechat_redis_reconnects_total', { client: 'subscriber' }) >= 1 &&
          catchups(s) - catchups(before) >= 1
        );
      },
      { timeoutMs: 20_000, what: 'reconnected, resubscribed, caught up and counted' },
    );
    const after = await n1.scrape();
    expect(moved(before, after, 'securechat_redis_reconnects_total', { client: 'chat' })).to.be.at.least(1);
    expect((await a.request({ type: 'send', room: 'outage', text: 'back' })).type).to.equal('ack');
  });

  it('counts a drain as restart closes', async () => {
    const node = await cluster.startNode('m-drain');
    const c = await client(node, 'leo');
    await node.node.drain(2000);
    expect((await c.waitClose()).code).to.equal(1012);
    expect((await node.scrape()).value('securechat_chat_closes_total', { reason: 'restart' })).to.equal(1);
    expect((await refusal(node.url, { token: cluster.token('leo') })).status).to.equal(503);
    expect((await node.scrape()).value('securechat_chat_handshakes_total', { reason: 'draining' })).to.equal(
      1,
    );
    await node.stop();
  });
});
