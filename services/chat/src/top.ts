/**
 * `chatctl top`: the operator's live view of the cluster without Grafana. Nodes come from
 * the directory every node keeps in Redis (`<prefix>nodes`: its metrics URL), or from
 * `--metrics url,...`; each is scraped, and two scrapes an interval apart give the rates.
 * Redis health is read by chatctl itself (PING round trip, INFO). A plain terminal view:
 * redrawn in place with ANSI codes, or printed once with `--once` for scripts.
 */
import type { RedisLike } from '@securechat/common';
import type { KeySchema } from '@securechat/common';
import {
  buckets,
  delta,
  parseExposition,
  quantile,
  readDirectory,
  sum,
  type Exposition,
} from '@securechat/metrics';

export interface TopOptions {
  intervalMs: number;
  once: boolean;
  /** Metrics URLs given on the command line instead of the directory in Redis. */
  metricsUrls: readonly string[] | undefined;
}

export const TOP_USAGE = `usage: npm run chatctl -- top [--once] [--interval=SECONDS] [--metrics=URL,URL,...]
  --once          two samples an interval apart, one plain report, then exit
                  (exit 0 when Redis and every node answered, 2 otherwise)
  --interval=S    seconds between samples (default 2; 0.2 to 60)
  --metrics=...   scrape these /metrics URLs instead of the nodes registered in Redis`;

/** Parses the arguments after `top`; throws with the usage for anything else. */
export function parseTopOptions(args: readonly string[]): TopOptions {
  let intervalMs = 2000;
  let once = false;
  let metricsUrls: string[] | undefined;
  for (const arg of args) {
    const [name, value] = arg.split(/=(.*)/s, 2) as [string, string | undefined];
    if (name === '--once' && value === undefined) once = true;
    else if (name === '--interval' && value !== undefined) {
      const seconds = Number(value);
      if (!(seconds >= 0.2 && seconds <= 60))
        throw new Error(`--interval is 0.2 to 60 seconds\n${TOP_USAGE}`);
      intervalMs = Math.round(seconds * 1000);
    } else if (name === '--metrics' && value !== undefined) {
      metricsUrls = value.split(',').map((u) => u.trim());
      for (const url of metricsUrls) {
        let parsed: URL;
        try {
          parsed = new URL(url);
        } catch {
          throw new Error(`not a URL: ${url}\n${TOP_USAGE}`);
        }
        if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
          throw new Error(`not an http(s) URL: ${url}\n${TOP_USAGE}`);
        }
      }
    } else throw new Error(`unknown argument ${arg}\n${TOP_USAGE}`);
  }
  return { intervalMs, once, metricsUrls };
}

interface Target {
  /** NODE_ID from the directory; from `securechat_node_info` for a URL given by hand. */
  node: string | undefined;
  url: string;
}

interface NodeReading {
  target: Target;
  exposition?: Exposition;
  error?: string;
}

interface RedisReading {
  ok: boolean;
  pingMs?: number;
  info?: Record<string, string>;
  error?: string;
}

