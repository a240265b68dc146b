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
  redisConnection,
  keyLayoutOf,
  waitReady,
} from '@securechat/common';
import { createMetricsRegistry, RedisMetrics, serveMetrics } from '@securechat/metrics';
import { authLimits, createRedisAuthState, luaScriptNames } from '@securechat/state';
import { loadJwksFile, loadSigningKey } from '@securechat/tokens';
import { createAuthMetrics } from './metrics';
import { createAuthNode } from './node';

/** `npm run start:auth`: one stateless auth node against the configured Redis (any mode). */
async function main(): Promise<void> {
  const config = loadConfig(process.env, 'auth');
  const logger = createLogger({ level: config.logLevel, service: 'auth', node: config.nodeId });
  const signingKey = loadSigningKey(config.jwtPrivateKeyFile);
  const extraPublicKeys = config.jwtPublicKeysFile ? loadJwksFile(config.jwtPublicKeysFile) : undefined;
  const redis = createRedisClient({ ...redisConnection(config), name: `auth:${config.nodeId}`, logger });
  const registry = createMetricsRegistry({ service: 'auth', node: config.nodeId });
  new RedisMetrics(registry).instrument(redis, 'auth', luaScriptNames());
  const keys = keySchema(config.redisPrefix, keyLayoutOf(config.redisTarget));
  const state = createRedisAuthState(redis, keys, authLimits(config));
  const metrics = createAuthMetrics(registry);
  const node = createAuthNode({ config, state, signingKey, extraPublicKeys, logger, metrics });
  await node.ready();
  // The first announcement in the node directory (and the first requests) need the
  // connection, which has no offline queue: wait for it a moment (a Redis that is down
  // only delays the start; /readyz says so meanwhile).
  await waitReady(redis, 5000).catch(() => logger.warn('redis not ready at start; going on'));
  const server = createServer(httpServerOptions(config), node.app);
  const served = await serveMetrics({
    registry,
    host: config.metricsHost,
    port: config.metricsPort,
    logger,
    announce: { redis, key: keys.nodes, node: config.nodeId, service: 'auth' },
  });
  const port = await listen(server, config.host, config.port, logger);
  logger.info('auth node listening', { host: config.host, port, kid: signingKey.kid, metrics: served.url });
  onShutdownSignals(logger, config.shutdownGraceMs, async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
    await served.close();
    await state.close();
  });
}

main().catch(exitOnStartupError);
