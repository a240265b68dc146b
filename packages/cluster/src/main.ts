#!/usr/bin/env node
/**
 * `npm run cluster`: the production topology as local processes (see CONTRACT.md and
 * docs/DEPLOY.md). Prints `cluster ready: <url>` once every part answers; SIGINT or
 * SIGTERM stops all of it.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Cluster } from './cluster';
import { KnobError, parseKnobs, passedEnvironment, type ClusterKnobs } from './knobs';
import { locateTools, missingToolsMessage } from './prerequisites';
import { nodeSpecs, WEB_DIST } from './topology';

const log = (line: string) => process.stdout.write(`[cluster] ${line}\n`);

async function main(): Promise<void> {
  const repoRoot = resolve(__dirname, '..', '..', '..');
  const { found, missing } = locateTools(process.env.PATH);
  if (missing.length > 0) {
    process.stderr.write(missingToolsMessage(missing, process.getuid?.() === 0));
    process.exit(1);
  }
  const knobs = knobsOrExit(repoRoot);
  const entries = new Set(nodeSpecs(knobs.authNodes, knobs.chatNodes).map((s) => s.entry));
  entries.add(`${WEB_DIST}/index.html`);
  for (const entry of entries) {
    if (!existsSync(join(repoRoot, entry))) {
      process.stderr.write(`${entry} does not exist: build first (npm run build)\n`);
      process.exit(1);
    }
  }

  const cluster = new Cluster({ repoRoot, knobs, env: passedEnvironment(process.env), tools: found, log });
  let exiting = false;
  const shutdown = (signal: string, code: number) => {
    // npm passes a terminal's Ctrl-C on as well: one stop is enough, and it has deadlines.
    if (exiting) return;
    exiting = true;
    log(`${signal}: stopping every part`);
    cluster.stop().then(
      () => {
        log('stopped');
        process.exit(code);
      },
      (err: unknown) => {
        process.stderr.write(`[cluster] stop failed: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT', 0));
  process.on('SIGTERM', () => shutdown('SIGTERM', 0));
  process.on('SIGHUP', () => shutdown('SIGHUP', 0));

  try {
    const running = await cluster.start();
    if (!exiting) {
      // The operator's Redis URL right after the ready line (CONTRACT.md): Redis requires
      // credentials, and redis-cli -u and chatctl's REDIS_URL take this one. Then where each
      // node's metrics are.
      process.stdout.write(`cluster ready: ${running.url}\n`);
      // One line per Redis data server (the master first); in sentinel mode chatctl
      // follows the master through the sentinels (REDIS_SENTINELS, REDIS_SENTINEL_NAME), in
      // cluster mode any one server's URL serves (redis-cli -c, chatctl follows redirects).
      for (const url of running.operatorRedisUrls) process.stdout.write(`redis: ${url}\n`);
      for (const node of running.nodes)
        process.stdout.write(`metrics: ${node.spec.name} ${node.metricsUrl}\n`);
    }
  } catch (err) {
    if (exiting) return;
    process.stderr.write(`[cluster] could not start: ${err instanceof Error ? err.message : String(err)}\n`);
    shutdown('start-up failure', 1);
  }
}

function knobsOrExit(repoRoot: string): ClusterKnobs {
  try {
    return parseKnobs(process.env, repoRoot);
  } catch (err) {
    if (!(err instanceof KnobError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`[cluster] ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