export interface Reading {
  at: number;
  redis: RedisReading;
  nodes: NodeReading[];
  /** Directory entries not renewed lately: nodes that died without withdrawing. */
  stale: string[];
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

async function readRedis(redis: RedisLike): Promise<RedisReading> {
  try {
    const start = performance.now();
    await redis.ping();
    const pingMs = performance.now() - start;
    const info: Record<string, string> = {};
    for (const line of (await redis.info()).split('\r\n')) {
      const at = line.indexOf(':');
      if (at > 0 && !line.startsWith('#')) info[line.slice(0, at)] = line.slice(at + 1);
    }
    return { ok: true, pingMs, info };
  } catch (err) {
    return { ok: false, error: errorText(err) };
  }
}

async function scrape(target: Target): Promise<NodeReading> {
  try {
    const res = await fetch(target.url, { signal: AbortSignal.timeout(2000) });
    if (res.status !== 200) return { target, error: `HTTP ${res.status}` };
    return { target, exposition: parseExposition(await res.text()) };
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return { target, error: `${errorText(err)}${cause}` };
  }
}

/** One reading of everything: Redis, the node list, every node's metrics. */
export async function read(redis: RedisLike, keys: KeySchema, options: TopOptions): Promise<Reading> {
  const redisReading = await readRedis(redis);
  let targets: Target[];
  let stale: string[] = [];
  if (options.metricsUrls !== undefined) {
    targets = options.metricsUrls.map((url) => ({ node: undefined, url }));
  } else if (redisReading.ok) {
    try {
      const directory = await readDirectory(redis, keys.nodes);
      targets = directory.live.map((e) => ({ node: e.node, url: e.url }));
      stale = directory.stale.map((e) => e.node);
    } catch (err) {
      targets = [];
      redisReading.error = `node directory: ${errorText(err)}`;
    }
  } else {
    targets = [];
  }
  return { at: Date.now(), redis: redisReading, nodes: await Promise.all(targets.map(scrape)), stale };
}

// ---- rendering -----------------------------------------------------------------------

interface Row {
  node: string;
  service: string;
  cells: string[];
}

function nodeName(reading: NodeReading): string {
  if (reading.target.node !== undefined) return reading.target.node;
  const info = reading.exposition?.samples.find((s) => s.name === 'securechat_node_info');
  return info?.labels.node ?? reading.target.url;
}

function serviceOf(reading: NodeReading): string {
  const info = reading.exposition?.samples.find((s) => s.name === 'securechat_node_info');
  return info?.labels.service ?? '?';
}

const fmt = {
  int: (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '-' : String(Math.round(n))),
  rate: (n: number | undefined) =>
    n === undefined || !Number.isFinite(n)
      ? '-'
      : n >= 100
        ? n.toFixed(0)
        : n >= 10
          ? n.toFixed(1)
          : n.toFixed(2),
  ms: (seconds: number | undefined) =>
    seconds === undefined || !Number.isFinite(seconds)
      ? '-'
      : seconds * 1000 >= 100
        ? `${(seconds * 1000).toFixed(0)}ms`
        : `${(seconds * 1000).toFixed(1)}ms`,
  bytes: (n: number | undefined) =>
    n === undefined || !Number.isFinite(n)
      ? '-'
      : n >= 2 ** 30
        ? `${(n / 2 ** 30).toFixed(1)}G`
        : `${(n / 2 ** 20).toFixed(0)}M`,
};

/** Per second between two readings of a node; undefined without an earlier one. */
function rate(
  now: Exposition,
  before: Exposition | undefined,
  seconds: number,
  name: string,
  labels?: Record<string, string>,
): number | undefined {
  if (before === undefined || seconds <= 0) return undefined;
  return Math.max(0, sum(now, name, labels) - sum(before, name, labels)) / seconds;
}

/** The p99 of a histogram over the interval between two readings; none without an earlier one. */
function p99(now: Exposition, before: Exposition | undefined, name: string, labels?: Record<string, string>) {
  if (before === undefined) return undefined;
  return quantile(0.99, delta(buckets(now, name, labels), buckets(before, name, labels)));
}

const CHAT_HEADER = [
  'NODE',
  'CONNS',
  'ROOMS',
  'MSG/S',
  'REFUSED/S',
  'DELIV/S',
  'DELIV P99',
  'HS REFUSED/S',
  'CLOSES/S',
  'REDIS P99',
  'REDIS',
  'LAG P99',
  'RSS',
];
const AUTH_HEADER = [
  'NODE',
  'REQ/S',
  '5XX/S',
  'LOGIN OK/S',
  'FAILED/S',
  'LIMITED/S',
  'BLOCKED/S',
  'REUSE',
  'BCRYPT P99',
  'REDIS P99',
  'REDIS',
  'LAG P99',
  'RSS',
];

function common(now: Exposition, before: Exposition | undefined): string[] {
  const connected = now.samples.filter((s) => s.name === 'securechat_redis_connected');
  const redis = connected.length === 0 ? '-' : connected.every((s) => s.value === 1) ? 'up' : 'DOWN';
  return [
    fmt.ms(p99(now, before, 'securechat_redis_command_duration_seconds')),
    redis,
    fmt.ms(sum(now, 'nodejs_eventloop_lag_p99_seconds')),
    fmt.bytes(sum(now, 'process_resident_memory_bytes')),
  ];
}

function chatRow(reading: NodeReading, before: NodeReading | undefined, seconds: number): string[] {
  const now = reading.exposition as Exposition;
  const prev = before?.exposition;
  const r = (name: string, labels?: Record<string, string>) => rate(now, prev, seconds, name, labels);
  const accepted = r('securechat_chat_messages_total', { outcome: 'accepted' });
  const all = r('securechat_chat_messages_total');
  return [
    fmt.int(sum(now, 'securechat_chat_connections')),
    fmt.int(sum(now, 'securechat_chat_rooms')),
    fmt.rate(accepted),
    fmt.rate(all === undefined || accepted === undefined ? undefined : all - accepted),
    fmt.rate(r('securechat_chat_deliveries_total')),
    fmt.ms(p99(now, prev, 'securechat_chat_delivery_seconds')),
    fmt.rate(r('securechat_chat_handshakes_total', { outcome: 'refused' })),
    fmt.rate(r('securechat_chat_closes_total')),
    ...common(now, prev),
  ];
}

function authRow(reading: NodeReading, before: NodeReading | undefined, seconds: number): string[] {
  const now = reading.exposition as Exposition;
  const prev = before?.exposition;
  const r = (name: string, labels?: Record<string, string>) => rate(now, prev, seconds, name, labels);
  const serverErrors =
    prev === undefined
      ? undefined
      : now.samples
          .filter(
            (s) => s.name === 'securechat_auth_requests_total' && (s.labels.status ?? '').startsWith('5'),
          )
          .reduce((n, s) => n + s.value, 0) -
        prev.samples
          .filter(
            (s) => s.name === 'securechat_auth_requests_total' && (s.labels.status ?? '').startsWith('5'),
          )
          .reduce((n, s) => n + s.value, 0);
  return [
    fmt.rate(r('securechat_auth_requests_total')),
    fmt.rate(serverErrors === undefined ? undefined : Math.max(0, serverErrors) / seconds),
    fmt.rate(r('securechat_auth_logins_total', { outcome: 'ok' })),
    fmt.rate(r('securechat_auth_logins_total', { outcome: 'invalid_credentials' })),
    fmt.rate(r('securechat_auth_logins_total', { outcome: 'limited' })),
    fmt.rate(r('securechat_auth_logins_total', { outcome: 'blocked' })),
    fmt.int(sum(now, 'securechat_auth_refreshes_total', { outcome: 'reused' })),
    fmt.ms(p99(now, prev, 'securechat_auth_bcrypt_seconds')),
    ...common(now, prev),
  ];
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number)))
      .join('  ');
  return [line(header), ...rows.map(line)];
}

