import { ChatCluster } from '../support/chat-cluster';
import { RedisServer } from '../support/redis-server';
import { sdkBuildSuite, RATE_WINDOW_MS, type BuildSuiteContext } from './builds.contract';
import { BrowserDriver, NodeDriver, PageServer, TokenGate, type SdkDriver } from './drivers';

describe('the SDK, one suite for both builds @redis', () => {
  let redis: RedisServer;
  let cluster: ChatCluster;
  let gate: TokenGate;
  let pages: PageServer;
  let base: Omit<BuildSuiteContext, 'driver'>;

  before(async () => {
    redis = await RedisServer.start();
    cluster = new ChatCluster(redis, { RATE_LIMIT_MAX: '100000' });
    gate = new TokenGate((user) => cluster.token(user));
    pages = await PageServer.start(gate);
    // The page's origin is the one the browser sends; the Node build sends it too.
    const allowed = { ALLOWED_ORIGINS: pages.origin };
    const nodes = [await cluster.startNode('b1', allowed), await cluster.startNode('b2', allowed)] as const;
    const limited = await cluster.startNode('limited', {
      ...allowed,
      RATE_LIMIT_MAX: '3',
      RATE_LIMIT_WINDOW_MS: String(RATE_WINDOW_MS),
    });
    base = { gate, cluster, nodes: [nodes[0], nodes[1]], limited };
  });
  after(async () => {
    await pages.close();
    await cluster.stop();
    await redis.destroy();
  });

  describe('Node build (ws)', () => {
    let driver: SdkDriver;
    before(() => {
      driver = new NodeDriver(gate, pages.origin);
    });
    after(() => driver.close());
    sdkBuildSuite(() => ({ ...base, driver }));
  });

  describe('browser build (native WebSocket, in Chromium) @browser', () => {
    let driver: SdkDriver;
    before(async () => {
      driver = await BrowserDriver.start(pages);
    });
    after(() => driver.close());
    sdkBuildSuite(() => ({ ...base, driver }));
  });
});
