import { expect } from 'chai';
import { connect, type TestClient } from '../support/ws-client';
import { ChatCluster, type InProcessNode } from '../support/chat-cluster';
import { RedisServer } from '../support/redis-server';
import { CLOSE, type CloseCode } from '@securechat/chat';

describe('chat protocol: frames, rooms, DMs, hostile input @redis', () => {
  let redis: RedisServer;
  let cluster: ChatCluster;
  let node: InProcessNode;
  let alice: TestClient;
  let bob: TestClient;

  before(async () => {
    redis = await RedisServer.start();
    cluster = new ChatCluster(redis);
    // Room for a 10 kB room name in one frame; 1009 is tested past this bound.
    node = await cluster.startNode('proto', { MAX_MESSAGE_BYTES: '16384', RATE_LIMIT_MAX: '1000' });
  });
  beforeEach(async () => {
    alice = await connect(node.url, { token: cluster.token('alice') });
    bob = await connect(node.url, { token: cluster.token('bob') });
  });
  afterEach(async () => {
    await Promise.all([alice.close(), bob.close()]);
  });
  after(async () => {
    await cluster.stop();
    await redis.destroy();
  });

  it('answers ping with pong, echoing ref', async () => {
    expect(await alice.request({ type: 'ping' })).to.deep.include({ type: 'pong', ref: 'r1' });
  });

  it('joins, sends with an ack id, and delivers to members including the sender', async () => {
    const joined = await alice.join('lobby');
    expect(joined.members).to.deep.equal(['alice']);
    await bob.join('lobby');
    const ack = await alice.request({ type: 'send', room: 'lobby', text: 'hello' });
    expect(ack.type).to.equal('ack');
    expect(ack.id).to.match(/^\d+-\d+$/);
    for (const c of [alice, bob]) {
      const m = await c.next((f) => f.type === 'message' && f.id === ack.id);
      expect(m).to.deep.include({ room: 'lobby', from: 'alice', text: 'hello' });
      expect(m.ts).to.be.a('number');
    }
    const left = await bob.request({ type: 'leave', room: 'lobby' });
    expect(left).to.deep.include({ type: 'left', room: 'lobby' });
  });

  it('refuses sending to a room not joined with forbidden', async () => {
    const reply = await alice.request({ type: 'send', room: 'elsewhere', text: 'x' });
    expect(reply).to.deep.include({ type: 'error', code: 'forbidden' });
  });

  it('takes from from the token, never from the client', async () => {
    await alice.join('spoof');
    const ack = await alice.request({ type: 'send', room: 'spoof', text: 'hi', from: 'bob' } as Record<
      string,
      unknown
    >);
    const m = await alice.next((f) => f.type === 'message' && f.id === ack.id);
    expect(m.from).to.equal('alice');
  });

  it('answers malformed JSON and wrong types with bad_request and stays open', async () => {
    alice.send('{not json');
    await alice.next((f) => f.type === 'error' && f.code === 'bad_request');
    for (const bad of [
      { type: 'join', room: 5 },
      { type: 'send', room: 'lobby', text: { a: 1 } },
      { type: 'history', room: 'lobby', limit: 'all' },
      { type: 'nope' },
      [1, 2, 3],
      'string',
      null,
    ]) {
      const before = alice.frames.length;
      alice.send(JSON.stringify(bad));
      await alice.next((f) => f.type === 'error' && f.code === 'bad_request', 2000, before);
    }
    expect(alice.closed).to.equal(undefined);
    expect((await alice.request({ type: 'ping' })).type).to.equal('pong');
  });

  it('refuses hostile room names', async () => {
    for (const room of [
      '*',
      'a:b',
      'x'.repeat(10_000),
      'a'.repeat(65),
      '__proto__',
      'Lobby',
      '-a',
      'chat:room',
      'a b',
      '',
    ]) {
      const reply = await alice.request({ type: 'join', room });
      expect(reply.type, room.slice(0, 20)).to.equal('error');
      expect(reply.code).to.equal('bad_request');
    }
  });

  it('ignores prototype-pollution payloads', async () => {
    alice.send(
      '{"type":"ping","__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"ref":"pp"}',
    );
    await alice.next((f) => f.ref === 'pp' && f.type === 'pong');
    expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
  });

  it('keeps DMs between their two users', async () => {
    const mallory = await connect(node.url, { token: cluster.token('mallory') });
    expect((await mallory.request({ type: 'join', room: 'dm:alice:bob' })).code).to.equal('forbidden');
    expect((await mallory.request({ type: 'history', room: 'dm:alice:bob' })).code).to.equal('forbidden');
    expect((await alice.request({ type: 'join', room: 'dm:bob:alice' })).code).to.equal('bad_request');
    await bob.join('dm:alice:bob');
    const ack = await alice.request({ type: 'dm', to: 'bob', text: 'psst' });
    expect(ack).to.deep.include({ type: 'ack', room: 'dm:alice:bob' });
    const m = await bob.next((f) => f.type === 'message' && f.id === ack.id);
    expect(m).to.deep.include({ room: 'dm:alice:bob', from: 'alice', text: 'psst' });
    const history = await alice.request({ type: 'history', room: 'dm:alice:bob' });
    expect((history.messages as unknown[]).length).to.equal(1);
    expect((await alice.request({ type: 'dm', to: 'alice', text: 'me' })).code).to.equal('bad_request');
    expect((await alice.request({ type: 'dm', to: '*', text: 'x' })).code).to.equal('bad_request');
    await mallory.close();
  });

  it('pages history oldest first, before an id', async () => {
    await alice.join('paged');
    const ids: string[] = [];
    for (let i = 0; i < 7; i++)
      ids.push((await alice.request({ type: 'send', room: 'paged', text: `m${i}` })).id as string);
    const last3 = await alice.request({ type: 'history', room: 'paged', limit: 3 });
    expect((last3.messages as { text: string }[]).map((m) => m.text)).to.deep.equal(['m4', 'm5', 'm6']);
    const before = await alice.request({ type: 'history', room: 'paged', limit: 3, before: ids[4] });
    expect((before.messages as { text: string }[]).map((m) => m.text)).to.deep.equal(['m1', 'm2', 'm3']);
    const all = await alice.request({ type: 'history', room: 'paged' });
    expect((all.messages as unknown[]).length).to.equal(7);
  });

  // The closes as the catalogue (CLOSE) and docs/PROTOCOL.md give them, code and reason.
  const frameOf = ({ code, reason }: CloseCode) => ({ code, reason });

  it('closes 1003 on a binary frame', async () => {
    alice.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    expect(await alice.waitClose()).to.deep.equal(frameOf(CLOSE.unsupportedData));
  });

  it('closes 1009 on a message over MAX_MESSAGE_BYTES: ws does, at its maxPayload, with no reason', async () => {
    alice.send(JSON.stringify({ type: 'ping', pad: 'x'.repeat(17_000) }));
    expect(await alice.waitClose()).to.deep.equal(frameOf(CLOSE.tooBig));
  });

  it('closes 1007 on a text frame that is not UTF-8: ws does, with no reason', async () => {
    alice.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    expect(await alice.waitClose()).to.deep.equal(frameOf(CLOSE.invalidUtf8));
  });
});
