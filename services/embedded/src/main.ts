import { createLogger, exitOnStartupError, loadConfig, onShutdownSignals } from '@securechat/common';
import { startEmbedded } from './embedded';

/** `npm start`: the whole product in one process with embedded (memory) state. */
async function main(): Promise<void> {
  const config = loadConfig(process.env, 'embedded');
  const logger = createLogger({ level: config.logLevel, service: 'embedded', node: config.nodeId });
  const embedded = await startEmbedded(config, logger);
  logger.info('embedded node listening', {
    url: `http://${config.host}:${embedded.port}`,
    mode: 'embedded',
    metrics: embedded.metricsUrl,
  });
  onShutdownSignals(logger, config.shutdownGraceMs, () => embedded.close());
}

main().catch(exitOnStartupError);
