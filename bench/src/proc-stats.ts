import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * CPU time and memory of other processes, read from Linux /proc. CPU is utime + stime
 * of all the process's threads (GC, libuv pool and redis's background threads
 * included), which is what the process costs the machine.
 */

/** Clock ticks per second of /proc/<pid>/stat times (100 on every common Linux). */
export function clockTicksPerSecond(): number {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
}

/**
 * utime + stime in ticks from the text of /proc/<pid>/stat. The command name (field 2)
 * is in parentheses and may hold spaces or parentheses, so fields are counted from the
 * last ')'.
 */
export function parseStatCpuTicks(stat: string): number {
  const close = stat.lastIndexOf(')');
  if (close < 0) throw new Error('not a /proc/<pid>/stat line');
  // After ')': field 3 (state) is at index 0, so field n is at index n - 3.
  const fields = stat
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error('no utime/stime in stat line');
  return utime + stime;
}

/** Resident set size in bytes from the text of /proc/<pid>/status. */
export function parseStatusRssBytes(status: string): number {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (match === null) throw new Error('no VmRSS in status');
  return Number(match[1]) * 1024;
}

/**
 * Busy time of the whole machine in ticks from the first line of /proc/stat (user, nice,
 * system, irq, softirq, steal; idle and iowait excluded; guest is already in user).
 */
export function parseMachineBusyTicks(stat: string): number {
  const line = stat.split('\n', 1)[0] ?? '';
  const fields = line.trim().split(/\s+/);
  if (fields[0] !== 'cpu') throw new Error('not /proc/stat');
  const [user, nice, system, , , irq, softirq, steal] = fields.slice(1, 9).map(Number);
  const busy = [user, nice, system, irq, softirq, steal].map((v) => v ?? 0);
  if (busy.some((v) => !Number.isFinite(v))) throw new Error('bad /proc/stat cpu line');
  return busy.reduce((a, b) => a + b, 0);
}

export class ProcStats {
  private readonly usPerTick: number;

  constructor(ticksPerSecond = clockTicksPerSecond()) {
    this.usPerTick = 1_000_000 / ticksPerSecond;
  }

  /** CPU time the process has used so far, in microseconds. */
  cpuMicros(pid: number): number {
    return parseStatCpuTicks(readFileSync(`/proc/${pid}/stat`, 'utf8')) * this.usPerTick;
  }

  /** CPU time all processes on the machine have used so far, in microseconds. */
  machineBusyMicros(): number {
    return parseMachineBusyTicks(readFileSync('/proc/stat', 'utf8')) * this.usPerTick;
  }

  rssBytes(pid: number): number {
    return parseStatusRssBytes(readFileSync(`/proc/${pid}/status`, 'utf8'));
  }
}
