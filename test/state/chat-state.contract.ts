import { expect } from 'chai';
import {
  INBOX_LIMITS,
  messageCost,
  type ChatState,
  type StoredMessage,
  type UserEvent,
} from '@securechat/state';
import { waitFor } from '../support/wait';

export interface ChatStatePair {
  /** Two nodes' views of the same shared state. */
  a: ChatState;
  b: ChatState;
  historyMaxLen: number;
}

type Seen = { room: string; id: string | undefined; frame: string }[];

/** Limits no test here reaches: for tests about fan-out and history, not the limit. */
/** Page bounds no test here reaches, unless it is about them. */
function page(limit: number, maxBytes = 64 * 1024 * 1024) {
  return { limit, maxBytes };
}

const GENEROUS = { max: 1_000_000, windowMs: 60_000, blockAfterViolations: 1_000_000, blockDurationS: 60 };

async function publish(state: ChatState, room: string, from: string, text: string): Promise<StoredMessage> {
  const outcome = await state.broker.publishLimited(room, from, text, GENEROUS);
  if (outcome.published === undefined) throw new Error(`refused: ${JSON.stringify(outcome.refused)}`);
  return outcome.published;
}

function recordUsers(state: ChatState): { user: string; event: UserEvent }[] {
  const seen: { user: string; event: UserEvent }[] = [];
  state.broker.onUserEvent((user, event) => seen.push({ user, event }));
  return seen;
}

async function dm(state: ChatState, from: string, to: string, text: string): Promise<StoredMessage> {
  const room = [from, to].sort().join(':');
  const outcome = await state.broker.publishLimited(`dm:${room}`, from, text, GENEROUS, [from, to]);
  if (outcome.published === undefined) throw new Error(`refused: ${JSON.stringify(outcome.refused)}`);
  return outcome.published;
}

function record(state: ChatState): Seen {
  const seen: Seen = [];
  state.broker.onFrame((room, id, frame) => seen.push({ room, id, frame: frame.toString() }));
  return seen;
}

