import { cpus } from 'node:os';
import type { StormResult } from './runner';

const s = (ms: number | undefined) =>
  ms === undefined || Number.isNaN(ms) ? '-' : `${(ms / 1000).toFixed(1)} s`;
const counts = (c: Record<string, number>) =>
  Object.entries(c)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ') || 'none';

/** The storm's figures as a markdown table (stdout). */
export function stormMarkdown(r: StormResult): string {
  const c = r.cpuSeconds;
  const cores = cpus().length;
  const rows: [string, string][] = [
    ['clients (all on A at first), rooms of', `${r.clients}, ${r.roomSize}`],
    [
      'time to all resumed (reconnected, rejoined, caught up)',
      r.allResumedMs === undefined ? `not all (${r.resumed} of ${r.clients})` : s(r.allResumedMs),
    ],
    [
      'resume time p50 / p90 / p99 / max',
      r.resumeMs === undefined
        ? '-'
        : `${s(r.resumeMs.p50)} / ${s(r.resumeMs.p90)} / ${s(r.resumeMs.p99)} / ${s(r.resumeMs.max)}`,
    ],
    [
      'resumed within 5 s / 10 s / 20 s',
      `${r.resumedBy['5s'] ?? 0} / ${r.resumedBy['10s'] ?? 0} / ${r.resumedBy['20s'] ?? 0}`,
    ],
    ['handshakes accepted (per client)', `${r.handshakes.accepted} (${r.handshakesPerClient.toFixed(2)})`],
    ['handshakes refused, by reason', counts(r.handshakes.refused)],
    ['token requests (per client)', `${r.tokenRequests} (${r.tokenRequestsPerClient.toFixed(2)})`],
    ['failed attempts (by cause)', `${r.failedAttemptsTotal} (${counts(r.failedAttempts)})`],
    ['landed on', counts(r.landedOn)],
    ['messages acked / lost / doubled', `${r.acked} / ${r.missing} / ${r.doubled}`],
    ['server duplicates the SDK dropped', String(r.duplicatesDropped)],
    ['clients that gave up', String(r.gaveUp)],
    ['A restarted and ready after', s(r.restartedReadyMs)],
    ["node A's RSS per idle authenticated socket", `${r.idleKbPerSocket.toFixed(2)} KB`],
    [
      'CPU s from the kill to all resumed: nodes / Redis / load generators / whole machine (wall)',
      `${c.nodes.toFixed(1)} / ${c.redis.toFixed(1)} / ${c.loadGenerators.toFixed(1)} / ${c.machine.toFixed(1)} (${c.wall.toFixed(1)} s on ${cores} cores)`,
    ],
  ];
  rows.push(['SYNs dropped at a full listen queue (machine-wide)', String(r.listenDrops)]);
  rows.push([
    "load generators' event loop: worst delay, seconds over 1 s late",
    r.loadGeneratorLag
      .map((l) => `${(l.maxMs / 1000).toFixed(1)} s, ${l.secondsOverOneSecond.toFixed(1)} s`)
      .join('; '),
  ]);
  return [
    `## Reconnect storm: ${r.clients} clients, kill -9 of A, restarted ${s(r.restartMs)} later`,
    '',
    '| figure | value |',
    '| --- | --- |',
    ...rows.map(([k, v]) => `| ${k} | ${v} |`),
    '',
  ].join('\n');
}
