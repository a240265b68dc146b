import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { freePort, RedisServer } from '@securechat/cluster';
import { parseExposition, type Exposition } from '@securechat/metrics';
import { generateSigningKey, privateKeyPem, toJwks } from '@securechat/tokens';
import { startServerNode, type ServerNode } from '../cluster/server-node';
import { WorkerHandle } from '../cluster/worker-handle';
import type { BenchOptions, StormOptions } from '../options';
import type { ProcStats } from '../proc-stats';
import { AUDIENCE, inheritedEnv, ISSUER, ORIGIN, ourNodeEnv } from '../systems';
import type { SetupResult, StormProgress, StormReport, StormRequest } from './protocol';

type Log = (line: string) => void;

/** Readings of node A's RSS, one a second, with every client connected and idle. */
const IDLE_READINGS = 10;

/** What the nodes counted about handshakes, summed over them. */
export interface HandshakeCounts {
  accepted: number;
  refused: Record<string, number>;
}

export interface StormResult {
  clients: number;
  roomSize: number;
  restartMs: number;
  senderRatePerS: number;
  loadGenerators: number;
  /**
   * Node A's RSS growth per authenticated idle socket, all clients on it, before any join:
   * the lowest of IDLE_READINGS readings a second apart, minus its RSS before any client.
   */
  idleKbPerSocket: number;
  /** From the first connect to the last welcome, and joins. */
  setupMs: number;
  /** From the kill of A until every client resumed (undefined: not all did before the timeout). */
  allResumedMs: number | undefined;
  resumeMs: { p50: number; p90: number; p99: number; max: number } | undefined;
  reconnectMs: { p50: number; max: number } | undefined;
  /** Clients resumed within 5 s, 10 s, 20 s of the kill. */
  resumedBy: Record<string, number>;
  resumed: number;
  gaveUp: number;
  handshakes: HandshakeCounts;
  handshakesPerClient: number;
  tokenRequests: number;
  tokenRequestsPerClient: number;
  failedAttempts: Record<string, number>;
  failedAttemptsTotal: number;
  landedOn: Record<string, number>;
  acked: number;
  missing: number;
  doubled: number;
  duplicatesDropped: number;
  sendErrors: Record<string, number>;
  /** Node A was up again (ready) this long after the kill. */
  restartedReadyMs: number;
  /**
   * CPU seconds spent from the kill until every client resumed (or the timeout): the
   * nodes (A: its new process), Redis, the load generators, and the whole machine (other
   * work on it included), beside the wall time, to tell who was the bottleneck.
   */
  cpuSeconds: { nodes: number; redis: number; loadGenerators: number; machine: number; wall: number };
  /** Connections the kernel dropped at a full listen queue from the kill to all resumed (the whole machine). */
  listenDrops: number;
  /** Each load generator's event loop after the kill (see StormReport.loopLag). */
  loadGeneratorLag: { maxMs: number; secondsOverOneSecond: number }[];
}

async function handshakeCounts(metricsUrls: readonly string[]): Promise<HandshakeCounts> {
  const counts: HandshakeCounts = { accepted: 0, refused: {} };
  for (const url of metricsUrls) {
    let exposition: Exposition;
    try {
      exposition = parseExposition(await (await fetch(url, { signal: AbortSignal.timeout(10_000) })).text());
    } catch {
      continue; // a node that is down counts nothing
    }
    for (const s of exposition.samples) {
      if (s.name !== 'securechat_chat_handshakes_total') continue;
      if (s.labels.outcome === 'accepted') counts.accepted += s.value;
      else {
        const reason = s.labels.reason ?? 'unknown';
        counts.refused[reason] = (counts.refused[reason] ?? 0) + s.value;
      }
    }
  }
  return counts;
}

function minus(later: HandshakeCounts, earlier: HandshakeCounts): HandshakeCounts {
  const refused: Record<string, number> = {};
  for (const [k, v] of Object.entries(later.refused)) {
    const d = v - (earlier.refused[k] ?? 0);
    if (d > 0) refused[k] = d;
  }
  return { accepted: later.accepted - earlier.accepted, refused };
}

