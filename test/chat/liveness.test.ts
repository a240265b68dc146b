import { expect } from 'chai';
import WebSocket from 'ws';
import { connect, openSocket, TestClient } from '../support/ws-client';
import { ChatCluster, type InProcessNode } from '../support/chat-cluster';
import { RedisServer } from '../support/redis-server';
import { waitFor } from '../support/wait';

describe('chat liveness: heartbeat, slow consumers, drain @redis', () => {
  let redis: RedisServer;
  let cluster: ChatCluster;
  let node: InProcessNode;

  before(async () => {
    redis = await RedisServer.start();
    cluster = new ChatCluster(redis, { RATE_LIMIT_MAX: '100000' });
    node = await cluster.startNode('live', { PING_INTERVAL_MS: '200' });
  });
  after(async () => {
    await cluster.stop();
    await redis.destroy();
  });

  it('pings on an interval and keeps a client that answers', async () => {
    const c = await connect(node.url, { token: cluster.token('pinger') });
    let pings = 0;
    c.ws.on('ping', () => (pings += 1));
    await waitFor(() => pings >= 3, { what: 'three pings' });
    expect(c.closed).to.equal(undefined);
    await c.close();
  });

  it('terminates a client that stops answering pings', async () => {
    const ws = new WebSocket(`${node.url}/ws`, ['chat.v1'], {
      headers: { authorization: `Bearer ${cluster.token('silent')}` },
      origin: node.url.replace('ws:', 'http:'),
      autoPong: false,
    });
    const c = new TestClient(ws);
    await c.next((f) => f.type === 'welcome');
    const closed = await c.waitClose(5000);
    expect(closed.code).to.equal(1006); // terminated, no close frame
    await waitFor(() => node.node.connectionCount === 0, { what: 'session released' });
  });

  it('closes a slow consumer with 1013 and keeps serving the others', async () => {
    // default ping interval: a paused client must be closed for its buffer, not for pongs
    const node = await cluster.startNode('slowpoke', { MAX_BUFFERED_BYTES: '65536' });
    const slow = await connect(node.url, { token: cluster.token('slow') });
    const fast = await connect(node.url, { token: cluster.token('fast') });
    const pub = await connect(node.url, { token: cluster.token('pub') });
    for (const c of [slow, fast, pub]) await c.join('flood');
    // The slow client stops reading: its socket's receive buffer fills, then the node's.
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const text = 'x'.repeat(16_000);
    const slowSession = [...node.node.hub.sessions].find((s) => s.user === 'slow');
    let sent = 0;
    while (slowSession?.closed === false && sent < 2000) {
      await pub.request({ type: 'send', room: 'flood', text });
      sent += 1;
    }
    expect(slowSession?.closed, 'slow session closed').to.equal(true);
    expect(node.logs.text()).to.include('slow_consumer');
    (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    const closed = await slow.waitClose(10_000);
    expect([1013, 1006]).to.include(closed.code);
    // the fast member got everything, in order
    const got = await fast.count((f) => f.type === 'message', sent);
    expect(got).to.have.length(sent);
    await Promise.all([fast.close(), pub.close()]);
    await node.stop();
  });

  it('drains: closes every socket with 1012 restart and refuses new handshakes', async () => {
    const other = await cluster.startNode('drainer');
    const clients = [
      await connect(other.url, { token: cluster.token('drain1') }),
      await connect(other.url, { token: cluster.token('drain2') }),
    ];
    const draining = other.node.drain(3000);
    const closes = await Promise.all(clients.map((c) => c.waitClose()));
    for (const close of closes) expect(close).to.deep.equal({ code: 1012, reason: 'restart' });
    await draining;
    const refused = await openSocket(other.url, { token: cluster.token('drain3') });
    expect(refused).not.to.be.instanceOf(TestClient);
    expect((refused as { status: number }).status).to.equal(503);
    await other.stop();
  });
});
