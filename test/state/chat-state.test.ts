import { expect } from 'chai';
import { keySchema, loadConfig, type Logger } from '@securechat/common';
import {
  authLimits,
  createMemoryAuthState,
  createMemoryChatState,
  createRedisChatState,
  MemoryCluster,
  type ChatState,
} from '@securechat/state';
import { Redis } from 'ioredis';
import { memoryLogger } from '../support/logs';
import { RedisServer, uniquePrefix } from '../support/redis-server';
import { waitFor } from '../support/wait';
import { chatStateContract } from './chat-state.contract';

const historyMaxLen = 120;
const options = (nodeId: string) => ({ nodeId, presenceTtlMs: 10_000, historyMaxLen });

chatStateContract(
  'memory',
  () => {
    const cluster = new MemoryCluster();
    const auth = createMemoryAuthState(authLimits(loadConfig({}, 'embedded')));
    return Promise.resolve({
      a: createMemoryChatState(cluster, auth, options('a')),
      b: createMemoryChatState(cluster, auth, options('b')),
      historyMaxLen,
    });
  },
  () => Promise.resolve(),
);

const GENEROUS = { max: 1_000_000, windowMs: 60_000, blockAfterViolations: 1_000_000, blockDurationS: 60 };
const PAGE = { limit: 10_000, maxBytes: 64 * 1024 * 1024 };

describe('memory chat state: history bounded by age', () => {
  it('trims messages older than historyMaxAgeMs on the next message, and reports the loss', async () => {
    let now = 1_000_000;
    const cluster = new MemoryCluster(() => now);
    const auth = createMemoryAuthState(authLimits(loadConfig({}, 'embedded')));
    const state = createMemoryChatState(cluster, auth, { ...options('a'), historyMaxAgeMs: 1000 });
    await state.broker.publishLimited('aged', 'alice', 'old', GENEROUS);
    now += 500;
    await state.broker.publishLimited('aged', 'alice', 'younger', GENEROUS);
    now += 600; // the first is now 1100 ms old, the second 600 ms
    await state.broker.publishLimited('aged', 'alice', 'new', GENEROUS);
    const page = await state.broker.history('aged', PAGE);
    expect(page.messages.map((m) => m.text)).to.deep.equal(['younger', 'new']);
    expect((await state.broker.replay('aged', '0-0', PAGE)).truncated).to.equal(true);
    expect((await state.broker.replay('aged', page.messages[0]?.id as string, PAGE)).truncated).to.equal(
      false,
    );
  });
});

describe('redis-backed chat state @redis', () => {
  let server: RedisServer;
  let states: ChatState[] = [];
  let logger: Logger;
  before(async () => {
    server = await RedisServer.start();
    logger = memoryLogger().logger;
  });
  after(async () => {
    await server.destroy();
  });

  async function node(prefix: string, id: string): Promise<ChatState> {
    const redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
    const subscriber = new Redis(server.url);
    const state = createRedisChatState(redis, subscriber, keySchema(prefix), options(id), logger);
    await state.broker.start();
    states.push(state);
    return state;
  }

  chatStateContract(
    'redis',
    async () => {
      const prefix = uniquePrefix();
      return { a: await node(prefix, 'a'), b: await node(prefix, 'b'), historyMaxLen };
    },
    async () => {
      await Promise.all(states.map((s) => s.close()));
      states = [];
    },
  );

  it('bounds a room by age: old entries trimmed on the next message, an idle room expires whole', async () => {
    const prefix = uniquePrefix();
    const keys = keySchema(prefix);
    const redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
    const subscriber = new Redis(server.url);
    const maxAgeMs = 300;
    const state = createRedisChatState(
      redis,
      subscriber,
      keys,
      { ...options('a'), historyMaxLen: 100_000, historyMaxAgeMs: maxAgeMs },
      logger,
    );
    const admin = new Redis(server.url);
    try {
      await state.broker.start();
      // Trimming is approximate (whole radix nodes of 100 entries): 250 old ones, then one.
      const batch: Promise<unknown>[] = [];
      for (let i = 0; i < 250; i++)
        batch.push(state.broker.publishLimited('aged', 'alice', `m${i}`, GENEROUS));
      await Promise.all(batch);
      const oldEnough = Date.now() + maxAgeMs + 50;
      await waitFor(() => Date.now() > oldEnough, { what: 'the first messages to age', intervalMs: 50 });
      await state.broker.publishLimited('aged', 'alice', 'new', GENEROUS);
      const length = await admin.xlen(keys.roomLog('aged'));
      expect(length).to.be.within(1, 101);
      const ttl = await admin.pttl(keys.roomLog('aged'));
      expect(ttl).to.be.within(1, maxAgeMs);
      await waitFor(async () => (await admin.exists(keys.roomLog('aged'))) === 0, {
        what: 'the idle room to expire',
      });
    } finally {
      admin.disconnect();
      await state.close();
    }
  });

  it("announces presence on the room's channel as `<state> <user>`, the frame left to each node", async () => {
    const prefix = uniquePrefix();
    const state = await node(prefix, 'a');
    const raw = new Redis(server.url);
    try {
      const seen: string[] = [];
      raw.on('message', (_channel: string, message: string) => seen.push(message));
      await raw.subscribe(keySchema(prefix).roomChannel('p'));
      await state.presence.join('p', 'alice');
      await state.presence.leave('p', 'alice');
      await waitFor(() => seen.length === 2, { what: 'two presence events' });
      expect(seen).to.deep.equal(['online alice', 'offline alice']);
    } finally {
      raw.disconnect();
      await Promise.all(states.map((s) => s.close()));
      states = [];
    }
  });
});