/** The machine's count of connections dropped because a listen queue was full (TcpExt ListenDrops). */
function listenDrops(): number {
  const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
  for (let i = 0; i + 1 < lines.length; i++) {
    const names = (lines[i] as string).split(/\s+/);
    const values = (lines[i + 1] as string).split(/\s+/);
    if (names[0] !== 'TcpExt:' || values[0] !== 'TcpExt:') continue;
    const at = names.indexOf('ListenDrops');
    return at < 0 ? NaN : Number(values[at]);
  }
  return NaN;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

function merge(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

/**
 * The reconnect storm of issue 15: three of our chat nodes (A, B, C) and Redis; N SDK
 * clients with the node list [A, B, C], all connected to A, in rooms of ten; senders on
 * B posting to their rooms throughout; `kill -9` of A, restarted `restartMs` later. It
 * measures how long until every client has reconnected, rejoined and caught up, what the
 * nodes and the token callback were asked for it, and that no acknowledged message was
 * lost or delivered twice.
 */
export async function runStorm(
  storm: StormOptions,
  options: BenchOptions,
  stats: ProcStats,
  dir: string,
  log: Log,
): Promise<StormResult> {
  const workerCount = Math.ceil(storm.clients / storm.clientsPerWorker);
  let redis: RedisServer | undefined;
  const nodes: (ServerNode | undefined)[] = [];
  const workers: WorkerHandle<StormRequest>[] = [];
  try {
    redis = await RedisServer.start({ dir, env: inheritedEnv() });
    const key = generateSigningKey();
    const jwksFile = join(dir, 'jwks.json');
    const keyFile = join(dir, 'private.pem');
    writeFileSync(jwksFile, `${JSON.stringify(toJwks([key.publicKey]))}\n`);
    writeFileSync(keyFile, privateKeyPem(key), { mode: 0o600 });
    const ports = await Promise.all([0, 1, 2].map(() => freePort()));
    const metricsPorts = await Promise.all([0, 1, 2].map(() => freePort()));
    const metricsUrls = metricsPorts.map((p) => `http://127.0.0.1:${p}/metrics`);
    const redisUrl = redis.url;
    const start = (index: number, generation = 0) =>
      startServerNode(
        `storm-node-${'ABC'[index]}`,
        options.chatMain,
        ourNodeEnv(options, jwksFile, {
          index,
          port: ports[index] as number,
          redisUrl,
          metricsPort: metricsPorts[index] as number,
        }),
        ports[index] as number,
        join(dir, `node-${'ABC'[index]}${generation > 0 ? `-${generation}` : ''}.log`),
        options.chatCpuProfDir === undefined
          ? []
          : [
              '--cpu-prof',
              `--cpu-prof-dir=${options.chatCpuProfDir}`,
              `--cpu-prof-name=node-${'ABC'[index]}-${generation}.cpuprofile`,
            ],
      );
    nodes.push(...(await Promise.all([0, 1, 2].map((i) => start(i)))));
    const urls = ports.map((p) => `ws://127.0.0.1:${p}/ws`);
    log(
      `storm: redis on ${redis.port}, nodes A, B, C on ${ports.join(', ')}; ${workerCount} load generators`,
    );
    for (let i = 0; i < workerCount; i++) {
      workers.push(WorkerHandle.start<StormRequest>(join(__dirname, 'worker.js')));
    }

    // Whole rooms per load generator, so a room's sender and members share a process.
    const rooms = storm.clients / storm.roomSize;
    const members = workers.map(() => [] as { user: string; room: string }[]);
    for (let i = 0; i < storm.clients; i++) {
      const room = Math.floor(i / storm.roomSize);
      members[Math.floor((room * workerCount) / rooms)]?.push({
        user: `storm${String(i).padStart(5, '0')}`,
        room: `storm-${room}`,
      });
    }
    const nodeA = () => nodes[0] as ServerNode;
    const rssA = () => stats.rssBytes(nodeA().proc.pid as number);
    await delay(options.settleMs);
    const baseline = rssA();
    const setupStart = Date.now();
    const setups = await Promise.all(
      workers.map((w, i) =>
        w.request<SetupResult>(
          {
            op: 'setup',
            urls,
            senderUrl: urls[1] as string,
            members: members[i] ?? [],
            sender: `stormsender${i}`,
            keyFile,
            issuer: ISSUER,
            audience: AUDIENCE,
            tokenTtlS: 3600,
            origin: ORIGIN,
            concurrency: 50,
            reconnect: storm.reconnect,
          },
          600_000,
        ),
      ),
    );
    const connected = setups.reduce((n, s) => n + s.connected, 0);
    // The lowest of ten readings a second apart: what the sockets hold, once V8 has had
    // the chance to collect what the handshakes left behind (it does so when idle).
    let idleRss = Infinity;
    for (let i = 0; i < IDLE_READINGS; i++) {
      await delay(1000);
      idleRss = Math.min(idleRss, rssA());
    }
    const idleKbPerSocket = (idleRss - baseline) / connected / 1024;
    log(`storm: ${connected} clients on A, ${idleKbPerSocket.toFixed(2)} KB of A's RSS per idle socket`);
    await Promise.all(workers.map((w) => w.request({ op: 'join' }, 600_000)));
    const setupMs = Date.now() - setupStart;
    log(`storm: every client joined its room (${setupMs} ms from the first connect)`);
    await Promise.all(workers.map((w) => w.request({ op: 'send', ratePerS: storm.ratePerS / workerCount })));
    await delay(3000);

    const before = await handshakeCounts(metricsUrls.slice(1));
    const cpuOf = (pids: number[]) => pids.reduce((n, pid) => n + stats.cpuMicros(pid), 0);
    const survivorPids = nodes.slice(1).map((n) => n?.proc.pid as number);
    const workerPids = workers.map((w) => w.pid);
    const cpu0 = {
      nodes: cpuOf(survivorPids),
      redis: stats.cpuMicros(redis.pid),
      loadGenerators: cpuOf(workerPids),
      machine: stats.machineBusyMicros(),
    };
    const drops0 = listenDrops();
    const killedAt = Date.now();
    await Promise.all(workers.map((w) => w.request({ op: 'mark', killedAt })));
    nodeA().proc.signal('SIGKILL');
    log(`storm: kill -9 A; restarting it in ${storm.restartMs} ms`);
    await nodeA().proc.exited();
    const restart = (async () => {
      await delay(Math.max(0, killedAt + storm.restartMs - Date.now()));
      nodes[0] = await start(0, 1);
      return Date.now() - killedAt;
    })();
    let restartedReadyMs: number | undefined;
    void restart.then((ms) => {
      restartedReadyMs = ms;
      log(`storm: A ready again ${ms} ms after the kill`);
    });

    const resumedBy: Record<string, number> = {};
    const marks = [5000, 10_000, 20_000];
    let allResumedMs: number | undefined;
    let lastLog = 0;
    for (;;) {
      const progress = await Promise.all(workers.map((w) => w.request<StormProgress>({ op: 'progress' })));
      const elapsed = Date.now() - killedAt;
      const resumed = progress.reduce((n, p) => n + p.resumed, 0);
      const reconnected = progress.reduce((n, p) => n + p.reconnected, 0);
      const closed = progress.reduce((n, p) => n + p.closed, 0);
      for (const mark of marks) if (elapsed <= mark) resumedBy[`${mark / 1000}s`] = resumed;
      if (elapsed - lastLog >= 2000) {
        lastLog = elapsed;
        log(`storm: ${(elapsed / 1000).toFixed(1)} s: ${reconnected} reconnected, ${resumed} resumed`);
      }
      if (resumed + closed >= connected) {
        if (closed === 0) allResumedMs = elapsed;
        break;
      }
      if (elapsed > storm.timeoutMs) break;
      await delay(100);
    }
    await restart;
    const wall = (Date.now() - killedAt) / 1000;
    const drops = listenDrops() - drops0;
    const cpuSeconds = {
      nodes: (cpuOf(survivorPids) - cpu0.nodes + stats.cpuMicros(nodeA().proc.pid as number)) / 1e6,
      redis: (stats.cpuMicros(redis.pid) - cpu0.redis) / 1e6,
      loadGenerators: (cpuOf(workerPids) - cpu0.loadGenerators) / 1e6,
      machine: (stats.machineBusyMicros() - cpu0.machine) / 1e6,
      wall,
    };
    // Keep posting a little after the last resume: live delivery must go on too.
    await delay(2000);
    await Promise.all(workers.map((w) => w.request({ op: 'stop_sending' })));
    const reports = await Promise.all(
      workers.map((w) => w.request<StormReport>({ op: 'verify', deadlineMs: 20_000 }, 60_000)),
    );
    const handshakes = minus(await handshakeCounts(metricsUrls), before);

    const resumeMs = reports.flatMap((r) => r.resumeMs).sort((a, b) => a - b);
    const reconnectMs = reports.flatMap((r) => r.reconnectMs).sort((a, b) => a - b);
    const failedAttempts: Record<string, number> = {};
    const landedOn: Record<string, number> = {};
    const sendErrors: Record<string, number> = {};
    for (const r of reports) {
      merge(failedAttempts, r.failedAttempts);
      merge(landedOn, r.landedOn);
      merge(sendErrors, r.sendErrors);
    }
    const total = (pick: (r: StormReport) => number) => reports.reduce((n, r) => n + pick(r), 0);
    const tokenRequests = total((r) => r.tokenRequests);
    return {
      clients: connected,
      roomSize: storm.roomSize,
      restartMs: storm.restartMs,
      senderRatePerS: storm.ratePerS,
      loadGenerators: workerCount,
      idleKbPerSocket,
      setupMs,
      allResumedMs,
      resumeMs:
        resumeMs.length === 0
          ? undefined
          : {
              p50: percentile(resumeMs, 50),
              p90: percentile(resumeMs, 90),
              p99: percentile(resumeMs, 99),
              max: resumeMs.at(-1) as number,
            },
      reconnectMs:
        reconnectMs.length === 0
          ? undefined
          : { p50: percentile(reconnectMs, 50), max: reconnectMs.at(-1) as number },
      resumedBy,
      resumed: resumeMs.length,
      gaveUp: total((r) => r.closed),
      handshakes,
      handshakesPerClient: handshakes.accepted / connected,
      tokenRequests,
      tokenRequestsPerClient: tokenRequests / connected,
      failedAttempts,
      failedAttemptsTotal: Object.values(failedAttempts).reduce((a, b) => a + b, 0),
      landedOn,
      acked: total((r) => r.acked),
      missing: total((r) => r.missing),
      doubled: total((r) => r.doubled),
      duplicatesDropped: total((r) => r.duplicatesDropped),
      sendErrors,
      restartedReadyMs: restartedReadyMs ?? NaN,
      cpuSeconds,
      listenDrops: drops,
      loadGeneratorLag: reports.map((r) => r.loopLag),
    };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await Promise.all(nodes.map((n) => n?.proc.stop('SIGTERM', 5000)));
    await redis?.destroy();
  }
}
