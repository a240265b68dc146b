import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { redisServerVersion } from '@securechat/cluster';
import { cpus, release, tmpdir, totalmem, type } from 'node:os';
import { join } from 'node:path';
import { parseOptions, USAGE, type BenchOptions } from './options';
import { ProcStats } from './proc-stats';
import { toMarkdown } from './report';
import type { BenchResult, SystemResult } from './results';
import { runSystem } from './runner';
import { summarize } from './summary';
import { stormMarkdown } from './storm/report';
import { runStorm } from './storm/runner';
import { createSystem, SYSTEM_LABELS } from './systems';

/** `npm run bench`: every system in turn, one JSON result file, a markdown table on stdout. */
async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const parsed = parseOptions(argv, process.env);
  if (parsed === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const options: BenchOptions = parsed;
  const started = Date.now();
  const log = (line: string) =>
    process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${line}\n`);
  const machine = {
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    cpus: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${type()} ${release()}`,
    node: process.version,
    redis: redisServerVersion(),
  };
  const dir = mkdtempSync(join(tmpdir(), 'securechat-bench-'));
  const stats = new ProcStats();
  if (options.storm !== undefined) return storm(options, options.storm, argv, machine, dir, stats, log);
  const systems: SystemResult[] = [];
  for (const name of options.systems) {
    for (const mode of options.redisModes) {
      const systemDir = join(dir, `${name}-${mode}`);
      mkdirSync(systemDir);
      const label =
        mode === 'cluster' ? `${SYSTEM_LABELS[name]} on Redis Cluster (3 masters)` : SYSTEM_LABELS[name];
      try {
        const system = { ...createSystem(name, options, systemDir), label };
        systems.push(await runSystem(system, options, stats, systemDir, log, mode));
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        log(`${name}: FAILED: ${error}`);
        systems.push({
          name,
          label,
          redis: mode,
          error,
          steps: [],
          skippedRates: [],
          summary: summarize([], options),
        });
      }
    }
  }
  const result: BenchResult = {
    startedAt: new Date(started).toISOString(),
    finishedAt: new Date().toISOString(),
    durationS: (Date.now() - started) / 1000,
    command: ['npm run bench', ...(argv.length > 0 ? ['--', ...argv] : [])].join(' '),
    machine,
    workload: {
      connections: options.connections,
      roomSize: options.roomSize,
      rooms: options.connections / options.roomSize,
      nodes: options.nodes,
      loadGenerators: options.workers,
      ratesPerS: options.rates,
      warmupSeconds: options.warmupMs / 1000,
      firstWarmupSeconds: (options.warmupMs + options.firstWarmupMs) / 1000,
      stepSeconds: options.stepMs / 1000,
      drainSeconds: options.drainMs / 1000,
      p99BarMs: options.p99BarMs,
      /** Our nodes' metrics: on (listener, counting, scraped every 5 s) or off (METRICS_PORT=off). */
      metrics: options.metrics ? 'on' : 'off',
      redis: options.redisModes,
      referenceDeliveriesPerS: options.referenceDeliveriesPerS,
      quick: options.quick,
    },
    systems,
  };
  mkdirSync(options.outDir, { recursive: true });
  const file = join(
    options.outDir,
    `bench-${result.startedAt.replace(/[:.]/g, '-')}${options.quick ? '-quick' : ''}.json`,
  );
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(
    toMarkdown(result, options.referenceDeliveriesPerS, options.p99BarMs, options.lightDeliveriesPerS),
  );
  log(`result: ${file}`);
  const failed = systems.some((s) => s.error !== undefined);
  if (failed) log(`node logs kept in ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
  return failed ? 1 : 0;
}

/** `--storm=N`: the reconnect storm instead of the rate steps; its own JSON file and table. */
async function storm(
  options: BenchOptions,
  stormOptions: NonNullable<BenchOptions['storm']>,
  argv: readonly string[],
  machine: Record<string, unknown>,
  dir: string,
  stats: ProcStats,
  log: (line: string) => void,
): Promise<number> {
  const startedAt = new Date().toISOString();
  let failed = false;
  try {
    const result = await runStorm(stormOptions, options, stats, dir, log);
    mkdirSync(options.outDir, { recursive: true });
    const file = join(options.outDir, `storm-${startedAt.replace(/[:.]/g, '-')}.json`);
    const command = ['npm run bench', '--', ...argv].join(' ');
    writeFileSync(file, `${JSON.stringify({ startedAt, command, machine, storm: result }, null, 2)}\n`);
    process.stdout.write(stormMarkdown(result));
    log(`result: ${file}`);
    failed = result.allResumedMs === undefined || result.missing > 0 || result.doubled > 0;
  } catch (err) {
    failed = true;
    log(`storm: FAILED: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (failed) log(`node logs kept in ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  },
);
