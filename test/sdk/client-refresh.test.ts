import { once } from 'node:events';
import { expect } from 'chai';
import { tokenExpiry } from '@securechat/sdk';
import type { FakeConnection } from './fake-chat-server';
import { Fixture, next, record, TokenSource } from './fixture';
import { ManualClock } from './manual-clock';

describe('sdk client token refresh', () => {
  const fx = new Fixture();
  afterEach(() => fx.cleanup());

  it('refreshes on the live connection refreshAheadMs before expiry, again and again', async () => {
    const clock = new ManualClock();
    const server = await fx.server();
    const tokens = new TokenSource('ann', 900, () => clock.now());
    const client = fx.client({
      url: server.url,
      clock,
      getToken: tokens.getToken,
      refreshAheadMs: 60_000,
    });
    await Promise.all([client.connect(), once(server, 'connection')]);
    expect(clock.pendingDelays(), 'one timer: 900 s - 60 s').to.deep.equal([840_000]);

    clock.advance(839_999);
    expect(tokens.issued, 'not yet').to.have.length(1);

    for (const round of [1, 2]) {
      const refreshed = next(client, 'token_refreshed');
      const seen = once(server, 'refresh') as Promise<[FakeConnection, string]>;
      clock.advance(round === 1 ? 1 : 840_000);
      const [[exp], [, token]] = await Promise.all([refreshed, seen]);
      expect(tokens.issued).to.have.length(round + 1);
      expect(token, 'the new token, on the same connection').to.equal(tokens.issued[round]);
      expect(exp).to.equal(tokenExpiry(token));
      expect(server.connections).to.have.length(1);
      expect(clock.pendingDelays(), 'the next refresh is scheduled from the new token').to.deep.equal([
        840_000,
      ]);
    }
  });

  it('does not send a token that expires no later than the current one', async () => {
    const clock = new ManualClock();
    const server = await fx.server();
    const stale = new TokenSource('ann', 900, () => clock.now());
    const token = await stale.getToken();
    const client = fx.client({ url: server.url, clock, getToken: () => Promise.resolve(token) });
    const errors = record(client, 'error');
    await Promise.all([client.connect(), once(server, 'connection')]);
    const error = next(client, 'error');
    clock.advance(840_000);
    const [err] = await error;
    expect(err.code).to.equal('token_unavailable');
    expect(server.framesOf('refresh_token')).to.have.length(0);
    expect(errors).to.have.length(1);
    expect(clock.pendingDelays(), 'no refresh loop').to.deep.equal([]);
  });

  it('refreshes a short-lived token at half its life, not in a loop', async () => {
    const clock = new ManualClock();
    const server = await fx.server();
    const tokens = new TokenSource('ann', 5, () => clock.now());
    const client = fx.client({ url: server.url, clock, getToken: tokens.getToken, refreshAheadMs: 60_000 });
    await Promise.all([client.connect(), once(server, 'connection')]);
    expect(clock.pendingDelays()).to.deep.equal([2_500]);
    const refreshed = next(client, 'token_refreshed');
    clock.advance(2_500);
    await refreshed;
    expect(tokens.issued).to.have.length(2);
  });

  it('does nothing with tokenRefresh off or a token without exp', async () => {
    const clock = new ManualClock();
    const server = await fx.server();
    const off = fx.client({ url: server.url, clock, tokenRefresh: false });
    await off.connect();
    const opaque = fx.client({ url: server.url, clock, getToken: () => Promise.resolve('opaque-token') });
    await opaque.connect();
    expect(clock.pendingDelays()).to.deep.equal([]);
  });
});
