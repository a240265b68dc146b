import { once } from 'node:events';
import { expect } from 'chai';
import { AVOID_URL_MS, type ChatClient, type MessageFrame } from '@securechat/sdk';
import { waitFor } from '../support/wait';
import type { FakeChatServer, FakeConnection } from './fake-chat-server';
import { Fixture, next, record, TokenSource } from './fixture';
import { ManualClock } from './manual-clock';

/** A random source that replays `values` in a loop. */
function scripted(values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length] as number;
}

function texts(events: [MessageFrame][], room?: string): string[] {
  return events
    .map(([m]) => m)
    .filter((m) => room === undefined || m.room === room)
    .map((m) => m.text);
}

/** Join frames of a connection, as room -> since. */
function joinsOf(conn: FakeConnection): Record<string, unknown> {
  return Object.fromEntries(
    conn.frames.filter((f) => f['type'] === 'join').map((f) => [f['room'], f['since']]),
  );
}

describe('sdk client reconnect', () => {
  const fx = new Fixture();
  afterEach(() => fx.cleanup());

  async function connect(client: ChatClient, server: FakeChatServer): Promise<FakeConnection> {
    const [, [conn]] = await Promise.all([
      client.connect(),
      once(server, 'connection') as Promise<[FakeConnection]>,
    ]);
    return conn;
  }

  it('backs off exponentially with full jitter, capped, and gives up after maxAttempts', async () => {
    const server = await fx.server();
    const random = [0.999, 0.5, 0.999, 0.25, 0.999];
    const client = fx.client({
      url: server.url,
      reconnect: { baseDelayMs: 8, maxDelayMs: 40, maxAttempts: 5 },
      random: scripted(random),
    });
    const conn = await connect(client, server);
    const reconnecting = record(client, 'reconnecting');
    const errors = record(client, 'error');
    const closed = next(client, 'close');
    server.refuseAll = 503;
    conn.ws.terminate();
    expect(await closed).to.deep.equal([1006, 'reconnect_failed']);

    const ceilings = [8, 16, 32, 40, 40];
    expect(reconnecting.map(([attempt]) => attempt)).to.deep.equal([1, 2, 3, 4, 5]);
    reconnecting.forEach(([attempt, delay], i) => {
      const ceiling = Math.min(40, 8 * 2 ** (attempt - 1));
      expect(ceiling).to.equal(ceilings[i]);
      expect(delay, `attempt ${attempt}`).to.be.within(0, ceiling);
      expect(delay, `attempt ${attempt} draws from the whole window`).to.equal(
        Math.floor((random[i] as number) * ceiling),
      );
    });
    expect(server.handshakes, 'the first connection and five refused retries').to.have.length(6);
    expect(errors.map(([e]) => e.code)).to.deep.equal(['connect_failed']);
    expect(client.state).to.equal('closed');
  });

  it('rejoins every room with since = the last id it saw, and loses nothing from the gap', async () => {
    const clock = new ManualClock();
    const server = await fx.server();
    const client = fx.client({ url: server.url, clock, reconnect: { baseDelayMs: 100, maxDelayMs: 1000 } });
    const first = await connect(client, server);
    const messages = record(client, 'message');
    for (let i = 1; i <= 3; i++) server.publish('c', 'bob', `c${i}`);
    await client.join('a');
    await client.join('b');
    await client.join('c');
    // Twelve messages: ids cross "-9" -> "-10", which string comparison would misorder.
    for (let i = 1; i <= 12; i++) server.publish('a', 'bob', `a${i}`);
    await waitFor(() => messages.length === 12, { what: 'twelve live messages' });
    expect(client.lastMessageId('a')).to.equal(`${server.idMs}-12`);

    const reconnecting = next(client, 'reconnecting');
    first.ws.terminate();
    const [attempt, delay] = await reconnecting;
    expect(attempt).to.equal(1);
    expect(delay).to.be.within(0, 100);
    // The client is offline until the clock moves: these can only arrive by replay.
    server.publish('a', 'bob', 'a13');
    server.publish('a', 'bob', 'a14');
    server.publish('b', 'bob', 'b1');
    server.publish('c', 'bob', 'c4');
    const reconnected = next(client, 'reconnected');
    const second = once(server, 'connection') as Promise<[FakeConnection]>;
    clock.advance(delay);
    const [[info], [conn]] = await Promise.all([reconnected, second]);

    expect(joinsOf(conn)).to.deep.equal({
      a: `${server.idMs}-12`,
      b: '0-0',
      c: `${server.idMs}-3`,
    });
    expect(info.attempt).to.equal(1);
    expect(info.joined.map((j) => j.room).sort()).to.deep.equal(['a', 'b', 'c']);
    await waitFor(() => messages.length === 16, { what: 'the replayed gap' });
    expect(texts(messages, 'a')).to.deep.equal([...Array.from({ length: 14 }, (_, i) => `a${i + 1}`)]);
    expect(texts(messages, 'b')).to.deep.equal(['b1']);
    expect(texts(messages, 'c'), 'c1-c3 predate the join').to.deep.equal(['c4']);
    expect(client.duplicatesDropped).to.equal(0);
    // Still live after the replay.
    server.publish('a', 'bob', 'a15');
    await waitFor(() => messages.length === 17, { what: 'a live message after the replay' });
  });

  it('never delivers a message twice when the replay overlaps what was seen', async () => {
    const server = await fx.server();
    const client = fx.client({ url: server.url, reconnect: { baseDelayMs: 5, maxDelayMs: 5 } });
    const first = await connect(client, server);
    const messages = record(client, 'message');
    await client.join('room');
    for (let i = 1; i <= 10; i++) server.publish('room', 'bob', `m${i}`);
    await waitFor(() => messages.length === 10, { what: 'ten live messages' });

    // Missed while the socket dies: the server stops delivering first.
    first.rooms.clear();
    server.publish('room', 'bob', 'm11');
    server.publish('room', 'bob', 'm12');
    server.replayOverlap = 4;
    const second = once(server, 'connection') as Promise<[FakeConnection]>;
    const reconnected = next(client, 'reconnected');
    first.ws.terminate();
    const [[conn]] = await Promise.all([second, reconnected]);
    expect(joinsOf(conn)).to.deep.equal({ room: `${server.idMs}-10` });
    // And a live copy of the last replayed message, as a racing publish could produce.
    const last = server.rooms.get('room')?.at(-1);
    server.send(conn, { type: 'message', ...last });
    server.publish('room', 'bob', 'm13');
    await waitFor(() => texts(messages).includes('m13'), { what: 'the message after the overlap' });

    expect(texts(messages)).to.deep.equal(Array.from({ length: 13 }, (_, i) => `m${i + 1}`));
    expect(client.duplicatesDropped, '4 replayed again + 1 live copy').to.equal(5);
  });

  const terminal: [number, string][] = [
    [1008, 'blocked'],
    [1008, 'token_revoked'],
    [1003, 'binary frames are not accepted'],
    [1007, ''],
    [1009, ''],
  ];
  for (const [code, reason] of terminal) {
    it(`does not reconnect after ${code} ${reason || '(no reason)'}`, async () => {
      const server = await fx.server();
      const client = fx.client({ url: server.url, reconnect: { baseDelayMs: 1, maxDelayMs: 1 } });
      const conn = await connect(client, server);
      const reconnecting = record(client, 'reconnecting');
      const disconnect = next(client, 'disconnect');
      const closed = next(client, 'close');
      conn.ws.close(code, reason);
      expect(await disconnect).to.deep.equal([code, reason]);
      expect(await closed).to.deep.equal([code, reason]);
      expect(client.state).to.equal('closed');
      // Closing cleared every timer synchronously: nothing can dial again.
      expect(reconnecting).to.have.length(0);
      expect(server.handshakes).to.have.length(1);
      const err = await client.ping().then(
        () => expect.fail('ping after a terminal close'),
        (e: unknown) => e,
      );
      expect(err).to.include({ code: 'closed' });
    });
  }

  for (const status of [403, 400, 404]) {
    it(`stops when a reconnect handshake is refused with ${status}`, async () => {
      const server = await fx.server();
      const client = fx.client({ url: server.url, reconnect: { baseDelayMs: 1, maxDelayMs: 1 } });
      const conn = await connect(client, server);
      const errors = record(client, 'error');
      server.refusals.push(status);
      const closed = next(client, 'close');
      conn.ws.terminate();
      await closed;
      expect(errors.map(([e]) => [e.code, e.status])).to.deep.equal([['handshake_refused', status]]);
      expect(server.handshakes).to.have.length(2);
    });
  }

  it('reconnects after 1008 token_expired with a fresh token from getToken', async () => {
    const server = await fx.server();
    const tokens = new TokenSource('ann');
    const client = fx.client({ url: server.url, getToken: tokens.getToken, reconnect: { baseDelayMs: 5 } });
    const conn = await connect(client, server);
    await client.join('r');
    const reconnected = next(client, 'reconnected');
    conn.ws.close(1008, 'token_expired');
    await reconnected;
    expect(tokens.issued).to.have.length(2);
    expect(server.handshakes.map((h) => h.token)).to.deep.equal(tokens.issued);
    expect(server.current?.rooms.has('r')).to.equal(true);
  });

  it('retries a 401 handshake with a new token each time', async () => {
    const server = await fx.server();
    const tokens = new TokenSource('ann');
    const client = fx.client({ url: server.url, getToken: tokens.getToken, reconnect: { baseDelayMs: 5 } });
    const conn = await connect(client, server);
    const reconnecting = record(client, 'reconnecting');
    server.refusals.push(401, 401);
    const reconnected = next(client, 'reconnected');
    conn.ws.terminate();
    const [info] = await reconnected;
    expect(info.attempt).to.equal(3);
    expect(reconnecting.map(([a]) => a)).to.deep.equal([1, 2, 3]);
    expect(reconnecting.map(([, , cause]) => cause?.status)).to.deep.equal([undefined, 401, 401]);
    // The first retry still holds a valid token; each 401 drops the token it refused.
    const [t1, t2, t3] = tokens.issued;
    expect(server.handshakes.map((h) => h.token)).to.deep.equal([t1, t1, t2, t3]);
  });

  it('reuses a token with more than refreshAheadMs to live, whatever the failures, and only that', async () => {
    const server = await fx.server();
    const long = new TokenSource('ann', 900);
    const client = fx.client({ url: server.url, getToken: long.getToken, reconnect: { baseDelayMs: 5 } });
    const conn = await connect(client, server);
    server.refusals.push(503, 429, 503);
    const reconnected = next(client, 'reconnected');
    conn.ws.terminate();
    await reconnected;
    expect(long.issued, 'one call to getToken for five handshakes').to.have.length(1);
    expect(new Set(server.handshakes.map((h) => h.token))).to.deep.equal(new Set(long.issued));
    expect(server.handshakes).to.have.length(5);

    // A token within refreshAheadMs of its expiry is never offered again.
    const short = new TokenSource('bob', 30);
    const other = fx.client({
      url: server.url,
      getToken: short.getToken,
      refreshAheadMs: 60_000,
      reconnect: { baseDelayMs: 5 },
    });
    const conn2 = await connect(other, server);
    server.refusals.push(503);
    const again = next(other, 'reconnected');
    conn2.ws.terminate();
    await again;
    expect(short.issued).to.have.length(3);
    expect(server.handshakes.slice(5).map((h) => h.token)).to.deep.equal(short.issued);
  });

  it('spreads a failover over the other URLs at random, passing over those that just failed', async () => {
    const s1 = await fx.server('fake-1');
    const s2 = await fx.server('fake-2');
    const s3 = await fx.server('fake-3');
    // Draws: the backoff's jitter, then the URL when more than one is left to choose from.
    const client = fx.client({
      url: [s1.url, s2.url, s3.url],
      random: scripted([0.5, 0.9, 0.5, 0.5, 0.1]),
      reconnect: { baseDelayMs: 5, maxDelayMs: 5 },
    });
    const first = await connect(client, s1);
    let reconnected = next(client, 'reconnected');
    first.ws.terminate();
    expect((await reconnected)[0].welcome.node, '0.9 of [fake-2, fake-3]').to.equal('fake-3');
    reconnected = next(client, 'reconnected');
    s3.current?.ws.terminate();
    expect(
      (await reconnected)[0].welcome.node,
      `fake-1 dropped us less than ${AVOID_URL_MS} ms ago: fake-2, without a draw`,
    ).to.equal('fake-2');
    reconnected = next(client, 'reconnected');
    s2.current?.ws.terminate();
    expect((await reconnected)[0].welcome.node, 'every other one failed lately: 0.1 of both').to.equal(
      'fake-1',
    );
    expect(
      [s1, s2, s3].map((s) => s.handshakes.length),
      'no attempt went anywhere else',
    ).to.deep.equal([2, 1, 1]);
  });

  it('after a failed attempt, tries the other nodes before that one again', async () => {
    const s1 = await fx.server('fake-1');
    const s2 = await fx.server('fake-2');
    const s3 = await fx.server('fake-3');
    const client = fx.client({
      url: [s1.url, s2.url, s3.url],
      random: () => 0,
      reconnect: { baseDelayMs: 5, maxDelayMs: 5 },
    });
    const first = await connect(client, s1);
    s2.refusals.push(503);
    const reconnected = next(client, 'reconnected');
    first.ws.terminate();
    // 0 picks fake-2 of [fake-2, fake-3]; it sheds; fake-1 and fake-2 are both avoided now.
    expect((await reconnected)[0].welcome.node).to.equal('fake-3');
    expect([s1, s2, s3].map((s) => s.handshakes.length)).to.deep.equal([1, 1, 1]);
  });

  it("waits out a shed handshake's retry hint, plus jitter, before the next attempt", async () => {
    const clock = new ManualClock();
    const server = await fx.server();
    const client = fx.client({
      url: server.url,
      clock,
      random: () => 0.5,
      reconnect: { baseDelayMs: 100, maxDelayMs: 30_000 },
    });
    const conn = await connect(client, server);
    const reconnecting = record(client, 'reconnecting');
    server.refusals.push(
      {
        status: 503,
        body: { error: 'overloaded', message: 'x', retry_after_ms: 2500 },
        headers: { 'Retry-After': '3' },
      },
      { status: 503, headers: { 'Retry-After': '4' } },
    );
    const first = next(client, 'reconnecting');
    conn.ws.terminate();
    clock.advance((await first)[1]);
    const second = next(client, 'reconnecting');
    const [, delay2, cause2] = await second;
    expect(cause2?.code).to.equal('handshake_refused');
    expect(cause2?.retryAfterMs, 'the body wins over Retry-After').to.equal(2500);
    expect(delay2, 'the hint plus attempt 2 jitter (0.5 * 200)').to.equal(2600);
    const third = next(client, 'reconnecting');
    clock.advance(delay2);
    const [, delay3, cause3] = await third;
    expect(cause3?.retryAfterMs, 'Retry-After when the body has no hint').to.equal(4000);
    expect(delay3).to.equal(4000 + 200);
    const reconnected = next(client, 'reconnected');
    clock.advance(delay3);
    await reconnected;
    expect(reconnecting.map(([a]) => a)).to.deep.equal([1, 2, 3]);
  });

  it('moves to the next URL after 1012 restart and restarts the backoff schedule', async () => {
    const s1 = await fx.server('fake-1');
    const s2 = await fx.server('fake-2');
    const client = fx.client({ url: [s1.url, s2.url], reconnect: { baseDelayMs: 20, maxDelayMs: 1000 } });
    const conn1 = await connect(client, s1);
    await client.join('r');
    s1.publish('r', 'bob', 'one');
    await waitFor(() => client.lastMessageId('r') === `${s1.idMs}-1`, { what: 'first message' });

    const reconnecting = record(client, 'reconnecting');
    let reconnected = next(client, 'reconnected');
    const onS2 = once(s2, 'connection') as Promise<[FakeConnection]>;
    conn1.ws.close(1012, 'restart');
    const [[info], [conn2]] = await Promise.all([reconnected, onS2]);
    expect(info.welcome.node).to.equal('fake-2');
    expect(joinsOf(conn2)).to.deep.equal({ r: `${s1.idMs}-1` });

    reconnected = next(client, 'reconnected');
    conn2.ws.close(1012, 'restart');
    const [again] = await reconnected;
    expect(again.welcome.node).to.equal('fake-1');
    expect(
      reconnecting.map(([a]) => a),
      'each drain starts again at attempt 1',
    ).to.deep.equal([1, 1]);
    for (const [, delay] of reconnecting) expect(delay).to.be.within(0, 20);
  });

  it('keeps escalating while connections drop before stableAfterMs, and resets after', async () => {
    const clock = new ManualClock();
    const server = await fx.server();
    const client = fx.client({
      url: server.url,
      clock,
      random: () => 0.5,
      reconnect: { baseDelayMs: 100, maxDelayMs: 100_000, stableAfterMs: 10_000 },
    });
    let conn = await connect(client, server);
    const reconnecting = record(client, 'reconnecting');
    const dropAndReconnect = async () => {
      const scheduled = next(client, 'reconnecting');
      const reconnected = next(client, 'reconnected');
      const connection = once(server, 'connection') as Promise<[FakeConnection]>;
      conn.ws.terminate();
      const [, delay] = await scheduled;
      clock.advance(delay);
      await reconnected;
      [conn] = await connection;
    };
    await dropAndReconnect();
    await dropAndReconnect();
    clock.advance(10_000);
    await dropAndReconnect();
    expect(reconnecting).to.deep.equal([
      [1, 50],
      [2, 100],
      [1, 50],
    ]);
  });

  it('drops a room whose rejoin is refused and keeps the others', async () => {
    const server = await fx.server();
    const client = fx.client({ url: server.url, reconnect: { baseDelayMs: 5 } });
    const conn = await connect(client, server);
    await client.join('open');
    await client.join('closing');
    const errors = record(client, 'error');
    server.forbiddenRooms.add('closing');
    const reconnected = next(client, 'reconnected');
    conn.ws.terminate();
    const [info] = await reconnected;
    expect(info.joined.map((j) => j.room)).to.deep.equal(['open']);
    expect(client.rooms).to.deep.equal(['open']);
    expect(errors.map(([e]) => e.code)).to.deep.equal(['forbidden']);
  });

  it('close() ends it for good: no reconnect, the server sees 1000', async () => {
    const server = await fx.server();
    const client = fx.client({ url: server.url, reconnect: { baseDelayMs: 1 } });
    const conn = await connect(client, server);
    const reconnecting = record(client, 'reconnecting');
    const serverSide = once(conn.ws, 'close') as Promise<[number, Buffer]>;
    const closed = next(client, 'close');
    await client.close();
    expect(await closed).to.deep.equal([1000, 'client_close']);
    const [code] = await serverSide;
    expect(code).to.equal(1000);
    expect(reconnecting).to.have.length(0);
    expect(server.handshakes).to.have.length(1);
  });
});
