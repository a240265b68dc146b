import { expect } from 'chai';
import { loadConfig } from '@securechat/common';
import {
  ACCOUNT_POLICY,
  accountDelayMs,
  authLimits,
  MemoryAccountThrottle,
  type AuthLimits,
} from '@securechat/state';

const limits: AuthLimits = {
  ...authLimits(loadConfig({}, 'embedded')),
  accountFreeFailures: 3,
  accountMaxDelayS: 10,
};

describe('the account throttle (docs/AUTH.md)', () => {
  it('delays nothing for the free attempts, then 1 s doubling up to the cap', () => {
    const delays = Array.from({ length: 9 }, (_, i) => accountDelayMs(i + 1, limits));
    expect(delays).to.deep.equal([0, 0, 0, 1000, 2000, 4000, 8000, 10_000, 10_000]);
    expect(accountDelayMs(10_000, limits)).to.equal(10_000);
  });

  it('makes each attempt from an unknown network wait for the previous delay, on its clock', async () => {
    let now = 1_000_000;
    const throttle = new MemoryAccountThrottle(limits, () => now);
    for (let i = 0; i < 4; i++)
      expect(await throttle.attempt('ann', `10.0.0.${i}`)).to.deep.equal({ allowed: true });
    expect(await throttle.attempt('ann', '10.0.1.1')).to.deep.equal({ allowed: false, retryAfterMs: 1000 });
    now += 999;
    expect(await throttle.attempt('ann', '10.0.1.1')).to.deep.equal({ allowed: false, retryAfterMs: 1 });
    now += 1;
    expect(await throttle.attempt('ann', '10.0.1.1')).to.deep.equal({ allowed: true });
    expect(await throttle.attempt('ann', '10.0.1.2')).to.deep.equal({ allowed: false, retryAfterMs: 2000 });
    // a refused attempt does not advance the count: the next delay is still 2 s, then 4 s
    now += 2000;
    expect(await throttle.attempt('ann', '10.0.1.2')).to.deep.equal({ allowed: true });
    expect(await throttle.attempt('ann', '10.0.1.3')).to.deep.equal({ allowed: false, retryAfterMs: 4000 });
  });

  it('exempts networks that logged in; gives a success back; forgets the count after a quiet day', async () => {
    let now = 5_000_000;
    const throttle = new MemoryAccountThrottle(limits, () => now);
    expect(await throttle.attempt('bea', '10.1.0.1')).to.deep.equal({ allowed: true });
    await throttle.remember('bea', '10.1.0.1');
    // three more are still free: the success was given back
    for (let i = 0; i < 3; i++)
      expect(await throttle.attempt('bea', `10.2.0.${i}`)).to.deep.equal({ allowed: true });
    expect(await throttle.attempt('bea', '10.2.1.1')).to.deep.equal({ allowed: true });
    expect((await throttle.attempt('bea', '10.2.1.2')).allowed).to.equal(false);
    expect(await throttle.attempt('bea', '10.1.0.1')).to.deep.equal({ allowed: true });
    now += ACCOUNT_POLICY.countLifetimeMs;
    for (let i = 0; i < 4; i++)
      expect(await throttle.attempt('bea', `10.3.0.${i}`)).to.deep.equal({ allowed: true });
  });

  it('keeps the newest known networks for their lifetime', async () => {
    let now = 9_000_000;
    const throttle = new MemoryAccountThrottle(
      { ...limits, accountFreeFailures: 1, accountMaxDelayS: 3600 },
      () => now,
    );
    for (let i = 0; i <= ACCOUNT_POLICY.maxKnownNetworks; i++) await throttle.remember('cy', `10.4.0.${i}`);
    // the account is in its delay: only known networks get through
    await throttle.attempt('cy', '10.5.0.1');
    await throttle.attempt('cy', '10.5.0.2');
    expect((await throttle.attempt('cy', '10.5.0.3')).allowed).to.equal(false);
    expect((await throttle.attempt('cy', '10.4.0.0')).allowed, 'the oldest was dropped').to.equal(false);
    expect(await throttle.attempt('cy', `10.4.0.${ACCOUNT_POLICY.maxKnownNetworks}`)).to.deep.equal({
      allowed: true,
    });
    now += ACCOUNT_POLICY.knownNetworkTtlMs;
    await throttle.attempt('cy', '10.5.0.4');
    await throttle.attempt('cy', '10.5.0.5');
    expect((await throttle.attempt('cy', `10.4.0.${ACCOUNT_POLICY.maxKnownNetworks}`)).allowed).to.equal(
      false,
    );
  });
});
