import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { freePort, RedisCluster, RedisServer, type ManagedProcess } from '@securechat/cluster';
import { MetricsScraper } from './cluster/metrics-scraper';
import { startServerNode, type ServerNode } from './cluster/server-node';
import { WorkerHandle } from './cluster/worker-handle';
import { Histogram } from './histogram';
import { layout } from './layout';
import type { ClientSpec, ConnectResult, ProgressResult, StepReport } from './load/protocol';
import type { BenchOptions, BenchRedisMode } from './options';
import type { ProcStats } from './proc-stats';
import type { LatencySummary, MemoryResult, StepResult, SystemResult } from './results';
import { summarize } from './summary';
import { inheritedEnv, type SystemUnderTest } from './systems';

export type Log = (line: string) => void;

/** The Redis a system runs on: one redis-server, or every server of a Redis Cluster. */
interface BenchRedis {
  /** For a node's environment: REDIS_URL, or REDIS_CLUSTER_NODES. */
  readonly url: string;
  readonly clusterNodes: string | undefined;
  readonly ports: readonly number[];
  readonly pids: () => number[];
  destroy(): Promise<void>;
}

async function startRedis(mode: BenchRedisMode, dir: string): Promise<BenchRedis> {
  if (mode === 'single') {
    const server = await RedisServer.start({ dir, env: inheritedEnv() });
    return {
      url: server.url,
      clusterNodes: undefined,
      ports: [server.port],
      pids: () => [server.pid],
      destroy: () => server.destroy(),
    };
  }
  // Masters only: the figure is how the work spreads, not what replication adds.
  const cluster = await RedisCluster.start({ env: inheritedEnv(), masters: 3, replicas: 0 });
  return {
    url: `redis://127.0.0.1:${cluster.ports[0]}`,
    clusterNodes: cluster.seeds,
    ports: cluster.ports,
    pids: () => cluster.servers.map((s) => s.pid),
    destroy: () => cluster.destroy(),
  };
}

interface Cluster {
  readonly redis: BenchRedis;
  readonly nodes: ServerNode[];
  readonly workers: WorkerHandle[];
  /** Publishers per load generator: its share of the aggregate rate. */
  readonly publishers: number[];
  /** Our nodes' metrics, when on. */
  readonly scraper: MetricsScraper | undefined;
}

/**
 * Runs the whole workload against one system: its redis-server and nodes, fresh; two
 * load generator processes; idle memory; then the rate steps in rising order.
 */
