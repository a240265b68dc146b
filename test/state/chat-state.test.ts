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
