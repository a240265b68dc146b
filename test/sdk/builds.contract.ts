/**
 * One suite for both builds of the SDK: the same scenarios, against real chat nodes on a
 * real Redis, run by the Node build in this process and by the browser build inside
 * Chromium (drivers.ts). Each build connects with its own default token method
 * (Node: the Authorization header; browser: the bearer subprotocol).
 */
import { expect } from 'chai';
import type { ChatCluster, InProcessNode } from '../support/chat-cluster';
import { waitFor } from '../support/wait';
import type { ClientOptions, RemoteClient, SdkDriver, TokenGate } from './drivers';

export interface BuildSuiteContext {
  driver: SdkDriver;
  gate: TokenGate;
  cluster: ChatCluster;
  /** Two nodes with a generous message limit. */
  nodes: [InProcessNode, InProcessNode];
  /** A node whose message limit is 3 per RATE_WINDOW_MS. */
  limited: InProcessNode;
}

export const RATE_WINDOW_MS = 1500;

interface Message {
  room: string;
  id: string;
  from: string;
  text: string;
}

const ws = (node: InProcessNode) => `${node.url}/ws`;

async function argsOf(c: RemoteClient, event: string): Promise<unknown[][]> {
  return (await c.events()).filter((e) => e.event === event).map((e) => e.args);
}

async function messages(c: RemoteClient, room?: string): Promise<Message[]> {
  return (await argsOf(c, 'message'))
    .map((args) => args[0] as Message)
    .filter((m) => room === undefined || m.room === room);
}

/** Waits until `c` has received `n` messages (of `room`), then returns them. */
async function received(c: RemoteClient, n: number, room?: string): Promise<Message[]> {
  let got: Message[] = [];
  await waitFor(
    async () => {
      got = await messages(c, room);
      return got.length >= n;
    },
    { what: `${n} messages for ${c.user}${room === undefined ? '' : ` in ${room}`}`, timeoutMs: 10_000 },
  );
  return got;
}

async function nextEvent(c: RemoteClient, event: string, count = 1): Promise<unknown[][]> {
  let got: unknown[][] = [];
  await waitFor(
    async () => {
      got = await argsOf(c, event);
      return got.length >= count;
    },
    { what: `${count} ${event} event(s) for ${c.user}`, timeoutMs: 10_000 },
  );
  return got;
}

const texts = (ms: Message[]) => ms.map((m) => m.text);

