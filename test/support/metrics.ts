import { expect } from 'chai';
import {
  buckets,
  parseExposition,
  sum,
  type Buckets,
  type Exposition,
  type Sample,
} from '@securechat/metrics';

/** One scrape of a node's /metrics, as Prometheus takes it, with readers for assertions. */
export interface Scrape {
  readonly exposition: Exposition;
  readonly text: string;
  /** The sum of the series `name` whose labels include `labels` (0 if none). */
  value(name: string, labels?: Record<string, string>): number;
  histogram(name: string, labels?: Record<string, string>): Buckets;
  /** Every sample of every series. */
  readonly samples: readonly Sample[];
  /** The metric family names (histogram suffixes removed). */
  families(): Set<string>;
}

export async function scrape(url: string): Promise<Scrape> {
  const res = await fetch(url);
  expect(res.status, `GET ${url}`).to.equal(200);
  expect(res.headers.get('content-type') ?? '').to.match(/^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  const exposition = parseExposition(text);
  return {
    exposition,
    text,
    samples: exposition.samples,
    value: (name, labels = {}) => sum(exposition, name, labels),
    histogram: (name, labels = {}) => buckets(exposition, name, labels),
    families: () => new Set(exposition.types.keys()),
  };
}

/** What moved between two scrapes of the same node: `after - before` of one series. */
export function moved(
  before: Scrape,
  after: Scrape,
  name: string,
  labels: Record<string, string> = {},
): number {
  return after.value(name, labels) - before.value(name, labels);
}
