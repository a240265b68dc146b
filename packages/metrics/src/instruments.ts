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

/**
 * A histogram (prom-client's), its label values picked from catalogues. Observed once
 * per event that is not per socket write (a fan-out, a Redis command, a bcrypt call).
 */
export class Distribution {
  private readonly histogram: Histogram<string>;
  private readonly catalogues: Catalogue[];

  constructor(
    registry: Registry,
    spec: MetricSpec & { readonly buckets: readonly number[] },
    labels: readonly LabelSpec[] = [],
    /** Label rows exported from the start, empty (as Tally's `initial`). */
    initial: readonly (readonly string[])[] = [],
  ) {
    this.catalogues = labels.map((l) => new Catalogue(l));
    this.histogram = new Histogram({
      name: spec.name,
      help: spec.help,
      buckets: [...spec.buckets],
      labelNames: labels.map((l) => l.name),
      registers: [registry],
    });
    for (const values of initial) this.histogram.zero(this.labels(values));
  }

  private labels(values: readonly string[]): Record<string, string> {
    const labels: Record<string, string> = {};
    this.catalogues.forEach((c, i) => (labels[c.spec.name] = c.pick(values[i] ?? '')));
    return labels;
  }

  observe(value: number, ...values: string[]): void {
    if (this.catalogues.length === 0) {
      this.histogram.observe(value);
      return;
    }
    this.histogram.observe(this.labels(values), value);
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
