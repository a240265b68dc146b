import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import express from 'express';
import {
  createRedisClient,
  httpServerOptions,
  keySchema,
  listen,
  redisConnection,
  keyLayoutOf,
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
  authLimits,
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

/** The built web client (`npm run build` bundles web/src into web/dist). */
export const WEB_DIR = join(__dirname, '..', '..', '..', 'web', 'dist');

/**
 * What nginx sends with the web client (nginx/nginx.conf.template, `location /`), less
 * HSTS, which means nothing over plain HTTP: a strict CSP (no inline script or style, no
 * framing), no MIME sniffing, no Referer. Embedded mode serves the same page with the
 * same headers; test/embedded compares the two.
 */
export const WEB_SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-cache',
});

const PLACEHOLDER = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>securechat</title></head>
<body><h1>securechat</h1><p>The web client is not built (<code>npm run build</code>). The auth
API is under <code>/auth/</code> and the chat WebSocket at <code>/ws</code>.</p></body></html>
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
  const authState = createMemoryAuthState(authLimits(config), Date.now, cluster.announce);
  return {
    authState,
    chatState: createMemoryChatState(cluster, authState, chatStateOptions(config)),
    connected: Promise.resolve(),
  };
}

/** With a Redis configured (any mode), `npm start` keeps its one-process shape on shared Redis state. */
function redisState(config: EmbeddedConfig, logger: Logger, registry: Registry): States {
  const common = { ...redisConnection(config), logger };
  const keys = keySchema(config.redisPrefix, keyLayoutOf(common.target));
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
    authState: createRedisAuthState(authRedis, keys, authLimits(config)),
    chatState: createRedisChatState(chatRedis, subscriber, keys, chatStateOptions(config), logger),
    connected: Promise.all([waitReady(authRedis), waitReady(chatRedis)]).then(() => undefined),
    directory: { redis: authRedis, key: keys.nodes },
  };
}

/**
 * The whole product in one process: auth API, chat WebSocket and the web client on one
 * HTTP server, with memory state (Redis when one is configured) and, unless a key file is
 * given, a key generated at start.
 */
export async function startEmbedded(config: EmbeddedConfig, logger: Logger): Promise<Embedded> {
  const signingKey = config.jwtPrivateKeyFile
    ? loadSigningKey(config.jwtPrivateKeyFile)
    : generateSigningKey();
  // One registry for the process: the auth and the chat metrics side by side.
  const registry = createMetricsRegistry({ service: 'embedded', node: config.nodeId });
  const { authState, chatState, connected, directory } = config.redisTarget
    ? redisState(config, logger, registry)
    : memoryState(config);
  await connected;

  const app = express();
  app.disable('x-powered-by');
  // The page is served before the auth API (and its helmet), so it sets its own headers;
  // the API's responses replace them with the API's.
  app.use((_req, res, next) => {
    for (const [name, value] of Object.entries(WEB_SECURITY_HEADERS)) res.setHeader(name, value);
    next();
  });
  if (existsSync(join(WEB_DIR, 'index.html'))) {
    app.use(express.static(WEB_DIR, { index: 'index.html', dotfiles: 'ignore' }));
  } else {
    app.get('/', (_req, res) => {
      res.type('html').send(PLACEHOLDER);
    });
  }
  // The auth API joins once it knows its port (its default allowed origins name it);
  // until then, the moments after listen, it answers 503 like a node that is not ready.
  const api = express.Router();
  app.use(api);
  app.use((_req, res) => {
    res.status(503).setHeader('Retry-After', '1').json({ error: 'not_ready', message: 'not ready' });
  });
  const server = createServer(httpServerOptions(config), app);

  // Before the public port: a metrics port in use stops start-up before any traffic.
  const served = await serveMetrics({
    registry,
    host: config.metricsHost,
    port: config.metricsPort,
    logger,
    announce: directory && { ...directory, node: config.nodeId, service: 'embedded' },
  });
  const port = await listen(server, config.host, config.port, logger);
  const auth = createAuthNode({
    config,
    listenPort: port,
    state: authState,
    signingKey,
    logger,
    metrics: createAuthMetrics(registry),
  });
  await auth.ready();
  api.use(auth.app);
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
