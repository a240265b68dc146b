import type { BenchResult, StepResult, SystemResult } from './results';
import { busyCores } from './summary';

const dash = '-';
/** Other processes' CPU above which a run is flagged as disturbed. */
const BUSY_CORES = 0.25;

function num(value: number | null | undefined, digits = 1): string {
  return value === null || value === undefined || !Number.isFinite(value) ? dash : value.toFixed(digits);
}

function thousands(value: number | null | undefined): string {
  return value === null || value === undefined || !Number.isFinite(value)
    ? dash
    : Math.round(value).toLocaleString('en-US');
}

function counts(c: Record<string, number>): string {
  const entries = Object.entries(c);
  return entries.length === 0 ? '' : entries.map(([k, v]) => `${k}×${v}`).join(' ');
}

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function sustained(s: SystemResult): string {
  const v = s.summary.maxPassingDeliveriesPerS;
  if (v === null) return s.error !== undefined ? 'failed' : 'none passed';
  return `${s.summary.saturated ? '' : '≥ '}${thousands(v)}`;
}

function summaryRow(s: SystemResult): string[] {
  const ref = s.summary.atReference;
  return [
    s.label,
    sustained(s),
    num(ref?.p50Ms),
    num(ref?.p99Ms),
    num(s.summary.cpuUsPerDeliveryAtLight),
    num(ref?.cpuUsPerDelivery),
    num(ref?.redisUsPerMessage),
    num(ref?.machineBusyCores, 2),
    num(ref?.loadGenCores, 2),
    num(s.memory?.idleKbPerConnection),
  ];
}

function stepRow(st: StepResult): string[] {
  const lat = st.latencyMs;
  return [
    thousands(st.ratePerS),
    thousands(st.offeredDeliveriesPerS),
    thousands(st.deliveredPerS),
    num(lat?.p50),
    num(lat?.p99),
    num(lat?.p999),
    num(lat?.max),
    thousands(st.lost),
    num(st.serverCpu.nodesCores, 2),
    num(st.serverCpu.redisCores, 2),
    num(st.serverCpu.usPerDelivery),
    num(st.serverCpu.redisUsPerMessage),
    st.loadGenCpu.perWorkerCores.map((c) => c.toFixed(2)).join(' + '),
    num(st.otherCores, 2),
    num(busyCores(st), 2),
    [counts(st.errors), counts(st.closes)].filter((x) => x !== '').join('; '),
    st.passed ? 'yes' : 'no',
  ];
}

/** The run as markdown: the headline table, then every step of every system. */
export function toMarkdown(result: BenchResult, reference: number, bar: number, light: number): string {
  const m = result.machine;
  const out: string[] = [];
  out.push(`## Benchmark ${result.startedAt}`);
  out.push('');
  out.push(
    `Machine: ${m.cpuModel} × ${m.cpus}, ${m.memoryGiB} GiB, ${m.os}; Node ${m.node}, redis-server ${m.redis}. ` +
      `Command: \`${result.command}\`. Duration ${Math.round(result.durationS)} s.`,
  );
  const w = result.workload;
  out.push(
    `Workload: ${w.connections} connections in rooms of ${w.roomSize} over ${w.nodes} nodes, one publisher per room, ` +
      `open loop, ${w.stepSeconds} s per step after ${w.warmupSeconds} s warm-up; latency from intended send time ` +
      `at every recipient. Our nodes' metrics: ${String(w.metrics ?? 'on')}.`,
  );
  out.push('');
  out.push(
    table(
      [
        'system',
        `deliveries/s at p99 ≤ ${bar} ms`,
        `p50 ms @${thousands(reference)}/s`,
        `p99 ms @${thousands(reference)}/s`,
        `server CPU µs/delivery @${thousands(light)}/s`,
        `server CPU µs/delivery @${thousands(reference)}/s`,
        `Redis CPU µs/message @${thousands(reference)}/s`,
        `machine busy cores @${thousands(reference)}/s`,
        `load gen cores @${thousands(reference)}/s`,
        'idle KB/connection',
      ],
      result.systems.map(summaryRow),
    ),
  );
  const busy = result.systems
    .map((s) => ({ s, other: Math.max(0, ...s.steps.map((st) => st.otherCores)) }))
    .filter(({ other }) => other > BUSY_CORES);
  if (busy.length > 0) {
    out.push('');
    out.push(
      `**The machine was not quiet:** other processes used up to ` +
        busy.map(({ s, other }) => `${other.toFixed(2)} cores during ${s.label}`).join(', ') +
        '. They compete for the same cores, so those latencies and rates are pessimistic; rerun on a quiet machine.',
    );
  }
  for (const s of result.systems) {
    out.push('');
    out.push(`### ${s.label}`);
    if (s.error !== undefined) out.push('', `**Failed:** ${s.error.split('\n')[0]}`);
    if (s.memory !== undefined) {
      const mb = (b: number) => (b / 1024 / 1024).toFixed(1);
      out.push(
        '',
        `Memory of the ${s.memory.nodes} nodes: ${mb(s.memory.baselineRssBytes)} MiB with no connection, ` +
          `${mb(s.memory.connectedRssBytes)} MiB with ${s.memory.connections} idle ones ` +
          `(${num(s.memory.idleKbPerConnection)} KB each), ${mb(s.memory.joinedRssBytes)} MiB once joined ` +
          `(${num(s.memory.joinedKbPerConnection)} KB each). Connecting took ${thousands(s.connectMs)} ms.`,
      );
    }
    if (s.steps.length > 0) {
      out.push('');
      out.push(
        table(
          [
            'msg/s',
            'offered deliveries/s',
            'delivered/s',
            'p50 ms',
            'p99 ms',
            'p99.9 ms',
            'max ms',
            'lost',
            'nodes cores',
            'redis cores',
            'server µs/delivery',
            'Redis µs/message',
            'load gen cores',
            'other procs cores',
            'machine busy cores',
            'errors; closes',
            `p99 ≤ ${bar} ms`,
          ],
          s.steps.map(stepRow),
        ),
      );
    }
    if (s.skippedRates.length > 0)
      out.push('', `Not run (already far past the bar): ${s.skippedRates.join(', ')} msg/s.`);
  }
  return `${out.join('\n')}\n`;
}
