import { once } from 'node:events';
import { expect } from 'chai';
import { ChatError, type ChatClient } from '@securechat/sdk';
import { waitFor } from '../support/wait';
import type { FakeChatServer, FakeConnection } from './fake-chat-server';
import { Fixture, record } from './fixture';
import { ManualClock } from './manual-clock';

async function rejection(p: Promise<unknown>): Promise<ChatError> {
  const err = await p.then(
    () => expect.fail('expected a rejection'),
    (e: unknown) => e,
  );
  expect(err).to.be.instanceOf(ChatError);
  return err as ChatError;
}

describe('sdk client requests', () => {
  const fx = new Fixture();
  afterEach(() => fx.cleanup());

  async function connected(
    options: Parameters<Fixture['client']>[0] | undefined = undefined,
  ): Promise<{ server: FakeChatServer; client: ChatClient; conn: FakeConnection }> {
    const server = await fx.server();
    const client = fx.client({ anchorJoins: false, ...options, url: server.url });
    const [, [conn]] = await Promise.all([
      client.connect(),
      once(server, 'connection') as Promise<[FakeConnection]>,
    ]);
    return { server, client, conn };
  }

  it('joins, sends and receives its own message, resolving with the ack id', async () => {
    const { server, client } = await connected();
    const messages = record(client, 'message');
    const joined = await client.join('lobby');
    expect(joined).to.deep.include({ type: 'joined', room: 'lobby', members: ['ann'] });
    const id = await client.send('lobby', 'hello');
    expect(id).to.equal(`${server.idMs}-1`);
    await waitFor(() => messages.length === 1, { what: 'own message' });
    expect(messages[0]?.[0]).to.deep.include({
      type: 'message',
      room: 'lobby',
      id,
      from: 'ann',
      text: 'hello',
    });
    expect(client.lastMessageId('lobby')).to.equal(id);
    expect(client.rooms).to.deep.equal(['lobby']);
    await client.leave('lobby');
    expect(client.rooms).to.deep.equal([]);
  });

  it('sends every request with a distinct ref and settles replies by ref, whatever their order', async () => {
    const { server, client, conn } = await connected();
    server.publish('a', 'bob', 'in a');
    server.publish('b', 'bob', 'in b');
    server.holdReplies = true;
    const pending = Promise.all([
      client.history('a'),
      client.history('b'),
      client.dm('bob', 'psst'),
      client.ping(),
    ]);
    await waitFor(() => server.heldCount() === 4, { what: 'four held replies' });
    server.flushReplies({ reverse: true });
    const [ha, hb, dmId, rtt] = await pending;
    expect(ha.map((m) => m.text)).to.deep.equal(['in a']);
    expect(hb.map((m) => m.text)).to.deep.equal(['in b']);
    expect(dmId).to.equal(`${server.idMs}-1`);
    expect(server.rooms.get('dm:ann:bob')?.[0]?.text).to.equal('psst');
    expect(rtt).to.be.a('number').and.at.least(0);
    const refs = conn.frames.map((f) => f['ref']);
    expect(new Set(refs).size).to.equal(refs.length);
    expect(refs.every((r) => typeof r === 'string')).to.equal(true);
  });

  it('sends history paging parameters as given', async () => {
    const { server, client } = await connected();
    for (let i = 1; i <= 12; i++) server.publish('r', 'bob', `m${i}`);
    const page = await client.history('r', { before: `${server.idMs}-11`, limit: 3 });
    expect(page.map((m) => m.text)).to.deep.equal(['m8', 'm9', 'm10']);
    expect(server.framesOf('history')[0]).to.include({ room: 'r', before: `${server.idMs}-11`, limit: 3 });
  });

  it('continues history pages the server cut short, up to the limit', async () => {
    const { server, client } = await connected();
    for (let i = 1; i <= 12; i++) server.publish('r', 'bob', `m${i}`);
    server.historyPage = 2;
    const messages = await client.history('r', { limit: 5 });
    expect(messages.map((m) => m.text)).to.deep.equal(['m8', 'm9', 'm10', 'm11', 'm12']);
    expect(server.framesOf('history').map((f) => f['limit'])).to.deep.equal([5, 3, 1]);
    const all = await client.history('r', { limit: 50 });
    expect(all.map((m) => m.text)).to.deep.equal(Array.from({ length: 12 }, (_, i) => `m${i + 1}`));
    expect(await client.historyPage('r', { limit: 3 })).to.deep.include({ more: true });
  });

  it('continues a replay the server stopped short (replay_more), each message once, in order', async () => {
    const { server, client } = await connected();
    for (let i = 1; i <= 10; i++) server.publish('big', 'bob', `m${i}`);
    server.replayPage = 3;
    const messages = record(client, 'message');
    await client.join('big', { since: '0-0' });
    await waitFor(() => messages.length === 10, { what: 'ten messages' });
    expect(messages.map(([m]) => m.text)).to.deep.equal(Array.from({ length: 10 }, (_, i) => `m${i + 1}`));
    const joins = server.framesOf('join');
    expect(joins.map((f) => f['since'])).to.deep.equal([
      '0-0',
      `${server.idMs}-3`,
      `${server.idMs}-6`,
      `${server.idMs}-9`,
    ]);
    expect(client.lastMessageId('big')).to.equal(`${server.idMs}-10`);
  });

  it('rejects with the error reply carrying its ref, with its code', async () => {
    const { server, client } = await connected();
    server.forbiddenRooms.add('secret');
    const forbidden = await rejection(client.join('secret'));
    expect(forbidden.code).to.equal('forbidden');
    expect(client.rooms, 'a refused join is not remembered').to.deep.equal([]);
    expect((await rejection(client.send('secret', 'x'))).code).to.equal('forbidden');
    expect(await client.ping(), 'the connection stays usable').to.be.a('number');
  });

  it('waits out a rate_limited send and sends the same message again, never while limited', async () => {
    const clock = new ManualClock();
    const { server, client, conn } = await connected({ url: '', clock });
    const limited = record(client, 'rate_limited');
    await client.join('busy');
    server.rateLimitedRooms.set('busy', 1234);
    const refused = once(server, 'frame');
    const first = client.send('busy', 'one');
    const second = client.send('busy', 'two');
    await refused;
    await waitFor(() => limited.length === 1, { what: 'the rate_limited event' });
    expect(limited[0]?.[0]).to.deep.equal({ room: 'busy', retryAfterMs: 1234, until: clock.now() + 1234 });
    server.rateLimitedRooms.delete('busy');
    const sends = () => conn.frames.filter((f) => f['type'] === 'send').map((f) => f['text']);
    expect(sends(), 'one refused attempt, and nothing while waiting').to.deep.equal(['one']);
    clock.advance(1233);
    expect(sends()).to.deep.equal(['one']);
    clock.advance(1);
    const [id1, id2] = await Promise.all([first, second]);
    expect(sends(), 'the refused message again, then the next, in order').to.deep.equal([
      'one',
      'one',
      'two',
    ]);
    expect(server.rooms.get('busy')?.map((m) => m.text)).to.deep.equal(['one', 'two']);
    expect([id1, id2]).to.deep.equal(server.rooms.get('busy')?.map((m) => m.id));
  });

  it('paces sends to the limit the server announced in welcome, so it is never refused', async () => {
    const clock = new ManualClock();
    const server = await fx.server();
    server.limits = { messages: 2, window_ms: 10_000 };
    const client = fx.client({ url: server.url, clock, anchorJoins: false });
    const [, [conn]] = await Promise.all([
      client.connect(),
      once(server, 'connection') as Promise<[FakeConnection]>,
    ]);
    const limited = record(client, 'rate_limited');
    await client.join('r');
    const sent = ['a', 'b', 'c'].map((t) => client.send('r', t));
    const sends = () => conn.frames.filter((f) => f['type'] === 'send').length;
    await Promise.all(sent.slice(0, 2));
    await waitFor(() => limited.length === 1, { what: 'a local wait' });
    expect(sends()).to.equal(2);
    expect(limited[0]?.[0].retryAfterMs).to.be.within(9_000, 10_001);
    clock.advance(10_001);
    await sent[2];
    expect(sends()).to.equal(3);
    expect(client.pendingSends).to.equal(0);
  });

  it('reports an error without a pending ref as an error event', async () => {
    const { server, client, conn } = await connected();
    const errors = record(client, 'error');
    server.send(conn, { type: 'error', code: 'internal', message: 'something broke' });
    await waitFor(() => errors.length === 1, { what: 'error event' });
    expect(errors[0]?.[0]).to.include({ code: 'internal', message: 'something broke' });
  });

  it('ignores unknown message types and reports unreadable frames', async () => {
    const { server, client, conn } = await connected();
    const errors = record(client, 'error');
    const messages = record(client, 'message');
    const presence = record(client, 'presence');
    server.send(conn, { type: 'typing', room: 'r', user: 'bob' });
    server.send(conn, '{oops');
    server.send(conn, { type: 'message', room: 'r', id: '1-1', from: 'bob' });
    server.send(conn, { type: 'presence', room: 'r', user: 'bob', state: 'online' });
    // Frames arrive in order: once the last one is seen, the others have been handled.
    await waitFor(() => presence.length === 1, { what: 'presence event' });
    expect(presence[0]?.[0]).to.deep.equal({ type: 'presence', room: 'r', user: 'bob', state: 'online' });
    expect(errors.map(([e]) => e.code)).to.deep.equal(['protocol_error', 'protocol_error']);
    expect(messages).to.have.length(0);
  });

  it('rejects a request that gets no reply with timeout, on the injected clock', async () => {
    const clock = new ManualClock();
    const { server, client } = await connected({ url: '', clock, requestTimeoutMs: 3000 });
    server.muted.add('ping');
    const frame = once(server, 'frame');
    const ping = client.ping();
    await frame;
    clock.advance(2999);
    clock.advance(1);
    const err = await rejection(ping);
    expect(err.code).to.equal('timeout');
  });

  it('rejects pending requests with disconnected when the socket drops', async () => {
    const { server, client, conn } = await connected({ url: '', reconnect: { enabled: false } });
    server.muted.add('ping');
    const frame = once(server, 'frame');
    const ping = client.ping();
    await frame;
    conn.ws.terminate();
    const err = await rejection(ping);
    expect(err.code).to.equal('disconnected');
    expect(err.closeCode).to.equal(1006);
  });

  it('rejects requests before connect with not_connected and after close with closed', async () => {
    const server = await fx.server();
    const client = fx.client({ url: server.url });
    expect((await rejection(client.send('r', 'x'))).code).to.equal('not_connected');
    await client.connect();
    await client.close();
    expect(client.state).to.equal('closed');
    expect((await rejection(client.send('r', 'x'))).code).to.equal('closed');
    expect((await rejection(client.connect())).code).to.equal('closed');
  });

  it('rejects a reply of the wrong type as a protocol error', async () => {
    const { server, client, conn } = await connected();
    server.muted.add('ping');
    const frame = once(server, 'frame') as Promise<[FakeConnection, Record<string, unknown>]>;
    const ping = client.ping();
    const [, sent] = await frame;
    server.send(conn, { type: 'left', room: 'r', ref: sent['ref'] });
    expect((await rejection(ping)).code).to.equal('protocol_error');
  });
});
