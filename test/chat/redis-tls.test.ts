import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { ensureCertificate, freePort, RedisServer as ManagedRedis } from '@securechat/cluster';
import { ChatCluster, type RedisBackend } from '../support/chat-cluster';
import { ENTRIES, runScript, startChatNode, writeJwks } from '../support/processes';
import { connect } from '../support/ws-client';

/**
 * `rediss://`: chat node processes on a redis-server that speaks only TLS, with a
 * certificate of a private CA that the nodes trust through NODE_EXTRA_CA_CERTS (what
 * docs/DEPLOY.md tells operators). The certificate is verified: a node that does not
 * trust it never becomes ready.
 */
describe('chat nodes on Redis over TLS @redis', function () {
  this.timeout(60_000);
  let dir: string;
  let ca: string;
  let redis: ManagedRedis;
  let cluster: ChatCluster;
  let jwks: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'securechat-redis-tls-'));
    const tls = await ensureCertificate(join(dir, 'tls'));
    ca = tls.cert;
    const port = await freePort();
    redis = await ManagedRedis.start({
      env: { PATH: process.env.PATH },
      pickPort: () => Promise.resolve(port),
      // TLS only: the plain port is off.
      args: [
        '--port',
        '0',
        '--tls-port',
        String(port),
        '--tls-cert-file',
        tls.cert,
        '--tls-key-file',
        tls.key,
        '--tls-ca-cert-file',
        tls.cert,
        '--tls-auth-clients',
        'no',
        '--notify-keyspace-events',
        'E$gx',
      ],
    });
    const backend: RedisBackend = {
      nodeEnv: () => ({ REDIS_URL: `rediss://127.0.0.1:${port}` }),
      adminClient: () => new Redis({ host: '127.0.0.1', port, tls: { ca: readFileSync(ca) } }),
    };
    cluster = new ChatCluster(backend);
    jwks = writeJwks([cluster.key]);
  });
  after(async () => {
    await cluster?.stop();
    await redis?.destroy();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  const env = (id: string, extra: Record<string, string> = {}) => ({
    ...cluster.redis.nodeEnv(),
    REDIS_PREFIX: cluster.prefix,
    JWT_PUBLIC_KEYS_FILE: jwks,
    ALLOW_MISSING_ORIGIN: 'true',
    NODE_ID: id,
    NODE_EXTRA_CA_CERTS: ca,
    ...extra,
  });

  it('delivers across two nodes and enforces a block set on the server, all over TLS', async () => {
    // startChatNode resolves once /readyz answers 200: its delivery probe came back over TLS
    const nodes = await Promise.all([startChatNode(env('tls-1')), startChatNode(env('tls-2'))]);
    try {
      const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
      const alice = await connect(a.wsUrl, { token: cluster.token('alice'), origin: null });
      const bob = await connect(b.wsUrl, { token: cluster.token('bob'), origin: null });
      await alice.join('sealed');
      await bob.join('sealed');
      const ack = await alice.request({ type: 'send', room: 'sealed', text: 'over tls' });
      expect(ack.type, JSON.stringify(ack)).to.equal('ack');
      expect(await bob.next((f) => f.type === 'message' && f.id === ack.id)).to.include({ text: 'over tls' });
      // the history is on the server the admin reads over TLS too
      const stored = await cluster.admin.xrange(cluster.keys.roomLog('sealed'), '-', '+');
      expect(stored.map(([id]) => id)).to.deep.equal([ack.id]);
      // keyspace events reach the nodes' keyevent subscriber over TLS: the 2-second block
      await cluster.admin.set(cluster.keys.blocked('bob'), 'operator', 'EX', 60);
      expect(await bob.waitClose(2000)).to.deep.equal({ code: 1008, reason: 'blocked' });
      await alice.close();
    } finally {
      await Promise.all(nodes.map((n) => n.stop()));
    }
  });

  it('does not trust a certificate it was not given: the node says why and stops, never listening', async () => {
    const { NODE_EXTRA_CA_CERTS: _trusted, ...untrusting } = env('tls-untrusting');
    const proc = runScript(ENTRIES.chat, { ...untrusting, PORT: '0', METRICS_PORT: '0', HOST: '127.0.0.1' });
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
