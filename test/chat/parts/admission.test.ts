import { expect } from 'chai';
import { MemoryCluster, StateUnavailableError } from '@securechat/state';
import {
  Admission,
  HANDSHAKE,
  HandshakeGate,
  LoopLag,
  type AdmissionResult,
  type Verdict,
} from '@securechat/chat';
import { claims, memoryNode, override } from './fakes';

const OPTIONS = { maxConnectionsPerUser: 2, maxConnectionsPerAddress: 3, maxHandshakesPerAddressPerMin: 10 };

const ok = (user: string, address = '192.0.2.7'): Verdict => ({
  ok: true,
  claims: claims(user),
  address,
  method: 'header',
});

const refusalOf = (result: AdmissionResult) => (result.ok ? 'admitted' : result.reason);

describe('Admission: who gets a socket, without a socket server', () => {
  it('admits a valid handshake and holds an address slot until released', async () => {
    const { state } = memoryNode();
    const admission = new Admission(OPTIONS, state);
    const result = await admission.admit(ok('alice'), 's1');
    expect(result.ok).to.equal(true);
    expect(admission.connectionsFrom('192.0.2.7')).to.equal(1);
    await admission.release({ session: 's1', address: '192.0.2.7', user: 'alice' });
    expect(admission.connectionsFrom('192.0.2.7')).to.equal(0);
  });

  it('a wrong path is refused without counting or auditing; other refusals count as handshakes', async () => {
    const { state } = memoryNode();
    const admission = new Admission({ ...OPTIONS, maxHandshakesPerAddressPerMin: 2 }, state);
    const path: Verdict = { ok: false, refusal: HANDSHAKE.notFound, reason: 'path', address: '192.0.2.9' };
    for (let i = 0; i < 5; i += 1) {
      const r = await admission.admit(path, `p${i}`);
      expect(r.ok === false && r.audited).to.equal(false);
    }
    const origin: Verdict = {
      ok: false,
      refusal: HANDSHAKE.originRefused,
      reason: 'origin',
      address: '192.0.2.9',
    };
    expect(refusalOf(await admission.admit(origin, 'o1'))).to.equal('origin');
    expect(refusalOf(await admission.admit(ok('alice', '192.0.2.9'), 'a1'))).to.equal('admitted');
    const third = await admission.admit(ok('alice', '192.0.2.9'), 'a2');
    expect(third.ok === false && third.refusal).to.equal(HANDSHAKE.tooManyHandshakes);
  });

  it('caps connections per address on this node', async () => {
    const { state } = memoryNode();
    const admission = new Admission({ ...OPTIONS, maxConnectionsPerUser: 10 }, state);
    for (let i = 0; i < 3; i += 1) expect((await admission.admit(ok(`u${i}x`), `s${i}`)).ok).to.equal(true);
    const over = await admission.admit(ok('u9x'), 's9');
    expect(over.ok === false && over.refusal).to.equal(HANDSHAKE.tooManyConnections);
    expect(refusalOf(over)).to.equal('address_cap');
    expect(refusalOf(await admission.admit(ok('u9x', '192.0.2.8'), 's10'))).to.equal('admitted');
  });

  it('caps connections per user over every node sharing the registry', async () => {
    const cluster = new MemoryCluster();
    const a = new Admission(OPTIONS, memoryNode('a', cluster).state);
    const b = new Admission(OPTIONS, memoryNode('b', cluster).state);
    expect(refusalOf(await a.admit(ok('alice', '192.0.2.1'), 's1'))).to.equal('admitted');
    expect(refusalOf(await b.admit(ok('alice', '192.0.2.2'), 's2'))).to.equal('admitted');
    const third = await b.admit(ok('alice', '192.0.2.3'), 's3');
    expect(refusalOf(third)).to.equal('user_cap');
    expect(b.connectionsFrom('192.0.2.3')).to.equal(0, 'the refused slot is given back');
    await a.release({ session: 's1', address: '192.0.2.1', user: 'alice' });
    expect(refusalOf(await b.admit(ok('alice', '192.0.2.3'), 's4'))).to.equal('admitted');
  });

  it('refuses revoked tokens and blocked users', async () => {
    const { state, auth } = memoryNode();
    const admission = new Admission(OPTIONS, state);
    const verdict = ok('alice');
    if (!verdict.ok) throw new Error('unreachable');
    await auth.revocations.revoke(verdict.claims.jti, verdict.claims.exp, 'logout');
    const revoked = await admission.admit(verdict, 's1');
    expect(revoked.ok === false && revoked.refusal).to.equal(HANDSHAKE.invalidToken);
    expect(refusalOf(revoked)).to.equal('token_revoked');
    await auth.blocklist.block('bob', 'operator', 60);
    const blocked = await admission.admit(ok('bob'), 's2');
    expect(blocked.ok === false && blocked.refusal).to.equal(HANDSHAKE.blocked);
    expect(admission.connectionsFrom('192.0.2.7')).to.equal(0);
  });

  it('fails closed when the state cannot answer, holding nothing', async () => {
    const { state } = memoryNode();
    const down = () => Promise.reject(new StateUnavailableError(new Error('down')));
    const lookups = new Admission(
      OPTIONS,
      override(state, { revocations: override(state.revocations, { isRevoked: down }) }),
    );
    expect(refusalOf(await lookups.admit(ok('alice'), 's1'))).to.equal('state_unavailable');
    const registry = new Admission(
      OPTIONS,
      override(state, { registry: override(state.registry, { acquire: down }) }),
    );
    const r = await registry.admit(ok('alice'), 's2');
    expect(r.ok === false && r.refusal).to.equal(HANDSHAKE.unavailable);
    expect(registry.connectionsFrom('192.0.2.7')).to.equal(0);
  });
});

