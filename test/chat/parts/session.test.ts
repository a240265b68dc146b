import { expect } from 'chai';
import { parseId } from '@securechat/state';
import { ByteBucket, CLOSE, prepareTextFrame, type Session } from '@securechat/chat';
import { waitFor } from '../../support/wait';
import { claims, session } from './fakes';

const frame = (text: string) => prepareTextFrame(Buffer.from(text));

describe('Session: one lifecycle, one output bound', () => {
  it('goes open → closing → released, each step once', () => {
    const { session: s, connection } = session('alice');
    expect(s.state).to.equal('open');
    expect(s.closed).to.equal(false);
    s.close(CLOSE.restart);
    s.close(CLOSE.blocked);
    expect(s.state).to.equal('closing');
    expect(connection.closes).to.deep.equal([{ code: 1012, reason: 'restart' }]);
    s.sendText('{"type":"pong"}');
    expect(connection.sent).to.deep.equal([], 'nothing is written once closing');
    expect(s.release()).to.deep.equal([]);
    expect(s.state).to.equal('released');
    expect(s.release()).to.equal(undefined, 'released only once');
  });

  it('hands back its rooms once, when released', () => {
    const { session: s } = session('alice');
    s.beginJoin('a');
    s.finishJoin('a');
    s.beginJoin('b');
    expect(s.roomNames).to.deep.equal(['a', 'b']);
    expect(s.release()).to.deep.equal(['a', 'b']);
    expect(s.inRoom('a')).to.equal(false);
    expect(s.release()).to.equal(undefined);
  });

  it('pings, and reports a peer that did not answer the previous ping', () => {
    const { session: s, connection } = session('alice');
    expect(s.heartbeat()).to.equal(true);
    s.pong();
    expect(s.heartbeat()).to.equal(true);
    expect(connection.pings).to.equal(2);
    expect(s.heartbeat()).to.equal(false, 'no pong since the last ping');
    expect(connection.pings).to.equal(2);
    s.terminate();
    expect(connection.terminated).to.equal(true);
    expect(s.state).to.equal('closing');
  });

  it('renews its token only with a newer one of the same user', () => {
    const first = claims('alice');
    const { session: s } = session('alice', { claims: first });
    expect(s.renewToken(claims('bob', { exp: first.exp + 60 }))).to.equal(false);
    expect(s.renewToken(claims('alice', { exp: first.exp - 60 }))).to.equal(false);
    expect(s.claims).to.equal(first);
    const newer = claims('alice', { exp: first.exp + 60 });
    expect(s.renewToken(newer)).to.equal(true);
    expect(s.claims).to.equal(newer);
    s.close(CLOSE.restart);
    expect(s.renewToken(claims('alice', { exp: first.exp + 120 }))).to.equal(false);
  });

  it('holds live frames during a join and drops what it already has, in id order', () => {
    const { session: s, connection } = session('alice');
    s.beginJoin('r');
    s.deliver('r', parseId('5-0'), frame('{"id":"5-0"}'));
    s.deliver('r', parseId('6-0'), frame('{"id":"6-0"}'));
    expect(connection.sent).to.deep.equal([]);
    s.replayed('r', '4-0', Buffer.from('{"id":"4-0"}'));
    s.replayed('r', '5-0', Buffer.from('{"id":"5-0"}'));
    s.finishJoin('r');
    s.deliver('r', parseId('6-0'), frame('{"id":"6-0"}'));
    s.deliver('r', parseId('7-0'), frame('{"id":"7-0"}'));
    s.deliver('elsewhere', parseId('8-0'), frame('{"id":"8-0"}'));
    expect(connection.frames().map((f) => f.id)).to.deep.equal(['4-0', '5-0', '6-0', '7-0']);
  });

  it('one slow-consumer check for replies, fan-out and replays alike', () => {
    const slow: Session[] = [];
    const { session: s, connection } = session('alice', {
      maxBufferedBytes: 100,
      onSlow: (x) => slow.push(x),
    });
    s.beginJoin('r');
    s.finishJoin('r');
    connection.bufferedAmount = 101;
    s.sendText('{"type":"pong"}');
    s.deliver('r', parseId('1-0'), frame('{"id":"1-0"}'));
    s.replayed('r', '2-0', Buffer.from('{"id":"2-0"}'));
    expect(connection.sent).to.deep.equal([]);
    expect(slow).to.have.length(3);
    connection.bufferedAmount = 100;
    s.sendText('{"type":"pong"}');
    expect(connection.sent).to.have.length(1);
  });

  it('spends and refills its request budget', () => {
    const { session: s } = session('alice');
    const t0 = Date.now();
    let granted = 0;
    while (s.takeRequestToken(1, t0)) granted += 1;
    expect(granted).to.equal(100);
    expect(s.takeRequestToken(1, t0 + 100)).to.equal(true, '50/s refill: 5 tokens after 100 ms');
  });

  it("charges what it is sent and what it writes to its own budget and to its user's", () => {
    const user = new ByteBucket(1000); // burst 4,000
    const { session: a } = session('alice', { connectionBytesPerS: 10_000, userBudget: user });
    const { session: b } = session('alice', { connectionBytesPerS: 10_000, userBudget: user });
    a.sendText(JSON.stringify({ type: 'history', messages: ['x'.repeat(3000)] }));
    expect(a.budgetWaitMs()).to.equal(0);
    a.charge(1500);
    expect(a.budgetWaitMs()).to.be.within(1, 1000, 'the user is in debt: about 500 bytes at 1,000/s');
    expect(b.budgetWaitMs()).to.be.above(0, "the user's other session shares it");
    const { session: c } = session('bob', { connectionBytesPerS: 100 });
    c.charge(500);
    expect(c.budgetWaitMs()).to.be.within(1, 1000, 'its own budget: burst 400');
  });

  it('runs its reads one at a time, and refuses more than 64 waiting', async () => {
    const { session: s } = session('alice');
    const order: string[] = [];
    let release!: () => void;
    const first = s.exclusive(async () => {
      order.push('first starts');
      await new Promise<void>((r) => (release = r));
      order.push('first ends');
    });
    const second = s.exclusive(async () => {
      order.push('second');
      return Promise.resolve();
    });
    const queued: Promise<void>[] = [];
    for (let i = 0; i < 62; i++) queued.push(s.exclusive(() => Promise.resolve()) as Promise<void>);
    expect(s.exclusive(() => Promise.resolve())).to.equal(undefined, 'the 65th is refused');
    await waitFor(() => order.length === 1, { what: 'the first read' });
    release();
    await Promise.all([first, second, ...queued]);
    expect(order).to.deep.equal(['first starts', 'first ends', 'second']);
    expect(s.exclusive(() => Promise.resolve())).to.not.equal(undefined, 'room again');
  });

  it('waits for room in the buffer before a read, and gives up once closed', async () => {
    const { session: s, connection } = session('alice', { maxBufferedBytes: 1000 });
    connection.bufferedAmount = 600;
    let ready: boolean | undefined;
    void s.readyFor(500).then((r) => (ready = r));
    await waitFor(() => connection.drainWaiting === 1, { what: 'a wait for the drain' });
    expect(ready).to.equal(undefined);
    connection.drain();
    await waitFor(() => ready === true, { what: 'ready after the drain' });
    expect(await s.readyFor(1000)).to.equal(true, 'an empty buffer takes any page');
    connection.bufferedAmount = 900;
    const late = s.readyFor(500);
    s.close(CLOSE.restart);
    connection.drain();
    expect(await late).to.equal(false);
  });

  it('behind a replay that stopped short, withholds live messages; held frames are bounded', () => {
    const { session: s, connection } = session('alice', { maxBufferedBytes: 100 });
    s.beginJoin('r');
    s.replayed('r', '1-0', Buffer.from('{"id":"1-0"}'));
    expect(s.finishJoin('r', false)).to.equal(0);
    expect(s.isBehind('r')).to.equal(true);
    s.deliver('r', parseId('5-0'), frame('{"id":"5-0"}'));
    s.deliver('r', undefined, frame('{"type":"presence"}'));
    expect(connection.sent).to.deep.equal(['{"id":"1-0"}', '{"type":"presence"}']);
    // Continued: held frames go out once the replay reached the newest.
    s.beginJoin('r');
    s.deliver('r', parseId('5-0'), frame('{"id":"5-0"}'));
    s.replayed('r', '4-0', Buffer.from('{"id":"4-0"}'));
    expect(s.finishJoin('r')).to.equal(1, 'the one held message written');
    expect(s.isBehind('r')).to.equal(false);
    expect(connection.sent.slice(2)).to.deep.equal(['{"id":"4-0"}', '{"id":"5-0"}']);
    // More held than the session may buffer: dropped, and the room stays behind.
    s.beginJoin('r');
    for (let i = 6; i < 20; i++) s.deliver('r', parseId(`${i}-0`), frame(`{"id":"${i}-0","pad":"xxxxx"}`));
    expect(s.finishJoin('r')).to.equal(0);
    expect(s.isBehind('r')).to.equal(true);
    expect(connection.sent).to.have.length(4);
  });
});
