import { expect } from 'chai';
import { connect, type Frame, type TestClient } from '../support/ws-client';
import { ChatCluster, type InProcessNode } from '../support/chat-cluster';
import { RedisServer } from '../support/redis-server';
import { waitFor } from '../support/wait';

describe('chat across three nodes on one Redis @redis', () => {
  let redis: RedisServer;
  let cluster: ChatCluster;
  let nodes: InProcessNode[];
  const env = { RATE_LIMIT_MAX: '100000', PRESENCE_TTL_S: '2' };

  before(async () => {
    redis = await RedisServer.start();
    cluster = new ChatCluster(redis, env);
    nodes = [await cluster.startNode('n1'), await cluster.startNode('n2'), await cluster.startNode('n3')];
  });
  after(async () => {
    await cluster.stop();
    await redis.destroy();
  });

  const texts = (frames: Frame[]) => frames.map((f) => f.text);

  it('delivers every room message exactly once and in order to members on every node', async () => {
    const members: TestClient[] = [];
    for (let i = 0; i < 6; i++) {
      const c = await connect((nodes[i % 3] as InProcessNode).url, { token: cluster.token(`member${i}`) });
      await c.join('fanout');
      members.push(c);
    }
    const outsider = await connect((nodes[0] as InProcessNode).url, { token: cluster.token('outsider') });
    await outsider.join('other-room');
    // three publishers on three nodes, interleaved
    const publishers = members.slice(0, 3);
    const sent: string[][] = [[], [], []];
    await Promise.all(
      publishers.map(async (p, i) => {
        for (let k = 0; k < 30; k++) {
          const text = `p${i}-${k}`;
          sent[i]?.push(text);
          await p.request({ type: 'send', room: 'fanout', text });
        }
      }),
    );
    const received = await Promise.all(members.map((c) => c.count((f) => f.type === 'message', 90)));
    const reference = received[0]?.map((f) => f.id);
    for (const frames of received) {
      expect(frames).to.have.length(90);
      // identical order on every node, ids strictly increasing, no duplicate
      expect(frames.map((f) => f.id)).to.deep.equal(reference);
      const ids = frames.map((f) => f.id as string);
      expect(new Set(ids).size).to.equal(90);
      // each publisher's own messages in the order it sent them
      for (let i = 0; i < 3; i++) {
        expect(texts(frames).filter((t) => String(t).startsWith(`p${i}-`))).to.deep.equal(sent[i]);
      }
    }
    // let a round trip pass, then check nothing extra arrived and the outsider saw nothing
    await Promise.all(members.map((c) => c.request({ type: 'ping' })));
    for (const c of members) expect(c.messages()).to.have.length(90);
    expect(outsider.messages()).to.have.length(0);
    await Promise.all([...members, outsider].map((c) => c.close()));
  });

  it('subscribes a node to a room channel only while it has members there', async () => {
    const channel = cluster.keys.roomChannel('sub-check');
    const subscribers = async () => {
      const reply = (await cluster.admin.call('PUBSUB', 'NUMSUB', channel)) as [string, number];
      return Number(reply[1]);
    };
    expect(await subscribers()).to.equal(0);
    const c1 = await connect((nodes[0] as InProcessNode).url, { token: cluster.token('sub1') });
    const c2 = await connect((nodes[1] as InProcessNode).url, { token: cluster.token('sub2') });
    await c1.join('sub-check');
    await c2.join('sub-check');
    expect(await subscribers()).to.equal(2);
    await c1.request({ type: 'leave', room: 'sub-check' });
    await waitFor(async () => (await subscribers()) === 1, { what: 'one subscriber' });
    await c2.close();
    await waitFor(async () => (await subscribers()) === 0, { what: 'no subscriber' });
    await c1.close();
  });

  it('shows presence on every node: online on first join, offline when the last session leaves', async () => {
    const watcher = await connect((nodes[2] as InProcessNode).url, { token: cluster.token('watcher') });
    await watcher.join('presence');
    const s1 = await connect((nodes[0] as InProcessNode).url, { token: cluster.token('pat') });
    const s2 = await connect((nodes[1] as InProcessNode).url, { token: cluster.token('pat') });
    const joined = await s1.join('presence');
    expect(joined.members).to.deep.equal(['pat', 'watcher']);
    await watcher.next((f) => f.type === 'presence' && f.user === 'pat' && f.state === 'online');
    await s2.join('presence');
    await s1.close();
    // pat still has a session in the room: no offline yet
    await watcher.request({ type: 'ping' });
    await s2.request({ type: 'ping' });
    expect(watcher.frames.filter((f) => f.type === 'presence' && f.user === 'pat')).to.have.length(1);
    await s2.close();
    await watcher.next((f) => f.type === 'presence' && f.user === 'pat' && f.state === 'offline');
    expect(
      watcher.frames.filter((f) => f.type === 'presence' && f.user === 'pat' && f.state === 'online'),
    ).to.have.length(1);
    await watcher.close();
  });

  it('resumes with since: no hole and no duplicate while others keep publishing', async () => {
    const url = (i: number) => (nodes[i] as InProcessNode).url;
    const publisher = await connect(url(0), { token: cluster.token('pub') });
    await publisher.join('resume');
    let reader = await connect(url(1), { token: cluster.token('reader') });
    await reader.join('resume');
    let stop = false;
    let n = 0;
    const publishing = (async () => {
      while (!stop) {
        await publisher.request({ type: 'send', room: 'resume', text: `m${n}` });
        n += 1;
      }
    })();
    await reader.count((f) => f.type === 'message', 20);
    const seen = reader.messages('resume');
    const lastId = seen[seen.length - 1]?.id as string;
    await reader.close();
    // messages go on while the reader is away; it comes back on another node
    const sentBefore = n;
    await waitFor(() => n >= sentBefore + 20, { what: 'more messages while away' });
    reader = await connect(url(2), { token: cluster.token('reader') });
    await reader.join('resume', lastId);
    const target = n + 20;
    await waitFor(() => n >= target, { what: 'live messages after resume' });
    stop = true;
    await publishing;
    const total = n;
    const resumed = await reader.count((f) => f.type === 'message', total - seen.length);
    const all = [...seen, ...resumed].map((f) => f.text);
    expect(all).to.deep.equal(Array.from({ length: total }, (_, i) => `m${i}`));
    await Promise.all([reader.close(), publisher.close()]);
  });

  it('tells the client when since is older than the history kept', async () => {
    const small = await cluster.startNode('small', { HISTORY_MAX_LEN: '10' });
    const c = await connect(small.url, { token: cluster.token('trimmer') });
    await c.join('trimmed');
    const first = await c.request({ type: 'send', room: 'trimmed', text: 'first' });
    for (let i = 0; i < 300; i++) await c.request({ type: 'send', room: 'trimmed', text: `x${i}` });
    const other = await connect(small.url, { token: cluster.token('late') });
    const joined = await other.join('trimmed', first.id as string);
    expect(joined.history_truncated).to.equal(true);
    const fresh = await connect(small.url, { token: cluster.token('fresh') });
    const lastAck = await c.request({ type: 'send', room: 'trimmed', text: 'last' });
    const ok = await fresh.join('trimmed', lastAck.id as string);
    expect(ok).not.to.have.property('history_truncated');
    await Promise.all([c.close(), other.close(), fresh.close(), small.stop()]);
  });
});
