import { resolve } from 'node:path';
import type { SystemName } from './load/protocol';

/** What Redis a system runs on: one server, or a Redis Cluster of 3 masters (ours only). */
export type BenchRedisMode = 'single' | 'cluster';

export interface BenchOptions {
  readonly quick: boolean;
  readonly systems: readonly SystemName[];
  /** Each system runs once per mode, in this order. */
  readonly redisModes: readonly BenchRedisMode[];
  readonly connections: number;
  readonly roomSize: number;
  readonly nodes: number;
  readonly workers: number;
  /** Aggregate publish rates, messages per second, one step each, in rising order. */
  readonly rates: readonly number[];
  readonly warmupMs: number;
  /** Extra warm-up before the first step (JIT, connection buffers). */
  readonly firstWarmupMs: number;
  readonly stepMs: number;
  /** How long after a step's window to wait for its last deliveries. */
  readonly drainMs: number;
  /** Quiet time before each idle memory reading. */
  readonly settleMs: number;
  /** The latency bar: a step passes when its p99 is at or under this. */
  readonly p99BarMs: number;
  /** A system's remaining steps are skipped once a step's p99 passes this. */
  readonly stopP99Ms: number;
  /** The delivery rate the p50/p99 headline figures are read at. */
  readonly referenceDeliveriesPerS: number;
  /** A light rate, with cores to spare, where server CPU per delivery is also read. */
  readonly lightDeliveriesPerS: number;
  readonly connectConcurrency: number;
  readonly outDir: string;
  readonly chatMain: string;
  /** LOG_LEVEL for our chat nodes (their production default is info). */
  readonly chatLogLevel: string;
  /**
   * Our nodes' metrics: on (their default: a listener each, scraped every
   * metricsScrapeMs as Prometheus would) or off (METRICS_PORT=off), to show what they cost.
   */
  readonly metrics: boolean;
  readonly metricsScrapeMs: number;
  /** `--chat-cpu-prof=DIR`: our storm nodes write V8 CPU profiles there when they exit (A's first life is lost to its kill). */
  readonly chatCpuProfDir: string | undefined;
  /** Extra environment for our chat nodes (`--chat-env=NAME=value,...`), e.g. an admission setting. */
  readonly chatEnv: Readonly<Record<string, string>>;
  /** Set: run the reconnect storm instead of the rate steps (`--storm=N`). */
  readonly storm: StormOptions | undefined;
}

/** The reconnect storm (`--storm=N`): see bench/README.md. */
export interface StormOptions {
  /** SDK clients, all on node A at first, in rooms of `roomSize`. */
  readonly clients: number;
  readonly roomSize: number;
  /** From the kill -9 of A to its restart. */
  readonly restartMs: number;
  /** Messages per second the senders on B post, over all rooms. */
  readonly ratePerS: number;
  /** Give up waiting for every client to resume after this long. */
  readonly timeoutMs: number;
  /** Clients per load generator process (each holds one socket per client: the file limit). */
  readonly clientsPerWorker: number;
  /** The clients' reconnect options over the SDK's defaults, e.g. baseDelayMs. */
  readonly reconnect: Readonly<Record<string, number>>;
}

const ALL_SYSTEMS: readonly SystemName[] = ['ours', 'socketio', 'relay'];
const REPO_ROOT = resolve(__dirname, '..', '..');

