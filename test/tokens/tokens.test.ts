import { expect } from 'chai';
import {
  generateSigningKey,
  MAX_LIFETIME_S,
  TokenError,
  TokenIssuer,
  TokenVerifier,
  type AccessClaims,
} from '@securechat/tokens';
import { decodePart, forgeries, goodClaims, signEs256 } from '../support/jwt';

const settings = { issuer: 'securechat', audience: 'securechat' };

function refusal(verify: () => AccessClaims): TokenError {
  try {
    verify();
  } catch (err) {
    expect(err).to.be.instanceOf(TokenError);
    return err as TokenError;
  }
  expect.fail('the token was accepted');
}

describe('access tokens', () => {
  const key = generateSigningKey();
  const keys = new Map([[key.kid, key.publicKey]]);

  describe('TokenIssuer + TokenVerifier', () => {
    it('issues ES256 tokens with kid, and every claim the contract names', () => {
      const issued = new TokenIssuer(key, { ...settings, ttlS: 900 }).issue('alice', 'family-00000001');
      const header = decodePart(issued.token, 0);
      const payload = decodePart(issued.token, 1);
      expect(header).to.deep.equal({ alg: 'ES256', typ: 'JWT', kid: key.kid });
      expect(payload).to.include({ sub: 'alice', typ: 'access', iss: 'securechat', aud: 'securechat' });
      expect(payload.jti).to.equal(issued.jti).and.to.be.a('string');
      expect(Number(payload.exp) - Number(payload.iat)).to.equal(900);
      expect(issued.expiresIn).to.equal(900);
      const claims = new TokenVerifier(keys, settings).verify(issued.token);
      expect(claims).to.deep.equal({
        sub: 'alice',
        jti: issued.jti,
        iat: payload.iat,
        exp: payload.exp,
        fam: 'family-00000001',
      });
    });

    it('gives every token its own jti', () => {
      const issuer = new TokenIssuer(key, { ...settings, ttlS: 60 });
      const jtis = new Set(Array.from({ length: 50 }, () => issuer.issue('alice').jti));
      expect(jtis.size).to.equal(50);
    });

    it('refuses to issue tokens living longer than the cap', () => {
      expect(() => new TokenIssuer(key, { ...settings, ttlS: MAX_LIFETIME_S + 1 })).to.throw(/cap/);
    });

    it('expires tokens on the verifier clock, with a few seconds of tolerance', () => {
      let now = 1_700_000_000_000;
      const issued = new TokenIssuer(key, { ...settings, ttlS: 60 }, () => now).issue('alice');
      const verifier = new TokenVerifier(keys, settings, () => now);
      now += 64_000;
      expect(verifier.verify(issued.token).sub).to.equal('alice');
      now += 2_000;
      expect(refusal(() => verifier.verify(issued.token)).code).to.equal('expired');
    });

    it('accepts a token signed by any key of a rotation set, and only those', () => {
      const next = generateSigningKey();
      const both = new TokenVerifier(
        new Map([
          [key.kid, key.publicKey],
          [next.kid, next.publicKey],
        ]),
        settings,
      );
      const oldToken = new TokenIssuer(key, { ...settings, ttlS: 60 }).issue('alice').token;
      const newToken = new TokenIssuer(next, { ...settings, ttlS: 60 }).issue('alice').token;
      expect(both.verify(oldToken).sub).to.equal('alice');
      expect(both.verify(newToken).sub).to.equal('alice');
      const onlyOld = new TokenVerifier(keys, settings);
      expect(refusal(() => onlyOld.verify(newToken)).code).to.equal('unknown_key');
    });

    it('ignores jku, x5u and jwk headers on a token the real key signed', () => {
      const token = signEs256(
        {
          alg: 'ES256',
          typ: 'JWT',
          kid: key.kid,
          jku: 'http://127.0.0.1:9/jwks.json',
          x5u: 'http://127.0.0.1:9/cert.pem',
          jwk: { kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA' },
        },
        goodClaims(settings),
        key.privateKey,
      );
      expect(new TokenVerifier(keys, settings).verify(token).sub).to.equal('alice');
    });

    it('refuses a non-string token', () => {
      const verifier = new TokenVerifier(keys, settings);
      for (const value of [undefined, null, 42, {}, ['a.b.c']]) {
        expect(refusal(() => verifier.verify(value)).code).to.equal('malformed');
      }
    });
  });

  describe('forged tokens at the verifier', () => {
    const verifier = new TokenVerifier(keys, settings);
    // Made again in each test: their times count from now, and a suite may run long after
    // the file was loaded (the whole mocha run takes minutes).
    for (const { name } of forgeries(key, settings)) {
      it(`refuses: ${name}`, () => {
        const forgery = forgeries(key, settings).find((f) => f.name === name);
        if (forgery === undefined) throw new Error(`no forgery named ${name}`);
        expect(refusal(() => verifier.verify(forgery.token)).code).to.equal(forgery.code);
      });
    }
  });
});
