import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/**
 * The instruments every metric of the product is made of. Two rules hold for all of them:
 *
 * - **Bounded labels.** Each label has a catalogue of the values it may take; anything
 *   else is counted as `other`. Whatever a client sends, a series with a value it chose
 *   cannot exist, so cardinality stays bounded (test/metrics/labels.test.ts checks every
 *   series of real nodes after hostile input).
 * - **Cheap counting.** A counter's hot path is an addition to a plain number in a map
 *   row; prom-client reads the rows only when `/metrics` is scraped. (prom-client's own
 *   labelled `inc` costs about 0.4 µs, mostly hashing the labels object.)
 */

/** The label value every catalogue adds: anything it does not list counts here. */
export const OTHER = 'other';

/** One label: its name and the values it may take. */
export interface LabelSpec {
  readonly name: string;
  readonly values: readonly string[];
}

export interface MetricSpec {
  readonly name: string;
  readonly help: string;
}

/** The values a label may take, `other` included, for checks and dashboards. */
export function allowedValues(label: LabelSpec): string[] {
  return label.values.includes(OTHER) ? [...label.values] : [...label.values, OTHER];
}

class Catalogue {
  private readonly known: ReadonlySet<string>;

  constructor(readonly spec: LabelSpec) {
    this.known = new Set(spec.values);
  }

  /** `value` if the catalogue lists it, `other` otherwise. */
  pick(value: string): string {
    return this.known.has(value) ? value : OTHER;
  }
}

interface Row {
  readonly labels: Record<string, string>;
  value: number;
}

/**
 * A counter with labels from catalogues. `inc(a, b)` takes one value per label, in the
 * order of the specs. Rows listed in `initial` are exported from the start at 0 (so a
 * `rate()` over them exists before the first event); others appear when first counted.
 */
export class Tally {
  private readonly catalogues: Catalogue[];
  private readonly rows = new Map<string, Row>();

  constructor(
    registry: Registry,
    spec: MetricSpec,
    labels: readonly LabelSpec[] = [],
    initial: readonly (readonly string[])[] = labels.length === 0 ? [[]] : [],
  ) {
    this.catalogues = labels.map((l) => new Catalogue(l));
    for (const values of initial) this.inc(0, ...values);
    const rows = this.rows;
    new Counter({
      name: spec.name,
      help: spec.help,
      labelNames: labels.map((l) => l.name),
      registers: [registry],
      collect() {
        this.reset();
        for (const row of rows.values()) this.inc(row.labels, row.value);
      },
    });
  }

  /** Adds `n` to the row of `values` (one per label). */
  inc(n: number, ...values: string[]): void {
    const picked =
      this.catalogues.length === 0 ? values : this.catalogues.map((c, i) => c.pick(values[i] ?? ''));
    const key = picked.join('\u0000');
    let row = this.rows.get(key);
    if (row === undefined) {
      const labels: Record<string, string> = {};
      this.catalogues.forEach((c, i) => (labels[c.spec.name] = picked[i] as string));
      row = { labels, value: 0 };
      this.rows.set(key, row);
    }
    row.value += n;
  }

  /** The current count of a row (tests and the operator's view read the scrape instead). */
  get(...values: string[]): number {
    const picked = this.catalogues.map((c, i) => c.pick(values[i] ?? ''));
    return this.rows.get(picked.join('\u0000'))?.value ?? 0;
  }
}

/** A counter without labels: `inc` is one addition. */
export class Count {
  value = 0;

  constructor(registry: Registry, spec: MetricSpec) {
    pulledCounter(registry, spec, () => this.value);
  }

  inc(n = 1): void {
    this.value += n;
  }
}

