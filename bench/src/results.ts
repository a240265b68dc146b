import type { SystemName } from './load/protocol';

export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly mean: number;
}

export interface StepResult {
  readonly step: number;
  /** Offered aggregate publish rate, messages per second. */
  readonly ratePerS: number;
  /** Offered deliveries per second: rate x room size. */
  readonly offeredDeliveriesPerS: number;
  readonly windowS: number;
  /** Messages sent with an intended time in the window, and the deliveries they owe. */
  readonly sent: number;
  readonly expected: number;
  readonly received: number;
  /** Deliveries not received by the end of the drain (counted in the latency too). */
  readonly lost: number;
  /** Deliveries received while the window was open, per second. */
  readonly deliveredPerS: number;
  /** What our nodes counted (securechat_chat_deliveries_total) over the window, per second; metrics on only. */
  readonly nodeCountedPerS?: number;
  /** Milliseconds from intended send time to receipt, at every recipient. */
  readonly latencyMs: LatencySummary | null;
  readonly serverCpu: {
    readonly nodesCores: number;
    readonly redisCores: number;
    readonly totalCores: number;
    readonly usPerDelivery: number | null;
    /** Every redis-server's CPU over the window per message sent in it (µs); absent in older results. */
    readonly redisUsPerMessage?: number | null;
  };
  readonly loadGenCpu: { readonly perWorkerCores: number[]; readonly totalCores: number };
  /** CPU used during the window by every other process on the machine, in cores. */
  readonly otherCores: number;
  readonly acks: number;
  readonly sendSkipped: number;
  readonly errors: Record<string, number>;
  readonly closes: Record<string, number>;
  /** p99 at or under the bar and nothing lost. */
  readonly passed: boolean;
}

export interface MemoryResult {
  readonly connections: number;
  readonly nodes: number;
  readonly baselineRssBytes: number;
  readonly connectedRssBytes: number;
  readonly joinedRssBytes: number;
  /** (RSS with every connection open and authenticated - RSS with none) / connections. */
  readonly idleKbPerConnection: number;
  /** The same after every connection joined its room. */
  readonly joinedKbPerConnection: number;
}

export interface SystemSummary {
  /** Delivered/s at the highest step whose p99 <= the bar (null: none passed). */
  readonly maxPassingDeliveriesPerS: number | null;
  readonly maxPassingOfferedDeliveriesPerS: number | null;
  /** False when even the highest step passed: the ceiling lies above what was offered. */
  readonly saturated: boolean;
  readonly atReference: {
    readonly offeredDeliveriesPerS: number;
    readonly p50Ms: number | null;
    readonly p99Ms: number | null;
    readonly cpuUsPerDelivery: number | null;
    readonly redisUsPerMessage: number | null;
    readonly loadGenCores: number;
    /** Every process's CPU during the window (2.0 on a 2-core machine: CPU-bound). */
    readonly machineBusyCores: number;
  } | null;
  /**
   * Server CPU per delivery at the light reference rate, where the machine still has
   * cores to spare. Near saturation every system gets the CPU the load generators leave,
   * so the figure there measures what was left over as much as what a delivery costs.
   */
  readonly cpuUsPerDeliveryAtLight: number | null;
}

export interface SystemResult {
  readonly name: SystemName;
  readonly label: string;
  /** The Redis it ran on (single when absent: results from before --redis). */
  readonly redis?: 'single' | 'cluster';
  readonly error?: string;
  readonly connectMs?: number;
  readonly memory?: MemoryResult;
  readonly steps: StepResult[];
  /** Rates not run because an earlier step was already far past the bar. */
  readonly skippedRates: number[];
  readonly summary: SystemSummary;
}

export interface BenchResult {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationS: number;
  readonly command: string;
  readonly machine: Record<string, string | number>;
  readonly workload: Record<string, unknown>;
  readonly systems: SystemResult[];
}
