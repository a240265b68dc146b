import { expect } from 'chai';
import type { Cluster, Redis } from 'ioredis';
import {
  closeRedis,
  createRedisClient,
  MAX_CORKED_COMMANDS,
  singleTarget,
  waitReady,
} from '@securechat/common';
import type { RedisCluster } from '@securechat/cluster';
import { memoryLogger } from '../support/logs';
import { startRedisCluster } from '../support/redis-cluster';
import { RedisServer, uniquePrefix } from '../support/redis-server';
import { waitFor } from '../support/wait';

/** Counts the system-call-level writes of a socket: each `_write` or `_writev` is one. */
interface WriteCount {
  writes: number;
  /** Chunks per write, in order. */
  chunks: number[];
}

interface SocketInternals {
  _write: (chunk: unknown, encoding: unknown, cb: unknown) => void;
  _writev: (chunks: unknown[], cb: unknown) => void;
}

function countWrites(redis: Redis): WriteCount {
  const socket = (redis as unknown as { stream: SocketInternals }).stream;
  const count: WriteCount = { writes: 0, chunks: [] };
  const write = socket._write.bind(socket);
  const writev = socket._writev.bind(socket);
  socket._write = (chunk, encoding, cb) => {
    count.writes += 1;
    count.chunks.push(1);
    write(chunk, encoding, cb);
  };
  socket._writev = (chunks, cb) => {
    count.writes += 1;
    count.chunks.push(chunks.length);
    writev(chunks, cb);
  };
  return count;
}

/** A new turn: the next macrotask. */
const nextTurn = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

describe('Redis commands of one turn of JavaScript leave in one write @redis', function () {
  this.timeout(60_000);
  let server: RedisServer;
  let client: Redis;
  const { logger } = memoryLogger();

  before(async () => {
    server = await RedisServer.start();
  });
  after(async () => {
    await server.destroy();
  });
  beforeEach(async () => {
    client = createRedisClient({
      target: singleTarget(server.url),
      name: 'writes-test',
      logger,
      commandTimeoutMs: 2000,
    });
    await waitReady(client);
  });
  afterEach(async () => {
    await closeRedis(client);
  });

  it('sends the commands issued together in one write and answers each in order', async () => {
    const key = `${uniquePrefix('w')}n`;
    const count = countWrites(client);
    const replies = Promise.all(Array.from({ length: 40 }, () => client.incr(key)));
    expect(count.writes, 'nothing is written before the turn ends').to.equal(0);
    expect(await replies).to.deep.equal(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(count.chunks).to.deep.equal([40]);
  });

  it("takes in the commands of the same turn's promise continuations", async () => {
    const key = `${uniquePrefix('w')}later`;
    const count = countWrites(client);
    const replies = await Promise.all(
      [1, 2, 3].map(async () => {
        await Promise.resolve();
        return client.incr(key);
      }),
    );
    expect(replies).to.deep.equal([1, 2, 3]);
    expect(count.chunks).to.deep.equal([3]);
  });

  it('sends a long run every MAX_CORKED_COMMANDS commands, in order', async () => {
    const key = `${uniquePrefix('w')}list`;
    const count = countWrites(client);
    const n = MAX_CORKED_COMMANDS * 3 + 5;
    const pushes = Array.from({ length: n }, (_, i) => client.rpush(key, String(i)));
    // The first batches went out while the turn still runs.
    expect(count.writes).to.be.at.least(2);
    await Promise.all(pushes);
    expect(count.chunks.reduce((a, b) => a + b, 0)).to.equal(n);
    expect(Math.max(...count.chunks)).to.be.at.most(MAX_CORKED_COMMANDS);
    expect(count.writes).to.be.at.most(5);
    expect(await client.lrange(key, 0, -1)).to.deep.equal(Array.from({ length: n }, (_, i) => String(i)));
  });

  it('sends a lone command at the end of its turn, turn after turn', async () => {
    const key = `${uniquePrefix('w')}lone`;
    const count = countWrites(client);
    for (let i = 1; i <= 5; i += 1) {
      expect(await client.incr(key)).to.equal(i);
      await nextTurn();
    }
    expect(count.chunks).to.deep.equal([1, 1, 1, 1, 1]);
  });

  it('coalesces on the new connection after a reconnect', async () => {
    const admin = server.adminClient();
    try {
      const key = `${uniquePrefix('w')}again`;
      const first = (client as unknown as { stream: unknown }).stream;
      await admin.call('CLIENT', 'KILL', 'SKIPME', 'yes', 'TYPE', 'normal');
      await waitFor(
        () => client.status === 'ready' && (client as unknown as { stream: unknown }).stream !== first,
        { timeoutMs: 5000, what: 'the client reconnected' },
      );
      const count = countWrites(client);
      expect(await Promise.all([client.incr(key), client.incr(key), client.incr(key)])).to.deep.equal([
        1, 2, 3,
      ]);
      expect(count.chunks).to.deep.equal([3]);
    } finally {
      admin.disconnect();
    }
  });
});

describe('Redis Cluster: each server connection coalesces its commands @redis', function () {
  this.timeout(120_000);
  let cluster: RedisCluster;
  let client: Cluster;

  before(async () => {
    cluster = await startRedisCluster();
    client = createRedisClient({
      target: {
        mode: 'cluster',
        nodes: cluster.ports.map((port) => ({ host: '127.0.0.1', port })),
        tls: false,
      },
      name: 'writes-test',
      logger: memoryLogger().logger,
      commandTimeoutMs: 2000,
    }) as Cluster;
    await waitFor(() => client.status === 'ready', {
      timeoutMs: 10_000,
      what: 'the cluster client is ready',
    });
  });
  after(async () => {
    if (client !== undefined) await closeRedis(client);
    await cluster?.destroy();
  });

  it('sends the commands for one server issued together in one write', async () => {
    const tag = `{${uniquePrefix('w')}}`;
    // Warm the connection to the tag's server, then count on it.
    await client.set(`${tag}:warm`, '1');
    const owner = await ownerOf(client, `${tag}:n`);
    const count = countWrites(owner);
    const replies = await Promise.all(Array.from({ length: 20 }, () => client.incr(`${tag}:n`)));
    expect(replies).to.deep.equal(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(count.chunks).to.deep.equal([20]);
  });
});

/** The connection of the master that holds `key`'s slot. */
async function ownerOf(client: Cluster, key: string): Promise<Redis> {
  const slot = Number(await client.cluster('KEYSLOT', key));
  const slots = await client.cluster('SLOTS');
  const range = slots.find(([from, to]) => slot >= from && slot <= to);
  const master = range?.[2];
  if (master === undefined) throw new Error(`no server holds slot ${slot}`);
  const [host, port] = master;
  const owner = client.nodes('master').find((n) => n.options.host === host && n.options.port === port);
  if (owner === undefined) throw new Error(`no connection to ${host}:${port}`);
  return owner;
}
