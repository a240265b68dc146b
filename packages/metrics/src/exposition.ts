/**
 * A reader of the Prometheus text exposition format (version 0.0.4), for the operator's
 * live view and the tests: what a scraper sees, parsed strictly. A line it cannot read
 * is an error naming the line, never skipped.
 */

export interface Sample {
  /** The series name as written (`x_bucket`, `x_sum`, `x_count` for a histogram). */
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Exposition {
  readonly samples: readonly Sample[];
  /** `# TYPE` of each family. */
  readonly types: ReadonlyMap<string, string>;
}

export class ExpositionError extends Error {
  constructor(line: number, detail: string) {
    super(`metrics line ${line}: ${detail}`);
    this.name = 'ExpositionError';
  }
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;

function parseValue(text: string, line: number): number {
  // As Prometheus reads them: case-insensitive (prom-client writes NaN as "Nan").
  const lower = text.toLowerCase();
  if (lower === '+inf' || lower === 'inf') return Infinity;
  if (lower === '-inf') return -Infinity;
  if (lower === 'nan') return NaN;
  const value = Number(text);
  if (text === '' || Number.isNaN(value)) throw new ExpositionError(line, `bad value "${text}"`);
  return value;
}

/** Reads `{a="x",b="y"}` starting at `at` (the brace); returns the labels and the index after it. */
function parseLabels(text: string, at: number, line: number): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  let i = at + 1;
  for (;;) {
    while (text[i] === ' ') i += 1;
    if (text[i] === '}') return [labels, i + 1];
    const name = LABEL_NAME.exec(text.slice(i))?.[0];
    if (name === undefined) throw new ExpositionError(line, 'bad label name');
    i += name.length;
    if (text[i] !== '=' || text[i + 1] !== '"') throw new ExpositionError(line, `label ${name} has no value`);
    i += 2;
    let value = '';
    for (;;) {
      const c = text[i];
      if (c === undefined) throw new ExpositionError(line, 'unterminated label value');
      if (c === '"') break;
      if (c === '\\') {
        const next = text[i + 1];
        if (next === 'n') value += '\n';
        else if (next === '\\' || next === '"') value += next;
        else throw new ExpositionError(line, 'bad escape in label value');
        i += 2;
      } else {
        value += c;
        i += 1;
      }
    }
    if (Object.hasOwn(labels, name)) throw new ExpositionError(line, `label ${name} repeated`);
    labels[name] = value;
    i += 1;
    if (text[i] === ',') i += 1;
    else if (text[i] !== '}') throw new ExpositionError(line, 'expected , or }');
  }
}

export function parseExposition(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  text.split('\n').forEach((raw, index) => {
    const lineNo = index + 1;
    const line = raw.trim();
    if (line === '') return;
    if (line.startsWith('#')) {
      const match = /^#\s+TYPE\s+(\S+)\s+(counter|gauge|histogram|summary|untyped)\s*$/.exec(line);
      if (match !== null) types.set(match[1] as string, match[2] as string);
      return;
    }
    const name = NAME.exec(line)?.[0];
    if (name === undefined) throw new ExpositionError(lineNo, 'bad series name');
    let i = name.length;
    let labels: Record<string, string> = {};
    if (line[i] === '{') [labels, i] = parseLabels(line, i, lineNo);
    const rest = line.slice(i).trim().split(/\s+/);
    if (rest.length < 1 || rest.length > 2) throw new ExpositionError(lineNo, 'expected a value');
    samples.push({ name, labels, value: parseValue(rest[0] as string, lineNo) });
  });
  return { samples, types };
}

/** Whether every label of `want` has that value in `labels`. */
export function matches(
  labels: Readonly<Record<string, string>>,
  want: Readonly<Record<string, string>>,
): boolean {
  return Object.entries(want).every(([k, v]) => labels[k] === v);
}

/** Sum of the series `name` whose labels include `want` (0 when there is none). */
export function sum(exposition: Exposition, name: string, want: Record<string, string> = {}): number {
  let total = 0;
  for (const s of exposition.samples) if (s.name === name && matches(s.labels, want)) total += s.value;
  return total;
}

/** The histogram `name` summed over the series matching `want`: cumulative counts by upper bound. */
export interface Buckets {
  readonly bounds: readonly number[];
  /** Cumulative counts, one per bound (the last bound is +Inf). */
  readonly counts: readonly number[];
  readonly sum: number;
  readonly count: number;
}

export function buckets(exposition: Exposition, name: string, want: Record<string, string> = {}): Buckets {
  const byBound = new Map<number, number>();
  for (const s of exposition.samples) {
    if (s.name !== `${name}_bucket` || !matches(s.labels, want)) continue;
    const le = parseValue(s.labels.le ?? '', 0);
    byBound.set(le, (byBound.get(le) ?? 0) + s.value);
  }
  const bounds = [...byBound.keys()].sort((a, b) => a - b);
  return {
    bounds,
    counts: bounds.map((b) => byBound.get(b) ?? 0),
    sum: sum(exposition, `${name}_sum`, want),
    count: sum(exposition, `${name}_count`, want),
  };
}

/** What happened between two readings of one histogram (a later minus an earlier one). */
export function delta(later: Buckets, earlier: Buckets): Buckets {
  const before = new Map(earlier.bounds.map((b, i) => [b, earlier.counts[i] ?? 0]));
  return {
    bounds: later.bounds,
    counts: later.counts.map((c, i) => Math.max(0, c - (before.get(later.bounds[i] as number) ?? 0))),
    sum: Math.max(0, later.sum - earlier.sum),
    count: Math.max(0, later.count - earlier.count),
  };
}

/**
 * The q-quantile of a histogram as Prometheus's `histogram_quantile` estimates it:
 * linear within the bucket it falls in; the highest finite bound when it falls in +Inf;
 * undefined without observations.
 */
export function quantile(q: number, histogram: Buckets): number | undefined {
  const { bounds, counts } = histogram;
  const total = counts.at(-1) ?? 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  for (let i = 0; i < bounds.length; i += 1) {
    const count = counts[i] as number;
    if (count < rank) continue;
    const upper = bounds[i] as number;
    if (upper === Infinity) return i > 0 ? (bounds[i - 1] as number) : undefined;
    const lower = i === 0 ? 0 : (bounds[i - 1] as number);
    const below = i === 0 ? 0 : (counts[i - 1] as number);
    const inBucket = count - below;
    return inBucket <= 0 ? upper : lower + (upper - lower) * ((rank - below) / inBucket);
  }
  return bounds.at(-2);
}
