import { expect } from 'chai';
import { Enforcement, Liveness, type Every } from '@securechat/chat';
import { waitFor } from '../../support/wait';
import { memoryNode, session } from './fakes';

/** A scheduler the test ticks by hand. */
function manualClock() {
  const tickers: { ms: number; tick: () => void }[] = [];
  const every: Every = (ms, tick) => {
    const entry = { ms, tick };
    tickers.push(entry);
    return () => tickers.splice(tickers.indexOf(entry), 1);
  };
  return {
    every,
    tickers,
    /** Advances every sweep by `n` of its own ticks. */
    advance(n: number) {
      for (let i = 0; i < n; i += 1) for (const t of [...tickers]) t.tick();
    },
  };
}

function livenessOn(node: ReturnType<typeof memoryNode>, clock: ReturnType<typeof manualClock>) {
  const enforcement = new Enforcement({
    hub: node.hub,
    state: node.state,
    audit: node.audit,
    logger: node.log.logger,
    expiryToleranceMs: 0,
  });
  return new Liveness({
    hub: node.hub,
    state: node.state,
    enforcement,
    audit: node.audit,
    logger: node.log.logger,
    options: { pingIntervalMs: 1000, presenceTtlMs: 3000, revalidateIntervalMs: 1000 },
    every: clock.every,
  });
}

describe('Liveness: the sweeps, on a hand-driven clock', () => {
  it('runs four sweeps and stops them all on close', () => {
    const node = memoryNode();
    const clock = manualClock();
    const liveness = livenessOn(node, clock);
    liveness.start();
    expect(clock.tickers).to.have.length(4);
    liveness.close();
    expect(clock.tickers).to.have.length(0);
  });

  it('pings every session once a period and cuts one that missed its pong', () => {
    const node = memoryNode();
    const clock = manualClock();
    const answering = session('alice');
    const silent = session('bob');
    node.hub.addSession(answering.session);
    node.hub.addSession(silent.session);
    livenessOn(node, clock).start();
    clock.advance(25); // one ping period (25 ticks of 40 ms)
    expect(answering.connection.pings).to.equal(1);
    expect(silent.connection.pings).to.equal(1);
    answering.session.pong();
    clock.advance(25);
    expect(answering.connection.pings).to.equal(2);
    expect(answering.connection.terminated).to.equal(false);
    expect(silent.connection.terminated).to.equal(true);
    expect(node.audits('heartbeat_timeout')[0]).to.include({ username: 'bob', session: silent.session.id });
  });

  it('renews presence and the connection registry of local sessions', async () => {
    const node = memoryNode();
    const clock = manualClock();
    const alice = session('alice');
    node.hub.addSession(alice.session);
    node.hub.join('lobby', alice.session);
    // Presence renewal of a user the table does not know makes them present (a node cut off and back).
    livenessOn(node, clock).start();
    clock.advance(25);
    await waitFor(async () => (await node.state.presence.members('lobby')).includes('alice'), {
      what: 'presence renewed',
    });
  });
});
