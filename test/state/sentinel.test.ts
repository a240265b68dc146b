import { expect } from 'chai';
import { keySchema, loadConfig, type Logger } from '@securechat/common';
import {
  authLimits,
  createRedisAuthState,
  createRedisChatState,
  type AuthState,
  type ChatState,
} from '@securechat/state';
import { memoryLogger } from '../support/logs';
import { KEYSPACE_ARGS, TestSentinel } from '../support/sentinel-group';
import { authStateContract } from './auth-state.contract';
import { chatStateContract } from './chat-state.contract';

const historyMaxLen = 120;
const PREFIX = 'sen:';

/**
 * The state contract suites against Sentinel mode: clients made as the nodes make them
 * (REDIS_SENTINELS + REDIS_SENTINEL_NAME, ioredis asking the sentinels for the master;
 * sentinels that require their own password). The suites need a prefix per run, which
 * the product's ACL users (one prefix each) cannot have: they run as the test's admin
 * user, and the last test checks a role's connection.
 */
describe('state on a Sentinel group @redis @sentinel', function () {
  this.timeout(60_000);
  let sentinel: TestSentinel;
  let logger: Logger;
  let closing: { close(): Promise<void> }[] = [];
  let counter = 0;
  // One ACL prefix for the group; each suite run gets its own sub-prefix under it.
  const prefix = () => `${PREFIX}${process.pid}x${(counter += 1)}:`;

  before(async () => {
    sentinel = await TestSentinel.start({
      acl: { prefix: PREFIX },
      args: KEYSPACE_ARGS,
      sentinelPassword: true,
    });
    logger = memoryLogger().logger;
  });
  after(async () => {
    await sentinel.destroy();
  });
  afterEach(async () => {
    await Promise.all(closing.map((c) => c.close()));
    closing = [];
  });

  async function chatNode(p: string, id: string): Promise<ChatState> {
    const redis = await sentinel.client(undefined, `chat-${id}`);
    const subscriber = await sentinel.client(undefined, `chat-sub-${id}`, true);
    const state = createRedisChatState(
      redis,
      subscriber,
      keySchema(p),
      { nodeId: id, presenceTtlMs: 10_000, historyMaxLen, configureKeyspaceEvents: false },
      logger,
    );
    await state.broker.start();
    closing.push(state);
    return state;
  }

  chatStateContract(
    'redis sentinel',
    async () => {
      const p = prefix();
      return { a: await chatNode(p, 'a'), b: await chatNode(p, 'b'), historyMaxLen };
    },
    () => Promise.resolve(),
  );

  const limits = {
    ...authLimits(loadConfig({}, 'embedded')),
    maxConsecutiveFailures: 3,
    maxFailuresPerAddressPerDay: 5,
    accountFreeFailures: 4,
    accountMaxDelayS: 60,
    registerMaxPerAddressPerHour: 2,
    registerMaxPerAddressPerDay: 3,
  };
  authStateContract(
    'redis sentinel',
    async (): Promise<AuthState> => {
      const state = createRedisAuthState(
        await sentinel.client(undefined, 'auth'),
        keySchema(prefix()),
        limits,
      );
      closing.push(state);
      return state;
    },
    () => Promise.resolve(),
  );

  it("connects to the master the sentinels name, as the role's ACL user", async () => {
    const redis = await sentinel.client('chat', 'role');
    try {
      // the chat role may write its own keys, and nothing outside its prefix
      await redis.set(keySchema(PREFIX).blocked('someone'), 'test', 'EX', 60);
      const refused = await redis.set('other:key', 'x').catch((err: Error) => err.message);
      expect(refused).to.match(/^NOPERM/);
      const master = await sentinel.group.master();
      expect(redis.stream.remotePort).to.equal(master);
      expect(await sentinel.group.role(master)).to.equal('master');
    } finally {
      redis.disconnect();
    }
  });
});
