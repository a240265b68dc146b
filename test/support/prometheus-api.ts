/**
 * A client of a real Prometheus server's HTTP API (v1): the few endpoints the deployment
 * tests read, each reply checked from `unknown` so that a changed or failed answer fails
 * with what came back.
 */
import { object, type Json } from './json-shape';

export interface ScrapeTarget {
  job: string;
  /** `host:port` as configured (a compose service name and the metrics port). */
  instance: string;
  health: 'up' | 'down' | 'unknown';
  lastError: string;
  /** When its last scrape began (ms since the epoch); undefined before the first. */
  lastScrapeMs: number | undefined;
}

export interface RuleGroup {
  name: string;
  rules: { name: string; health: string; lastError: string }[];
}

/** One series of an instant vector. */
export interface VectorSample {
  labels: Record<string, string>;
  value: number;
}

function list(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value))
    throw new Error(`${what} is not a list: ${String(JSON.stringify(value)).slice(0, 300)}`);
  return value;
}

function text(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new Error(`${what} is not a string: ${String(JSON.stringify(value))}`);
  return value;
}

function labels(value: unknown, what: string): Record<string, string> {
  const entries = Object.entries(object(value, what));
  return Object.fromEntries(entries.map(([k, v]) => [k, text(v, `${what}.${k}`)]));
}

/**
 * An RFC 3339 time as Prometheus writes it (nanoseconds, or Go's zero time before a first
 * scrape) in ms; Date.parse is only sure of three fraction digits.
 */
function instant(value: string): number | undefined {
  if (value.startsWith('0001-01-01')) return undefined;
  const ms = Date.parse(value.replace(/(\.\d{3})\d+/, '$1'));
  if (Number.isNaN(ms)) throw new Error(`not a time: ${value}`);
  return ms;
}

export class PrometheusApi {
  constructor(readonly url: string) {}

  /** The `data` of a successful API reply. */
  private async data(path: string, params: Record<string, string> = {}): Promise<unknown> {
    const url = new URL(path, this.url);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    const res = await fetch(url);
    const body = await res.text();
    let reply: Json;
    try {
      reply = object(JSON.parse(body) as unknown, `GET ${url.pathname}`);
    } catch {
      throw new Error(`GET ${url.pathname}${url.search} answered ${res.status}: ${body.slice(0, 300)}`);
    }
    if (res.status !== 200 || reply.status !== 'success') {
      throw new Error(`GET ${url.pathname}${url.search} answered ${res.status}: ${body.slice(0, 300)}`);
    }
    return reply.data;
  }

  /** `/-/ready`: 200 once the TSDB is open and the configuration loaded. */
  async ready(): Promise<boolean> {
    try {
      return (await fetch(new URL('/-/ready', this.url))).status === 200;
    } catch {
      return false;
    }
  }

  async targets(): Promise<ScrapeTarget[]> {
    const data = object(await this.data('/api/v1/targets', { state: 'active' }), 'targets');
    return list(data.activeTargets, 'activeTargets').map((raw, i) => {
      const target = object(raw, `activeTargets[${i}]`);
      const { job, instance } = labels(target.labels, `activeTargets[${i}].labels`);
      const health = text(target.health, 'health');
      if (health !== 'up' && health !== 'down' && health !== 'unknown') throw new Error(`health ${health}`);
      return {
        job: text(job, 'job'),
        instance: text(instance, 'instance'),
        health,
        lastError: text(target.lastError, 'lastError'),
        lastScrapeMs: instant(text(target.lastScrape, 'lastScrape')),
      };
    });
  }

  async ruleGroups(): Promise<RuleGroup[]> {
    const data = object(await this.data('/api/v1/rules'), 'rules');
    return list(data.groups, 'groups').map((raw, i) => {
      const group = object(raw, `groups[${i}]`);
      return {
        name: text(group.name, 'group name'),
        rules: list(group.rules, 'rules').map((r, j) => {
          const rule = object(r, `groups[${i}].rules[${j}]`);
          return {
            name: text(rule.name, 'rule name'),
            health: text(rule.health, 'rule health'),
            lastError: typeof rule.lastError === 'string' ? rule.lastError : '',
          };
        }),
      };
    });
  }

  /** An instant query, evaluated now. */
  async query(expr: string): Promise<VectorSample[]> {
    const data = object(await this.data('/api/v1/query', { query: expr }), 'query');
    if (data.resultType !== 'vector') throw new Error(`${expr}: a ${String(data.resultType)}, not a vector`);
    return list(data.result, 'result').map((raw, i) => {
      const sample = object(raw, `result[${i}]`);
      const [, value] = list(sample.value, `result[${i}].value`);
      const number = Number(text(value, `result[${i}] value`));
      if (Number.isNaN(number)) throw new Error(`${expr}: result[${i}] is not a number`);
      return { labels: labels(sample.metric, `result[${i}].metric`), value: number };
    });
  }
}
