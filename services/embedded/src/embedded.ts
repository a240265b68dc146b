import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import express from 'express';
import {
  createRedisClient,
  keySchema,
  listen,
  waitReady,
  type EmbeddedConfig,
  type Logger,
} from '@securechat/common';
import {
  chatStateOptions,
  createMemoryAuthState,
  createMemoryChatState,
  createRedisAuthState,
  createRedisChatState,
  loginLimits,
  luaScriptNames,
  MemoryCluster,
  type AuthState,
  type ChatState,
} from '@securechat/state';
import { generateSigningKey, loadSigningKey } from '@securechat/tokens';
import { createAuthMetrics, createAuthNode } from '@securechat/auth';
import { createChatMetrics, createChatNode, type ChatNode } from '@securechat/chat';
import {
  createMetricsRegistry,
  RedisMetrics,
  serveMetrics,
  type DirectoryRedis,
  type Registry,
} from '@securechat/metrics';

const WEB_DIR = join(__dirname, '..', '..', '..', 'web');

const PLACEHOLDER = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>securechat</title></head>
<body><h1>securechat</h1><p>The auth API is under <code>/auth/</code> and the chat WebSocket at
<code>/ws</code>. See docs/PROTOCOL.md.</p></body></html>
`;

export interface Embedded {
  server: Server;
  chat: ChatNode;
  port: number;
  /** The metrics listener's URL; undefined with METRICS_PORT=off. */
  metricsUrl: string | undefined;
  close(): Promise<void>;
}

interface States {
  authState: AuthState;
  chatState: ChatState;
  /** Resolves when the backing store answers. */
  connected: Promise<void>;
  /** Where the node announces its metrics URL (Redis state only). */
  directory?: { redis: DirectoryRedis; key: string };
}

/** Embedded state: memory stores whose revocations and blocks reach the chat node. */
function memoryState(config: EmbeddedConfig): States {
  const cluster = new MemoryCluster();
  const authState = createMemoryAuthState(loginLimits(config), Date.now, cluster.announce);
  return {
    authState,
    chatState: createMemoryChatState(cluster, authState, chatStateOptions(config)),
    connected: Promise.resolve(),
  };
}

/** With REDIS_URL set, `npm start` keeps its one-process shape on shared Redis state. */
function redisState(config: EmbeddedConfig, url: string, logger: Logger, registry: Registry): States {
  const keys = keySchema(config.redisPrefix);
  const common = { url, commandTimeoutMs: config.redisCommandTimeoutMs, logger };
  const authRedis = createRedisClient({ ...common, name: `embedded-auth:${config.nodeId}` });
  const chatRedis = createRedisClient({ ...common, name: `embedded-chat:${config.nodeId}` });
  const subscriber = createRedisClient({
    ...common,
    name: `embedded-sub:${config.nodeId}`,
    subscriber: true,
  });
  const redisMetrics = new RedisMetrics(registry);
  const scripts = luaScriptNames();
  redisMetrics.instrument(authRedis, 'auth', scripts);
  redisMetrics.instrument(chatRedis, 'chat', scripts);
  redisMetrics.instrument(subscriber, 'subscriber', scripts);
  return {
    authState: createRedisAuthState(authRedis, keys, loginLimits(config)),
    chatState: createRedisChatState(chatRedis, subscriber, keys, chatStateOptions(config), logger),
    connected: Promise.all([waitReady(authRedis), waitReady(chatRedis)]).then(() => undefined),
    directory: { redis: authRedis, key: keys.nodes },
  };
}

/**
 * The whole product in one process: auth API, chat WebSocket and the web client on one
 * HTTP server, with memory state (Redis when REDIS_URL is set) and, unless a key file is
 * given, a key generated at start.
 */
export async function startEmbedded(config: EmbeddedConfig, logger: Logger): Promise<Embedded> {
  const signingKey = config.jwtPrivateKeyFile
    ? loadSigningKey(config.jwtPrivateKeyFile)
    : generateSigningKey();
  // One registry for the process: the auth and the chat metrics side by side.
  const registry = createMetricsRegistry({ service: 'embedded', node: config.nodeId });
  const { authState, chatState, connected, directory } = config.redisUrl
    ? redisState(config, config.redisUrl, logger, registry)
    : memoryState(config);
  const auth = createAuthNode({
    config,
    state: authState,
    signingKey,
    logger,
    metrics: createAuthMetrics(registry),
  });
  await Promise.all([auth.ready(), connected]);

  const app = express();
  app.disable('x-powered-by');
  if (existsSync(join(WEB_DIR, 'index.html'))) {
    app.use(express.static(WEB_DIR, { index: 'index.html', dotfiles: 'ignore' }));
  } else {
    app.get('/', (_req, res) => {
      res.type('html').send(PLACEHOLDER);
    });
  }
  app.use(auth.app);
  const server = createServer(app);

  // Before the public port: a metrics port in use stops start-up before any traffic.
  const served = await serveMetrics({
    registry,
    host: config.metricsHost,
    port: config.metricsPort,
    logger,
    announce: directory && { ...directory, node: config.nodeId, service: 'embedded' },
  });
  const port = await listen(server, config.host, config.port, logger);
  const chat = createChatNode({
    config,
    listenPort: port,
    state: chatState,
    publicKeys: new Map([[signingKey.kid, signingKey.publicKey]]),
    logger,
    metrics: createChatMetrics(registry),
  });
  await chat.start();
  server.on('upgrade', (req, socket, head: Buffer) => chat.handleUpgrade(req, socket, head));
  return {
    server,
    chat,
    port,
    metricsUrl: served.url,
    close: async () => {
      await chat.drain(config.shutdownGraceMs);
      await chat.close();
      await served.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await Promise.all([chatState.close(), authState.close()]);
    },
  };
}