export async function runSystem(
  system: SystemUnderTest,
  options: BenchOptions,
  stats: ProcStats,
  dir: string,
  log: Log,
  redisMode: BenchRedisMode = 'single',
): Promise<SystemResult> {
  const steps: StepResult[] = [];
  const skippedRates: number[] = [];
  let memory: MemoryResult | undefined;
  let connectMs: number | undefined;
  let redis: BenchRedis | undefined;
  const nodes: ServerNode[] = [];
  const workers: WorkerHandle[] = [];
  let scraper: MetricsScraper | undefined;
  try {
    // The same settings for all three systems: loopback, its own directory, no persistence.
    redis = await startRedis(redisMode, dir);
    const redisUrl = redis.url;
    const redisClusterNodes = redis.clusterNodes;
    const ports = await Promise.all(Array.from({ length: options.nodes }, () => freePort()));
    const withMetrics = system.name === 'ours' && options.metrics;
    const metricsPorts = withMetrics
      ? await Promise.all(Array.from({ length: options.nodes }, () => freePort()))
      : [];
    const started = await Promise.all(
      ports.map((port, index) =>
        startServerNode(
          `${system.name}-node-${index + 1}`,
          system.script,
          system.nodeEnv({
            index,
            port,
            redisUrl,
            ...(redisClusterNodes !== undefined ? { redisClusterNodes } : {}),
            metricsPort: metricsPorts[index],
          }),
          port,
          join(dir, `${system.name}-node-${index + 1}.log`),
        ),
      ),
    );
    nodes.push(...started);
    if (withMetrics) {
      scraper = new MetricsScraper(
        metricsPorts.map((p) => `http://127.0.0.1:${p}/metrics`),
        options.metricsScrapeMs,
      );
      scraper.start();
    }
    for (let i = 0; i < options.workers; i++) workers.push(WorkerHandle.start());
    log(`${system.name}: redis (${redisMode}) on ${redis.ports.join(', ')}, nodes on ${ports.join(', ')}`);

    const specs: ClientSpec[][] = workers.map(() => []);
    const publishers = workers.map(() => 0);
    for (const slot of layout(options.connections, options.roomSize, options.nodes, options.workers)) {
      const node = nodes[slot.node] as ServerNode;
      specs[slot.worker]?.push(system.client(slot.index, slot.room, slot.publisher, node.port));
      if (slot.publisher) publishers[slot.worker] = (publishers[slot.worker] ?? 0) + 1;
    }
    const cluster: Cluster = { redis, nodes, workers, publishers, scraper };

    const nodeRss = () => nodes.reduce((sum, n) => sum + stats.rssBytes(pidOf(n.proc)), 0);
    await delay(options.settleMs);
    const baselineRssBytes = nodeRss();
    const connectStart = Date.now();
    await Promise.all(
      workers.map((w, i) =>
        w.request<ConnectResult>(
          {
            op: 'connect',
            system: system.name,
            clients: specs[i] ?? [],
            concurrency: options.connectConcurrency,
          },
          300_000,
        ),
      ),
    );
    connectMs = Date.now() - connectStart;
    log(`${system.name}: ${options.connections} connections open in ${connectMs} ms`);
    await delay(options.settleMs);
    const connectedRssBytes = nodeRss();
    await Promise.all(workers.map((w) => w.request({ op: 'join' }, 300_000)));
    await delay(options.settleMs);
    const joinedRssBytes = nodeRss();
    const perConnKb = (bytes: number) => bytes / options.connections / 1024;
    memory = {
      connections: options.connections,
      nodes: nodes.length,
      baselineRssBytes,
      connectedRssBytes,
      joinedRssBytes,
      idleKbPerConnection: perConnKb(connectedRssBytes - baselineRssBytes),
      joinedKbPerConnection: perConnKb(joinedRssBytes - baselineRssBytes),
    };
    log(
      `${system.name}: idle memory ${memory.idleKbPerConnection.toFixed(1)} KB/connection ` +
        `(${memory.joinedKbPerConnection.toFixed(1)} KB after joining)`,
    );

    for (const [index, rate] of options.rates.entries()) {
      const step = await runStep(cluster, options, stats, index, rate);
      steps.push(step);
      log(describeStep(system.name, step));
      const lostShare = step.expected > 0 ? step.lost / step.expected : 0;
      if ((step.latencyMs?.p99 ?? Infinity) > options.stopP99Ms || lostShare > 0.01) {
        skippedRates.push(...options.rates.slice(index + 1));
        if (skippedRates.length > 0)
          log(`${system.name}: far past the bar, skipping ${skippedRates.join(', ')} msg/s`);
        break;
      }
      await delay(500);
    }
    return {
      name: system.name,
      label: system.label,
      redis: redisMode,
      connectMs,
      memory,
      steps,
      skippedRates,
      summary: summarize(steps, options),
    };
  } catch (err) {
    const tails = nodes.map((n, i) => `node ${i + 1}: ${n.proc.tail(400)}`).join('\n');
    const error = `${err instanceof Error ? err.message : String(err)}${tails !== '' ? `\n${tails}` : ''}`;
    log(`${system.name}: FAILED: ${error}`);
    return {
      name: system.name,
      label: system.label,
      redis: redisMode,
      error,
      ...(connectMs !== undefined ? { connectMs } : {}),
      ...(memory !== undefined ? { memory } : {}),
      steps,
      skippedRates,
      summary: summarize(steps, options),
    };
  } finally {
    scraper?.stop();
    await Promise.all(workers.map((w) => w.stop()));
    // SIGTERM (ours drains), then SIGKILL if a node has not exited within 5 s.
    await Promise.all(nodes.map((n) => n.proc.stop('SIGTERM', 5000)));
    await redis?.destroy();
  }
}

function pidOf(proc: ManagedProcess): number {
  if (proc.pid === undefined) throw new Error(`${proc.name} has no pid`);
  return proc.pid;
}

function sleepUntil(at: number): Promise<void> {
  return delay(Math.max(0, at - Date.now()));
}

function cpuSnapshot(stats: ProcStats, pids: readonly number[]): number[] {
  return pids.map((pid) => stats.cpuMicros(pid));
}

