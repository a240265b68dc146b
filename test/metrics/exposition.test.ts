import { expect } from 'chai';
import { messageFrame, messageFrameTs } from '@securechat/common';
import { parseTopOptions } from '@securechat/chat';
import {
  buckets,
  createMetricsRegistry,
  delta,
  Distribution,
  ExpositionError,
  parseExposition,
  quantile,
  sum,
  Tally,
} from '@securechat/metrics';

describe('the text format reader', () => {
  it('reads names, labels with escapes, special values and TYPE lines', () => {
    const e = parseExposition(
      [
        '# HELP a_total Things.',
        '# TYPE a_total counter',
        'a_total{x="1",y="q\\"uote\\\\back\\nline"} 3',
        'a_total{x="2"} 4 1700000000000',
        'g NaN',
        'h +Inf',
        'k Nan',
        '',
      ].join('\n'),
    );
    expect(e.types.get('a_total')).to.equal('counter');
    expect(e.samples[0]?.labels).to.deep.equal({ x: '1', y: 'q"uote\\back\nline' });
    expect(sum(e, 'a_total')).to.equal(7);
    expect(sum(e, 'a_total', { x: '2' })).to.equal(4);
    expect(Number.isNaN(e.samples[2]?.value)).to.equal(true);
    expect(e.samples[3]?.value).to.equal(Infinity);
  });

  it('refuses what a scraper would refuse, naming the line', () => {
    for (const bad of ['a{x="1"', 'a{x=1} 2', 'a{x="1",x="2"} 1', '1a 2', 'a b', 'a{x="\\q"} 1', 'a 1 2 3']) {
      expect(() => parseExposition(`ok 1\n${bad}`), bad).to.throw(ExpositionError, 'metrics line 2');
    }
  });

  it('estimates quantiles as histogram_quantile does, over an interval with delta', () => {
    const text = (counts: number[]) =>
      ['0.1', '0.5', '1', '+Inf'].map((le, i) => `h_bucket{le="${le}"} ${counts[i]}`).join('\n') +
      `\nh_sum 1\nh_count ${counts[3]}\n`;
    const earlier = buckets(parseExposition(text([10, 10, 10, 10])), 'h');
    const later = buckets(parseExposition(text([10, 60, 110, 110])), 'h');
    // 100 new observations: 50 in (0.1, 0.5], 50 in (0.5, 1].
    const interval = delta(later, earlier);
    expect(interval.count).to.equal(100);
    expect(quantile(0.5, interval)).to.be.closeTo(0.5, 1e-9);
    expect(quantile(0.99, interval)).to.be.closeTo(0.99, 1e-9);
    expect(quantile(0.99, delta(earlier, earlier))).to.equal(undefined);
    // Past the highest finite bound: that bound, as Prometheus says.
    const inf = buckets(parseExposition(text([0, 0, 0, 5])), 'h');
    expect(quantile(0.5, inf)).to.equal(1);
  });

  it('reads what our registry writes: catalogued rows at 0, other for the rest', async () => {
    const registry = createMetricsRegistry({ service: 'chat', node: 'unit' }, { defaultMetrics: false });
    const tally = new Tally(
      registry,
      { name: 't_total', help: 'h' },
      [{ name: 'k', values: ['a', 'b'] }],
      [['a'], ['b']],
    );
    const hist = new Distribution(registry, { name: 'd_seconds', help: 'h', buckets: [0.1, 1] });
    tally.inc(2, 'a');
    tally.inc(1, 'surprise');
    hist.observe(0.05);
    hist.observe(0.5);
    const e = parseExposition(await registry.metrics());
    expect(sum(e, 't_total', { k: 'a' })).to.equal(2);
    expect(sum(e, 't_total', { k: 'b' })).to.equal(0);
    expect(sum(e, 't_total', { k: 'other' })).to.equal(1);
    expect(e.samples.some((s) => s.labels.k === 'surprise')).to.equal(false);
    expect(buckets(e, 'd_seconds').counts).to.deep.equal([1, 2, 2]);
    expect(sum(e, 'securechat_node_info', { service: 'chat', node: 'unit' })).to.equal(1);
  });
});

describe('the ts of a message frame, read from its tail', () => {
  it('is the ts messageFrame wrote, whatever the text holds', () => {
    for (const text of ['hi', '","ts":1}', 'ends with "ts":12}', '\u2028"ts":5']) {
      const frame = Buffer.from(messageFrame({ id: '1-0', room: 'r', from: 'u', text, ts: 1733112345678 }));
      expect(messageFrameTs(frame), text).to.equal(1733112345678);
    }
  });

  it('is undefined for any other frame', () => {
    for (const other of [
      '{"type":"presence","room":"r","user":"u","state":"online"}',
      '{"ts":}',
      '',
      '{"x":"ts:1"}',
      '{"ts":-1}',
    ]) {
      expect(messageFrameTs(Buffer.from(other)), other).to.equal(undefined);
    }
  });
});

describe('chatctl top arguments', () => {
  it('takes --once, --interval and --metrics, and refuses anything else with the usage', () => {
    expect(parseTopOptions([])).to.deep.equal({ intervalMs: 2000, once: false, metricsUrls: undefined });
    expect(
      parseTopOptions(['--once', '--interval=0.5', '--metrics=http://a:1/metrics,http://b:2/metrics']),
    ).to.deep.equal({
      intervalMs: 500,
      once: true,
      metricsUrls: ['http://a:1/metrics', 'http://b:2/metrics'],
    });
    for (const bad of [
      ['--interval=0'],
      ['--interval=x'],
      ['--metrics=ftp://x'],
      ['--metrics=nope'],
      ['--watch'],
    ]) {
      expect(() => parseTopOptions(bad), bad.join(' ')).to.throw('usage: npm run chatctl -- top');
    }
  });
});
