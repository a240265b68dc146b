import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createSystem,
  parseOptions,
  ProcStats,
  runSystem,
  type BenchOptions,
  type SystemName,
} from '@securechat/bench';

/**
 * The bench's own machinery, end to end on a tiny workload: real redis-server, three
 * nodes, two load generator processes. It checks the accounting (every delivery owed is
 * counted once, at every recipient), never a speed.
 */
describe('bench runner @redis', function () {
  this.timeout(60_000);
  let dir: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'securechat-bench-test-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  function tinyOptions(): BenchOptions {
    const parsed = parseOptions(
      ['--connections=40', '--rates=40', '--step-seconds=1', '--warmup-seconds=0.5', '--drain-seconds=3'],
      {},
    );
    if (parsed === 'help') throw new Error('unexpected help');
    return { ...parsed, settleMs: 100, firstWarmupMs: 0 };
  }

  for (const name of ['ours', 'relay', 'socketio'] as SystemName[]) {
    it(`counts every delivery of ${name} once, at every member of the room`, async () => {
      const options = tinyOptions();
      const systemDir = mkdtempSync(join(dir, `${name}-`));
      const lines: string[] = [];
      const result = await runSystem(
        createSystem(name, options, systemDir),
        options,
        new ProcStats(),
        systemDir,
        (line) => lines.push(line),
      );
      expect(result.error, lines.join('\n')).to.equal(undefined);
      expect(result.steps).to.have.length(1);
      const [step] = result.steps;
      if (step === undefined) throw new Error('no step');
      // 40 msg/s over a 1 s window, split over two generators' schedules.
      expect(step.sent).to.be.within(38, 42);
      expect(step.expected).to.equal(step.sent * 10);
      expect(step.received).to.equal(step.expected);
      expect(step.lost).to.equal(0);
      expect(step.latencyMs?.count).to.equal(step.expected);
      expect(step.sendSkipped).to.equal(0);
      expect(step.loadGenCpu.perWorkerCores).to.have.length(2);
      expect(result.memory?.connections).to.equal(40);
      expect(result.memory?.baselineRssBytes).to.be.greaterThan(0);
      // Our nodes count too (metrics are on by default), about what the clients received.
      if (name === 'ours') expect(step.nodeCountedPerS).to.be.above(0);
      else expect(step.nodeCountedPerS).to.equal(undefined);
    });
  }

  it('runs our nodes with METRICS_PORT=off under --metrics=off, and refuses another value', async () => {
    const options = { ...tinyOptions(), metrics: false };
    const systemDir = mkdtempSync(join(dir, 'ours-off-'));
    const system = createSystem('ours', options, systemDir);
    expect(system.nodeEnv({ index: 0, port: 1, redisUrl: 'redis://x' }).METRICS_PORT).to.equal('off');
    expect(
      system.nodeEnv({ index: 0, port: 1, redisUrl: 'redis://x', metricsPort: 9 }).METRICS_PORT,
    ).to.equal('9');
    const lines: string[] = [];
    const result = await runSystem(system, options, new ProcStats(), systemDir, (line) => lines.push(line));
    expect(result.error, lines.join('\n')).to.equal(undefined);
    expect(result.steps[0]?.received).to.equal(result.steps[0]?.expected);
    expect(result.steps[0]?.nodeCountedPerS).to.equal(undefined);
    const parsed = parseOptions(['--metrics=off'], {});
    expect(parsed !== 'help' && parsed.metrics).to.equal(false);
    expect(() => parseOptions(['--metrics=maybe'], {})).to.throw('--metrics is on or off');
  });
});
