/**
 * A log-linear latency histogram in whole microseconds, in the manner of HdrHistogram:
 * values below 256 are counted exactly; above, each power of two is cut into 128 equal
 * buckets, so a reported percentile is at most 1/128 (0.8 %) above the true value. It
 * is a fixed 3,328-slot array, so recording costs no allocation and two load generator
 * processes can merge their histograms exactly.
 */

const SUB_BITS = 7;
const SUB = 1 << SUB_BITS;
const LINEAR_LIMIT = 2 * SUB;
/** Values are clamped here (about 71 minutes in microseconds). */
export const MAX_TRACKABLE = 2 ** 32 - 1;
const SLOTS = LINEAR_LIMIT + (32 - SUB_BITS - 2) * SUB;

export function bucketIndex(value: number): number {
  const v = Math.min(MAX_TRACKABLE, Math.max(0, Math.floor(value)));
  if (v < LINEAR_LIMIT) return v;
  const bits = 32 - Math.clz32(v);
  const shift = bits - (SUB_BITS + 1);
  const top = Math.floor(v / 2 ** shift);
  return LINEAR_LIMIT + (shift - 1) * SUB + (top - SUB);
}

/** The smallest and largest value that land in bucket `index`. */
export function bucketBounds(index: number): { low: number; high: number } {
  if (index < LINEAR_LIMIT) return { low: index, high: index };
  const k = index - LINEAR_LIMIT;
  const scale = 2 ** (Math.floor(k / SUB) + 1);
  const top = SUB + (k % SUB);
  return { low: top * scale, high: (top + 1) * scale - 1 };
}

export interface HistogramJson {
  /** Non-empty buckets as [index, count] pairs. */
  buckets: [number, number][];
  count: number;
  sum: number;
  min: number;
  max: number;
}

export class Histogram {
  private readonly counts = new Float64Array(SLOTS);
  private total = 0;
  private sumValues = 0;
  private minValue = Infinity;
  private maxValue = -Infinity;

  get count(): number {
    return this.total;
  }

  get min(): number {
    return this.total === 0 ? NaN : this.minValue;
  }

  get max(): number {
    return this.total === 0 ? NaN : this.maxValue;
  }

  get mean(): number {
    return this.total === 0 ? NaN : this.sumValues / this.total;
  }

  /** Records `times` observations of `value` microseconds (negatives count as 0). */
  record(value: number, times = 1): void {
    if (times <= 0) return;
    const v = Math.min(MAX_TRACKABLE, Math.max(0, Math.floor(value)));
    const index = bucketIndex(v);
    this.counts[index] = (this.counts[index] ?? 0) + times;
    this.total += times;
    this.sumValues += v * times;
    if (v < this.minValue) this.minValue = v;
    if (v > this.maxValue) this.maxValue = v;
  }

  /**
   * The value at percentile `p` (0-100]: the highest value equivalent to the bucket that
   * holds the observation of that rank, never above the largest value recorded.
   */
  percentile(p: number): number {
    if (this.total === 0) return NaN;
    const rank = Math.max(1, Math.ceil((Math.min(100, Math.max(0, p)) / 100) * this.total));
    let seen = 0;
    for (let i = 0; i < SLOTS; i++) {
      seen += this.counts[i] ?? 0;
      if (seen >= rank) {
        return Math.max(this.minValue, Math.min(this.maxValue, bucketBounds(i).high));
      }
    }
    return this.maxValue;
  }

  merge(other: Histogram): void {
    if (other.total === 0) return;
    for (let i = 0; i < SLOTS; i++) this.counts[i] = (this.counts[i] ?? 0) + (other.counts[i] ?? 0);
    this.total += other.total;
    this.sumValues += other.sumValues;
    this.minValue = Math.min(this.minValue, other.minValue);
    this.maxValue = Math.max(this.maxValue, other.maxValue);
  }

  toJSON(): HistogramJson {
    const buckets: [number, number][] = [];
    for (let i = 0; i < SLOTS; i++) {
      const c = this.counts[i] ?? 0;
      if (c > 0) buckets.push([i, c]);
    }
    return {
      buckets,
      count: this.total,
      sum: this.sumValues,
      min: this.total === 0 ? 0 : this.minValue,
      max: this.total === 0 ? 0 : this.maxValue,
    };
  }

  static fromJSON(json: HistogramJson): Histogram {
    const h = new Histogram();
    let total = 0;
    for (const [index, count] of json.buckets) {
      if (!Number.isInteger(index) || index < 0 || index >= SLOTS || !(count > 0)) {
        throw new Error(`bad histogram bucket [${index}, ${count}]`);
      }
      h.counts[index] = (h.counts[index] ?? 0) + count;
      total += count;
    }
    if (total !== json.count) throw new Error('histogram count does not match its buckets');
    h.total = total;
    h.sumValues = json.sum;
    if (total > 0) {
      h.minValue = json.min;
      h.maxValue = json.max;
    }
    return h;
  }
}
