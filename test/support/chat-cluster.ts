import { createServer, type Server } from 'node:http';
import type { Redis } from 'ioredis';
import {
  createRedisClient,
  keyLayoutOf,
  keySchema,
  loadConfig,
  redisConnection,
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
import { httpStatus } from '@securechat/cluster';
import { memoryLogger } from './logs';
import { scrape, type Scrape } from './metrics';
import { uniquePrefix } from './redis-server';

/**
 * The Redis the nodes of a test use, in any mode (a RedisServer, a TestSentinel, a Redis
 * Cluster's `clusterBackend`).
 */
export interface RedisBackend<A extends RedisLike = Redis> {
  /** A node's Redis variables (REDIS_URL, or REDIS_SENTINELS, or REDIS_CLUSTER_NODES...), full rights. */
  nodeEnv(): Record<string, string>;
  /** A plain client for the test's own commands (it follows the master), full rights. */
  adminClient(): A;
}

export const ISSUER = 'securechat';

export interface InProcessNode<A extends RedisLike = Redis> {
  name: string;
  node: ChatNode;
  server: Server;
  state: ChatState;
  /** Its Redis clients: requests, and the subscriber (a `Cluster` each in Redis Cluster). */
  redis: A;
  subscriber: A;
  url: string;
  /** GET /readyz on its public port: the status. */
  readyz(): Promise<number>;
  logs: ReturnType<typeof memoryLogger>;
  registry: Registry;
  /** The node's real metrics listener (port 0), as Prometheus scrapes it. */
  metricsUrl: string;
  scrape(): Promise<Scrape>;
  stop(): Promise<void>;
}

/**
 * Several chat nodes in this process on port 0, sharing one real Redis and one prefix
 * (in the key layout of its mode: hash-tagged in Redis Cluster).
 */
export class ChatCluster<A extends RedisLike = Redis> {
  readonly key: SigningKey = generateSigningKey();
  readonly prefix = uniquePrefix('chat');
  readonly keys: KeySchema;
  readonly nodes: InProcessNode<A>[] = [];
  readonly admin: A;

  constructor(
    readonly redis: RedisBackend<A>,
    private readonly env: Record<string, string> = {},
  ) {
    this.keys = keySchema(this.prefix, keyLayoutOf(this.config().redisTarget));
    this.admin = redis.adminClient();
    this.admin.on('error', () => undefined);
  }

  config(extra: Record<string, string> = {}): ChatConfig {
    return loadConfig(
      {
        ...this.redis.nodeEnv(),
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
  ): Promise<InProcessNode<A>> {
    const logs = memoryLogger(name);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const config = this.config({ NODE_ID: name, ALLOWED_ORIGINS: `http://127.0.0.1:${port}`, ...extra });
    // As main.ts connects: the configuration's Redis, in whichever mode it names.
    const common = { ...redisConnection(config), logger: logs.logger };
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
    const entry: InProcessNode<A> = {
      name,
      node,
      server,
      state,
      // The same kind of client as the admin's: what the backend's mode makes.
      redis: redis as A,
      subscriber: subscriber as A,
      url: `ws://127.0.0.1:${port}`,
      readyz: () => httpStatus(`http://127.0.0.1:${port}/readyz`).catch(() => 0),
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

  /** Kills one Redis connection by its name (a node's subscriber: `<node>-sub`). */
  async killConnection(name: string): Promise<void> {
    const clients = (await this.admin.call('CLIENT', 'LIST')) as string;
    const line = clients.split('\n').find((l) => l.includes(` name=${name} `));
    const id = /^id=(\d+) /.exec(line ?? '')?.[1];
    if (id === undefined) throw new Error(`no Redis connection named ${name}`);
    await this.admin.call('CLIENT', 'KILL', 'ID', id);
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
    this.admin.disconnect();
  }
}
