import type { Server, ServerOptions } from 'node:http';
import type { ServerSettings } from './config';
import type { Logger } from './logger';

/**
 * How long an idle keep-alive connection stays open on a node. Longer than any proxy in
 * front of it keeps an idle upstream connection (nginx/nginx.conf.template's upstream
 * `keepalive_timeout`, 30 s; ingress-nginx's `upstream-keepalive-timeout`, 60 s by
 * default): the proxy always closes first, so it never sends a request (a POST, which it
 * may not retry) on a connection the node is closing, which would be a 502.
 */
export const KEEP_ALIVE_TIMEOUT_MS = 75_000;

/**
 * The HTTP server settings every node kind shares (auth, chat, embedded): a client that
 * sends its headers slowly (slowloris) is cut after HTTP_HEADERS_TIMEOUT_MS, a whole
 * request after 5 s more, checked every second rather than Node's default 30 s.
 */
export function httpServerOptions(config: Pick<ServerSettings, 'httpHeadersTimeoutMs'>): ServerOptions {
  return {
    headersTimeout: config.httpHeadersTimeoutMs,
    requestTimeout: config.httpHeadersTimeoutMs + 5000,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    connectionsCheckingInterval: Math.min(1000, config.httpHeadersTimeoutMs),
  };
}

/**
 * Runs `shutdown` once on SIGINT or SIGTERM, then exits; a second signal or the grace
 * period running out exits at once.
 */
export function onShutdownSignals(
  logger: Logger,
  graceMs: number,
  shutdown: (signal: string) => Promise<void>,
): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn('second signal, exiting now', { signal });
      process.exit(1);
    }
    stopping = true;
    logger.info('shutting down', { signal, graceMs });
    const timer = setTimeout(() => {
      logger.error('grace period over, exiting');
      process.exit(1);
    }, graceMs + 1000);
    timer.unref();
    shutdown(signal).then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error('shutdown failed', { err });
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

/** Prints a startup failure (a bad variable, a missing key file) and exits non-zero. */
export function exitOnStartupError(err: unknown): never {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

/**
 * Listens and resolves with the port (port 0 picks a free one). After listening, an
 * accept failure such as EMFILE is an 'error' event: it is logged, never a crash.
 */
export async function listen(server: Server, host: string, port: number, logger: Logger): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => logger.error('http server error', { err }));
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : port;
}
