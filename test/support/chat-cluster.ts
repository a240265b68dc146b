import { createServer, type Server } from 'node:http';
import { Cluster, Redis } from 'ioredis';
import { RedisCluster } from '@securechat/cluster';
import {
  createRedisClient,
  keyLayoutOf,
  keySchema,
  loadConfig,
  type ChatConfig,
  type KeySchema,
  type RedisLike,
} from '@securechat/common';
import {
  createMetricsRegistry,
  RedisMetrics,
  startMetricsServer,
  type MetricsServer,
  type Registry,
} from '@securechat/metrics';
import { chatStateOptions, createRedisChatState, luaScriptNames, type ChatState } from '@securechat/state';
import { generateSigningKey, TokenIssuer, type SigningKey } from '@securechat/tokens';
import { ChatNode, createChatMetrics, createChatNode, healthHandler } from '@securechat/chat';
import { memoryLogger } from './logs';
import { scrape, type Scrape } from './metrics';
import { uniquePrefix, type RedisServer } from './redis-server';

export const ISSUER = 'securechat';

export interface InProcessNode {
  name: string;
  node: ChatNode;
  server: Server;
  state: ChatState;
  url: string;
  logs: ReturnType<typeof memoryLogger>;
  registry: Registry;
  /** The node's real metrics listener (port 0), as Prometheus scrapes it. */
  metricsUrl: string;
  scrape(): Promise<Scrape>;
  stop(): Promise<void>;
}

/**
 * Several chat nodes in this process on port 0, sharing one real Redis (a server, or a
 * Redis Cluster: then REDIS_CLUSTER_NODES and the cluster key layout) and one prefix.
 */
export class ChatCluster<R extends RedisServer | RedisCluster = RedisServer> {
  readonly key: SigningKey = generateSigningKey();
  readonly prefix = uniquePrefix('chat');
  readonly keys: KeySchema;
  readonly nodes: InProcessNode[] = [];
  /** A client of the same Redis, as an operator's redis-cli (`-c` in Redis Cluster). */
  readonly admin: R extends RedisCluster ? RedisLike : Redis;

  constructor(
    readonly redis: R,
    private readonly env: Record<string, string> = {},
  ) {
    const config = this.config();
    this.keys = keySchema(this.prefix, keyLayoutOf(config.redisTarget));
    const server: RedisServer | RedisCluster = this.redis;
    // With an offline queue, unlike a node's clients: a test's first command waits for it.
    const admin =
      server instanceof RedisCluster
        ? new Cluster(
            server.ports.map((port) => ({ host: '127.0.0.1', port })),
            { redisOptions: { maxRetriesPerRequest: 1 }, slotsRefreshInterval: 1000 },
          )
        : new Redis(server.url, { maxRetriesPerRequest: 1 });
    admin.on('error', () => undefined);
    this.admin = admin as typeof this.admin;
  }

  private redisEnv(): Record<string, string> {
    const redis: RedisServer | RedisCluster = this.redis;
    return redis instanceof RedisCluster ? { REDIS_CLUSTER_NODES: redis.seeds } : { REDIS_URL: redis.url };
  }

  config(extra: Record<string, string> = {}): ChatConfig {
    return loadConfig(
      {
        ...this.redisEnv(),
        REDIS_PREFIX: this.prefix,
        JWT_PUBLIC_KEYS_FILE: '/unused',
        ALLOW_MISSING_ORIGIN: 'false',
        LOG_LEVEL: 'debug',
        ...this.env,
        ...extra,
      },
      'chat',
    );
  }

  token(user: string, ttlS = 900, extra: Partial<{ now: number }> = {}): string {
    const issuer = new TokenIssuer(
      this.key,
      { issuer: ISSUER, audience: ISSUER, ttlS },
      extra.now !== undefined ? () => extra.now as number : Date.now,
    );
    return issuer.issue(user).token;
  }

  issue(user: string, ttlS = 900) {
    return new TokenIssuer(this.key, { issuer: ISSUER, audience: ISSUER, ttlS }).issue(user);
  }

  async startNode(
    name = `node${this.nodes.length + 1}`,
    extra: Record<string, string> = {},
  ): Promise<InProcessNode> {
    const logs = memoryLogger(name);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const config = this.config({ NODE_ID: name, ALLOWED_ORIGINS: `http://127.0.0.1:${port}`, ...extra });
    const common = {
      target: config.redisTarget,
      commandTimeoutMs: config.redisCommandTimeoutMs,
      logger: logs.logger,
    };
    const redis = createRedisClient({ ...common, name });
    const subscriber = createRedisClient({ ...common, name: `${name}-sub`, subscriber: true });
    // As main.ts composes it: a registry of the node's own, its Redis clients instrumented.
    const registry = createMetricsRegistry({ service: 'chat', node: name });
    const redisMetrics = new RedisMetrics(registry);
    redisMetrics.instrument(redis, 'chat', luaScriptNames());
    redisMetrics.instrument(subscriber, 'subscriber', luaScriptNames());
    const state = createRedisChatState(redis, subscriber, this.keys, chatStateOptions(config), logs.logger);
    const node = createChatNode({
      config,
      listenPort: port,
      state,
      publicKeys: new Map([[this.key.kid, this.key.publicKey]]),
      logger: logs.logger,
      metrics: createChatMetrics(registry),
    });
    const metricsServer: MetricsServer = await startMetricsServer({
      registry,
      host: '127.0.0.1',
      port: 0,
      logger: logs.logger,
    });
    server.on(
      'request',
      healthHandler(() => state.ready()),
    );
    server.on('upgrade', (req, socket, head: Buffer) => node.handleUpgrade(req, socket, head));
    await node.start();
    let stopped = false;
    const entry: InProcessNode = {
      name,
      node,
      server,
      state,
      url: `ws://127.0.0.1:${port}`,
      logs,
      registry,
      metricsUrl: metricsServer.url,
      scrape: () => scrape(metricsServer.url),
      stop: async () => {
        if (stopped) return;
        stopped = true;
        await node.close();
        await metricsServer.close();
        await state.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
      },
    };
    this.nodes.push(entry);
    return entry;
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
    this.admin.disconnect();
  }
}