describe('HandshakeGate: how many handshakes a node decides at once', () => {
  /** A gate on a clock the test moves. */
  function gate(maxWaitMs: number, minPending: number, lag = { ms: 0 }) {
    const clock = { t: 1_000_000 };
    return {
      clock,
      gate: new HandshakeGate(
        { maxWaitMs, minPending, maxLagMs: 500 },
        () => clock.t,
        () => lag.ms,
      ),
    };
  }

  it('takes minPending while its pace is unknown, sheds beyond, and takes again once one is decided', () => {
    const { gate: g } = gate(2000, 3);
    expect([g.enter(), g.enter(), g.enter()]).to.deep.equal([true, true, true]);
    expect(g.inProgress).to.equal(3);
    expect([g.enter(), g.enter()], 'shed, nothing taken').to.deep.equal([false, false]);
    expect(g.inProgress).to.equal(3);
    g.leave();
    expect(g.enter()).to.equal(true);
    expect(g.enter()).to.equal(false);
    expect(g.takeShed(), 'shed since the last call').to.equal(3);
    expect(g.takeShed()).to.equal(0);
  });

  it('takes as many as it decides in maxWaitMs at the pace of the last two seconds', () => {
    const { gate: g, clock } = gate(2000, 10);
    // 400 decided over one second: 400 per two seconds = 200/s, so 400 in 2 s.
    for (let i = 0; i < 400; i++) {
      expect(g.enter()).to.equal(true);
      g.leave();
      clock.t += 2.5;
    }
    expect(g.pace()).to.equal(200);
    expect(g.bound()).to.equal(400);
    for (let i = 0; i < 400; i++) expect(g.enter(), `handshake ${i}`).to.equal(true);
    expect(g.enter(), 'the 401st would wait past maxWaitMs').to.equal(false);
    // Two quiet seconds later the pace is forgotten: back to minPending (none free now).
    clock.t += 2500;
    expect(g.pace()).to.equal(0);
    expect(g.bound()).to.equal(10);
    expect(g.enter()).to.equal(false);
  });

  it('sheds beyond a few while the event loop runs more than maxLagMs late', () => {
    const lag = { ms: 0 };
    const { gate: g } = gate(2000, 100, lag);
    for (let i = 0; i < 20; i++) expect(g.enter()).to.equal(true);
    lag.ms = 501;
    expect(g.enter(), 'late: 20 in progress are enough').to.equal(false);
    for (let i = 0; i < 5; i++) g.leave();
    expect([g.enter(), g.enter()], 'under 16 in progress: progress goes on').to.deep.equal([true, false]);
    lag.ms = 500;
    expect(g.enter(), 'back on time').to.equal(true);
  });

  it('never goes below zero, and maxWaitMs 0 never sheds', () => {
    const { gate: g } = gate(1000, 1);
    g.leave();
    expect(g.inProgress).to.equal(0);
    expect([g.enter(), g.enter()]).to.deep.equal([true, false]);
    const { gate: never } = gate(0, 1, { ms: 10_000 });
    for (let i = 0; i < 10_000; i++) expect(never.enter()).to.equal(true);
    expect(never.inProgress).to.equal(10_000);
    expect(never.takeShed()).to.equal(0);
  });
});

describe('LoopLag: how late the event loop runs', () => {
  it('is how late the last timer fired, or how overdue the next one already is', () => {
    const clock = { t: 0 };
    const lag = new LoopLag(100, () => clock.t);
    lag.start();
    lag.stop(); // ticked by hand below
    clock.t = 100;
    lag.tick();
    expect(lag.ms).to.equal(0);
    clock.t = 450;
    expect(lag.ms, 'due at 200, not fired yet').to.equal(250);
    lag.tick();
    expect(lag.ms, 'fired 250 late').to.equal(250);
    clock.t = 560;
    lag.tick();
    expect(lag.ms).to.equal(10);
  });
});
