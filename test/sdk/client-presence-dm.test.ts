import { once } from 'node:events';
import { expect } from 'chai';
import { messagesAfter, type ChatClient, type ChatMessage, type MessageFrame } from '@securechat/sdk';
import { waitFor } from '../support/wait';
import type { FakeChatServer, FakeConnection } from './fake-chat-server';
import { Fixture, next, record } from './fixture';
import { ManualClock } from './manual-clock';

describe('sdk client: debounced presence, DM catch-up', () => {
  const fx = new Fixture();
  afterEach(() => fx.cleanup());

  async function connected(
    clock: ManualClock,
    options: Record<string, unknown> = {},
  ): Promise<{ server: FakeChatServer; client: ChatClient; conn: FakeConnection }> {
    const server = await fx.server();
    const client = fx.client({ url: server.url, clock, anchorJoins: false, ...options });
    const [, [conn]] = await Promise.all([
      client.connect(),
      once(server, 'connection') as Promise<[FakeConnection]>,
    ]);
    return { server, client, conn };
  }

  it('holds an offline back for the grace period and drops it when the user returns', async () => {
    const clock = new ManualClock();
    const { server, client, conn } = await connected(clock, { presenceGraceMs: 3000 });
    const presence = record(client, 'presence');
    await client.join('r');
    const p = (user: string, state: string) => ({ type: 'presence', room: 'r', user, state });
    server.send(conn, p('ann', 'online')); // our own, after the join: already a member
    server.send(conn, p('bob', 'online'));
    server.send(conn, p('bob', 'offline'));
    server.send(conn, p('bob', 'online')); // back within the grace: neither is news
    server.send(conn, p('cid', 'online'));
    server.send(conn, p('cid', 'offline'));
    await client.ping(); // every frame above has been read
    expect(presence.map(([e]) => [e.user, e.state])).to.deep.equal([
      ['bob', 'online'],
      ['cid', 'online'],
    ]);
    clock.advance(2999);
    expect(presence).to.have.length(2);
    clock.advance(1);
    expect(presence.map(([e]) => [e.user, e.state])).to.deep.equal([
      ['bob', 'online'],
      ['cid', 'online'],
      ['cid', 'offline'],
    ]);
    expect(client.members('r')).to.deep.equal(['ann', 'bob']);
  });

  it('catches up a DM room it saw, without joining it, after a reconnect, and loses nothing', async () => {
    const clock = new ManualClock();
    const { server, client, conn } = await connected(clock, {
      reconnect: { baseDelayMs: 100, maxDelayMs: 100 },
    });
    const messages = record(client, 'message');
    server.publish('dm:ann:bob', 'bob', 'd1');
    await waitFor(() => messages.length === 1, { what: 'the live DM' });
    const reconnecting = next(client, 'reconnecting');
    conn.ws.terminate();
    const [, delay] = await reconnecting;
    for (const text of ['d2', 'd3', 'd4']) server.publish('dm:ann:bob', 'bob', text);
    const reconnected = next(client, 'reconnected');
    clock.advance(delay);
    const [info] = await reconnected;
    expect(info.caughtUp).to.deep.equal([{ room: 'dm:ann:bob', messages: 3, truncated: false }]);
    server.publish('dm:ann:bob', 'bob', 'd5');
    await waitFor(() => messages.length === 5, { what: 'the gap and a live DM' });
    expect(messages.map(([m]) => m.text)).to.deep.equal(['d1', 'd2', 'd3', 'd4', 'd5']);
    expect(client.rooms, 'no join was needed').to.deep.equal([]);
  });

  it('reads back through history pages until the last id seen, bounded by its limit', async () => {
    const log: ChatMessage[] = Array.from({ length: 450 }, (_, i) => ({
      room: 'dm:a:b',
      id: `1000-${i}`,
      from: 'a',
      text: `m${i}`,
      ts: 1000,
    }));
    const pages: [string | undefined, number][] = [];
    const history = (before: string | undefined, limit: number): Promise<ChatMessage[]> => {
      pages.push([before, limit]);
      const end = before === undefined ? log.length : log.findIndex((m) => m.id === before);
      return Promise.resolve(log.slice(Math.max(0, end - limit), end));
    };
    const all = await messagesAfter(history, '1000-9', 1000);
    expect(all.truncated).to.equal(false);
    expect(all.messages.map((m: MessageFrame | ChatMessage) => m.text)).to.deep.equal(
      log.slice(10).map((m) => m.text),
    );
    expect(pages).to.deep.equal([
      [undefined, 200],
      ['1000-250', 200],
      ['1000-50', 200],
    ]);
    const bounded = await messagesAfter(history, '1000-9', 300);
    expect(bounded.truncated).to.equal(true);
    expect(bounded.messages.map((m) => m.id)).to.deep.equal(log.slice(150).map((m) => m.id));
    expect((await messagesAfter(history, '1000-449', 300)).messages).to.deep.equal([]);
  });
});
