import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { keySchema } from '@securechat/common';
import { ChatCluster } from '../support/chat-cluster';
import { startChatNode, writeJwks } from '../support/processes';
import { RedisServer, uniquePrefix } from '../support/redis-server';
import { KEYSPACE_ARGS, TestSentinel } from '../support/sentinel-group';
import { connect } from '../support/ws-client';

/** `npm run start:chat` (its compiled main) on each Redis mode it is started with. */
describe('a chat node process on its Redis @redis', function () {
  this.timeout(60_000);

  it('enables keyspace events on a Redis started without them: a redis-cli SET of a block closes a session within 2 s', async () => {
    const redis = await RedisServer.start();
    // tokens only: no node of this cluster runs
    const cluster = new ChatCluster(redis);
    const prefix = uniquePrefix('ks');
    const child = await startChatNode({
      REDIS_URL: redis.url,
      REDIS_PREFIX: prefix,
      JWT_PUBLIC_KEYS_FILE: writeJwks([cluster.key]),
      ALLOW_MISSING_ORIGIN: 'true',
      NODE_ID: 'proc-keyspace',
    });
    try {
      const client = await connect(child.wsUrl, { token: cluster.token('mallory'), origin: null });
      execFileSync('redis-cli', [
        '-p',
        String(redis.port),
        'SET',
        keySchema(prefix).blocked('mallory'),
        'operator',
        'EX',
        '60',
      ]);
      // the contract's 2 s, as the deadline of the wait
      expect(await client.waitClose(2000)).to.deep.equal({ code: 1008, reason: 'blocked' });
      expect(child.proc.logLines().some((l) => l.message === 'enabled keyspace events')).to.equal(true);
    } finally {
      await child.stop();
      await cluster.stop();
      await redis.destroy();
    }
  });

  it('runs on a Sentinel group given REDIS_SENTINELS and REDIS_SENTINEL_NAME: ready, and delivering', async () => {
    const sentinel = await TestSentinel.start({ args: KEYSPACE_ARGS, sentinelPassword: true });
    const cluster = new ChatCluster(sentinel);
    try {
      const jwks = writeJwks([cluster.key]);
      // startChatNode resolves once /readyz answers 200: the delivery probe came back
      const nodes = await Promise.all(
        ['proc-s1', 'proc-s2'].map((id) =>
          startChatNode({
            ...sentinel.env(),
            REDIS_PREFIX: cluster.prefix,
            JWT_PUBLIC_KEYS_FILE: jwks,
            ALLOW_MISSING_ORIGIN: 'true',
            NODE_ID: id,
          }),
        ),
      );
      try {
        const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
        const alice = await connect(a.wsUrl, { token: cluster.token('alice'), origin: null });
        const bob = await connect(b.wsUrl, { token: cluster.token('bob'), origin: null });
        await alice.join('across');
        await bob.join('across');
        const ack = await alice.request({ type: 'send', room: 'across', text: 'through the master' });
        expect(ack.type).to.equal('ack');
        await bob.next((f) => f.type === 'message' && f.id === ack.id);
        await Promise.all([alice.close(), bob.close()]);
      } finally {
        await Promise.all(nodes.map((n) => n.stop()));
      }
    } finally {
      await cluster.stop();
      await sentinel.destroy();
    }
  });
});
