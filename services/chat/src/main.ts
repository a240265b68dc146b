import { createServer } from 'node:http';
import {
  createLogger,
  createRedisClient,
  exitOnStartupError,
  httpServerOptions,
  keySchema,
  listen,
  loadConfig,
  onShutdownSignals,
  keyLayoutOf,
  redisConnection,
} from '@securechat/common';
import { createMetricsRegistry, RedisMetrics, serveMetrics } from '@securechat/metrics';
import { chatStateOptions, createRedisChatState, luaScriptNames } from '@securechat/state';
import { loadJwksFile } from '@securechat/tokens';
import { healthHandler } from './health';
import { createChatMetrics } from './metrics';
import { createChatNode } from './node';

/** `npm run start:chat`: one stateless chat node against the configured Redis (any mode). */
async function main(): Promise<void> {
  const config = loadConfig(process.env, 'chat');
  const logger = createLogger({ level: config.logLevel, service: 'chat', node: config.nodeId });
  const publicKeys = loadJwksFile(config.jwtPublicKeysFile);
  const common = { ...redisConnection(config), logger };
  const redis = createRedisClient({ ...common, name: `chat:${config.nodeId}` });
  const subscriber = createRedisClient({ ...common, name: `chat-sub:${config.nodeId}`, subscriber: true });
  const registry = createMetricsRegistry({ service: 'chat', node: config.nodeId });
  const redisMetrics = new RedisMetrics(registry);
  const scripts = luaScriptNames();
  redisMetrics.instrument(redis, 'chat', scripts);
  redisMetrics.instrument(subscriber, 'subscriber', scripts);
  const keys = keySchema(config.redisPrefix, keyLayoutOf(config.redisTarget));
  const state = createRedisChatState(redis, subscriber, keys, chatStateOptions(config), logger);
  const metrics = createChatMetrics(registry);
  const node = createChatNode({ config, listenPort: config.port, state, publicKeys, logger, metrics });
  // The same header and request timeouts as auth nodes: a slowloris is cut as fast here.
  const server = createServer(
    httpServerOptions(config),
    healthHandler(async () => node.accepting && (await state.ready())),
  );
  server.on('upgrade', (req, socket, head: Buffer) => node.handleUpgrade(req, socket, head));
  await node.start();
  const served = await serveMetrics({
    registry,
    host: config.metricsHost,
    port: config.metricsPort,
    logger,
    announce: { redis, key: keys.nodes, node: config.nodeId, service: 'chat' },
  });
  const port = await listen(server, config.host, config.port, logger);
  logger.info('chat node listening', { host: config.host, port, keys: publicKeys.size, metrics: served.url });
  onShutdownSignals(logger, config.shutdownGraceMs, async () => {
    server.close();
    await node.drain(config.shutdownGraceMs);
    await node.close();
    await served.close();
    await state.close();
  });
}

main().catch(exitOnStartupError);
