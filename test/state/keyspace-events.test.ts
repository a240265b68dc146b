import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { createRedisClient, keySchema, singleTarget, waitReady } from '@securechat/common';
import { RedisEnforcementFeed, type EnforcementEvent } from '@securechat/state';
import { memoryLogger } from '../support/logs';
import { RedisServer, uniquePrefix } from '../support/redis-server';
import { waitFor } from '../support/wait';

/**
 * The enforcement feed turns on keyspace events itself on a Redis started without them,
 * even when its request-path client (no offline queue) is not connected yet when the
 * feed starts: at a node's start, and when it reconnects after the subscriber.
 */
describe('keyspace events enabled by the node @redis', function () {
  this.timeout(30_000);
  let server: RedisServer;
  before(async () => {
    server = await RedisServer.start();
  });
  after(async () => {
    await server.destroy();
  });

  it('waits for the request client, sets the flags, and a redis-cli SET of a block arrives within 2 s', async () => {
    const admin = server.adminClient();
    // as Redis starts by default: no keyspace events
    await admin.config('SET', 'notify-keyspace-events', '');
    admin.disconnect();
    const logs = memoryLogger('feed');
    const common = { target: singleTarget(server.url), commandTimeoutMs: 1000, logger: logs.logger };
    const subscriber = createRedisClient({ ...common, name: 'ks-sub', subscriber: true });
    await waitReady(subscriber);
    // Made just now, as a node's main makes it: still connecting when the feed starts.
    const redis = createRedisClient({ ...common, name: 'ks' });
    expect(redis.status).not.to.equal('ready');
    const keys = keySchema(uniquePrefix('ks'));
    const feed = new RedisEnforcementFeed({
      subscriber,
      redis,
      keys,
      logger: logs.logger,
      configureKeyspaceEvents: true,
    });
    const events: EnforcementEvent[] = [];
    feed.onEvent((e) => events.push(e));
    try {
      await feed.start();
      execFileSync('redis-cli', [
        '-p',
        String(server.port),
        'SET',
        keys.blocked('mallory'),
        'operator',
        'EX',
        '60',
      ]);
      await waitFor(() => events.some((e) => e.kind === 'blocked' && e.user === 'mallory'), {
        what: 'the block as a keyspace event',
        timeoutMs: 2000,
      });
      expect(logs.lines().some((l) => /cannot enable keyspace events/.test(String(l.message)))).to.equal(
        false,
      );
    } finally {
      await feed.close();
      redis.disconnect();
      subscriber.disconnect();
    }
  });

  it('sets them again after a restart of Redis forgot them', async () => {
    const logs = memoryLogger('feed');
    const common = { target: singleTarget(server.url), commandTimeoutMs: 1000, logger: logs.logger };
    const subscriber = createRedisClient({ ...common, name: 'ks2-sub', subscriber: true });
    const redis = createRedisClient({ ...common, name: 'ks2' });
    const keys = keySchema(uniquePrefix('ks'));
    const feed = new RedisEnforcementFeed({
      subscriber,
      redis,
      keys,
      logger: logs.logger,
      configureKeyspaceEvents: true,
    });
    const events: EnforcementEvent[] = [];
    feed.onEvent((e) => events.push(e));
    const admin = server.adminClient();
    try {
      await feed.start();
      await server.stop(true);
      await server.start();
      await waitFor(
        async () =>
          ((await admin.config('GET', 'notify-keyspace-events').catch(() => ['', ''])) as string[])[1] !== '',
        { what: 'keyspace events set again', timeoutMs: 10_000 },
      );
      await waitFor(() => subscriber.status === 'ready', { what: 'the subscriber back' });
      await waitFor(
        async () => {
          await admin.set(keys.blocked('trudy'), 'operator', 'EX', 60);
          return events.some((e) => e.kind === 'blocked' && e.user === 'trudy');
        },
        { what: 'the block as a keyspace event after the restart', timeoutMs: 5000, intervalMs: 200 },
      );
    } finally {
      admin.disconnect();
      await feed.close();
      redis.disconnect();
      subscriber.disconnect();
    }
  });
});
