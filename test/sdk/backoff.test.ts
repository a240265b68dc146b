import { expect } from 'chai';
import { backoffCeiling, backoffDelay, closeAction, handshakeAction } from '@securechat/sdk';

describe('sdk backoff', () => {
  const opts = { baseDelayMs: 100, maxDelayMs: 1000 };

  it('doubles the window from the base up to the cap', () => {
    expect([1, 2, 3, 4, 5, 6, 50, 2000].map((n) => backoffCeiling(n, opts))).to.deep.equal([
      100, 200, 400, 800, 1000, 1000, 1000, 1000,
    ]);
    expect(() => backoffCeiling(0, opts)).to.throw(RangeError);
  });

  it('draws uniformly from the whole window (full jitter)', () => {
    expect(backoffDelay(3, opts, () => 0)).to.equal(0);
    expect(backoffDelay(3, opts, () => 0.5)).to.equal(200);
    expect(backoffDelay(3, opts, () => 0.999999)).to.equal(399);
    expect(backoffDelay(9, opts, () => 0.25)).to.equal(250);
  });

  it('stays within [0, min(cap, base * 2^(n-1))] for any random value', () => {
    let seed = 42;
    // A small deterministic LCG: the property must hold for every draw, not a lucky one.
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let attempt = 1; attempt <= 40; attempt++) {
      for (let i = 0; i < 200; i++) {
        const d = backoffDelay(attempt, opts, random);
        expect(d).to.be.within(0, Math.min(1000, 100 * 2 ** (attempt - 1)));
        expect(Number.isInteger(d)).to.equal(true);
      }
    }
  });

  it('rejects a random source outside [0, 1)', () => {
    expect(() => backoffDelay(1, opts, () => 1)).to.throw(RangeError);
    expect(() => backoffDelay(1, opts, () => -0.1)).to.throw(RangeError);
    expect(() => backoffDelay(1, opts, () => NaN)).to.throw(RangeError);
  });

  it('classifies closes: blocked, token_revoked and what the client should never resend are terminal', () => {
    expect(closeAction(1008, 'blocked')).to.equal('stop');
    expect(closeAction(1008, 'token_revoked')).to.equal('stop');
    expect(closeAction(1003, 'binary frames are not accepted')).to.equal('stop');
    expect(closeAction(1007, '')).to.equal('stop');
    expect(closeAction(1009, '')).to.equal('stop');
    expect(closeAction(1008, 'token_expired')).to.equal('reconnect_soon');
    expect(closeAction(1012, 'restart')).to.equal('reconnect_soon');
    expect(closeAction(1013, 'slow_consumer')).to.equal('reconnect_soon');
    expect(closeAction(1001, 'going_away')).to.equal('reconnect_soon');
    expect(closeAction(1006, '')).to.equal('reconnect_backoff');
    expect(closeAction(1011, 'internal')).to.equal('reconnect_backoff');
    expect(closeAction(1008, 'policy')).to.equal('reconnect_backoff');
    expect(handshakeAction(403)).to.equal('stop');
    expect(handshakeAction(400)).to.equal('stop');
    expect(handshakeAction(404)).to.equal('stop');
    expect(handshakeAction(401)).to.equal('reconnect_backoff');
    expect(handshakeAction(429)).to.equal('reconnect_backoff');
    expect(handshakeAction(503)).to.equal('reconnect_backoff');
    expect(handshakeAction(502)).to.equal('reconnect_backoff');
  });
});
