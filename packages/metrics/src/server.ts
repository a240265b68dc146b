import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { networkInterfaces } from 'node:os';
import type { Registry } from 'prom-client';
import { listen, type Logger } from '@securechat/common';

export const METRICS_PATH = '/metrics';

export interface MetricsServerOptions {
  registry: Registry;
  /** METRICS_HOST: 127.0.0.1 by default; 0.0.0.0 in containers, for Prometheus. */
  host: string;
  /** METRICS_PORT: 0 picks a free port. */
  port: number;
  logger: Logger;
}

export interface MetricsServer {
  readonly port: number;
  /** Where a scraper on this machine or network reaches it (see `advertisedHost`). */
  readonly url: string;
  close(): Promise<void>;
}

function json(res: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  });
  res.end(text);
}

/**
 * The address a scraper uses for a listener on `host`: the host itself, or for a
 * wildcard (0.0.0.0, ::) the machine's first external IPv4 address (a pod's or a
 * container's address on its network), else its IPv6 one, else loopback.
 */
export function advertisedHost(host: string): string {
  if (host !== '0.0.0.0' && host !== '::' && host !== '') return host;
  const external = Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .filter((a) => !a.internal);
  const v4 = external.find((a) => a.family === 'IPv4');
  if (v4 !== undefined) return v4.address;
  const v6 = external.find((a) => a.family === 'IPv6' && !a.address.startsWith('fe80'));
  return v6 !== undefined ? v6.address : '127.0.0.1';
}

export function metricsUrl(host: string, port: number): string {
  const shown = advertisedHost(host);
  return `http://${shown.includes(':') ? `[${shown}]` : shown}:${port}${METRICS_PATH}`;
}

/**
 * A node's metrics listener: `GET /metrics` in Prometheus text format, on its own
 * address and port, apart from the public one (nginx never routes to it). Everything
 * else is a JSON 404 (405 for another method on /metrics); it never answers with more
 * than the registry holds.
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const { registry, logger } = options;
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== METRICS_PATH) return json(res, 404, { error: 'not_found', message: 'no such endpoint' });
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return json(res, 405, { error: 'method_not_allowed', message: 'GET only' }, { Allow: 'GET, HEAD' });
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, {
          'Content-Type': registry.contentType,
          'Content-Length': Buffer.byteLength(text),
          'Cache-Control': 'no-store',
        });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        logger.error('metrics collection failed', { err });
        json(res, 500, { error: 'internal', message: 'metrics unavailable' });
      },
    );
  };
  const server = createServer(handler);
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.on('clientError', (_err, socket) => socket.destroy());
  let port: number;
  try {
    port = await listen(server, options.host, options.port, logger);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(
      `metrics listener on ${options.host}:${options.port} failed (${reason}): ` +
        'set METRICS_PORT to a free port, 0 for any free port, or off',
    );
  }
  const url = metricsUrl(options.host, port);
  logger.info('metrics listening', { host: options.host, port, url });
  return {
    port,
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
