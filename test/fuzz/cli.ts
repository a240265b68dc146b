/**
 * `npm run fuzz -- --frames 100000 [--seed N]`: the fuzzing of test/fuzz/fuzz.test.ts,
 * longer, for release checks. It starts its own redis-server and an in-process chat node,
 * throws sequences of generated frames at it until the number of frames is reached (in
 * batches of fast-check runs, each batch with its own seed), checks after every batch that
 * the node released everything and Redis stayed bounded, and prints the figures. On a
 * failure it prints fast-check's report (seed, path and the shrunk sequence) and exits 1.
 */
import fc from 'fast-check';
import { actions } from './frames';
import { FuzzTarget } from './harness';

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isSafeInteger(value) || value < 0) {
    process.stderr.write(`--${name} needs a whole number\n`);
    process.exit(2);
  }
  return value;
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function main(): Promise<void> {
  const frames = option('frames', 100_000);
  const firstSeed = option('seed', Date.now() % 2 ** 31);
  const target = await FuzzTarget.start();
  const started = Date.now();
  let failed = false;
  try {
    for (let batch = 0; target.figures.frames < frames; batch++) {
      const seed = firstSeed + batch;
      await fc.assert(
        fc.asyncProperty(
          fc.array(actions(target.tokens), { minLength: 1, maxLength: 60, size: 'max' }),
          async (sequence) => {
            await target.run(sequence);
          },
        ),
        { numRuns: 100, seed },
      );
      const bounds = await target.checkBounds();
      const seconds = (Date.now() - started) / 1000;
      say(
        `batch ${batch} (seed ${seed}): ${target.figures.runs} sequences, ${target.figures.frames} frames, ` +
          `${seconds.toFixed(0)} s, Redis +${bounds.redisGrowthMiB.toFixed(1)} MiB, heap ${bounds.heapMiB.toFixed(0)} MiB`,
      );
    }
    say(
      JSON.stringify({
        frames: target.figures.frames,
        sequences: target.figures.runs,
        seconds: Math.round((Date.now() - started) / 1000),
        firstSeed,
        closes: target.figures.closes,
        errors: target.figures.errors,
        replies: target.figures.replies,
      }),
    );
  } catch (err) {
    failed = true;
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  } finally {
    await target.stop();
  }
  process.exit(failed ? 1 : 0);
}

void main();
