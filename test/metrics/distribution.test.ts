import { expect } from 'chai';
import fc from 'fast-check';
import { Histogram, Registry } from 'prom-client';
import { Distribution, OTHER } from '@securechat/metrics';

const BUCKETS = [0.0001, 0.001, 0.01, 0.5, 1, 2.5];
const KINDS = ['a', 'b'];
const OPS = ['x', 'y', 'z'];

describe('Distribution', () => {
  it("exports exactly what prom-client's Histogram exports for the same observations", async () => {
    const observation = fc.record({
      value: fc.oneof(
        fc.constantFrom(...BUCKETS, 0, -1, 3, 1e9),
        fc.double({ min: -5, max: 5, noNaN: true }),
      ),
      kind: fc.constantFrom(...KINDS, 'surprise'),
      op: fc.constantFrom(...OPS, ''),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(observation, { maxLength: 60 }),
        fc.boolean(),
        async (observations, labelled) => {
          const ours = new Registry();
          const theirs = new Registry();
          ours.setDefaultLabels({ service: 'chat' });
          theirs.setDefaultLabels({ service: 'chat' });
          const spec = { name: 'd_seconds', help: 'h', buckets: BUCKETS };
          const labels = labelled
            ? [
                { name: 'kind', values: KINDS },
                { name: 'op', values: OPS },
              ]
            : [];
          const initial = labelled ? [['a', 'x']] : [];
          const distribution = new Distribution(ours, spec, labels, initial);
          const reference = new Histogram({
            ...spec,
            labelNames: labels.map((l) => l.name),
            registers: [theirs],
          });
          const pick = (value: string, values: string[]) => (values.includes(value) ? value : OTHER);
          if (labelled) reference.zero({ kind: 'a', op: 'x' });
          for (const o of observations) {
            if (labelled) {
              distribution.observe(o.value, o.kind, o.op);
              reference.observe({ kind: pick(o.kind, KINDS), op: pick(o.op, OPS) }, o.value);
            } else {
              distribution.observe(o.value);
              reference.observe(o.value);
            }
          }
          expect(await ours.metrics()).to.equal(await theirs.metrics());
          expect(await ours.getMetricsAsJSON()).to.deep.equal(await theirs.getMetricsAsJSON());
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses a value that is not a finite number, as prom-client does', () => {
    const d = new Distribution(new Registry(), { name: 'd_seconds', help: 'h', buckets: BUCKETS });
    expect(() => d.observe(NaN)).to.throw(TypeError);
    expect(() => d.observe(Infinity)).to.throw(TypeError);
  });
});
