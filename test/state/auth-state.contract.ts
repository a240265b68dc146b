import { expect } from 'chai';
import type { AuthState } from '@securechat/state';

export interface AuthStateFixture {
  state: AuthState;
  /** Advances time for the store (memory: fake clock; Redis: not supported). */
}

export interface AuthStateContractOptions {
  /**
   * Whether a login's windows are counted in one order everywhere. In Redis Cluster the
   * username+address window and the address's daily window are on different masters,
   * each counting a parallel burst in its own arrival order: every attempt is still
   * counted in both, and no more than the limit pass, but which ones each window lets
   * through may differ, so fewer than the limit may pass.
   */
  orderedWindows?: boolean;
}

/** One suite, run against every implementation of the auth state ports. */
export function authStateContract(
  name: string,
  make: () => Promise<AuthState>,
  cleanup: () => Promise<void>,
  options: AuthStateContractOptions = {},
): void {
  describe(`auth state contract: ${name}`, () => {
    let state: AuthState;
    beforeEach(async () => {
      state = await make();
    });
    afterEach(async () => {
      await cleanup();
    });

    it('creates a user once and reads it back', async () => {
      const user = { username: 'alice', passwordHash: '$2b$10$abc', createdAt: 1700000000000 };
      expect(await state.users.create(user)).to.equal(true);
      expect(await state.users.create({ ...user, passwordHash: 'other' })).to.equal(false);
      expect(await state.users.get('alice')).to.deep.equal(user);
      expect(await state.users.get('bob')).to.equal(undefined);
    });

    it('revokes one token until its expiry, and every token of a user issued so far', async () => {
      const exp = Math.floor(Date.now() / 1000) + 600;
      const token = { jti: 'jti-00000001', sub: 'alice', iat: exp - 900, exp };
      expect(await state.revocations.isRevoked(token)).to.equal(false);
      await state.revocations.revoke(token.jti, token.exp, 'logout');
      expect(await state.revocations.isRevoked(token)).to.equal(true);
      const other = { ...token, jti: 'jti-00000002' };
      expect(await state.revocations.isRevoked(other)).to.equal(false);
      expect(await state.revocations.revokedBefore('alice')).to.equal(undefined);
      const mark = Date.now();
      await state.revocations.revokeAllOf('alice', 900);
      expect(await state.revocations.revokedBefore('alice')).to.be.within(mark, Date.now());
      expect(await state.revocations.isRevoked(other)).to.equal(true);
      const later = { ...other, jti: 'jti-00000003', iat: Math.floor(Date.now() / 1000) + 2 };
      expect(await state.revocations.isRevoked(later)).to.equal(false);
    });

    it('keeps a revocation while verifiers may still accept the token (clock tolerance)', async () => {
      // expired 2 s ago: a verifier with 5 s of tolerance still takes it
      const exp = Math.floor(Date.now() / 1000) - 2;
      await state.revocations.revoke('jti-grace001', exp, 'logout');
      expect(
        await state.revocations.isRevoked({ jti: 'jti-grace001', sub: 'a', iat: exp - 10, exp }),
      ).to.equal(true);
    });

    it('ignores a revocation of a token already expired', async () => {
      const exp = Math.floor(Date.now() / 1000) - 60;
      await state.revocations.revoke('jti-expired1', exp, 'logout');
      expect(
        await state.revocations.isRevoked({ jti: 'jti-expired1', sub: 'a', iat: exp - 10, exp }),
      ).to.equal(false);
    });

    it('blocks and unblocks with a reason', async () => {
      expect(await state.blocklist.blockedReason('mallory')).to.equal(undefined);
      await state.blocklist.block('mallory', 'spam', 60);
      expect(await state.blocklist.blockedReason('mallory')).to.equal('spam');
      expect(await state.blocklist.unblock('mallory')).to.equal(true);
      expect(await state.blocklist.unblock('mallory')).to.equal(false);
      expect(await state.blocklist.blockedReason('mallory')).to.equal(undefined);
    });

    it('rotates refresh tokens and detects reuse of a spent one', async () => {
      await state.refreshTokens.createFamily('family-0001', 'alice', 'hash-1', 600);
      const before = Date.now();
      const rotated = await state.refreshTokens.rotate('hash-1', 'hash-2', 600);
      expect(rotated).to.deep.include({ kind: 'ok', family: 'family-0001', username: 'alice' });
      expect(rotated.kind === 'ok' && rotated.createdAt).to.be.within(before - 5000, Date.now());
      const exp = Math.floor(Date.now() / 1000) + 300;
      expect(await state.refreshTokens.recordAccessToken('family-0001', 'jti-a0000001', exp)).to.equal(true);
      expect(await state.refreshTokens.recordAccessToken('family-0001', 'jti-a0000002', exp + 10)).to.equal(
        true,
      );
      // hash-1 is spent: presenting it again is reuse and revokes the family.
      expect(await state.refreshTokens.rotate('hash-1', 'hash-3', 600)).to.deep.equal({
        kind: 'reused',
        family: 'family-0001',
        username: 'alice',
      });
      // the legitimate successor is now dead too
      const after = await state.refreshTokens.rotate('hash-2', 'hash-4', 600);
      expect(after).to.deep.equal({ kind: 'revoked', family: 'family-0001', username: 'alice' });
      const tokens = await state.refreshTokens.revokeFamily('family-0001');
      expect(tokens.map((t) => t.jti).sort()).to.deep.equal(['jti-a0000001', 'jti-a0000002']);
      expect(await state.refreshTokens.rotate('nope', 'hash-5', 600)).to.deep.equal({ kind: 'invalid' });
    });

    it('revoking a family stops its active token', async () => {
      await state.refreshTokens.createFamily('family-0002', 'bob', 'hash-b1', 600);
      await state.refreshTokens.revokeFamily('family-0002');
      expect((await state.refreshTokens.rotate('hash-b1', 'hash-b2', 600)).kind).to.equal('revoked');
    });

    it('refuses to record an access token for a revoked or unknown family', async () => {
      const exp = Math.floor(Date.now() / 1000) + 300;
      await state.refreshTokens.createFamily('family-0003', 'bob', 'hash-c1', 600);
      expect(await state.refreshTokens.recordAccessToken('family-0003', 'jti-c0000001', exp)).to.equal(true);
      // a refresh that rotated just before the revocation records its token just after it
      expect(await state.refreshTokens.revokeFamily('family-0003')).to.deep.equal([
        { jti: 'jti-c0000001', exp },
      ]);
      expect(await state.refreshTokens.recordAccessToken('family-0003', 'jti-c0000002', exp)).to.equal(false);
      expect(await state.refreshTokens.recordAccessToken('family-none', 'jti-c0000003', exp)).to.equal(false);
    });

    it('does not list access tokens already expired when revoking', async () => {
      const now = Math.floor(Date.now() / 1000);
      await state.refreshTokens.createFamily('family-0004', 'bob', 'hash-d1', 600);
      await state.refreshTokens.recordAccessToken('family-0004', 'jti-d0000001', now - 30);
      await state.refreshTokens.recordAccessToken('family-0004', 'jti-d0000002', now + 300);
      const alive = await state.refreshTokens.revokeFamily('family-0004');
      expect(alive.map((t) => t.jti)).to.deep.equal(['jti-d0000002']);
    });

    it('locks out a username+address after consecutive failed attempts, not other addresses', async () => {
      for (let i = 0; i < 3; i++) {
        expect(await state.loginLimiter.attempt('carol', '10.0.0.1')).to.deep.equal({ allowed: true });
      }
      const locked = await state.loginLimiter.attempt('carol', '10.0.0.1');
      expect(locked.allowed).to.equal(false);
      if (!locked.allowed) expect(locked.retryAfterS).to.be.greaterThan(0);
      expect(await state.loginLimiter.attempt('carol', '10.0.0.2')).to.deep.equal({ allowed: true });
    });

    it('a success clears consecutive failures', async () => {
      await state.loginLimiter.attempt('dave', '10.0.0.3');
      await state.loginLimiter.attempt('dave', '10.0.0.3');
      await state.loginLimiter.recordSuccess('dave', '10.0.0.3');
      for (let i = 0; i < 3; i++) {
        expect(await state.loginLimiter.attempt('dave', '10.0.0.3')).to.deep.equal({ allowed: true });
      }
      expect((await state.loginLimiter.attempt('dave', '10.0.0.3')).allowed).to.equal(false);
    });

    it('counts concurrent attempts: a parallel burst gets no more than the limit', async () => {
      const results = await Promise.all(
        Array.from({ length: 12 }, () => state.loginLimiter.attempt('erin', '10.0.0.4')),
      );
      const allowed = results.filter((r) => r.allowed).length;
      if (options.orderedWindows === false) expect(allowed).to.be.within(1, 3);
      else expect(allowed).to.equal(3);
    });

    it('limits failures per address per day across usernames', async () => {
      for (let i = 0; i < 5; i++) {
        expect((await state.loginLimiter.attempt(`user${i}`, '10.0.0.9')).allowed).to.equal(true);
      }
      const locked = await state.loginLimiter.attempt('someone', '10.0.0.9');
      expect(locked.allowed).to.equal(false);
      if (!locked.allowed) expect(locked.retryAfterS).to.be.greaterThan(3600);
      expect((await state.loginLimiter.attempt('someone', '10.0.0.10')).allowed).to.equal(true);
    });

    it('a success gives the address its daily attempt back', async () => {
      for (let i = 0; i < 8; i++) {
        expect((await state.loginLimiter.attempt(`ok${i}`, '10.0.0.11')).allowed).to.equal(true);
        await state.loginLimiter.recordSuccess(`ok${i}`, '10.0.0.11');
      }
    });

    it('counts an IPv6 /64 as one address', async () => {
      for (let i = 1; i <= 3; i++) {
        expect(await state.loginLimiter.attempt('ivan', `2001:db8:1:2::${i}`)).to.deep.equal({
          allowed: true,
        });
      }
      const locked = await state.loginLimiter.attempt('ivan', '2001:db8:1:2:ffff::9');
      expect(locked).to.deep.include({ allowed: false, limit: 'username_address' });
      expect(await state.loginLimiter.attempt('ivan', '2001:db8:1:3::1')).to.deep.equal({ allowed: true });
    });

    it('throttles an account attempted from many networks; a network that logged in to it is exempt', async () => {
      await state.loginLimiter.recordSuccess('judy', '10.9.0.1');
      // four free attempts (accountFreeFailures), the fifth starts a 1-s delay
      for (let i = 0; i < 5; i++) {
        expect(await state.loginLimiter.attempt('judy', `10.8.0.${i}`)).to.deep.equal({ allowed: true });
      }
      expect(await state.loginLimiter.attempt('judy', '10.8.1.1')).to.deep.equal({
        allowed: false,
        retryAfterS: 1,
        limit: 'account',
      });
      expect(await state.loginLimiter.attempt('judy', '10.9.0.1')).to.deep.equal({ allowed: true });
      expect(await state.loginLimiter.attempt('kate', '10.8.1.1')).to.deep.equal({ allowed: true });
    });

    it('an attempt the account refuses costs its network nothing', async () => {
      for (let i = 0; i < 5; i++) await state.loginLimiter.attempt('liam', `10.7.0.${i}`);
      for (let i = 0; i < 6; i++) {
        expect((await state.loginLimiter.attempt('liam', '10.7.1.1')).allowed).to.equal(false);
      }
      // 10.7.1.1 still has its whole daily budget of 5
      for (let i = 0; i < 5; i++) {
        expect(await state.loginLimiter.attempt(`n${i}`, '10.7.1.1')).to.deep.equal({ allowed: true });
      }
      expect(await state.loginLimiter.attempt('n5', '10.7.1.1')).to.deep.include({
        allowed: false,
        limit: 'address_daily',
      });
    });

    it('limits registrations per network per hour', async () => {
      expect(await state.registrationLimiter.attempt('10.6.0.1')).to.deep.equal({ allowed: true });
      expect(await state.registrationLimiter.attempt('10.6.0.1')).to.deep.equal({ allowed: true });
      const refused = await state.registrationLimiter.attempt('10.6.0.1');
      expect(refused).to.deep.include({ allowed: false, limit: 'register_hourly' });
      if (!refused.allowed) expect(refused.retryAfterS).to.be.within(3500, 3600);
      expect(await state.registrationLimiter.attempt('10.6.0.2')).to.deep.equal({ allowed: true });
      expect(await state.registrationLimiter.attempt('2001:db8:6::1')).to.deep.equal({ allowed: true });
      expect(await state.registrationLimiter.attempt('2001:db8:6::2')).to.deep.equal({ allowed: true });
      expect((await state.registrationLimiter.attempt('2001:db8:6:0:1::3')).allowed).to.equal(false);
    });

    it('reports ready', async () => {
      expect(await state.ready()).to.equal(true);
    });
  });
}