export const USAGE = `usage: npm run bench -- [options]   (every option also reads BENCH_<NAME>, e.g. BENCH_QUICK=1)
  --quick                 smoke run: 200 connections, 2 short steps
  --systems=a,b           any of ours,socketio,relay (default: all three, in that order)
  --redis=a,b             single and/or cluster (default single): each system once per mode;
                          cluster is a Redis Cluster of 3 masters (no replicas), ours only
  --connections=N         total connections (default 2000; quick 200), a multiple of --room-size
  --room-size=N           members per room, one of them the publisher (default 10)
  --rates=a,b,...         aggregate publish rates in messages/s (default 500,1000,1500,2000,2500,3000,4000)
  --step-seconds=S        measured window per step (default 10; quick 3)
  --warmup-seconds=S      unmeasured sending before each window (default 2; quick 1)
  --drain-seconds=S       wait for late deliveries after each window (default 5; quick 2)
  --stop-p99-ms=MS        skip a system's higher rates once p99 passes this (default 1000)
  --out=DIR               where the JSON result goes (default bench/results)
  --chat-main=FILE        our chat node entry (default services/chat/dist/main.js)
  --chat-log-level=L      LOG_LEVEL of our chat nodes (default info)
  --metrics=on|off        our nodes' Prometheus metrics, scraped every 5 s (default on); off
                          sets METRICS_PORT=off: run both to see what counting costs
  --chat-env=K=V,...      extra environment for our chat nodes (e.g. HANDSHAKE_MAX_WAIT_MS=0)
reconnect storm (ours only; the rate steps are not run):
  --storm=N               N SDK clients with the node list [A, B, C], all on A, rooms of --room-size;
                          senders on B post throughout; kill -9 A, restart it; time to all resumed
  --storm-restart-ms=MS   from the kill of A to its restart (default 3500)
  --storm-rate=R          messages/s the senders post over all rooms (default 100)
  --storm-timeout-seconds=S  give up waiting for every client after S (default 180)
  --storm-clients-per-worker=N  clients per load generator process (default 5000)
  --storm-reconnect=K=V,...  the clients' reconnect options over the SDK's defaults
                          (baseDelayMs, maxDelayMs, stableAfterMs)
  --chat-cpu-prof=DIR     the storm's nodes write V8 CPU profiles (--cpu-prof) to DIR on exit`;

type Raw = Record<string, string | undefined>;

function collect(argv: readonly string[], env: Raw): Raw {
  const raw: Raw = {};
  for (const [key, value] of Object.entries(env)) {
    if (key.startsWith('BENCH_') && value !== undefined) {
      raw[key.slice('BENCH_'.length).toLowerCase().replace(/_/g, '-')] = value;
    }
  }
  for (const arg of argv) {
    const match = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(arg);
    if (match === null) throw new Error(`unknown argument "${arg}"\n${USAGE}`);
    raw[match[1] as string] = match[2] ?? 'true';
  }
  return raw;
}

const KNOWN = new Set([
  'quick',
  'systems',
  'redis',
  'connections',
  'room-size',
  'rates',
  'step-seconds',
  'warmup-seconds',
  'drain-seconds',
  'stop-p99-ms',
  'out',
  'chat-main',
  'chat-log-level',
  'metrics',
  'chat-env',
  'chat-cpu-prof',
  'storm',
  'storm-restart-ms',
  'storm-rate',
  'storm-timeout-seconds',
  'storm-clients-per-worker',
  'storm-reconnect',
  'help',
]);

function positiveNumber(raw: Raw, name: string, def: number, integer = false): number {
  const text = raw[name];
  if (text === undefined) return def;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new Error(`--${name} must be a positive ${integer ? 'whole ' : ''}number, not "${text}"`);
  }
  return value;
}

/** `baseDelayMs=2000,maxDelayMs=30000` -> the SDK's reconnect options (numbers only). */
function reconnectOptions(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const pair of text.split(',').filter((p) => p.trim() !== '')) {
    const match = /^\s*(baseDelayMs|maxDelayMs|stableAfterMs)=(\d+)\s*$/.exec(pair);
    if (match === null)
      throw new Error(`--storm-reconnect takes baseDelayMs|maxDelayMs|stableAfterMs=N, not "${pair}"`);
    out[match[1] as string] = Number(match[2]);
  }
  return out;
}

