import { createServer } from 'node:http';
import { createLogger, exitOnStartupError, loadConfig, onShutdownSignals } from '@securechat/common';
import { createMemoryAuthState } from '@securechat/state';
import { generateSigningKey, loadSigningKey } from '@securechat/tokens';
import { createAuthNode } from '@securechat/auth';

/**
 * `npm start`: the whole product in one process with embedded (memory) state and a
 * signing key generated at start. For development; nothing survives a restart.
 */
async function main(): Promise<void> {
  const config = loadConfig(process.env, 'embedded');
  const logger = createLogger({ level: config.logLevel, service: 'embedded', node: config.nodeId });
  const signingKey = config.jwtPrivateKeyFile
    ? loadSigningKey(config.jwtPrivateKeyFile)
    : generateSigningKey();
  const state = createMemoryAuthState({
    maxConsecutiveFailures: config.loginMaxConsecutiveFailures,
    maxFailuresPerAddressPerDay: config.loginMaxFailuresPerAddressPerDay,
  });
  const auth = createAuthNode({ config, state, signingKey, logger });
  await auth.ready();
  const server = createServer(auth.app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, resolve);
  });
  // After listening, an accept failure (EMFILE) is an 'error' event: log it, do not crash.
  server.on('error', (err) => logger.error('http server error', { err }));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  logger.info('embedded node listening', { url: `http://${config.host}:${port}`, mode: 'embedded' });
  onShutdownSignals(logger, config.shutdownGraceMs, async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
  });
}

main().catch(exitOnStartupError);