function redisLine(redis: RedisReading, redisName: string): string {
  if (!redis.ok) return `redis ${redisName}: DOWN (${redis.error ?? 'no answer'})`;
  const i = redis.info ?? {};
  const parts = [
    `up, ping ${(redis.pingMs ?? 0).toFixed(1)}ms`,
    `v${i.redis_version ?? '?'}`,
    `role ${i.role ?? '?'}`,
    `clients ${i.connected_clients ?? '?'}`,
    `memory ${i.used_memory_human ?? '?'}`,
    `ops/s ${i.instantaneous_ops_per_sec ?? '?'}`,
    `pubsub channels ${i.pubsub_channels ?? '?'}`,
    `aof ${i.aof_enabled === '1' ? `on (last write ${i.aof_last_write_status ?? '?'})` : 'off'}`,
  ];
  if (i.rdb_last_bgsave_status !== undefined && i.rdb_last_bgsave_status !== 'ok')
    parts.push('LAST SAVE FAILED');
  return `redis ${redisName}: ${parts.join(', ')}${redis.error !== undefined ? ` (${redis.error})` : ''}`;
}

/** The view: Redis, then chat nodes and auth nodes (an embedded node in both), then problems. */
export function render(now: Reading, before: Reading | undefined, redisName: string): string {
  const seconds = before === undefined ? 0 : (now.at - before.at) / 1000;
  const previous = (reading: NodeReading) =>
    before?.nodes.find((b) => b.target.url === reading.target.url && b.exposition !== undefined);
  const up = now.nodes.filter((n) => n.exposition !== undefined);
  const down = now.nodes.filter((n) => n.exposition === undefined);
  const chat: Row[] = [];
  const auth: Row[] = [];
  for (const n of up) {
    const service = serviceOf(n);
    const name = nodeName(n);
    if (service === 'chat' || service === 'embedded') {
      chat.push({ node: name, service, cells: chatRow(n, previous(n), seconds) });
    }
    if (service === 'auth' || service === 'embedded') {
      auth.push({ node: name, service, cells: authRow(n, previous(n), seconds) });
    }
  }
  const byName = (a: Row, b: Row) => a.node.localeCompare(b.node);
  const out: string[] = [
    `securechat top - ${new Date(now.at).toISOString()} - ${up.length} node(s) up, ${down.length} down` +
      (before === undefined ? ' - rates from the next sample' : ` - rates over ${seconds.toFixed(1)}s`),
    redisLine(now.redis, redisName),
    '',
  ];
  if (chat.length > 0) {
    const rows = chat.sort(byName).map((r) => [r.node, ...r.cells]);
    const total = (i: number) => rows.reduce((n, r) => n + (Number(r[i]) || 0), 0);
    out.push(
      'chat',
      ...table(CHAT_HEADER, [
        ...rows,
        ['total', fmt.int(total(1)), '', fmt.rate(total(3)), fmt.rate(total(4)), fmt.rate(total(5))],
      ]),
      '',
    );
  }
  if (auth.length > 0)
    out.push(
      'auth',
      ...table(
        AUTH_HEADER,
        auth.sort(byName).map((r) => [r.node, ...r.cells]),
      ),
      '',
    );
  if (now.nodes.length === 0) {
    out.push(
      now.redis.ok
        ? 'no node has registered its metrics URL (METRICS_PORT=off?); give --metrics=URL,...'
        : 'no nodes: the directory is in Redis, which does not answer; give --metrics=URL,...',
    );
  }
  for (const n of down) out.push(`DOWN ${nodeName(n)} ${n.target.url}: ${n.error ?? 'no answer'}`);
  for (const node of now.stale)
    out.push(`stale ${node}: not announced for a while (stopped without withdrawing?)`);
  return `${out.join('\n').trimEnd()}\n`;
}

