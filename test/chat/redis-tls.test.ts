import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis, type Cluster } from 'ioredis';
import type { RedisLike } from '@securechat/common';
import {
  ensureCertificate,
  RedisServer as ManagedRedis,
  type RedisCluster,
  type RedisTlsFiles,
} from '@securechat/cluster';
import { ChatCluster, type RedisBackend } from '../support/chat-cluster';
import { ENTRIES, runScript, startChatNode, writeJwks } from '../support/processes';
import { clusterBackend, startRedisCluster } from '../support/redis-cluster';
import { KEYSPACE_ARGS, TestSentinel } from '../support/sentinel-group';
import { connect, type TestClient } from '../support/ws-client';

/** A node to connect to: a process node takes no Origin, an in-process one its own (the default). */
interface Endpoint {
  url: string;
  origin?: null;
}

/** alice on one node, bob on another: a message crosses, a block set over TLS closes bob in 2 s. */
async function crossAndBlock(
  cluster: ChatCluster<RedisLike>,
  a: Endpoint,
  b: Endpoint,
  room: string,
): Promise<void> {
  const alice = await connect(a.url, { token: cluster.token(`${room}-alice`), origin: a.origin });
  const bob = await connect(b.url, { token: cluster.token(`${room}-bob`), origin: b.origin });
  await alice.join(room);
  await bob.join(room);
  await sendAndReceive(alice, bob, room, 'over tls');
  // the history is on the server, which the test's admin reads over TLS too
  const stored = await cluster.admin.xrange(cluster.keys.roomLog(room), '-', '+');
  expect(stored.map(([, fields]) => fields[fields.indexOf('text') + 1])).to.include('over tls');
  // keyspace events reach the nodes' keyevent subscriber over TLS: the 2-second block
  await cluster.admin.set(cluster.keys.blocked(`${room}-bob`), 'operator', 'EX', 60);
  expect(await bob.waitClose(2000)).to.deep.equal({ code: 1008, reason: 'blocked' });
  await alice.close();
}

async function sendAndReceive(from: TestClient, to: TestClient, room: string, text: string): Promise<void> {
  const ack = await from.request({ type: 'send', room, text });
  expect(ack.type, JSON.stringify(ack)).to.equal('ack');
  expect(await to.next((f) => f.type === 'message' && f.id === ack.id)).to.include({ text });
}

/**
 * Redis over TLS in the modes that take it: servers that speak only TLS, with a
 * certificate of a private CA that the nodes are given by REDIS_TLS_CA_FILE or, for a
 * whole process, NODE_EXTRA_CA_CERTS (docs/DEPLOY.md). The certificate is verified: a
 * node that does not trust it never listens.
 */
