import { expect } from 'chai';
import { connect } from '../support/ws-client';
import { ChatCluster } from '../support/chat-cluster';
import { startChatNode, writeJwks, type ServiceProcess } from '../support/processes';
import { RedisServer } from '../support/redis-server';
import { waitFor } from '../support/wait';

describe('chat node /healthz and /readyz while Redis stops and restarts @redis', () => {
  let redis: RedisServer;
  let cluster: ChatCluster;
  let node: ServiceProcess | undefined;
  const port = () => (node as ServiceProcess).port;

  before(async () => {
    redis = await RedisServer.start();
    cluster = new ChatCluster(redis);
    // The real entry point (services/chat/dist/main.js), so its own wiring of the endpoints is tested.
    node = await startChatNode({
      REDIS_URL: redis.url,
      REDIS_PREFIX: cluster.prefix,
      JWT_PUBLIC_KEYS_FILE: writeJwks([cluster.key]),
      ALLOW_MISSING_ORIGIN: 'true',
      NODE_ID: 'health-1',
    });
  });
  after(async () => {
    await node?.kill();
    await cluster.stop();
    await redis.destroy();
  });

  async function get(path: string): Promise<{ status: number; body: unknown; ms: number }> {
    const started = Date.now();
    const res = await fetch(`http://127.0.0.1:${port()}${path}`, { signal: AbortSignal.timeout(5000) });
    const body: unknown = await res.json();
    return { status: res.status, body, ms: Date.now() - started };
  }

  it('answers 200/200 when healthy, 503 on /readyz within about a second of Redis stopping, 200 again after', async () => {
    expect(await get('/healthz')).to.deep.include({ status: 200, body: { status: 'ok' } });
    expect(await get('/readyz')).to.deep.include({ status: 200, body: { status: 'ready' } });

    await redis.stop();
    const stopped = Date.now();
    const notReady = await waitFor(
      async () => {
        const r = await get('/readyz');
        return r.status === 503 ? r : undefined;
      },
      { what: '/readyz 503', timeoutMs: 1500, intervalMs: 50 },
    );
    expect(Date.now() - stopped).to.be.lessThan(1500);
    expect(notReady.body).to.deep.equal({ error: 'not_ready', message: 'not ready' });
    // it stays not ready and never hangs on the dead Redis; liveness does not depend on Redis
    for (let i = 0; i < 3; i++) {
      const r = await get('/readyz');
      expect(r.status).to.equal(503);
      expect(r.ms).to.be.lessThan(1500);
      expect(await get('/healthz')).to.deep.include({ status: 200, body: { status: 'ok' } });
    }

    await redis.start();
    await waitFor(async () => (await get('/readyz')).status === 200, {
      what: '/readyz 200 after the restart',
      timeoutMs: 10_000,
      intervalMs: 50,
    });
    expect(await get('/readyz')).to.deep.include({ status: 200, body: { status: 'ready' } });
    expect(await get('/healthz')).to.deep.include({ status: 200, body: { status: 'ok' } });
    // ready means ready: it takes WebSockets again
    const client = await connect(`ws://127.0.0.1:${port()}`, { token: cluster.token('back'), origin: null });
    expect((await client.request({ type: 'ping' })).type).to.equal('pong');
    await client.close();
  });
});
