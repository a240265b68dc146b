import { expect } from 'chai';
import { bucketBounds, bucketIndex, Histogram, MAX_TRACKABLE } from '@securechat/bench';

/** The exact percentile of sorted values, by the same nearest-rank rule. */
function exactPercentile(sorted: number[], p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] as number;
}

/** A deterministic pseudo-random sequence (xorshift), so failures reproduce. */
function randoms(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

describe('bench histogram', () => {
  it('counts values below 256 exactly', () => {
    const h = new Histogram();
    for (let v = 0; v < 256; v++) h.record(v);
    expect(h.count).to.equal(256);
    expect(h.percentile(50)).to.equal(127);
    expect(h.percentile(100)).to.equal(255);
    expect(h.min).to.equal(0);
    expect(h.max).to.equal(255);
  });

  it('puts every value in a bucket whose bounds hold it, within 1/128 of its width', () => {
    const next = randoms(7);
    for (let i = 0; i < 20000; i++) {
      const v = Math.floor(next() ** 4 * MAX_TRACKABLE);
      const { low, high } = bucketBounds(bucketIndex(v));
      expect(v).to.be.within(low, high);
      expect(high - low).to.be.at.most(Math.max(0, low / 128));
    }
    expect(bucketIndex(MAX_TRACKABLE)).to.equal(bucketIndex(MAX_TRACKABLE * 4));
  });

  it('gives percentiles within 0.8 % above the exact ones, never below', () => {
    const next = randoms(42);
    const values = Array.from({ length: 50000 }, () => Math.floor(200 + next() ** 3 * 2_000_000));
    const h = new Histogram();
    for (const v of values) h.record(v);
    values.sort((a, b) => a - b);
    for (const p of [1, 50, 90, 99, 99.9, 100]) {
      const exact = exactPercentile(values, p);
      const got = h.percentile(p);
      expect(got, `p${p}`).to.be.at.least(exact);
      expect(got, `p${p}`).to.be.at.most(exact * (1 + 1 / 128));
    }
    expect(h.percentile(100)).to.equal(values[values.length - 1]);
  });

  it('records a value many times at once, and clamps negatives to zero', () => {
    const h = new Histogram();
    h.record(5000, 99);
    h.record(-3);
    expect(h.count).to.equal(100);
    expect(h.min).to.equal(0);
    expect(h.percentile(1)).to.equal(0);
    expect(h.percentile(2)).to.be.within(5000, 5000 * (1 + 1 / 128));
    expect(h.mean).to.equal((5000 * 99) / 100);
  });

  it('merges two histograms into what recording everything in one gives', () => {
    const next = randoms(3);
    const a = new Histogram();
    const b = new Histogram();
    const all = new Histogram();
    for (let i = 0; i < 5000; i++) {
      const v = Math.floor(next() * 1e6);
      (i % 3 === 0 ? a : b).record(v);
      all.record(v);
    }
    a.merge(b);
    expect(a.toJSON()).to.deep.equal(all.toJSON());
  });

  it('survives a JSON round trip, and refuses a corrupted one', () => {
    const h = new Histogram();
    for (const v of [1, 300, 300, 70_000, 5_000_000]) h.record(v);
    const copy = Histogram.fromJSON(JSON.parse(JSON.stringify(h.toJSON())));
    expect(copy.toJSON()).to.deep.equal(h.toJSON());
    expect(copy.percentile(99)).to.equal(h.percentile(99));
    expect(() => Histogram.fromJSON({ ...h.toJSON(), count: 6 })).to.throw(/count/);
    expect(() => Histogram.fromJSON({ ...h.toJSON(), buckets: [[999_999, 1]] })).to.throw(/bucket/);
  });

  it('reports NaN, not zero, when empty', () => {
    const h = new Histogram();
    expect(Number.isNaN(h.percentile(99))).to.equal(true);
    expect(Number.isNaN(h.max)).to.equal(true);
    expect(Histogram.fromJSON(h.toJSON()).count).to.equal(0);
  });
});
