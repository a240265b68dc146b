import type { Logger } from '@securechat/common';
import type { Registry } from 'prom-client';
import { NodeAnnouncer, type DirectoryRedis } from './directory';
import type { ServiceName } from './registry';
import { startMetricsServer } from './server';

export interface ServeOptions {
  registry: Registry;
  /** METRICS_HOST and METRICS_PORT (undefined: METRICS_PORT=off, no listener). */
  host: string;
  port: number | undefined;
  logger: Logger;
  /** Where `chatctl top` finds this node: its entry in `<prefix>nodes` (Redis deployments). */
  announce?: { redis: DirectoryRedis; key: string; node: string; service: ServiceName };
}

export interface ServedMetrics {
  /** The listener's URL, or undefined when metrics are off. */
  readonly url: string | undefined;
  /** Withdraws the announcement and closes the listener. */
  close(): Promise<void>;
}

/** What a process's `main` does with its registry: listen, announce, and stop both. */
export async function serveMetrics(options: ServeOptions): Promise<ServedMetrics> {
  if (options.port === undefined) {
    options.logger.info('metrics off (METRICS_PORT=off)');
    return { url: undefined, close: () => Promise.resolve() };
  }
  const server = await startMetricsServer({ ...options, port: options.port });
  const { announce } = options;
  const announcer =
    announce === undefined
      ? undefined
      : new NodeAnnouncer(
          announce.redis,
          announce.key,
          { node: announce.node, service: announce.service, url: server.url },
          options.logger,
        );
  await announcer?.start();
  return {
    url: server.url,
    close: async () => {
      await announcer?.withdraw();
      await server.close();
    },
  };
}
