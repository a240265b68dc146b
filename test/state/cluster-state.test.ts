import { expect } from 'chai';
import type { Cluster } from 'ioredis';
import { hashSlot, keySchema, loadConfig, type KeySchema, type Logger } from '@securechat/common';
import type { RedisCluster } from '@securechat/cluster';
import {
  authLimits,
  createRedisAuthState,
  createRedisChatState,
  NotReplicatedError,
  StateUnavailableError,
  type AuthLimits,
  type AuthState,
  type ChatState,
  type EnforcementEvent,
  type RedisClusterEnforcementFeed,
} from '@securechat/state';
import { memoryLogger } from '../support/logs';
import { clusterClient, clusterReady, startRedisCluster } from '../support/redis-cluster';
import { uniquePrefix } from '../support/redis-server';
import { waitFor } from '../support/wait';
import { authStateContract } from './auth-state.contract';
import { chatStateContract } from './chat-state.contract';

const historyMaxLen = 120;
const options = (nodeId: string) => ({ nodeId, presenceTtlMs: 10_000, historyMaxLen });
const GENEROUS = { max: 1_000_000, windowMs: 60_000, blockAfterViolations: 1_000_000, blockDurationS: 60 };
const limits: AuthLimits = {
  ...authLimits(loadConfig({}, 'embedded')),
  maxConsecutiveFailures: 3,
  maxFailuresPerAddressPerDay: 5,
  accountFreeFailures: 4,
  accountMaxDelayS: 60,
  registerMaxPerAddressPerHour: 2,
  registerMaxPerAddressPerDay: 3,
};

/** A name whose key `make(name)` hashes to a slot held by each master in turn. */
async function namesOnEveryMaster(
  cluster: RedisCluster,
  client: Cluster,
  make: (name: string) => string,
): Promise<Map<number, string>> {
  const masters = await cluster.masters();
  const found = new Map<number, string>();
  for (let i = 0; found.size < masters.length && i < 1000; i++) {
    const name = `user${i}`;
    const slot = Number(await client.cluster('KEYSLOT', make(name)));
    const master = masters.find((m) => m.slots.some(([a, b]) => slot >= a && slot <= b));
    if (master !== undefined && !found.has(master.port)) found.set(master.port, name);
  }
  expect(found.size).to.equal(masters.length);
  return found;
}

