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
} from '@securechat/common';
import { authLimits, createRedisAuthState } from '@securechat/state';
import { loadJwksFile, loadSigningKey } from '@securechat/tokens';
import { createAuthNode } from './node';

/** `npm run start:auth`: one stateless auth node against REDIS_URL. */
async function main(): Promise<void> {
  const config = loadConfig(process.env, 'auth');
  const logger = createLogger({ level: config.logLevel, service: 'auth', node: config.nodeId });
  const signingKey = loadSigningKey(config.jwtPrivateKeyFile);
  const extraPublicKeys = config.jwtPublicKeysFile ? loadJwksFile(config.jwtPublicKeysFile) : undefined;
  const redis = createRedisClient({ ...redisConnection(config), name: `auth:${config.nodeId}`, logger });
  const state = createRedisAuthState(redis, keySchema(config.redisPrefix), authLimits(config));
  const node = createAuthNode({ config, state, signingKey, extraPublicKeys, logger });
  await node.ready();
  const server = createServer(httpServerOptions(config), node.app);
  const port = await listen(server, config.host, config.port, logger);
  logger.info('auth node listening', { host: config.host, port, kid: signingKey.kid });
  onShutdownSignals(logger, config.shutdownGraceMs, async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
    await state.close();
  });
}

main().catch(exitOnStartupError);