/** Reads the options from the command line and BENCH_* variables (the command line wins). */
export function parseOptions(argv: readonly string[], env: Raw): BenchOptions | 'help' {
  const raw = collect(argv, env);
  for (const key of Object.keys(raw)) {
    if (!KNOWN.has(key)) throw new Error(`unknown option --${key}\n${USAGE}`);
  }
  if (raw.help !== undefined) return 'help';
  const quick = raw.quick !== undefined && !['0', 'false', 'no'].includes(raw.quick);

  const systems = (raw.systems ?? ALL_SYSTEMS.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const s of systems) {
    if (!(ALL_SYSTEMS as readonly string[]).includes(s)) throw new Error(`unknown system "${s}"`);
  }
  const redisModes = (raw.redis ?? 'single').split(',').map((s) => s.trim());
  for (const m of redisModes) {
    if (m !== 'single' && m !== 'cluster') throw new Error(`--redis is single and/or cluster, not "${m}"`);
  }
  if (redisModes.includes('cluster') && systems.some((s) => s !== 'ours')) {
    throw new Error('--redis=cluster runs our nodes only: add --systems=ours');
  }
  const roomSize = positiveNumber(raw, 'room-size', 10, true);
  const connections = positiveNumber(raw, 'connections', quick ? 200 : 2000, true);
  if (connections % roomSize !== 0) throw new Error('--connections must be a multiple of --room-size');
  const workers = 2;
  if (connections / roomSize < workers) throw new Error(`at least ${workers} rooms are needed`);

  const rates = (raw.rates ?? (quick ? '200,400' : '500,1000,1500,2000,2500,3000,4000'))
    .split(',')
    .map((s) => Number(s.trim()));
  if (rates.length === 0 || rates.some((r) => !Number.isFinite(r) || r <= 0)) {
    throw new Error('--rates must be positive numbers');
  }
  const metrics = raw.metrics ?? 'on';
  if (metrics !== 'on' && metrics !== 'off') throw new Error(`--metrics is on or off, not "${metrics}"`);
  const seconds = (name: string, def: number, quickDef: number) =>
    Math.round(positiveNumber(raw, name, quick ? quickDef : def) * 1000);
  const chatEnv: Record<string, string> = {};
  for (const pair of (raw['chat-env'] ?? '').split(',').filter((p) => p.trim() !== '')) {
    const match = /^\s*([A-Z][A-Z0-9_]*)=(.*)$/.exec(pair);
    if (match === null) throw new Error(`--chat-env takes NAME=value pairs, not "${pair}"`);
    chatEnv[match[1] as string] = (match[2] as string).trim();
  }
  let storm: StormOptions | undefined;
  if (raw.storm !== undefined) {
    const clients = positiveNumber(raw, 'storm', 5000, true);
    if (clients % roomSize !== 0) throw new Error('--storm must be a multiple of --room-size');
    storm = Object.freeze({
      clients,
      roomSize,
      restartMs: positiveNumber(raw, 'storm-restart-ms', 3500, true),
      ratePerS: positiveNumber(raw, 'storm-rate', 100),
      timeoutMs: Math.round(positiveNumber(raw, 'storm-timeout-seconds', 180) * 1000),
      clientsPerWorker: positiveNumber(raw, 'storm-clients-per-worker', 5000, true),
      reconnect: Object.freeze(reconnectOptions(raw['storm-reconnect'] ?? '')),
    });
  }

  return Object.freeze({
    quick,
    systems: Object.freeze(systems as SystemName[]),
    redisModes: Object.freeze(redisModes as BenchRedisMode[]),
    connections,
    roomSize,
    nodes: 3,
    workers,
    rates: Object.freeze([...rates].sort((a, b) => a - b)),
    warmupMs: seconds('warmup-seconds', 2, 1),
    firstWarmupMs: quick ? 1000 : 3000,
    stepMs: seconds('step-seconds', 10, 3),
    drainMs: seconds('drain-seconds', 5, 2),
    settleMs: quick ? 1000 : 2000,
    p99BarMs: 50,
    stopP99Ms: positiveNumber(raw, 'stop-p99-ms', 1000),
    referenceDeliveriesPerS: 20_000,
    lightDeliveriesPerS: 10_000,
    connectConcurrency: 50,
    outDir: resolve(raw.out ?? resolve(REPO_ROOT, 'bench', 'results')),
    chatMain: resolve(raw['chat-main'] ?? resolve(REPO_ROOT, 'services', 'chat', 'dist', 'main.js')),
    chatLogLevel: raw['chat-log-level'] ?? 'info',
    metrics: metrics === 'on',
    metricsScrapeMs: 5000,
    chatEnv: Object.freeze(chatEnv),
    chatCpuProfDir: raw['chat-cpu-prof'] === undefined ? undefined : resolve(raw['chat-cpu-prof']),
    storm,
  });
}
