import { expect } from 'chai';
import {
  layout,
  parseMachineBusyTicks,
  parseStatCpuTicks,
  parseStatusRssBytes,
  ProcStats,
  summarize,
  type StepResult,
} from '@securechat/bench';

function step(ratePerS: number, p99: number, lost = 0, deliveredPerS = ratePerS * 10): StepResult {
  return {
    step: 0,
    ratePerS,
    offeredDeliveriesPerS: ratePerS * 10,
    windowS: 10,
    sent: ratePerS * 10,
    expected: ratePerS * 100,
    received: ratePerS * 100 - lost,
    lost,
    deliveredPerS,
    latencyMs: { count: 1, p50: 1, p90: 1, p99, p999: p99, max: p99, mean: 1 },
    serverCpu: { nodesCores: 1, redisCores: 0.1, totalCores: 1.1, usPerDelivery: 40 },
    loadGenCpu: { perWorkerCores: [0.2, 0.2], totalCores: 0.4 },
    otherCores: 0,
    acks: 0,
    sendSkipped: 0,
    errors: {},
    closes: {},
    passed: lost === 0 && p99 <= 50,
  };
}

describe('bench figures', () => {
  it('lays rooms of ten over three nodes round-robin and whole rooms over two load generators', () => {
    const slots = layout(2000, 10, 3, 2);
    expect(slots).to.have.length(2000);
    expect(new Set(slots.map((s) => s.room)).size).to.equal(200);
    expect(slots.filter((s) => s.publisher)).to.have.length(200);
    const perNode = [0, 1, 2].map((n) => slots.filter((s) => s.node === n).length);
    expect(perNode).to.deep.equal([667, 667, 666]);
    for (const room of ['r000', 'r001', 'r199']) {
      const members = slots.filter((s) => s.room === room);
      expect(members).to.have.length(10);
      expect(members.filter((s) => s.publisher)).to.have.length(1);
      expect(new Set(members.map((s) => s.worker)).size, 'one clock per room').to.equal(1);
      expect(new Set(members.map((s) => s.node)).size, 'members on every node').to.equal(3);
    }
    expect(slots.filter((s) => s.publisher && s.worker === 0)).to.have.length(100);
  });

  it('takes the sustained rate from the last of the passing steps before the first failure', () => {
    const steps = [step(500, 5), step(1000, 8), step(1500, 60), step(2000, 40), step(2500, 900)];
    const s = summarize(steps, { referenceDeliveriesPerS: 20_000, lightDeliveriesPerS: 10_000 });
    expect(s.maxPassingOfferedDeliveriesPerS).to.equal(10_000);
    expect(s.maxPassingDeliveriesPerS).to.equal(10_000);
    expect(s.saturated).to.equal(true);
    expect(s.atReference?.p99Ms).to.equal(40);
    expect(s.atReference?.cpuUsPerDelivery).to.equal(40);
    expect(s.atReference?.machineBusyCores).to.be.closeTo(1.5, 1e-9);
    expect(s.cpuUsPerDeliveryAtLight).to.equal(40);
  });

  it('fails a step that lost deliveries and says when the ceiling was never reached', () => {
    expect(
      summarize([step(500, 5, 3)], { referenceDeliveriesPerS: 20_000, lightDeliveriesPerS: 10_000 })
        .maxPassingDeliveriesPerS,
    ).to.equal(null);
    const all = summarize([step(500, 5), step(1000, 6)], {
      referenceDeliveriesPerS: 20_000,
      lightDeliveriesPerS: 5_000,
    });
    expect(all.saturated).to.equal(false);
    expect(all.atReference).to.equal(null);
    expect(all.cpuUsPerDeliveryAtLight).to.equal(40);
  });

  it('reads CPU ticks and RSS from /proc texts, command names with spaces included', () => {
    const stat = '4242 (node (x) y) S 1 4242 4242 0 -1 4194560 900 0 0 0 1234 567 0 0 20 0 11 0 99 1000 50';
    expect(parseStatCpuTicks(stat)).to.equal(1234 + 567);
    expect(parseStatusRssBytes('Name:\tnode\nVmRSS:\t   51200 kB\nThreads: 7\n')).to.equal(51200 * 1024);
    expect(parseMachineBusyTicks('cpu  100 5 50 9000 20 1 2 3 0 0\ncpu0 1 2 3 4\n')).to.equal(
      100 + 5 + 50 + 1 + 2 + 3,
    );
    expect(() => parseStatusRssBytes('Name: x\n')).to.throw();
  });

  it('sees this process use CPU and memory', () => {
    const stats = new ProcStats();
    const before = stats.cpuMicros(process.pid);
    const until = Date.now() + 60;
    while (Date.now() < until) Math.sqrt(Math.random());
    expect(stats.cpuMicros(process.pid)).to.be.greaterThan(before);
    expect(stats.rssBytes(process.pid)).to.be.greaterThan(1024 * 1024);
  });
});
