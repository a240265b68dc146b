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
  // For the person who typed `npm start`: one plain line between the JSON logs.
  process.stdout.write(
    `securechat ready: open ${pageUrl(config.host, embedded.port)} in two windows to chat\n`,
  );
  onShutdownSignals(logger, config.shutdownGraceMs, () => embedded.close());
}

/**
 * Where a browser should open the page. On a loopback or wildcard address that is
 * localhost, which Chromium treats as a secure context: the session cookie (Secure)
 * works there over plain HTTP, so a reload keeps the session.
 */
function pageUrl(host: string, port: number): string {
  const local = ['127.0.0.1', '0.0.0.0', '::', '::1', 'localhost'].includes(host);
  const name = local ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `http://${name}:${port}/`;
}

main().catch(exitOnStartupError);
