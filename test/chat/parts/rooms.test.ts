import { expect } from 'chai';
import {
  MemoryCluster,
  StateUnavailableError,
  type Broker,
  type FrameHandler,
  type PageBounds,
  type ResubscribedHandler,
} from '@securechat/state';
import { CLOSE, ReadSlots, Rooms } from '@securechat/chat';
import { waitFor } from '../../support/wait';
import { memoryNode, override, session } from './fakes';

const LIMITS = { max: 1000, windowMs: 60_000, blockAfterViolations: 1000, blockDurationS: 60 };

function roomsOn(
  node: ReturnType<typeof memoryNode>,
  broker: Broker = node.state.broker,
  bounds = { pageMaxBytes: 256 * 1024, replayMaxBytes: 4 * 1024 * 1024 },
) {
  return new Rooms({
    hub: node.hub,
    broker,
    presence: node.state.presence,
    historyMaxLen: 1000,
    ...bounds,
    reads: new ReadSlots(4),
    logger: node.log.logger,
  });
}

describe('Rooms: joins, leaves, fan-out and catch-up, without a socket server', () => {
  it('joins with the member list, delivers presence and messages, and unsubscribes the last one out', async () => {
    const node = memoryNode();
    const rooms = roomsOn(node);
    const { session: alice, connection } = session('alice');
    node.hub.addSession(alice);
    let members: string[] = [];
    await rooms.join(alice, 'lobby', undefined, (m) => (members = m));
    expect(members).to.deep.equal(['alice']);
    await node.state.broker.publishLimited('lobby', 'bob', 'hi', LIMITS);
    await waitFor(() => connection.ofType('message').length === 1, { what: 'the message' });
    expect(connection.ofType('presence')[0]).to.include({ user: 'alice', state: 'online' });
    expect(connection.ofType('message')[0]).to.include({ room: 'lobby', from: 'bob', text: 'hi' });

    await rooms.leave(alice, 'lobby');
    expect(alice.inRoom('lobby')).to.equal(false);
    expect(node.hub.hasRoom('lobby')).to.equal(false);
    expect(node.cluster.bus.subscribers.has('lobby')).to.equal(false, 'unsubscribed');
    expect(await node.state.presence.members('lobby')).to.deep.equal([]);
  });

  it('replays after `since`, then live messages, each once and in order', async () => {
    const node = memoryNode();
    const rooms = roomsOn(node);
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1)
      ids.push((await node.state.broker.publishLimited('r', 'bob', `m${i}`, LIMITS)).published?.id ?? '');
    const { session: alice, connection } = session('alice');
    node.hub.addSession(alice);
    // A message published while the join is in flight is both replayed and live: sent once.
    const joining = rooms.join(alice, 'r', ids[0], () => {
      alice.sendText('{"type":"joined"}');
    });
    const during = node.state.broker.publishLimited('r', 'bob', 'm3', LIMITS);
    await Promise.all([joining, during]);
    await node.state.broker.publishLimited('r', 'bob', 'm4', LIMITS);
    await waitFor(() => connection.ofType('message').length >= 4, { what: 'four messages' });
    const types = connection.frames().map((f) => (f.type === 'message' ? f.text : f.type));
    expect(types.filter((t) => t !== 'presence')).to.deep.equal(['joined', 'm1', 'm2', 'm3', 'm4']);
  });

  it('replays in pages up to REPLAY_MAX_BYTES, says replay_more, withholds live messages until continued', async () => {
    const node = memoryNode();
    const rooms = roomsOn(node, node.state.broker, { pageMaxBytes: 2500, replayMaxBytes: 5000 });
    const text = (i: number) => `${i}`.padEnd(1000, '.');
    for (let i = 0; i < 12; i += 1) await node.state.broker.publishLimited('p', 'bob', text(i), LIMITS);
    const { session: alice, connection } = session('alice');
    node.hub.addSession(alice);
    const texts = () => connection.ofType('message').map((m) => String(m.text).replace(/\.+$/, ''));
    await rooms.join(alice, 'p', '0-0', () => alice.sendText('{"type":"joined"}'));
    // Pages of two (2,500 bytes), until 5,000 bytes were sent: a page past it is not read.
    expect(texts()).to.deep.equal(['0', '1', '2', '3', '4', '5']);
    const more = connection.ofType('replay_more');
    expect(more).to.have.length(1);
    const last = String(connection.ofType('message')[5]?.id);
    expect(more[0]).to.deep.equal({ type: 'replay_more', room: 'p', last });
    // Behind: a live message is withheld (the stream has it), presence is not.
    await node.state.broker.publishLimited('p', 'bob', 'live', LIMITS);
    await waitFor(() => node.cluster.bus.logs.get('p')?.entries.length === 13, { what: 'stored' });
    await new Promise((r) => setImmediate(r));
    expect(texts()).to.have.length(6);
    // Continued from `last`: the rest, the withheld live one included, and no more replay_more.
    await rooms.join(alice, 'p', last, () => alice.sendText('{"type":"joined"}'));
    expect(texts()).to.deep.equal([...Array.from({ length: 12 }, (_, i) => `${i}`), 'live']);
    expect(connection.ofType('replay_more')).to.have.length(1, 'the second join caught up');
    await node.state.broker.publishLimited('p', 'bob', 'after', LIMITS);
    await waitFor(() => texts().at(-1) === 'after', { what: 'live delivery resumed' });
  });

  it('two joins of one room with since: each message once, and no replay_more once caught up', async () => {
    const node = memoryNode();
    const rooms = roomsOn(node);
    for (let i = 0; i < 3; i += 1) await node.state.broker.publishLimited('c', 'bob', `m${i}`, LIMITS);
    const { session: alice, connection } = session('alice');
    node.hub.addSession(alice);
    await Promise.all([
      rooms.join(alice, 'c', '0-0', () => undefined),
      rooms.join(alice, 'c', '0-0', () => undefined),
    ]);
    expect(connection.ofType('message').map((m) => m.text)).to.deep.equal(['m0', 'm1', 'm2']);
    expect(connection.ofType('replay_more')).to.deep.equal([]);
  });

  it('reads no page while the socket has no room for it, and none once it closed', async () => {
    const node = memoryNode();
    let reads = 0;
    const counting = override(node.state.broker, {
      replay: (...args: Parameters<Broker['replay']>) => {
        reads += 1;
        return node.state.broker.replay(...args);
      },
    });
    const rooms = roomsOn(node, counting, { pageMaxBytes: 2500, replayMaxBytes: 1_000_000 });
    for (let i = 0; i < 10; i += 1)
      await node.state.broker.publishLimited('q', 'bob', 'x'.repeat(1000), LIMITS);
    const { session: alice, connection } = session('alice', { maxBufferedBytes: 4000 });
    node.hub.addSession(alice);
    connection.buffering = true; // a reader that reads only when the test says so
    connection.bufferedAmount = 3000;
    const joining = rooms.join(alice, 'q', '0-0', () => undefined);
    await waitFor(() => connection.drainWaiting === 1, { what: 'the join waiting for room' });
    expect(reads).to.equal(0, 'no read while the buffer is high');
    connection.drain();
    await waitFor(() => connection.drainWaiting === 1 && reads === 1, { what: 'one page, then a wait' });
    expect(connection.ofType('message')).to.have.length(2);
    alice.close(CLOSE.restart);
    connection.drain();
    await joining;
    expect(reads).to.equal(1, 'nothing read for a closed session');
  });

  it('fans out across nodes sharing the cluster', async () => {
    const cluster = new MemoryCluster();
    const a = memoryNode('a', cluster);
    const b = memoryNode('b', cluster);
    const [ra, rb] = [roomsOn(a), roomsOn(b)];
    const alice = session('alice');
    const bob = session('bob');
    a.hub.addSession(alice.session);
    b.hub.addSession(bob.session);
    let seen: string[] = [];
    await ra.join(alice.session, 'x', undefined, () => undefined);
    await rb.join(bob.session, 'x', undefined, (m) => (seen = m));
    expect(seen).to.deep.equal(['alice', 'bob']);
    await a.state.broker.publishLimited('x', 'alice', 'hello', LIMITS);
    for (const c of [alice.connection, bob.connection])
      await waitFor(() => c.ofType('message').length === 1, { what: 'delivery on each node' });
    expect(alice.connection.ofType('presence').map((p) => `${String(p.user)} ${String(p.state)}`)).to.include(
      'bob online',
    );
  });

  it('catches up from the stream after the subscriber reconnects', async () => {
    const node = memoryNode();
    let live = true;
    let resubscribed: ResubscribedHandler = () => undefined;
    const broker = override(node.state.broker, {
      onFrame: (handler: FrameHandler) =>
        node.state.broker.onFrame((room, id, data) => {
          if (live) handler(room, id, data);
        }),
      onResubscribed: (handler: ResubscribedHandler) => {
        resubscribed = handler;
      },
    });
    const rooms = roomsOn(node, broker);
    const { session: alice, connection } = session('alice');
    node.hub.addSession(alice);
    await rooms.join(alice, 'r', undefined, () => undefined);
    await node.state.broker.publishLimited('r', 'bob', 'before', LIMITS);
    await waitFor(() => connection.ofType('message').length === 1, { what: 'the first message' });
    live = false; // pub/sub drops what is published now
    await node.state.broker.publishLimited('r', 'bob', 'lost-1', LIMITS);
    await node.state.broker.publishLimited('r', 'bob', 'lost-2', LIMITS);
    live = true;
    resubscribed(['r'], [], Date.now());
    await waitFor(() => connection.ofType('message').length === 3, { what: 'the caught-up messages' });
    expect(connection.ofType('message').map((m) => m.text)).to.deep.equal(['before', 'lost-1', 'lost-2']);
  });

  it('retries a catch-up whose read fails (the request connection is back later than the subscriber)', async () => {
    const node = memoryNode();
    let live = true;
    let failures = 2;
    let resubscribed: ResubscribedHandler = () => undefined;
    const broker = override(node.state.broker, {
      onFrame: (handler: FrameHandler) =>
        node.state.broker.onFrame((room, id, data) => {
          if (live) handler(room, id, data);
        }),
      onResubscribed: (handler: ResubscribedHandler) => {
        resubscribed = handler;
      },
      replay: (room: string, since: string, bounds: PageBounds) => {
        if (failures === 0) return node.state.broker.replay(room, since, bounds);
        failures -= 1;
        return Promise.reject(new StateUnavailableError(new Error('not ready yet')));
      },
    });
    const rooms = roomsOn(node, broker);
    const { session: alice, connection } = session('alice');
    node.hub.addSession(alice);
    await rooms.join(alice, 'r', undefined, () => undefined);
    await node.state.broker.publishLimited('r', 'bob', 'before', LIMITS);
    await waitFor(() => connection.ofType('message').length === 1, { what: 'the first message' });
    live = false;
    await node.state.broker.publishLimited('r', 'bob', 'lost', LIMITS);
    live = true;
    resubscribed(['r'], [], Date.now());
    await waitFor(() => connection.ofType('message').length === 2, { what: 'the retried catch-up' });
    expect(failures).to.equal(0);
    expect(connection.ofType('message').map((m) => m.text)).to.deep.equal(['before', 'lost']);
    expect(node.log.lines().filter((l) => l.message === 'catch-up failed, retrying')).to.have.length(1);
    rooms.close();
  });

  it('catches up a room that had delivered nothing on this node yet', async () => {
    const node = memoryNode();
    let live = true;
    let resubscribed: ResubscribedHandler = () => undefined;
    const broker = override(node.state.broker, {
      onFrame: (handler: FrameHandler) =>
        node.state.broker.onFrame((room, id, data) => {
          if (live) handler(room, id, data);
        }),
      onResubscribed: (handler: ResubscribedHandler) => {
        resubscribed = handler;
      },
    });
    const rooms = roomsOn(node, broker);
    // an older message, before anyone here joined: not to be delivered
    await node.state.broker.publishLimited('new', 'bob', 'old', LIMITS);
    const { session: alice, connection } = session('alice');
    node.hub.addSession(alice);
    await rooms.join(alice, 'new', undefined, () => undefined);
    live = false;
    await node.state.broker.publishLimited('new', 'bob', 'lost', LIMITS);
    live = true;
    resubscribed(['new'], [], Date.now());
    await waitFor(() => connection.ofType('message').length === 1, { what: 'the caught-up message' });
    expect(connection.ofType('message').map((m) => m.text)).to.deep.equal(['lost']);
    rooms.close();
  });

  it('holds live frames while a room catches up, so that none overtakes an older message', async () => {
    const node = memoryNode();
    let live = true;
    let resubscribed: ResubscribedHandler = () => undefined;
    let releaseRead: () => void = () => undefined;
    const readGate = new Promise<void>((resolve) => (releaseRead = resolve));
    const broker = override(node.state.broker, {
      onFrame: (handler: FrameHandler) =>
        node.state.broker.onFrame((room, id, data) => {
          if (live) handler(room, id, data);
        }),
      onResubscribed: (handler: ResubscribedHandler) => {
        resubscribed = handler;
      },
      // the catch-up's read answers only after a newer message went out live
      replay: async (room: string, since: string, bounds: PageBounds) => {
        const page = await node.state.broker.replay(room, since, bounds);
        await readGate;
        return page;
      },
    });
    const rooms = roomsOn(node, broker);
    const { session: alice, connection } = session('alice');
    node.hub.addSession(alice);
    await rooms.join(alice, 'r', undefined, () => undefined);
    live = false;
    await node.state.broker.publishLimited('r', 'bob', 'missed', LIMITS);
    live = true;
    resubscribed(['r'], [], Date.now());
    await node.state.broker.publishLimited('r', 'bob', 'newer', LIMITS);
    expect(connection.ofType('message'), 'held while catching up').to.have.length(0);
    releaseRead();
    await waitFor(() => connection.ofType('message').length === 2, { what: 'both, in order' });
    expect(connection.ofType('message').map((m) => m.text)).to.deep.equal(['missed', 'newer']);
    rooms.close();
  });

  it('a failed join leaves the session out of the room and the node unsubscribed', async () => {
    const node = memoryNode();
    const down = () => Promise.reject(new StateUnavailableError(new Error('down')));
    const rooms = new Rooms({
      hub: node.hub,
      broker: node.state.broker,
      presence: override(node.state.presence, { members: down }),
      historyMaxLen: 1000,
      pageMaxBytes: 256 * 1024,
      replayMaxBytes: 4 * 1024 * 1024,
      reads: new ReadSlots(4),
      logger: node.log.logger,
    });
    const { session: alice } = session('alice');
    node.hub.addSession(alice);
    let replied = false;
    let failed: unknown;
    await rooms.join(alice, 'r', undefined, () => (replied = true)).catch((err: unknown) => (failed = err));
    expect(failed).to.be.instanceOf(StateUnavailableError);
    expect(replied).to.equal(false);
    expect(alice.inRoom('r')).to.equal(false);
    expect(node.hub.hasRoom('r')).to.equal(false);
    expect(node.cluster.bus.subscribers.has('r')).to.equal(false);
  });
});
