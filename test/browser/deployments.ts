import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Cluster,
  freePorts,
  locateTools,
  missingToolsMessage,
  parseKnobs,
  passedEnvironment,
} from '@securechat/cluster';
import { PartOutput } from '../support/part-output';
import { ENTRIES, ROOT, ServiceProcess } from '../support/processes';

/**
 * What the browser tests need to change from the defaults, the same in every deployment:
 * a rate limit a test can reach in seconds (and a block after very few refusals, so that a
 * page that kept sending while limited would be blocked at once), a message size limit
 * that is not the default (the page must learn it), short access tokens (the page
 * refreshes through its cookie several times during the suite), and room for the suite's
 * many accounts from one address.
 */
export const WEB_TEST_ENV: Readonly<Record<string, string>> = Object.freeze({
  RATE_LIMIT_MAX: '5',
  RATE_LIMIT_WINDOW_MS: '6000',
  BLOCK_AFTER_VIOLATIONS: '3',
  MAX_MESSAGE_BYTES: '8192',
  ACCESS_TOKEN_TTL_S: '30',
  REGISTER_MAX_PER_ADDRESS_PER_HOUR: '1000',
  REGISTER_MAX_PER_ADDRESS_PER_DAY: '10000',
  SHUTDOWN_GRACE_MS: '2000',
  LOG_LEVEL: 'warn',
});

/** Where the web client runs for a suite, and how to hurt it. */
export interface Deployment {
  /** The page's URL (its origin is in ALLOWED_ORIGINS). */
  url: string;
  https: boolean;
  /** `kill -9` of a chat node by the name its welcome gives (the cluster only). */
  killChatNode?(node: string): Promise<void>;
  stop(): Promise<void>;
}

/** `npm start`'s process on a free port, opened as http://localhost:<port> as it says. */
export async function embeddedDeployment(): Promise<Deployment> {
  const node = await ServiceProcess.start(ENTRIES.embedded, { env: { ...WEB_TEST_ENV }, name: 'embedded' });
  return {
    url: `http://localhost:${node.port}/`,
    https: false,
    stop: async () => {
      await node.stop('SIGTERM', 5000);
    },
  };
}

/**
 * `npm run cluster`'s topology (Cluster from @securechat/cluster): redis-server, 2 auth
 * nodes, 2 chat nodes and nginx with TLS on a free port, the page served by nginx from
 * web/dist. The parts' output is kept, not printed.
 */
export async function clusterDeployment(): Promise<Deployment> {
  const output = new PartOutput();
  output.install();
  const dir = mkdtempSync(join(tmpdir(), 'securechat-web-'));
  chmodSync(dir, 0o755);
  const located = locateTools(process.env.PATH);
  if (located.missing.length > 0)
    throw new Error(missingToolsMessage(located.missing, process.getuid?.() === 0));
  let cluster: Cluster | undefined;
  let url = '';
  let lastError: unknown;
  // Free ports are free when asked for, not necessarily when redis-server or nginx binds them.
  for (let attempt = 0; attempt < 3 && cluster === undefined; attempt++) {
    const [httpsPort, redisPort] = (await freePorts(2)) as [number, number];
    const knobs = parseKnobs(
      {
        CLUSTER_HTTPS_PORT: String(httpsPort),
        CLUSTER_REDIS_PORT: String(redisPort),
        CLUSTER_DIR: dir,
        CLUSTER_AUTH_NODES: '2',
        CLUSTER_CHAT_NODES: '2',
      },
      ROOT,
    );
    const candidate = new Cluster({
      repoRoot: ROOT,
      knobs,
      env: passedEnvironment({ PATH: process.env.PATH, ...WEB_TEST_ENV }),
      tools: located.found,
      log: (line) => output.add('cluster', line),
      readyTimeoutMs: 60_000,
    });
    try {
      url = `${(await candidate.start()).url}/`;
      cluster = candidate;
    } catch (err) {
      lastError = err;
      await candidate.stop();
    }
  }
  if (cluster === undefined) {
    output.uninstall();
    rmSync(dir, { recursive: true, force: true });
    const detail = lastError instanceof Error ? lastError.message : String(lastError);
    throw new Error(`the cluster did not start: ${detail}\n${output.tail()}`);
  }
  const running = cluster;
  return {
    url,
    https: true,
    killChatNode: async (node) => {
      const part = running.part(node);
      if (part === undefined) throw new Error(`no part named ${node}`);
      part.signal('SIGKILL');
      await part.exited();
    },
    stop: async () => {
      try {
        await running.stop();
      } finally {
        output.uninstall();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
