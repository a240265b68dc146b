import { expect } from 'chai';
import fc from 'fast-check';
import { actions } from './frames';
import { FuzzTarget } from './harness';

/**
 * Issue 10: generated frames and request sequences thrown at a real chat node (in this
 * process, on a real redis-server). Property: whatever a socket sends, the node answers
 * it only with frames and codes of the protocol (never an unexpected exception), closes
 * it only with a documented code, keeps answering a healthy client, and releases
 * everything the socket held. The longer run for release checks is `npm run fuzz`
 * (docs/OPERATIONS.md). A failure prints fast-check's seed and the shrunk sequence.
 */
describe('fuzzing a chat node with generated frames (fast-check) @redis', function () {
  this.timeout(120_000);
  let target: FuzzTarget;

  before(async () => {
    target = await FuzzTarget.start();
  });
  after(async () => {
    await target.stop();
  });

  it('stays up, answers a healthy client and keeps memory bounded', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(actions(target.tokens), { minLength: 1, maxLength: 60, size: 'max' }),
        async (sequence) => {
          await target.run(sequence);
        },
      ),
      { numRuns: 120 },
    );
    const bounds = await target.checkBounds();
    // eslint-disable-next-line no-console
    console.log(
      `      ${target.figures.runs} sequences, ${target.figures.frames} frames; closes ${JSON.stringify(target.figures.closes)}; ` +
        `errors ${JSON.stringify(target.figures.errors)}; frames ${JSON.stringify(target.figures.replies)}; Redis +${bounds.redisGrowthMiB.toFixed(1)} MiB`,
    );
    expect(target.figures.frames).to.be.greaterThan(1000);
  });
});
