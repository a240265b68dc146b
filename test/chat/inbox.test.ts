import { expect } from 'chai';
import { connect, type Frame, type TestClient } from '../support/ws-client';
import { ChatCluster, type InProcessNode } from '../support/chat-cluster';
import { RedisServer } from '../support/redis-server';

describe('messages that reach people: DMs without a join, conversations, read markers @redis', () => {
  let redis: RedisServer;
  let cluster: ChatCluster;
  let n1: InProcessNode;
  let n2: InProcessNode;
  const open: TestClient[] = [];

  before(async () => {
    redis = await RedisServer.start();
    cluster = new ChatCluster(redis, { RATE_LIMIT_MAX: '100000' });
    n1 = await cluster.startNode('n1');
    n2 = await cluster.startNode('n2');
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  });
  after(async () => {
    await cluster.stop();
    await redis.destroy();
  });

  async function client(node: InProcessNode, user: string): Promise<TestClient> {
    const c = await connect(node.url, { token: cluster.token(user) });
    open.push(c);
    return c;
  }

  const texts = (frames: Frame[]) => frames.map((f) => f.text);

  it('announces the message rate limit in welcome', async () => {
    const c = await client(n1, 'welcomed');
    expect(c.frames[0]).to.deep.include({ type: 'welcome', limits: { messages: 100000, window_ms: 60000 } });
  });

  it("delivers a DM to every connection of both users on every node, the sender's other tabs included, once and in order", async () => {
    const alice1 = await client(n1, 'alice');
    const alice2 = await client(n2, 'alice');
    const bob1 = await client(n1, 'bob');
    const bob2 = await client(n2, 'bob');
    // bob2 has also joined the DM room: the DM reaches it once all the same
    await bob2.join('dm:alice:bob', '0-0');
    const sent: string[] = [];
    for (let i = 0; i < 20; i++) {
      const from = i % 2 === 0 ? alice1 : bob1;
      const text = `d${i}`;
      sent.push(text);
      const ack = await from.request({ type: 'dm', to: from === alice1 ? 'bob' : 'alice', text });
      expect(ack).to.deep.include({ type: 'ack', room: 'dm:alice:bob' });
    }
    for (const c of [alice1, alice2, bob1, bob2]) {
      const got = await c.count((f) => f.type === 'message', 20);
      expect(texts(got)).to.deep.equal(sent);
      expect(got.every((f) => f.room === 'dm:alice:bob')).to.equal(true);
    }
    // a round trip later, still exactly 20 each
    await Promise.all([alice1, alice2, bob1, bob2].map((c) => c.request({ type: 'ping' })));
    for (const c of [alice1, alice2, bob1, bob2]) expect(c.messages()).to.have.length(20);
    const outsider = await client(n1, 'carol');
    await outsider.request({ type: 'ping' });
    expect(outsider.messages()).to.have.length(0);
  });

  it('a DM published while a session joins its room with since arrives once, in id order', async () => {
    const sender = await client(n1, 'dana');
    const reader = await client(n2, 'erik');
    const first = await sender.request({ type: 'dm', to: 'erik', text: 'first' });
    await reader.count((f) => f.type === 'message', 1);
    const sending = (async () => {
      for (let i = 0; i < 10; i++) await sender.request({ type: 'dm', to: 'erik', text: `live${i}` });
    })();
    await reader.join('dm:dana:erik', '0-0');
    await sending;
    const got = await reader.count((f) => f.type === 'message', 11);
    await reader.request({ type: 'ping' });
    expect(texts(reader.messages())).to.deep.equal([
      'first',
      ...Array.from({ length: 10 }, (_, i) => `live${i}`),
    ]);
    expect(got[0]?.id).to.equal(first.id);
  });

  it('lists rooms joined on any device and DM rooms, newest activity first, with unread counts', async () => {
    const phone = await client(n1, 'fay');
    await phone.join('garden');
    await phone.join('kitchen');
    await phone.close();
    const other = await client(n2, 'gus');
    await other.join('garden');
    await other.request({ type: 'send', room: 'garden', text: 'g1' });
    await other.request({ type: 'send', room: 'garden', text: 'g2' });
    await other.request({ type: 'dm', to: 'fay', text: 'hello fay' });
    const laptop = await client(n2, 'fay');
    const reply = await laptop.request({ type: 'conversations' });
    const items = reply.items as { room: string; unread: number; last?: Frame }[];
    expect(items.map((i) => [i.room, i.unread])).to.deep.equal([
      ['dm:fay:gus', 1],
      ['garden', 2],
      ['kitchen', 0],
    ]);
    expect(items[0]?.last).to.deep.include({ room: 'dm:fay:gus', from: 'gus', text: 'hello fay' });
    expect(items[1]?.last).to.deep.include({ room: 'garden', text: 'g2' });
    expect(items[2]?.last).to.equal(undefined);
    // gus's own messages count as read for gus
    const gus = (await other.request({ type: 'conversations' })).items as { room: string; unread: number }[];
    expect(gus.map((i) => [i.room, i.unread])).to.deep.equal([
      ['dm:fay:gus', 0],
      ['garden', 0],
    ]);
    // leaving on purpose forgets the room everywhere
    await laptop.join('kitchen');
    expect((await laptop.request({ type: 'leave', room: 'kitchen' })).type).to.equal('left');
    const after = (await laptop.request({ type: 'conversations' })).items as { room: string }[];
    expect(after.map((i) => i.room)).to.deep.equal(['dm:fay:gus', 'garden']);
  });

  it("moves a read marker forwards only and tells the user's other connections on every node, not the one that asked", async () => {
    const writer = await client(n1, 'hal');
    const a = await client(n1, 'ida');
    const b = await client(n2, 'ida');
    const c = await client(n2, 'ida');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push((await writer.request({ type: 'dm', to: 'ida', text: `m${i}` })).id as string);
    const reply = await a.request({ type: 'read', room: 'dm:hal:ida', id: ids[1] });
    expect(reply).to.deep.include({ type: 'read', room: 'dm:hal:ida', id: ids[1] });
    for (const other of [b, c]) {
      const event = await other.next((f) => f.type === 'read');
      expect(event).to.deep.equal({ type: 'read', room: 'dm:hal:ida', id: ids[1] });
    }
    const back = await b.request({ type: 'read', room: 'dm:hal:ida', id: ids[0] });
    expect(back, 'never backwards: the reply gives the marker as it is').to.deep.include({ id: ids[1] });
    const unread = (await c.request({ type: 'conversations' })).items as { room: string; unread: number }[];
    expect(unread.map((u) => [u.room, u.unread])).to.deep.equal([['dm:hal:ida', 1]]);
    await a.request({ type: 'ping' });
    expect(a.frames.filter((f) => f.type === 'read' && f.ref === undefined)).to.have.length(0);
    expect(b.frames.filter((f) => f.type === 'read' && f.ref === undefined)).to.have.length(1);
  });

  it('refuses read for rooms that are not the user’s, without messages, or malformed', async () => {
    const c = await client(n1, 'jan');
    const mallory = await client(n1, 'mallory');
    await mallory.join('lobby-x');
    await mallory.request({ type: 'send', room: 'lobby-x', text: 'x' });
    expect((await c.request({ type: 'read', room: 'dm:kim:lou', id: '1-0' })).code).to.equal('forbidden');
    expect((await c.request({ type: 'read', room: 'lobby-x', id: '1-0' })).code).to.equal('forbidden');
    expect((await c.request({ type: 'read', room: 'empty-room', id: '1-0' })).code).to.equal('not_found');
    for (const bad of [
      { type: 'read', room: 'lobby-x' },
      { type: 'read', room: 'lobby-x', id: 'abc' },
      { type: 'read', room: 'Bad*', id: '1-0' },
      { type: 'read', room: 'lobby-x', id: 5 },
    ]) {
      expect((await c.request(bad)).code, JSON.stringify(bad)).to.equal('bad_request');
    }
    expect((await c.request({ type: 'conversations', extra: 1 })).type).to.equal('conversations');
  });
});