/** A counter whose value another object keeps (a plain number it adds to), read when scraped. */
export function pulledCounter(registry: Registry, spec: MetricSpec, read: () => number): void {
  new Counter({
    name: spec.name,
    help: spec.help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

/** A gauge read from the node when scraped (open connections, rooms): nothing to keep in step. */
export function pulledGauge(registry: Registry, spec: MetricSpec, read: () => number): void {
  new Gauge({
    name: spec.name,
    help: spec.help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

/** A gauge with labels from catalogues, read when scraped: one value per row. */
export function pulledLabelledGauge(
  registry: Registry,
  spec: MetricSpec,
  labels: readonly LabelSpec[],
  read: () => Iterable<readonly [values: readonly string[], value: number]>,
): void {
  const catalogues = labels.map((l) => new Catalogue(l));
  new Gauge({
    name: spec.name,
    help: spec.help,
    labelNames: labels.map((l) => l.name),
    registers: [registry],
    collect() {
      this.reset();
      for (const [values, value] of read()) {
        const row: Record<string, string> = {};
        catalogues.forEach((c, i) => (row[c.spec.name] = c.pick(values[i] ?? '')));
        this.set(row, value);
      }
    },
  });
}

/** One row of a Distribution: its labels, and counts per bucket (not cumulative), sum, count. */
interface BucketRow {
  readonly labels: Record<string, string>;
  readonly counts: number[];
  sum: number;
  count: number;
}

/** An exported sample in prom-client's own shape (what its Histogram's export yields). */
interface ExportedValue {
  labels: Record<string, string | number>;
  sharedLabels: Record<string, string>;
  value: number;
  metricName: string;
  exemplar: null | undefined;
}

/**
 * prom-client's Histogram, exported from rows that Distribution counts itself: its
 * registration, `get()` and text exposition are prom-client's, fed at scrape time.
 */
class CountedHistogram extends Histogram<string> {
  constructor(
    config: { name: string; help: string; buckets: number[]; labelNames: string[]; registers: Registry[] },
    private readonly bounds: readonly number[],
    private readonly rows: ReadonlyMap<string, BucketRow>,
  ) {
    super(config);
  }

  /** What prom-client's Histogram builds from its own rows, built from ours (same order, same shape). */
  getForPromString(): Promise<{
    name: string;
    help: string;
    type: string;
    values: ExportedValue[];
    aggregator: string;
  }> {
    const self = this as unknown as { name: string; help: string; type: string; aggregator: string };
    const values: ExportedValue[] = [];
    for (const row of this.rows.values()) {
      let acc = 0;
      this.bounds.forEach((le, i) => {
        acc += row.counts[i] ?? 0;
        values.push({
          labels: { le },
          sharedLabels: row.labels,
          value: acc,
          metricName: `${self.name}_bucket`,
          exemplar: null,
        });
      });
      const tail = (labels: Record<string, string>, value: number, suffix: string) =>
        values.push({
          labels,
          sharedLabels: row.labels,
          value,
          metricName: `${self.name}${suffix}`,
          exemplar: undefined,
        });
      values.push({
        labels: { le: '+Inf' },
        sharedLabels: row.labels,
        value: row.count,
        metricName: `${self.name}_bucket`,
        exemplar: null,
      });
      tail({}, row.sum, '_sum');
      tail({}, row.count, '_count');
    }
    return Promise.resolve({
      name: self.name,
      help: self.help,
      type: self.type,
      values,
      aggregator: self.aggregator,
    });
  }
}

/**
 * A histogram with label values picked from catalogues, counted like Tally: an
 * observation is a few additions to a row of plain numbers (found by its label values),
 * and prom-client reads the rows only when scraped. (prom-client's own `observe` hashes
 * a labels object and looks its bucket up by a number-to-string key: 6-9 µs per message
 * over a fan-out's nodes, docs/BENCHMARKS.md.) Observed once per event that is not per
 * socket write (a fan-out, a Redis command, a bcrypt call).
 */
export class Distribution {
  private readonly catalogues: Catalogue[];
  private readonly bounds: readonly number[];
  private readonly rows = new Map<string, BucketRow>();

  constructor(
    registry: Registry,
    spec: MetricSpec & { readonly buckets: readonly number[] },
    labels: readonly LabelSpec[] = [],
    /** Label rows exported from the start, empty (as Tally's `initial`). */
    initial: readonly (readonly string[])[] = [],
  ) {
    this.catalogues = labels.map((l) => new Catalogue(l));
    this.bounds = [...spec.buckets];
    // prom-client checks the spec (names, buckets in order) as it always did.
    new CountedHistogram(
      {
        name: spec.name,
        help: spec.help,
        buckets: [...spec.buckets],
        labelNames: labels.map((l) => l.name),
        registers: [registry],
      },
      this.bounds,
      this.rows,
    );
    // prom-client exports a histogram without labels from the start (its one row at 0).
    if (labels.length === 0) this.row([]);
    for (const values of initial) this.row(values);
  }

  private row(values: readonly string[]): BucketRow {
    const picked = this.catalogues.length === 0 ? [] : this.catalogues.map((c, i) => c.pick(values[i] ?? ''));
    const key = picked.join('\u0000');
    let row = this.rows.get(key);
    if (row === undefined) {
      const labels: Record<string, string> = {};
      this.catalogues.forEach((c, i) => (labels[c.spec.name] = picked[i] as string));
      row = { labels, counts: this.bounds.map(() => 0), sum: 0, count: 0 };
      this.rows.set(key, row);
    }
    return row;
  }

  observe(value: number, ...values: string[]): void {
    // As prom-client's observe: a value that is not a finite number is refused.
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    const row = this.row(values);
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i += 1;
    if (i < bounds.length) row.counts[i] = (row.counts[i] as number) + 1;
    row.sum += value;
    row.count += 1;
  }
}

/** Buckets for latencies from a millisecond to ten seconds. */
export const LATENCY_BUCKETS: readonly number[] = Object.freeze([
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]);

/** Buckets for Redis round trips: finer below a millisecond. */
export const REDIS_BUCKETS: readonly number[] = Object.freeze([
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
]);

/** Buckets for counts of items (messages in a replay). */
export const SIZE_BUCKETS: readonly number[] = Object.freeze([0, 1, 5, 10, 50, 100, 500, 1000, 5000, 10000]);