/** 0 when Redis and every node answered, 2 otherwise. */
export function healthCode(reading: Reading): number {
  return reading.redis.ok && reading.nodes.every((n) => n.exposition !== undefined) ? 0 : 2;
}

const CLEAR = '\x1b[H\x1b[2J';
const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';

/**
 * Runs the view. With `once`, two readings an interval apart and one report; otherwise a
 * redraw every interval until `stop` resolves (SIGINT in chatctl). Returns the exit code.
 */
export async function runTop(
  redis: RedisLike,
  keys: KeySchema,
  options: TopOptions,
  out: NodeJS.WritableStream,
  shownName: string,
  stop: Promise<void>,
): Promise<number> {
  let stopped = false;
  void stop.then(() => (stopped = true));
  const pause = () => Promise.race([new Promise((r) => setTimeout(r, options.intervalMs).unref()), stop]);
  let before = await read(redis, keys, options);
  if (options.once) {
    await pause();
    const now = await read(redis, keys, options);
    out.write(render(now, before, shownName));
    return healthCode(now);
  }
  out.write(HIDE_CURSOR);
  try {
    out.write(CLEAR + render(before, undefined, shownName));
    while (!stopped) {
      await pause();
      if (stopped) break;
      const now = await read(redis, keys, options);
      out.write(CLEAR + render(now, before, shownName));
      before = now;
    }
  } finally {
    out.write(SHOW_CURSOR);
  }
  return 0;
}