describe('chat nodes on Redis over TLS @redis', function () {
  this.timeout(60_000);
  let dir: string;
  let tls: RedisTlsFiles;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'securechat-redis-tls-'));
    const made = await ensureCertificate(join(dir, 'tls'));
    // self-signed: the certificate is its own CA
    tls = { cert: made.cert, key: made.key, ca: made.cert };
  });
  after(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  describe('one server (rediss://)', () => {
    let redis: ManagedRedis;
    let cluster: ChatCluster;
    let jwks: string;

    before(async () => {
      redis = await ManagedRedis.start({
        env: { PATH: process.env.PATH },
        tls,
        args: ['--notify-keyspace-events', 'E$gx'],
      });
      expect(redis.url).to.match(/^rediss:\/\//);
      const backend: RedisBackend = {
        nodeEnv: () => ({ REDIS_URL: redis.url, REDIS_TLS_CA_FILE: tls.ca }),
        adminClient: () => new Redis(redis.url, { tls: { ca: readFileSync(tls.ca) } }),
      };
      cluster = new ChatCluster(backend);
      jwks = writeJwks([cluster.key]);
    });
    after(async () => {
      await cluster?.stop();
      await redis?.destroy();
    });

    /** A node process that trusts the CA through NODE_EXTRA_CA_CERTS (or not at all). */
    const processEnv = (id: string, trust: boolean) => ({
      REDIS_URL: redis.url,
      REDIS_PREFIX: cluster.prefix,
      JWT_PUBLIC_KEYS_FILE: jwks,
      ALLOW_MISSING_ORIGIN: 'true',
      NODE_ID: id,
      ...(trust ? { NODE_EXTRA_CA_CERTS: tls.ca } : {}),
    });

    it('delivers between a node trusting the CA by REDIS_TLS_CA_FILE and one by NODE_EXTRA_CA_CERTS', async () => {
      const inProcess = await cluster.startNode('tls-file');
      // startChatNode resolves once /readyz answers 200: its delivery probe came back over TLS
      const child = await startChatNode(processEnv('tls-extra-ca', true));
      try {
        await crossAndBlock(cluster, { url: child.wsUrl, origin: null }, { url: inProcess.url }, 'sealed');
      } finally {
        await child.stop();
      }
    });

    it('does not trust a certificate it was not given: the node says why and stops, never listening', async () => {
      const proc = runScript(ENTRIES.chat, {
        ...processEnv('tls-untrusting', false),
        PORT: '0',
        METRICS_PORT: '0',
        HOST: '127.0.0.1',
      });
      try {
        // it waits 10 s for its subscriber, then gives up
        const exit = await proc.exitWithin(20_000);
        expect(exit.code).to.not.equal(0);
        const errors = proc.logLines().filter((l) => l.message === 'redis error');
        expect(errors.map((l) => l.err)).to.include('self-signed certificate');
        expect(proc.text()).not.to.include('chat node listening');
      } finally {
        await proc.stop('SIGKILL', 1000);
      }
    });
  });

  describe('a Sentinel group (REDIS_TLS=true): sentinels and data nodes over TLS', () => {
    let sentinel: TestSentinel;
    let cluster: ChatCluster;

    before(async () => {
      sentinel = await TestSentinel.start({ args: KEYSPACE_ARGS, tls, sentinelPassword: true });
      cluster = new ChatCluster(sentinel);
    });
    after(async () => {
      await cluster?.stop();
      await sentinel?.destroy();
    });

    it('delivers across nodes, follows a failover, and enforces a block, all over TLS', async () => {
      expect(sentinel.nodeEnv()).to.include({ REDIS_TLS: 'true', REDIS_TLS_CA_FILE: tls.ca });
      const a = await cluster.startNode('stls-1');
      const b = await cluster.startNode('stls-2');
      const alice = await connect(a.url, { token: cluster.token('alice') });
      const bob = await connect(b.url, { token: cluster.token('bob') });
      await alice.join('switch');
      await bob.join('switch');
      await sendAndReceive(alice, bob, 'switch', 'before');
      const { from, to } = await sentinel.group.failover();
      expect(to).not.to.equal(from);
      // the nodes find the new master through the sentinels, over TLS
      await sendAndReceiveEventually(alice, bob, 'switch', 'after');
      await Promise.all([alice.close(), bob.close()]);
      await crossAndBlock(cluster, { url: a.url }, { url: b.url }, 'sentinel-sealed');
    });
  });

  describe('a Redis Cluster (REDIS_TLS=true): TLS to every master and on the cluster bus', () => {
    let redis: RedisCluster;
    let cluster: ChatCluster<Cluster>;

    before(async () => {
      redis = await startRedisCluster({ tls, args: KEYSPACE_ARGS });
      cluster = new ChatCluster(clusterBackend(redis, tls));
    });
    after(async () => {
      await cluster?.stop();
      await redis?.destroy();
    });

    it('is ready (every shard probed), delivers across nodes and enforces a block, all over TLS', async () => {
      const a = await cluster.startNode('ctls-1');
      const b = await cluster.startNode('ctls-2');
      // ready: a probe came back through every master's sharded subscription, over TLS
      expect(await a.readyz()).to.equal(200);
      expect(await b.readyz()).to.equal(200);
      await crossAndBlock(cluster, { url: a.url }, { url: b.url }, 'cluster-sealed');
    });
  });
});

/** Sends until one is acked (sends fail while the master switches), then checks it arrives. */
async function sendAndReceiveEventually(from: TestClient, to: TestClient, room: string, text: string) {
  for (let attempt = 0; attempt < 50; attempt++) {
    const ack = await from.request({ type: 'send', room, text: `${text}-${attempt}` });
    if (ack.type === 'ack') {
      expect(await to.next((f) => f.type === 'message' && f.id === ack.id, 10_000)).to.include({
        text: `${text}-${attempt}`,
      });
      return;
    }
    await new Promise<void>((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('no send was acked after the failover');
}