/** One suite, run against the memory and the Redis implementations of the chat ports. */
export function chatStateContract(
  name: string,
  make: () => Promise<ChatStatePair>,
  cleanup: () => Promise<void>,
): void {
  describe(`chat state contract: ${name}`, () => {
    let pair: ChatStatePair;
    beforeEach(async () => {
      pair = await make();
    });
    afterEach(async () => {
      await cleanup();
    });

    it('publishes to subscribed nodes only, with one frame per message and increasing ids', async () => {
      const seenA = record(pair.a);
      const seenB = record(pair.b);
      await pair.a.broker.subscribe('r1');
      const m1 = await publish(pair.b, 'r1', 'alice', 'one');
      const m2 = await publish(pair.b, 'r1', 'bob', 'two "quoted"');
      await waitFor(() => seenA.length === 2, { what: 'two frames' });
      expect(seenB).to.have.length(0);
      expect(seenA.map((s) => s.id)).to.deep.equal([m1.id, m2.id]);
      expect(JSON.parse(seenA[1]?.frame ?? '')).to.deep.equal({
        type: 'message',
        room: 'r1',
        id: m2.id,
        from: 'bob',
        text: 'two "quoted"',
        ts: m2.ts,
      });
      await pair.a.broker.unsubscribe('r1');
      await publish(pair.b, 'r1', 'alice', 'three');
      await pair.b.broker.subscribe('r1');
      await publish(pair.b, 'r1', 'alice', 'four');
      await waitFor(() => seenB.length === 1, { what: 'frame on b' });
      expect(seenA).to.have.length(2);
    });

    it("publishes within the sender's limit in one step, and stores nothing it refuses", async () => {
      const seen = record(pair.b);
      await pair.b.broker.subscribe('lim');
      const limits = { max: 2, windowMs: 60_000, blockAfterViolations: 100, blockDurationS: 60 };
      const first = await pair.a.broker.publishLimited('lim', 'erin', 'one', limits);
      const second = await pair.b.broker.publishLimited('lim', 'erin', 'two', limits);
      const third = await pair.a.broker.publishLimited('lim', 'erin', 'three', limits);
      expect(first.published?.text).to.equal('one');
      expect(second.published?.from).to.equal('erin');
      expect(third.published).to.equal(undefined);
      expect(third.refused?.retryAfterMs).to.be.within(1, 60_000);
      expect(third.refused?.violations).to.equal(1);
      await waitFor(() => seen.length === 2, { what: 'two frames' });
      expect((await pair.a.broker.history('lim', page(10))).messages.map((m) => m.text)).to.deep.equal([
        'one',
        'two',
      ]);
    });

    it('pages history and replays after an id', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await publish(pair.a, 'h', 'alice', `m${i}`)).id);
      const newest = await pair.b.broker.history('h', page(2));
      expect(newest.messages.map((m) => m.text)).to.deep.equal(['m3', 'm4']);
      expect(newest.more).to.equal(true);
      const older = await pair.b.broker.history('h', page(2), ids[3]);
      expect(older.messages.map((m) => m.text)).to.deep.equal(['m1', 'm2']);
      expect((await pair.b.broker.history('h', page(2), ids[1])).more).to.equal(false);
      expect((await pair.b.broker.history('h', page(5))).more).to.equal(false);
      const replay = await pair.b.broker.replay('h', ids[1] as string, page(100));
      expect(replay.messages.map((m) => m.text)).to.deep.equal(['m2', 'm3', 'm4']);
      expect(replay.truncated).to.equal(false);
      expect(replay.more).to.equal(false);
      const first = await pair.b.broker.replay('h', '0-0', page(3));
      expect(first.messages.map((m) => m.text)).to.deep.equal(['m0', 'm1', 'm2']);
      expect(first.more).to.equal(true);
      expect(await pair.b.broker.history('empty', page(10))).to.deep.equal({ messages: [], more: false });
      // Nothing is before 0-0 (Redis refuses the exclusive end `(0-0`: found by fuzzing).
      expect(await pair.b.broker.history('h', page(10), '0-0')).to.deep.equal({ messages: [], more: false });
      expect(await pair.b.broker.history('h', page(10), '00-000')).to.deep.equal({
        messages: [],
        more: false,
      });
      expect(await pair.b.broker.replay('empty', '0-0', page(10))).to.deep.equal({
        messages: [],
        truncated: false,
        more: false,
      });
    });

    it('bounds every page in bytes as well as in count, and always moves on by one message', async () => {
      const texts = ['a'.repeat(1000), 'b'.repeat(1000), 'c'.repeat(3000), 'd'.repeat(1000), 'e'.repeat(100)];
      const ids: string[] = [];
      for (const t of texts) ids.push((await publish(pair.a, 'bytes', 'alice', t)).id);
      const cost = (i: number) =>
        messageCost({ room: 'bytes', from: 'alice', text: texts[i] as string, ts: 1 });
      // Room for the two newest and a half: two of them, and more behind.
      const newest = await pair.b.broker.history('bytes', page(10, cost(4) + cost(3) + 500));
      expect(newest.messages.map((m) => m.id)).to.deep.equal([ids[3], ids[4]]);
      expect(newest.more).to.equal(true);
      // A message larger than the bound alone still comes, alone.
      const big = await pair.b.broker.history('bytes', page(10, 10), ids[3]);
      expect(big.messages.map((m) => m.id)).to.deep.equal([ids[2]]);
      expect(big.more).to.equal(true);
      const replay = await pair.b.broker.replay('bytes', '0-0', page(10, cost(0) + cost(1) + 100));
      expect(replay.messages.map((m) => m.id)).to.deep.equal([ids[0], ids[1]]);
      expect(replay.more).to.equal(true);
      const rest = await pair.b.broker.replay('bytes', ids[1] as string, page(10, 10));
      expect(rest.messages.map((m) => m.id)).to.deep.equal([ids[2]]);
      const end = await pair.b.broker.replay('bytes', ids[2] as string, page(10));
      expect(end.messages.map((m) => m.id)).to.deep.equal([ids[3], ids[4]]);
      expect(end.more).to.equal(false);
      // Characters JSON escapes count at the most they can take, so the bound holds on the wire.
      const quoted = '"'.repeat(1000);
      expect(messageCost({ room: 'r', from: 'a', text: quoted, ts: 1 })).to.be.at.least(
        Buffer.byteLength(JSON.stringify(quoted)),
      );
    });

    it('bounds the history and reports a replay that lost messages', async () => {
      const first = await publish(pair.a, 't', 'alice', 'first');
      for (let i = 0; i < pair.historyMaxLen * 3 + 200; i++) await publish(pair.a, 't', 'alice', `x${i}`);
      const kept = (await pair.a.broker.history('t', page(100_000))).messages;
      expect(kept.length).to.be.lessThan(pair.historyMaxLen * 3 + 201);
      expect((await pair.a.broker.replay('t', first.id, page(100_000))).truncated).to.equal(true);
      const last = kept[kept.length - 2] as { id: string };
      expect((await pair.a.broker.replay('t', last.id, page(10))).truncated).to.equal(false);
    });

    it('tracks presence across nodes with online and offline events', async () => {
      const seen = record(pair.b);
      await pair.b.broker.subscribe('p');
      await pair.a.presence.join('p', 'alice');
      await pair.b.presence.join('p', 'alice');
      await pair.b.presence.join('p', 'bob');
      expect(await pair.a.presence.members('p')).to.deep.equal(['alice', 'bob']);
      await pair.a.presence.leave('p', 'alice');
      expect(await pair.b.presence.members('p')).to.deep.equal(['alice', 'bob']);
      await pair.b.presence.leave('p', 'alice');
      expect(await pair.b.presence.members('p')).to.deep.equal(['bob']);
      await waitFor(() => seen.length === 3, { what: 'three presence events' });
      expect(seen.map((s) => JSON.parse(s.frame) as unknown)).to.deep.equal([
        { type: 'presence', room: 'p', user: 'alice', state: 'online' },
        { type: 'presence', room: 'p', user: 'bob', state: 'online' },
        { type: 'presence', room: 'p', user: 'alice', state: 'offline' },
      ]);
      expect(seen.every((s) => s.id === undefined)).to.equal(true);
    });

    it("publishes a DM on both users' own channels, not the room's, stored and in order", async () => {
      const users = recordUsers(pair.a);
      const rooms = record(pair.a);
      await pair.a.broker.subscribeUser('ann');
      await pair.a.broker.subscribeUser('bob');
      await pair.a.broker.subscribe('dm:ann:bob');
      const m1 = await dm(pair.b, 'ann', 'bob', 'one "quoted"');
      const m2 = await dm(pair.b, 'bob', 'ann', 'two');
      await waitFor(() => users.length === 4, { what: 'each DM on both channels' });
      expect(rooms, 'nothing on the room channel').to.have.length(0);
      for (const user of ['ann', 'bob']) {
        const mine = users.filter((u) => u.user === user).map((u) => u.event);
        expect(mine.map((e) => (e.kind === 'message' ? [e.room, e.id] : e.kind))).to.deep.equal([
          ['dm:ann:bob', m1.id],
          ['dm:ann:bob', m2.id],
        ]);
        const first = mine[0];
        expect(first?.kind === 'message' && JSON.parse(first.frame.toString())).to.deep.equal({
          type: 'message',
          room: 'dm:ann:bob',
          id: m1.id,
          from: 'ann',
          text: 'one "quoted"',
          ts: m1.ts,
        });
      }
      await pair.a.broker.unsubscribeUser('bob');
      await dm(pair.b, 'ann', 'cid', 'to cid');
      await dm(pair.b, 'ann', 'bob', 'three');
      await waitFor(() => users.length === 6, { what: "ann's two" });
      expect(users.slice(4).map((u) => u.user)).to.deep.equal(['ann', 'ann']);
      const page = await pair.b.broker.history('dm:ann:bob', { limit: 10, maxBytes: 1 << 20 });
      expect(page.messages.map((m) => m.text)).to.deep.equal(['one "quoted"', 'two', 'three']);
    });

    it("lists a user's rooms and DMs newest activity first, with unread counts after the read marker", async () => {
      const before = await publish(pair.a, 'old', 'zed', 'before ann joined');
      // The marker starts at the join's millisecond: one that shares it counts as after.
      await waitFor(() => Date.now() > Number(before.id.split('-')[0]), { what: 'the next millisecond' });
      await pair.a.inbox.remember('ann', 'old');
      await pair.a.inbox.remember('ann', 'quiet');
      await publish(pair.b, 'old', 'zed', 'o1');
      const o2 = await publish(pair.b, 'old', 'zed', 'o2');
      await pair.b.inbox.rememberDirect('dm:ann:bob', ['ann', 'bob']);
      await dm(pair.b, 'bob', 'ann', 'd1');
      const d2 = await dm(pair.b, 'bob', 'ann', 'd2');
      await pair.b.inbox.rememberDirect('dm:ann:eve', ['ann', 'eve']); // refused or never sent: not listed
      const list = await pair.a.inbox.conversations('ann');
      expect(list.map((c) => [c.room, c.unread])).to.deep.equal([
        ['dm:ann:bob', 2],
        ['old', 2],
        ['quiet', 0],
      ]);
      expect(list[0]?.last).to.deep.equal(d2);
      expect(list[1]?.last).to.deep.equal(o2);
      expect(list[2]?.last).to.equal(undefined);
      // bob sent both: his own messages are read, by sending
      expect((await pair.b.inbox.conversations('bob')).map((c) => [c.room, c.unread])).to.deep.equal([
        ['dm:ann:bob', 0],
      ]);
      expect((await pair.a.inbox.rooms('ann')).sort()).to.deep.equal([
        'dm:ann:bob',
        'dm:ann:eve',
        'old',
        'quiet',
      ]);
      // a rejoin keeps the marker; leaving forgets room and marker
      await pair.a.inbox.remember('ann', 'old');
      expect((await pair.a.inbox.conversations('ann')).find((c) => c.room === 'old')?.unread).to.equal(2);
      await pair.a.inbox.forget('ann', 'old');
      expect((await pair.a.inbox.conversations('ann')).map((c) => c.room)).to.deep.equal([
        'dm:ann:bob',
        'quiet',
      ]);
    });

    it('moves a read marker forwards only, clamped to the newest message, and tells the other sessions', async () => {
      const events = recordUsers(pair.b);
      await pair.b.broker.subscribeUser('ann');
      await pair.a.inbox.remember('ann', 'r');
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) ids.push((await publish(pair.a, 'r', 'zed', `m${i}`)).id);
      const unread = async () => (await pair.a.inbox.conversations('ann'))[0]?.unread;
      expect(await unread()).to.equal(4);
      expect(await pair.a.inbox.markRead('ann', 'r', ids[1] as string, 'sess-1')).to.deep.equal({
        status: 'moved',
        id: ids[1],
      });
      expect(await unread()).to.equal(2);
      expect(await pair.b.inbox.markRead('ann', 'r', ids[0] as string, 'sess-2')).to.deep.equal({
        status: 'kept',
        id: ids[1],
      });
      expect(await pair.a.inbox.markRead('ann', 'r', '99999999999999-0', 'sess-2')).to.deep.equal({
        status: 'moved',
        id: ids[3],
      });
      expect(await unread()).to.equal(0);
      await waitFor(() => events.length === 2, { what: 'two read events' });
      expect(events.map((e) => e.event)).to.deep.equal([
        { kind: 'read', room: 'r', id: ids[1], session: 'sess-1' },
        { kind: 'read', room: 'r', id: ids[3], session: 'sess-2' },
      ]);
      expect(await pair.a.inbox.markRead('ann', 'elsewhere', ids[0] as string, 's')).to.deep.equal({
        status: 'empty',
      });
      expect(await pair.a.inbox.markRead('bob', 'r', ids[0] as string, 's')).to.deep.equal({
        status: 'unknown',
      });
    });

    it(`caps unread counts at ${INBOX_LIMITS.unread} and remembers at most ${INBOX_LIMITS.rooms} rooms per user`, async () => {
      await pair.a.inbox.rememberDirect('dm:amy:bo', ['amy', 'bo']);
      expect(pair.historyMaxLen, 'the history keeps more than the cap').to.be.above(INBOX_LIMITS.unread + 5);
      for (let i = 0; i < INBOX_LIMITS.unread + 5; i++) await dm(pair.a, 'bo', 'amy', `x${i}`);
      expect((await pair.b.inbox.conversations('amy'))[0]?.unread).to.equal(INBOX_LIMITS.unread);
      for (let i = 0; i < INBOX_LIMITS.rooms + 2; i++) await pair.b.inbox.remember('amy', `room-${i}`);
      const rooms = await pair.a.inbox.rooms('amy');
      expect(rooms).to.have.length(INBOX_LIMITS.rooms);
      expect(rooms).to.include(`room-${INBOX_LIMITS.rooms + 1}`);
      expect(rooms, 'the one remembered longest ago goes first').to.not.include('dm:amy:bo');
    });

    it('caps connections per user across nodes and frees released slots', async () => {
      expect(await pair.a.registry.acquire('carol', 's1', 2)).to.equal(true);
      expect(await pair.b.registry.acquire('carol', 's2', 2)).to.equal(true);
      expect(await pair.b.registry.acquire('carol', 's3', 2)).to.equal(false);
      await pair.a.registry.release('carol', 's1');
      expect(await pair.b.registry.acquire('carol', 's3', 2)).to.equal(true);
    });

    it('limits messages in a sliding window over all nodes and blocks after violations', async () => {
      const limits = { max: 3, windowMs: 60_000, blockAfterViolations: 2, blockDurationS: 60 };
      const send = (state: ChatState, text: string) =>
        state.broker.publishLimited('rl', 'dave', text, limits);
      expect((await send(pair.a, 'one')).published?.text).to.equal('one');
      expect((await send(pair.b, 'two')).published?.text).to.equal('two');
      expect((await send(pair.a, 'three')).published?.text).to.equal('three');
      const refused = await send(pair.b, 'four');
      expect(refused.published).to.equal(undefined);
      expect(refused.refused?.retryAfterMs).to.be.within(1, 60_000);
      expect(refused.refused).to.include({ violations: 1, blocked: false });
      expect(await pair.a.blocklist.blockedReason('dave')).to.equal(undefined);
      const second = await send(pair.a, 'five');
      expect(second.refused).to.include({ violations: 2, blocked: true });
      expect(await pair.b.blocklist.blockedReason('dave')).to.equal('rate_limit');
      // another user's window is their own
      expect((await pair.b.broker.publishLimited('rl', 'erin', 'six', limits)).published?.from).to.equal(
        'erin',
      );
      const stored = (await pair.b.broker.history('rl', page(10))).messages;
      expect(stored.map((m) => m.text)).to.deep.equal(['one', 'two', 'three', 'six']);
    });
  });
}
