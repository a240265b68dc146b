import { expect } from 'chai';
import { refreshDelay, tokenExpiry } from '@securechat/sdk';
import { fakeJwt } from './fake-chat-server';

describe('sdk token expiry', () => {
  it('reads exp from the payload without verifying', () => {
    expect(tokenExpiry(fakeJwt({ sub: 'ann', exp: 1234 }))).to.equal(1234);
  });

  it('gives undefined for anything that is not a JWT with a numeric exp', () => {
    expect(tokenExpiry('opaque')).to.equal(undefined);
    expect(tokenExpiry('a.b.c')).to.equal(undefined);
    expect(tokenExpiry(fakeJwt({ sub: 'ann' }))).to.equal(undefined);
    const stringExp = `x.${Buffer.from('{"exp":"99"}').toString('base64url')}.y`;
    expect(tokenExpiry(stringExp)).to.equal(undefined);
    expect(tokenExpiry(`x.${Buffer.from('null').toString('base64url')}.y`)).to.equal(undefined);
  });

  it('refreshes ahead of expiry but never before half the remaining life', () => {
    const now = 1_000_000;
    expect(refreshDelay(now / 1000 + 900, now, 60_000)).to.equal(840_000);
    expect(refreshDelay(now / 1000 + 5, now, 60_000)).to.equal(2_500);
    expect(refreshDelay(now / 1000 - 1, now, 60_000)).to.equal(0);
  });
});