describe('state on a real Redis Cluster (3 masters, 3 replicas) @redis', function () {
  this.timeout(60_000);
  let cluster: RedisCluster;
  let logger: Logger;
  let clients: Cluster[] = [];
  let states: ChatState[] = [];

  before(async () => {
    cluster = await startRedisCluster();
    logger = memoryLogger().logger;
  });
  after(async () => {
    await cluster?.destroy();
  });

  function client(subscriber = false): Cluster {
    const c = clusterClient(cluster, { subscriber });
    clients.push(c);
    return c;
  }

  async function node(keys: KeySchema, id: string): Promise<ChatState> {
    const redis = client();
    await clusterReady(redis);
    const state = createRedisChatState(redis, client(true), keys, options(id), logger);
    await state.broker.start();
    states.push(state);
    return state;
  }

  async function cleanup(): Promise<void> {
    await Promise.all(states.map((s) => s.close()));
    for (const c of clients) c.disconnect();
    states = [];
    clients = [];
  }

  chatStateContract(
    'redis cluster',
    async () => {
      const keys = keySchema(uniquePrefix(), 'cluster');
      return { a: await node(keys, 'a'), b: await node(keys, 'b'), historyMaxLen };
    },
    cleanup,
  );

  let auth: AuthState | undefined;
  authStateContract(
    'redis cluster',
    async () => {
      const redis = client();
      await clusterReady(redis);
      auth = createRedisAuthState(redis, keySchema(uniquePrefix(), 'cluster'), limits);
      return auth;
    },
    async () => {
      await auth?.close();
      await cleanup();
    },
    { orderedWindows: false },
  );

  describe('the cluster layout', () => {
    afterEach(cleanup);

    it('tags every key of a room and of a user, so that each script stays in one slot', async () => {
      const prefix = uniquePrefix();
      const keys = keySchema(prefix, 'cluster');
      expect(keys.roomLog('general')).to.equal(`${prefix}room:{general}:log`);
      expect(keys.roomChannel('general')).to.equal(`${prefix}room:{general}:ch`);
      expect(keys.blocked('alice')).to.equal(`${prefix}blocked:{alice}`);
      expect(keys.revoked('jti-1')).to.equal(`${prefix}revoked:jti-1`);
      expect(keys.blockedUser(`${prefix}blocked:{alice}`)).to.equal('alice');
      expect(keys.blockedUser(`${prefix}blocked:alice`)).to.equal(undefined);
      const single = keySchema(prefix);
      expect(single.roomLog('general')).to.equal(`${prefix}room:general:log`);
      expect(single.blocked('alice')).to.equal(`${prefix}blocked:alice`);
      expect(() => keySchema('{x}:', 'cluster')).to.throw(/REDIS_PREFIX/);
      const redis = client();
      await clusterReady(redis);
      const slot = (key: string) => redis.cluster('KEYSLOT', key);
      expect(await slot(keys.presence('general'))).to.equal(await slot(keys.roomLog('general')));
      expect(await slot(keys.rateWindow('alice'))).to.equal(await slot(keys.blocked('alice')));
      expect(await slot(keys.userChannel('alice'))).to.equal(await slot(keys.inboxRead('alice')));
      // hashSlot computes what Redis computes, tag or no tag.
      for (const key of [
        keys.roomLog('general'),
        keys.revoked('jti-1'),
        keys.control,
        'plain',
        '{}x',
        'a{}{b}',
      ]) {
        expect(hashSlot(key), key).to.equal(await slot(key));
      }
    });

    it('gives the rate slot back when the message cannot be stored, and refuses the send', async () => {
      const keys = keySchema(uniquePrefix(), 'cluster');
      const state = await node(keys, 'a');
      const redis = client();
      await clusterReady(redis);
      // A key of the wrong type where the room's stream belongs: XADD fails (WRONGTYPE).
      await redis.set(keys.roomLog('broken'), 'not a stream');
      const tight = { ...GENEROUS, max: 2 };
      let failure: unknown;
      await state.broker.publishLimited('broken', 'alice', 'lost', tight).catch((err: unknown) => {
        failure = err;
      });
      expect(failure).to.be.instanceOf(StateUnavailableError);
      expect(await redis.llen(keys.rateWindow('alice'))).to.equal(0);
      // The two slots of the limit are both still there.
      for (const text of ['one', 'two']) {
        expect((await state.broker.publishLimited('fine', 'alice', text, tight)).published).to.not.equal(
          undefined,
        );
      }
      expect((await state.broker.publishLimited('fine', 'alice', 'three', tight)).refused).to.not.equal(
        undefined,
      );
    });

    it('renews the sessions of users on every master in one heartbeat, and presence across them', async () => {
      const keys = keySchema(uniquePrefix(), 'cluster');
      const state = await node(keys, 'a');
      const redis = client();
      await clusterReady(redis);
      const users = [...(await namesOnEveryMaster(cluster, redis, (u) => keys.connections(u))).values()];
      for (const user of users) expect(await state.registry.acquire(user, `s-${user}`, 5)).to.equal(true);
      const before = await Promise.all(users.map((u) => redis.zscore(keys.connections(u), `s-${u}`)));
      await waitFor(() => Date.now() > Number(before[0]) - 10_000 + 5, { what: 'the clock to move' });
      await state.registry.heartbeat(users.map((user) => ({ user, session: `s-${user}` })));
      const after = await Promise.all(users.map((u) => redis.zscore(keys.connections(u), `s-${u}`)));
      after.forEach((score, i) => expect(Number(score)).to.be.above(Number(before[i])));
      const rooms = [...(await namesOnEveryMaster(cluster, redis, (r) => keys.presence(r))).values()];
      await state.presence.heartbeat(rooms.map((room, i) => ({ room, user: users[i] as string })));
    });

    it('hears blocks and revocations made with plain commands on every master, and after a failover', async () => {
      const keys = keySchema(uniquePrefix(), 'cluster');
      const state = await node(keys, 'a');
      const events: EnforcementEvent[] = [];
      state.enforcement.onEvent((event) => events.push(event));
      await state.enforcement.start();
      const redis = client();
      await clusterReady(redis);
      const users = await namesOnEveryMaster(cluster, redis, (u) => keys.blocked(u));
      // What `redis-cli -c SET <prefix>blocked:{<user>} reason EX 60` does.
      for (const user of users.values()) await redis.set(keys.blocked(user), 'ops', 'EX', 60);
      await waitFor(() => events.filter((e) => e.kind === 'blocked').length === users.size, {
        what: 'a block event from every master',
        timeoutMs: 2000,
      });
      expect(events.map((e) => (e.kind === 'blocked' ? e.user : '')).sort()).to.deep.equal(
        [...users.values()].sort(),
      );
      await redis.set(keys.revoked('jti-0001'), 'ops', 'EX', 60);
      await redis.del(keys.blocked([...users.values()][0] as string));
      await waitFor(
        () =>
          events.some((e) => e.kind === 'revoked' && e.jti === 'jti-0001') &&
          events.some((e) => e.kind === 'unblocked'),
        { what: 'a revocation and an unblock', timeoutMs: 2000 },
      );

      // Kill the master of one user's slot: its replica takes over, and the feed follows it.
      const [port, user] = [...users.entries()][1] as [number, string];
      const slot = Number(await redis.cluster('KEYSLOT', keys.blocked(user)));
      await cluster.server(port).stop(true);
      const promoted = await waitFor(
        async () => {
          const m = await cluster.masterOf(slot).catch(() => undefined);
          return m !== undefined && m.port !== port ? m : undefined;
        },
        { what: 'the replica promoted', timeoutMs: 20_000, intervalMs: 100 },
      );
      // The node follows the new master from its next slots refresh (every second here).
      const feed = state.enforcement as RedisClusterEnforcementFeed;
      await waitFor(() => feed.followed.includes(`127.0.0.1:${promoted.port}`), {
        what: 'the feed following the promoted master',
        timeoutMs: 10_000,
      });
      await waitFor(
        async () => (await redis.set(keys.blocked(user), 'again', 'EX', 60).catch(() => null)) === 'OK',
        { what: 'a write to the promoted master', timeoutMs: 10_000, intervalMs: 100 },
      );
      await waitFor(() => events.filter((e) => e.kind === 'blocked' && e.user === user).length === 2, {
        what: `the block from the promoted master :${promoted.port}`,
        timeoutMs: 2000,
      });
      await state.enforcement.close();
    });
    // After the failover above, the promoted master has no replica; the others have one.
    it('with REDIS_WAIT_REPLICAS, an ack waits on the master of its room: refused where that master has no replica', async () => {
      const keys = keySchema(uniquePrefix(), 'cluster');
      const redis = client();
      await clusterReady(redis);
      const nodes = (await cluster.nodes()).filter((n) => !n.failed);
      const replicaCount = (id: string) =>
        nodes.filter((n) => n.role === 'replica' && n.masterId === id).length;
      const rooms = await namesOnEveryMaster(cluster, redis, (r) => keys.roomLog(r));
      const masters = await cluster.masters();
      const lone = masters.find((m) => replicaCount(m.id) === 0);
      const paired = masters.find((m) => replicaCount(m.id) === 1);
      expect(lone, 'a master without a replica').to.not.equal(undefined);
      expect(paired, 'a master with a replica').to.not.equal(undefined);
      const r = client();
      await clusterReady(r);
      const state = createRedisChatState(r, client(true), keys, { ...options('w'), waitReplicas: 1 }, logger);
      await state.broker.start();
      states.push(state);
      const sent = await state.broker.publishLimited(
        rooms.get(paired?.port as number) as string,
        'al',
        'kept',
        GENEROUS,
      );
      expect(sent.published).to.not.equal(undefined);
      let failure: unknown;
      await state.broker
        .publishLimited(rooms.get(lone?.port as number) as string, 'al', 'unsure', GENEROUS)
        .catch((err: unknown) => {
          failure = err;
        });
      expect(failure).to.be.instanceOf(NotReplicatedError);
    });
  });
});
