import { expect } from 'chai';
import { MemoryCluster, StateUnavailableError } from '@securechat/state';
import { Admission, HANDSHAKE, HandshakeGate, type AdmissionResult, type Verdict } from '@securechat/chat';
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
  it('takes up to max slots, sheds beyond, and takes again once one is given back', () => {
    const gate = new HandshakeGate(3);
    expect([gate.enter(), gate.enter(), gate.enter()]).to.deep.equal([true, true, true]);
    expect(gate.inProgress).to.equal(3);
    expect([gate.enter(), gate.enter()], 'shed, nothing taken').to.deep.equal([false, false]);
    expect(gate.inProgress).to.equal(3);
    gate.leave();
    expect(gate.enter()).to.equal(true);
    expect(gate.enter()).to.equal(false);
    expect(gate.takeShed(), 'shed since the last call').to.equal(3);
    expect(gate.takeShed()).to.equal(0);
  });

  it('never goes below zero, and 0 means no bound', () => {
    const gate = new HandshakeGate(1);
    gate.leave();
    expect(gate.inProgress).to.equal(0);
    expect([gate.enter(), gate.enter()]).to.deep.equal([true, false]);
    const unbounded = new HandshakeGate(0);
    for (let i = 0; i < 10_000; i++) expect(unbounded.enter()).to.equal(true);
    expect(unbounded.inProgress).to.equal(10_000);
    expect(unbounded.takeShed()).to.equal(0);
  });
});