async function runStep(
  cluster: Cluster,
  options: BenchOptions,
  stats: ProcStats,
  step: number,
  ratePerS: number,
): Promise<StepResult> {
  const { workers, nodes, redis, publishers, scraper } = cluster;
  const totalPublishers = publishers.reduce((a, b) => a + b, 0);
  const warmupMs = options.warmupMs + (step === 0 ? options.firstWarmupMs : 0);
  const startAt = Date.now() + 300;
  const measureFrom = startAt + warmupMs;
  const measureTo = measureFrom + options.stepMs;
  await Promise.all(
    workers.map((w, i) =>
      w.request({
        op: 'step',
        step,
        ratePerS: (ratePerS * (publishers[i] ?? 0)) / totalPublishers,
        startAt,
        measureFrom,
        measureTo,
      }),
    ),
  );

  const nodePids = nodes.map((n) => pidOf(n.proc));
  const workerPids = workers.map((w) => w.pid);
  await sleepUntil(measureFrom);
  const t0 = performance.now();
  const nodes0 = cpuSnapshot(stats, nodePids);
  const redisPids = redis.pids();
  const redis0 = sum(cpuSnapshot(stats, redisPids));
  const workers0 = cpuSnapshot(stats, workerPids);
  const machine0 = stats.machineBusyMicros();
  const self0 = process.cpuUsage();
  // What the nodes counted over the window, beside what the clients received.
  const counted0 = scraper?.deliveries();
  await sleepUntil(measureTo);
  const windowUs = (performance.now() - t0) * 1000;
  const counted1 = scraper?.deliveries();
  const nodesUs = sum(cpuSnapshot(stats, nodePids)) - sum(nodes0);
  const redisUs = sum(cpuSnapshot(stats, redisPids)) - redis0;
  const workerUs = cpuSnapshot(stats, workerPids).map((us, i) => us - (workers0[i] ?? 0));
  const selfDelta = process.cpuUsage(self0);
  const selfUs = selfDelta.user + selfDelta.system;
  const machineUs = stats.machineBusyMicros() - machine0;

  // Wait until every delivery owed by the window has arrived, or the drain runs out.
  const drainDeadline = measureTo + options.drainMs;
  for (;;) {
    const progress = await Promise.all(
      workers.map((w) => w.request<ProgressResult>({ op: 'progress', step })),
    );
    const sending = progress.some((p) => p.sending);
    const owed = sum(progress.map((p) => p.sentInWindow)) * options.roomSize;
    if ((!sending && sum(progress.map((p) => p.recorded)) >= owed) || Date.now() >= drainDeadline) break;
    await delay(100);
  }
  const reports = await Promise.all(workers.map((w) => w.request<StepReport>({ op: 'collect', step })));

  const histogram = new Histogram();
  for (const r of reports) histogram.merge(Histogram.fromJSON(r.latencyUs));
  const sent = sum(reports.map((r) => r.sentInWindow));
  const expected = sent * options.roomSize;
  const received = sum(reports.map((r) => r.recorded));
  const lost = Math.max(0, expected - received);
  // A delivery still missing at the deadline took at least that long: count it so, so
  // losses raise the percentiles instead of vanishing from them.
  if (lost > 0) histogram.record((drainDeadline - measureTo) * 1000, lost);
  const delivered = sum(reports.map((r) => r.deliveredInWindow));
  const latencyMs = summarizeLatency(histogram);
  const serverUs = nodesUs + redisUs;
  const counted =
    counted0 !== undefined && counted1 !== undefined ? (await counted1) - (await counted0) : undefined;
  return {
    step,
    ratePerS,
    offeredDeliveriesPerS: ratePerS * options.roomSize,
    windowS: windowUs / 1e6,
    sent,
    expected,
    received,
    lost,
    deliveredPerS: delivered / (windowUs / 1e6),
    ...(counted !== undefined ? { nodeCountedPerS: counted / (windowUs / 1e6) } : {}),
    latencyMs,
    serverCpu: {
      nodesCores: nodesUs / windowUs,
      redisCores: redisUs / windowUs,
      totalCores: serverUs / windowUs,
      usPerDelivery: delivered > 0 ? serverUs / delivered : null,
      redisUsPerMessage: sent > 0 ? redisUs / sent : null,
    },
    loadGenCpu: { perWorkerCores: workerUs.map((us) => us / windowUs), totalCores: sum(workerUs) / windowUs },
    // Whatever else ran on the machine meanwhile: other users' work competes for the
    // same cores and shows up as latency that neither server nor load generator spent.
    otherCores: Math.max(0, machineUs - serverUs - sum(workerUs) - selfUs) / windowUs,
    acks: sum(reports.map((r) => r.acks)),
    sendSkipped: sum(reports.map((r) => r.sendSkipped)),
    errors: mergeCounts(reports.map((r) => r.errors)),
    closes: mergeCounts(reports.map((r) => r.closes)),
    passed: lost === 0 && latencyMs !== null && latencyMs.p99 <= options.p99BarMs,
  };
}

function summarizeLatency(h: Histogram): LatencySummary | null {
  if (h.count === 0) return null;
  const ms = (us: number) => us / 1000;
  return {
    count: h.count,
    p50: ms(h.percentile(50)),
    p90: ms(h.percentile(90)),
    p99: ms(h.percentile(99)),
    p999: ms(h.percentile(99.9)),
    max: ms(h.max),
    mean: ms(h.mean),
  };
}

function describeStep(name: string, s: StepResult): string {
  const lat = s.latencyMs;
  const f = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(1));
  return (
    `${name}: ${s.ratePerS} msg/s (${s.offeredDeliveriesPerS} deliveries/s offered): ` +
    `${Math.round(s.deliveredPerS)} delivered/s` +
    `${s.nodeCountedPerS !== undefined ? ` (nodes counted ${Math.round(s.nodeCountedPerS)}/s)` : ''}, ` +
    `p50 ${f(lat?.p50)} ms, p99 ${f(lat?.p99)} ms, ` +
    `lost ${s.lost}, server ${s.serverCpu.totalCores.toFixed(2)} cores ` +
    `(${s.serverCpu.usPerDelivery?.toFixed(1) ?? '-'} us/delivery), ` +
    `load gen ${s.loadGenCpu.perWorkerCores.map((c) => c.toFixed(2)).join('+')} cores, ` +
    `other processes ${s.otherCores.toFixed(2)} cores` +
    `${s.passed ? '' : '  [over the bar]'}`
  );
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function mergeCounts(all: readonly Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const counts of all) for (const [k, v] of Object.entries(counts)) out[k] = (out[k] ?? 0) + v;
  return out;
}
