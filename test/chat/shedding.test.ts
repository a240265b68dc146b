import { request } from 'node:http';
import { expect } from 'chai';
import { ChatClient, type ChatError } from '@securechat/sdk';
import { ChatCluster } from '../support/chat-cluster';
import { startChatNode, writeJwks, type ServiceProcess } from '../support/processes';
import { RedisServer } from '../support/redis-server';
import { waitFor } from '../support/wait';

const ORIGIN = 'http://shed.test';

/** One raw upgrade request: the status, headers and body of a refusal, or 101. */
function upgrade(
  node: ServiceProcess,
  token: string,
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${node.url}/ws`, {
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
        'Sec-WebSocket-Protocol': 'chat.v1',
        Authorization: `Bearer ${token}`,
        Origin: ORIGIN,
      },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '' });
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Admission shedding against real chat nodes and a real Redis. Handshakes are made to
 * wait deterministically by freezing redis-server (SIGSTOP): a handshake past the token
 * check then waits on its revocation lookup, so the node holds it as in progress, and
 * with HANDSHAKE_MAX_WAIT_MS at 1 ms the node's bound is HANDSHAKE_MIN_PENDING whatever its
 * pace, and what arrives beyond it meanwhile is shed.
 */
describe('admission shedding: a burst of handshakes a node cannot decide in time @redis', () => {
  let redis: RedisServer;
  let cluster: ChatCluster;
  const nodes: ServiceProcess[] = [];
  let frozen = false;
  const freeze = () => {
    process.kill(redis.pid, 'SIGSTOP');
    frozen = true;
  };
  const thaw = () => {
    if (frozen) process.kill(redis.pid, 'SIGCONT');
    frozen = false;
  };
  let env: Record<string, string>;

  before(async () => {
    redis = await RedisServer.start();
    cluster = new ChatCluster(redis);
    env = {
      REDIS_URL: redis.url,
      REDIS_PREFIX: cluster.prefix,
      JWT_PUBLIC_KEYS_FILE: writeJwks([cluster.key]),
      ALLOWED_ORIGINS: ORIGIN,
      MAX_CONNECTIONS_PER_ADDRESS: '10000',
      MAX_HANDSHAKES_PER_ADDRESS_PER_MIN: '100000',
      // A frozen Redis must hold the handshakes, not fail them.
      REDIS_COMMAND_TIMEOUT_MS: '20000',
    };
  });
  afterEach(async () => {
    thaw();
    await Promise.all(nodes.splice(0).map((n) => n.kill()));
  });
  after(async () => {
    thaw();
    await cluster.stop();
    await redis.destroy();
  });

  it('answers 503 overloaded with Retry-After and retry_after_ms, before any check, and admits again once below', async () => {
    const node = await startChatNode({
      ...env,
      NODE_ID: 'shed-raw',
      HANDSHAKE_MIN_PENDING: '2',
      // The pace the probes below make would raise the bound: 1 ms of it is nothing.
      HANDSHAKE_MAX_WAIT_MS: '1',
      HANDSHAKE_RETRY_AFTER_MS: '1500',
    });
    nodes.push(node);
    freeze();
    const held = [upgrade(node, cluster.token('held1')), upgrade(node, cluster.token('held2'))];
    // A bad token is refused (401) without Redis while a slot is free, so it can probe
    // without taking one: 503 once the two held ones are in progress, waiting on Redis.
    await waitFor(async () => (await upgrade(node, 'not-a-token')).status === 503, {
      what: 'the node holding two handshakes',
      timeoutMs: 10_000,
    });
    const shed = await Promise.all([
      upgrade(node, cluster.token('carol')),
      upgrade(node, cluster.token('dave')),
      upgrade(node, 'not-a-token'),
    ]);
    for (const r of shed) {
      expect(r.status).to.equal(503);
      expect(r.headers['retry-after']).to.equal('2');
      expect(JSON.parse(r.body)).to.deep.equal({
        error: 'overloaded',
        message: 'Service Unavailable',
        retry_after_ms: 1500,
      });
    }
    thaw();
    expect((await Promise.all(held)).map((r) => r.status)).to.deep.equal([101, 101]);
    expect((await upgrade(node, cluster.token('erin'))).status).to.equal(101);
    expect((await upgrade(node, 'not-a-token')).status, 'checks run again below the bound').to.equal(401);
    const metrics = await (await fetch(node.metricsUrl)).text();
    const shedCount =
      /securechat_chat_handshakes_total\{[^}]*outcome="refused"[^}]*reason="overloaded"[^}]*\} (\d+)/.exec(
        metrics,
      );
    expect(Number(shedCount?.[1])).to.be.at.least(4);
  });

  it('sheds part of a failover storm with a retry hint, and every SDK client still ends connected', async () => {
    const victim = await startChatNode({ ...env, NODE_ID: 'victim' });
    const survivor = await startChatNode({
      ...env,
      NODE_ID: 'survivor',
      HANDSHAKE_MIN_PENDING: '3',
      HANDSHAKE_MAX_WAIT_MS: '1',
      HANDSHAKE_RETRY_AFTER_MS: '300',
    });
    nodes.push(victim, survivor);
    const causes: ChatError[] = [];
    const landed: string[] = [];
    const clients = Array.from(
      { length: 30 },
      (_, i) =>
        new ChatClient({
          url: [`${victim.wsUrl}/ws`, `${survivor.wsUrl}/ws`],
          origin: ORIGIN,
          getToken: () => Promise.resolve(cluster.token(`storm${i}`)),
          reconnect: { baseDelayMs: 20, maxDelayMs: 2000 },
        }),
    );
    try {
      for (const c of clients) {
        c.on('reconnecting', (_attempt, _delay, cause) => {
          if (cause !== undefined) causes.push(cause);
        });
        c.on('reconnected', (info) => landed.push(info.welcome.node));
        c.on('error', () => undefined);
      }
      await Promise.all(clients.map((c) => c.connect()));
      freeze();
      await victim.kill();
      // Three handshakes wait on the frozen Redis at the survivor; the rest are shed.
      await waitFor(() => causes.some((c) => c.status === 503), {
        what: 'a shed handshake',
        timeoutMs: 15_000,
      });
      thaw();
      await waitFor(() => landed.length === clients.length, {
        what: 'every client reconnected',
        timeoutMs: 30_000,
      });
      expect(new Set(landed)).to.deep.equal(new Set(['survivor']));
      const shed = causes.filter((c) => c.status === 503);
      expect(shed.length).to.be.at.least(1);
      for (const c of shed) {
        expect(c.code).to.equal('handshake_refused');
        expect(c.retryAfterMs).to.equal(300);
      }
      expect(clients.every((c) => c.state === 'ready')).to.equal(true);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });
});