export function sdkBuildSuite(ctx: () => BuildSuiteContext): void {
  let x: BuildSuiteContext;
  let users = 0;
  beforeEach(() => {
    x = ctx();
  });
  afterEach(async () => {
    x.gate.releaseAll();
    await x.driver.reset();
  });

  /** A fresh user name per call, so tests share nothing. */
  const user = (base: string) => `${base}${++users}${x.driver.name[0] as string}`;

  async function connected(name: string, options: Partial<ClientOptions> = {}): Promise<RemoteClient> {
    const c = await x.driver.client(name, {
      url: ws(x.nodes[0]),
      reconnect: { baseDelayMs: 50, maxDelayMs: 200 },
      ...options,
    });
    await c.call('connect');
    return c;
  }

  it('connects with its default token method, exchanges room messages and pages history', async () => {
    const ann = user('ann');
    const c = await connected(ann);
    const welcome = (await argsOf(c, 'welcome'))[0]?.[0] as { user: string; limits?: unknown };
    expect(welcome.user).to.equal(ann);
    expect(welcome.limits).to.deep.equal({ messages: 100000, window_ms: 60000 });
    const room = `hall-${ann}`;
    await c.call('join', room);
    const ids: string[] = [];
    for (const text of ['a', 'b', 'c', 'd', 'e']) ids.push(await c.call<string>('send', room, text));
    expect(texts(await received(c, 5, room))).to.deep.equal(['a', 'b', 'c', 'd', 'e']);
    const newest = await c.call<Message[]>('history', room, { limit: 2 });
    expect(texts(newest)).to.deep.equal(['d', 'e']);
    const older = await c.call<Message[]>('history', room, { before: newest[0]?.id, limit: 2 });
    expect(texts(older)).to.deep.equal(['b', 'c']);
    expect(await c.call<number>('ping')).to.be.a('number');
  });

  it("delivers a DM to a recipient who joined nothing, on all their connections and the sender's others, once", async () => {
    const alice = user('alice');
    const bob = user('bob');
    const a1 = await connected(alice);
    const a2 = await connected(alice, { url: ws(x.nodes[1]) });
    const b1 = await connected(bob, { url: ws(x.nodes[1]) });
    const b2 = await connected(bob);
    const room = [alice, bob].sort().join(':');
    for (const text of ['one', 'two', 'three']) await a1.call('dm', bob, text);
    for (const c of [a1, a2, b1, b2]) {
      expect(texts(await received(c, 3, `dm:${room}`))).to.deep.equal(['one', 'two', 'three']);
    }
    await Promise.all([a1, a2, b1, b2].map((c) => c.call('ping')));
    for (const c of [a1, a2, b1, b2]) expect(await messages(c)).to.have.length(3);
  });

  it('keeps the inbox: conversations newest first with unread counts; markRead reaches the other connections', async () => {
    const cat = user('cat');
    const dan = user('dan');
    const writer = await connected(cat);
    const d1 = await connected(dan);
    const d2 = await connected(dan, { url: ws(x.nodes[1]) });
    const hall = `hall-${dan}`;
    await d1.call('join', hall);
    await writer.call('join', hall);
    await writer.call('send', hall, 'in the hall');
    const dmIds: string[] = [];
    for (const text of ['x', 'y', 'z']) dmIds.push(await writer.call<string>('dm', dan, text));
    const dmRoom = `dm:${[cat, dan].sort().join(':')}`;
    const items = await d2.call<{ room: string; unread: number; last?: Message }[]>('conversations');
    expect(items.map((i) => [i.room, i.unread])).to.deep.equal([
      [dmRoom, 3],
      [hall, 1],
    ]);
    expect(items[0]?.last).to.deep.include({ id: dmIds[2], text: 'z', from: cat, type: 'message' });
    await d1.call('markRead', dmRoom, dmIds[2]);
    const read = (await nextEvent(d2, 'read'))[0]?.[0];
    expect(read).to.deep.equal({ room: dmRoom, id: dmIds[2] });
    expect(await argsOf(d1, 'read'), 'not the connection that marked').to.have.length(0);
    const after = await d2.call<{ room: string; unread: number }[]>('conversations');
    expect(after.map((i) => [i.room, i.unread])).to.deep.equal([
      [dmRoom, 0],
      [hall, 1],
    ]);
  });

  it('resumes after a dropped connection without loss or duplicates: rooms, seen DM rooms and new conversations', async () => {
    const eve = user('eve');
    const fox = user('fox');
    const gil = user('gil');
    // A token is reused on reconnect while it has more than refreshAheadMs to live: with
    // refreshAheadMs past the token's life, every attempt asks for one, and the gate holds it.
    const reader = await connected(eve, { refreshAheadMs: 24 * 3600 * 1000 });
    const writer = await connected(fox, { url: ws(x.nodes[1]) });
    const stranger = await connected(gil, { url: ws(x.nodes[1]) });
    const room = `porch-${eve}`;
    await reader.call('join', room);
    await writer.call('join', room);
    await writer.call('send', room, 'r0');
    await writer.call('dm', eve, 'd0');
    await received(reader, 2);
    await reader.call('conversations'); // the app uses the inbox: new conversations are caught up too
    x.gate.hold(eve); // offline until released: the reconnect waits for its token
    await reader.call('dropConnection');
    await nextEvent(reader, 'disconnect');
    for (let i = 1; i <= 4; i++) {
      await writer.call('send', room, `r${i}`);
      await writer.call('dm', eve, `d${i}`);
    }
    await stranger.call('dm', eve, 'hello from a stranger');
    x.gate.release(eve);
    await nextEvent(reader, 'reconnected');
    await writer.call('send', room, 'r5');
    await writer.call('dm', eve, 'd5');
    const dmFox = `dm:${[eve, fox].sort().join(':')}`;
    const dmGil = `dm:${[eve, gil].sort().join(':')}`;
    expect(texts(await received(reader, 6, room))).to.deep.equal(['r0', 'r1', 'r2', 'r3', 'r4', 'r5']);
    expect(texts(await received(reader, 6, dmFox))).to.deep.equal(['d0', 'd1', 'd2', 'd3', 'd4', 'd5']);
    expect(texts(await received(reader, 1, dmGil))).to.deep.equal(['hello from a stranger']);
    await reader.call('ping');
    expect(await messages(reader)).to.have.length(13);
    const info = (await argsOf(reader, 'reconnected'))[0]?.[0];
    expect((info as { caughtUp: { room: string; messages: number }[] }).caughtUp).to.deep.include.members([
      { room: dmFox, messages: 4, truncated: false },
      { room: dmGil, messages: 1, truncated: false },
    ]);
  });

  it('waits out the rate limit instead of being refused: no violation, every message in order', async () => {
    const hal = user('hal');
    const c = await connected(hal, { url: ws(x.limited) });
    const room = `busy-${hal}`;
    await c.call('join', room);
    const violations = () => x.cluster.admin.zcard(x.cluster.keys.rateViolations(hal));
    const sends = ['m1', 'm2', 'm3', 'm4', 'm5'].map((t) => c.call<string>('send', room, t));
    // The fourth would be refused now: the client waits instead. (A violation is kept
    // for one window only, so it is looked for while the wait is on.)
    await nextEvent(c, 'rate_limited');
    expect(await violations(), 'the server refused nothing').to.equal(0);
    const ids = await Promise.all(sends);
    expect(new Set(ids).size).to.equal(5);
    expect(texts(await received(c, 5, room))).to.deep.equal(['m1', 'm2', 'm3', 'm4', 'm5']);
    const limited = await argsOf(c, 'rate_limited');
    expect(limited.length).to.be.at.least(1);
    const info = limited[0]?.[0] as { room: string; retryAfterMs: number; until: number };
    expect(info.room).to.equal(room);
    expect(info.retryAfterMs).to.be.within(1, RATE_WINDOW_MS + 1);
    expect(info.until).to.be.a('number');
    expect(await violations(), 'the server refused nothing').to.equal(0);
  });

  it('waits out a refusal caused by another tab, then sends the same message again', async () => {
    const ida = user('ida');
    const tab1 = await connected(ida, { url: ws(x.limited) });
    const tab2 = await connected(ida, { url: ws(x.limited) });
    const room = `tabs-${ida}`;
    await tab1.call('join', room);
    await tab2.call('join', room);
    await Promise.all([1, 2, 3].map((i) => tab2.call('send', room, `other${i}`)));
    const sending = tab1.call<string>('send', room, 'mine');
    const info = (await nextEvent(tab1, 'rate_limited'))[0]?.[0];
    expect((info as { retryAfterMs: number }).retryAfterMs).to.be.within(1, RATE_WINDOW_MS);
    const violations = await x.cluster.admin.zcard(x.cluster.keys.rateViolations(ida));
    expect(violations, 'one refusal, then the wait').to.equal(1);
    const id = await sending;
    const mine = (await received(tab1, 4, room)).find((m) => m.text === 'mine');
    expect(mine?.id).to.equal(id);
  });

  it('does not flap presence on a brief reconnect, and reports a real departure after the grace period', async () => {
    const jo = user('jo');
    const kai = user('kai');
    const observer = await connected(jo, { presenceGraceMs: 1500 });
    const visitor = await connected(kai, { url: ws(x.nodes[1]) });
    const room = `square-${jo}`;
    await observer.call('join', room);
    await visitor.call('join', room);
    await nextEvent(observer, 'presence');
    await visitor.call('dropConnection');
    await nextEvent(visitor, 'reconnected');
    expect(await observer.call('members', room)).to.deep.equal([jo, kai].sort());
    await visitor.call('close');
    const events = await nextEvent(observer, 'presence', 2);
    expect(events.map(([p]) => p)).to.deep.equal([
      { type: 'presence', room, user: kai, state: 'online' },
      { type: 'presence', room, user: kai, state: 'offline' },
    ]);
    expect(await observer.call('members', room)).to.deep.equal([jo]);
  });
}
