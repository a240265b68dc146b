import { loadConfig } from '@securechat/common';
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { parser as Parser } from '@prometheus-io/lezer-promql' with { 'resolution-mode': 'import' };
import { authLimits, createMemoryAuthState } from '@securechat/state';
import { startAuthNode, type TestAuthNode } from '../support/auth-node';
import { ChatCluster } from '../support/chat-cluster';
import { ROOT } from '../support/processes';
import { RedisServer } from '../support/redis-server';

type Json = Record<string, unknown>;

/** Series Prometheus makes itself, beside what the nodes export. */
const PROMETHEUS_SERIES = new Set(['up']);

/** Grafana's variables, replaced the way Grafana would before the query reaches Prometheus. */
function substitute(expr: string): string {
  return expr.replaceAll('$__rate_interval', '1m').replaceAll('$job', '.+').replaceAll('$node', '.+');
}

/** Prometheus's own PromQL grammar (an ES module: loaded in `before`). */
let parser: typeof Parser;

/** The metric names an expression selects; throws on a PromQL syntax error. */
function metricNames(expr: string): string[] {
  const text = substitute(expr);
  const tree = parser.parse(text);
  const names: string[] = [];
  const errors: number[] = [];
  tree.iterate({
    enter: (node) => {
      if (node.type.isError) errors.push(node.from);
      if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector') {
        names.push(text.slice(node.from, node.to));
      }
    },
  });
  if (errors.length > 0) throw new Error(`PromQL syntax error at ${errors[0]} in: ${text}`);
  return names;
}

interface Query {
  where: string;
  expr: string;
}

function dashboardQueries(dashboard: Json): Query[] {
  const queries: Query[] = [];
  for (const panel of dashboard.panels as Json[]) {
    for (const target of (panel.targets as Json[] | undefined) ?? []) {
      queries.push({ where: `panel "${String(panel.title)}"`, expr: String(target.expr) });
    }
  }
  return queries;
}

function ruleQueries(rules: Json): Query[] {
  return (rules.groups as Json[]).flatMap((group) =>
    (group.rules as Json[]).map((rule) => ({
      where: `alert ${String(rule.alert)}`,
      expr: String(rule.expr),
    })),
  );
}

describe('the dashboard and the alert rules query only metrics the nodes export @redis', function () {
  this.timeout(30_000);
  const dashboard = JSON.parse(readFileSync(join(ROOT, 'deploy/grafana/securechat.json'), 'utf8')) as Json;
  const rules = parse(readFileSync(join(ROOT, 'deploy/prometheus/alerts.yml'), 'utf8')) as Json;
  let redis: RedisServer;
  let cluster: ChatCluster;
  let auth: TestAuthNode;
  /** Every series name live nodes export (histograms with their _bucket, _sum, _count). */
  const exported = new Set<string>();

  before(async () => {
    ({ parser } = await import('@prometheus-io/lezer-promql'));
    redis = await RedisServer.start();
    cluster = new ChatCluster(redis);
    const chat = await cluster.startNode('dash-1');
    auth = await startAuthNode({
      state: createMemoryAuthState(authLimits(loadConfig({}, 'embedded'))),
    });
    // Some activity, so that every labelled histogram has a series.
    await auth.client.post('/auth/register', { username: 'dash', password: 'dash-password' });
    await auth.client.post('/auth/login', { username: 'dash', password: 'dash-password' });
    // A family exists once declared (# TYPE), before its first labelled series does.
    for (const scrape of [await chat.scrape(), await auth.scrape()]) {
      for (const [family, type] of scrape.exposition.types) {
        exported.add(family);
        if (type === 'histogram')
          for (const suffix of ['_bucket', '_sum', '_count']) exported.add(family + suffix);
      }
    }
  });
  after(async () => {
    await cluster.stop();
    await auth.close();
    await redis.destroy();
  });

  it('has a valid dashboard: unique panel ids, a Prometheus datasource variable, every query valid PromQL', () => {
    const panels = dashboard.panels as Json[];
    expect(new Set(panels.map((p) => p.id)).size).to.equal(panels.length);
    const variables = (dashboard.templating as { list: Json[] }).list;
    expect(variables.find((v) => v.name === 'datasource')?.query).to.equal('prometheus');
    const queries = dashboardQueries(dashboard);
    expect(queries.length).to.be.above(30);
    for (const q of queries) expect(() => metricNames(q.expr), q.where).not.to.throw();
    for (const panel of panels.filter((p) => p.type !== 'row')) {
      expect(panel.description, `panel "${String(panel.title)}" says what it shows`).to.be.a('string');
    }
  });

  it('queries only series that live nodes export, on every panel and variable', () => {
    const missing: string[] = [];
    for (const q of dashboardQueries(dashboard)) {
      for (const name of metricNames(q.expr)) {
        if (!exported.has(name) && !PROMETHEUS_SERIES.has(name)) missing.push(`${q.where}: ${name}`);
      }
    }
    for (const v of (dashboard.templating as { list: Json[] }).list) {
      const definition = typeof v.definition === 'string' ? v.definition : '';
      const selected = /label_values\((\w+)/.exec(definition)?.[1];
      if (selected !== undefined && !exported.has(selected))
        missing.push(`variable ${String(v.name)}: ${selected}`);
    }
    expect(missing).to.deep.equal([]);
    // The contract's series are all on the dashboard.
    const used = new Set(dashboardQueries(dashboard).flatMap((q) => metricNames(q.expr)));
    for (const name of [
      'securechat_chat_connections',
      'securechat_chat_messages_total',
      'securechat_chat_deliveries_total',
      'securechat_chat_delivery_seconds_bucket',
      'securechat_chat_closes_total',
      'securechat_auth_logins_total',
    ]) {
      expect([...used], name).to.include(name);
    }
  });

  it('has valid alert rules: a severity and summary each, PromQL that selects exported series', () => {
    const alerts = (rules.groups as Json[]).flatMap((g) => g.rules as Json[]);
    expect(alerts.length).to.be.above(8);
    expect(new Set(alerts.map((a) => a.alert)).size).to.equal(alerts.length);
    for (const rule of alerts) {
      const name = String(rule.alert);
      expect(name).to.match(/^Securechat[A-Za-z]+$/);
      expect((rule.labels as Json | undefined)?.severity, name).to.be.oneOf(['warning', 'critical']);
      expect((rule.annotations as Json | undefined)?.summary, name).to.be.a('string');
      if (rule.for !== undefined) expect(String(rule.for), name).to.match(/^\d+[smh]$/);
    }
    const missing: string[] = [];
    for (const q of ruleQueries(rules)) {
      for (const selected of metricNames(q.expr)) {
        if (!exported.has(selected) && !PROMETHEUS_SERIES.has(selected))
          missing.push(`${q.where}: ${selected}`);
      }
    }
    expect(missing).to.deep.equal([]);
  });

  it('fails on a query of a series no node exports, or on broken PromQL (the check can fail)', () => {
    expect(() => metricNames('sum(rate(securechat_chat_messages_total[5m])')).to.throw('PromQL syntax error');
    expect(metricNames('rate(securechat_chat_mesages_total[5m])').every((n) => exported.has(n))).to.equal(
      false,
    );
  });
});
