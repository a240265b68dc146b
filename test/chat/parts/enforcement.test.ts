import { expect } from 'chai';
import { StateUnavailableError } from '@securechat/state';
import { CLOSE, Enforcement } from '@securechat/chat';
import { waitFor } from '../../support/wait';
import { claims, memoryNode, override, session } from './fakes';

function enforcementOn(node: ReturnType<typeof memoryNode>, toleranceMs = 0) {
  return new Enforcement({
    hub: node.hub,
    state: node.state,
    audit: node.audit,
    logger: node.log.logger,
    expiryToleranceMs: toleranceMs,
  });
}

describe('Enforcement: expiry, revocations, blocks and revalidation, without a socket server', () => {
  it('closes a block announcement’s user everywhere on the node, and audits it', () => {
    const node = memoryNode();
    const enforcement = enforcementOn(node);
    const a1 = session('alice');
    const a2 = session('alice');
    const b = session('bob');
    for (const s of [a1, a2, b]) node.hub.addSession(s.session);
    enforcement.onEvent({ kind: 'blocked', user: 'alice' });
    expect(a1.connection.closes).to.deep.equal([{ code: 1008, reason: 'blocked' }]);
    expect(a2.connection.closes).to.deep.equal([{ code: 1008, reason: 'blocked' }]);
    expect(b.connection.closes).to.deep.equal([]);
    expect(node.audits('kicked_blocked')).to.have.length(2);
    expect(node.audits('block_seen')[0]).to.include({ username: 'alice', sessions_closed: 2 });
    enforcement.onEvent({ kind: 'unblocked', user: 'alice' });
    expect(node.audits('unblock_seen')).to.have.length(1);
  });

  it('closes the sessions of a revoked token, or of every token of a user issued until now', () => {
    const node = memoryNode();
    const enforcement = enforcementOn(node);
    const old = claims('alice', { iat: Math.floor(Date.now() / 1000) - 10 });
    const one = session('alice', { claims: old });
    const other = session('alice');
    const future = session('alice', { claims: claims('alice', { iat: Math.floor(Date.now() / 1000) + 60 }) });
    for (const s of [one, other, future]) node.hub.addSession(s.session);
    enforcement.onEvent({ kind: 'revoked', jti: old.jti });
    expect(one.connection.closes).to.deep.equal([{ code: 1008, reason: 'token_revoked' }]);
    expect(other.connection.closes).to.deep.equal([]);
    expect(node.audits('revocation_seen')[0]).to.include({ jti: old.jti, sessions_closed: 1 });
    enforcement.onEvent({ kind: 'revoked_all', user: 'alice' });
    expect(other.connection.closes).to.deep.equal([{ code: 1008, reason: 'token_revoked' }]);
    expect(future.connection.closes).to.deep.equal([], 'a token issued after the revocation stays');
  });

  it('closes a session when its token expires (1008 token_expired)', async () => {
    const node = memoryNode();
    const enforcement = enforcementOn(node);
    const expiring = session('alice', { claims: claims('alice', { exp: Math.floor(Date.now() / 1000) }) });
    node.hub.addSession(expiring.session);
    enforcement.watchExpiry(expiring.session);
    await waitFor(() => expiring.connection.closes.length === 1, { what: 'the expiry close' });
    expect(expiring.connection.closes[0]).to.deep.equal({ code: 1008, reason: 'token_expired' });
    expect(node.audits('token_expired')[0]).to.include({ username: 'alice', session: expiring.session.id });
  });

  it('closes each expiring session at its deadline, but not one closed, released or renewed first', async () => {
    const node = memoryNode();
    const enforcement = enforcementOn(node);
    const nowS = Math.floor(Date.now() / 1000);
    const expiring = () => session('alice', { claims: claims('alice', { exp: nowS }) });
    const [closedFirst, released, renewed, later] = [expiring(), expiring(), expiring(), expiring()];
    for (const s of [closedFirst, released, renewed]) {
      node.hub.addSession(s.session);
      enforcement.watchExpiry(s.session);
    }
    closedFirst.session.close(CLOSE.restart);
    enforcement.forget(released.session);
    const previousExp = renewed.session.claims.exp;
    expect(renewed.session.renewToken(claims('alice', { exp: nowS + 60 }))).to.equal(true);
    enforcement.watchExpiry(renewed.session, previousExp);
    // Due at the same deadline as the three: once it is closed, theirs has passed.
    node.hub.addSession(later.session);
    enforcement.watchExpiry(later.session);
    await waitFor(() => later.connection.closes.length === 1, { what: 'the later expiry' });
    expect(later.connection.closes).to.deep.equal([{ code: 1008, reason: 'token_expired' }]);
    expect(closedFirst.connection.closes).to.deep.equal([{ code: 1012, reason: 'restart' }]);
    expect(released.connection.closes).to.deep.equal([]);
    expect(renewed.connection.closes).to.deep.equal([]);
    expect(node.audits('token_expired').map((a) => a.session)).to.deep.equal([later.session.id]);
    enforcement.close();
  });

  it('revalidation closes what a lost announcement missed, and stops quietly on a Redis failure', async () => {
    const node = memoryNode();
    const revoked = session('alice');
    const blocked = session('bob');
    const fine = session('carol');
    for (const s of [revoked, blocked, fine]) node.hub.addSession(s.session);
    await node.auth.revocations.revoke(revoked.session.claims.jti, revoked.session.claims.exp, 'logout');
    await node.auth.blocklist.block('bob', 'operator', 60);
    const enforcement = enforcementOn(node);
    await enforcement.revalidate([...node.hub.sessions]);
    expect(revoked.connection.closes).to.deep.equal([{ code: 1008, reason: 'token_revoked' }]);
    expect(blocked.connection.closes).to.deep.equal([{ code: 1008, reason: 'blocked' }]);
    expect(fine.connection.closes).to.deep.equal([]);

    const down = () => Promise.reject(new StateUnavailableError(new Error('down')));
    const failing = new Enforcement({
      hub: node.hub,
      state: override(node.state, { blocklist: override(node.state.blocklist, { blockedReason: down }) }),
      audit: node.audit,
      logger: node.log.logger,
      expiryToleranceMs: 0,
    });
    await failing.revalidate([fine.session]);
    expect(fine.connection.closes).to.deep.equal([]);
  });
});
