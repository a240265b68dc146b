/**
 * The `monitoring` profile of docker-compose.yml, run by compose-up.test.ts: its real
 * Prometheus (a stand-in built from Debian's package where the official image cannot be
 * pulled) scraping every node container, read through Prometheus's own HTTP API on its
 * published loopback port. Grafana has no stand-in (Debian does not package it): it runs
 * only where GRAFANA_IMAGE can be had, and the run says loudly when it did not.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { COMPOSE, composeNodes } from '@securechat/cluster';
import { shout, type ComposeProfile, type Deployment } from '../support/compose-project';
import { object, type Json } from '../support/json-shape';
import { ROOT } from '../support/processes';
import { PrometheusApi } from '../support/prometheus-api';
import { nodesOf, type Accepted } from '../support/tls-edge';
import { waitFor } from '../support/wait';

function read(path: string): string {
  return readFileSync(join(ROOT, path), 'utf8');
}

/** docker-compose.yml's default of `${name:-default}`. */
function composeDefault(name: string): string {
  const found = new RegExp(`\\$\\{${name}:-([^}]+)\\}`).exec(read('docker-compose.yml'))?.[1];
  if (found === undefined) throw new Error(`docker-compose.yml has no default for ${name}`);
  return found;
}

const PROMETHEUS_CONFIG = object(
  parse(read('deploy/prometheus/prometheus.yml')) as unknown,
  'prometheus.yml',
);
const ALERTS = object(parse(read('deploy/prometheus/alerts.yml')) as unknown, 'alerts.yml');

/** prometheus.yml's scrape interval: a change shows within one, once scraped. */
const SCRAPE_MS = (() => {
  const interval = String(object(PROMETHEUS_CONFIG.global, 'global').scrape_interval);
  const m = /^(\d+)s$/.exec(interval);
  if (m === null) throw new Error(`scrape_interval ${interval} is not in seconds`);
  return Number(m[1]) * 1000;
})();
/** Two scrape intervals (the next scrape, and one after a slow one) and room for a busy CI machine. */
const SCRAPED_WITHIN_MS = 2 * SCRAPE_MS + 15_000;

const NODES = composeNodes();
const CHAT = NODES.filter((n) => n.role === 'chat').map((n) => n.name);
const target = (service: string): string => `${service}:${COMPOSE.metricsPort}`;

/** The host port the run published `variable` on. */
function port(deployment: Deployment, variable: string): number {
  const found = deployment.ports[variable];
  if (found === undefined) throw new Error(`the run gave ${variable} no port`);
  return found;
}

/** The alert groups and rule names of deploy/prometheus/alerts.yml. */
function alertRules(): { name: string; rules: string[] }[] {
  return (ALERTS.groups as unknown[]).map((g, i) => {
    const group = object(g, `groups[${i}]`);
    return {
      name: String(group.name),
      rules: (group.rules as unknown[]).map((r, j) => String(object(r, `groups[${i}].rules[${j}]`).alert)),
    };
  });
}

export const MONITORING: ComposeProfile = {
  profile: 'monitoring',
  portVariables: ['PROMETHEUS_PORT', 'GRAFANA_PORT'],
  optionalImages: [{ service: 'grafana', variable: 'GRAFANA_IMAGE', image: composeDefault('GRAFANA_IMAGE') }],
  checks: (deployment: () => Deployment) => {
    let api: PrometheusApi;

    /** What Prometheus holds for `expr`, summed by chat container (0 where it has nothing). */
    async function byChatContainer(expr: string): Promise<Map<string, number>> {
      const values = new Map(CHAT.map((name) => [name, 0]));
      for (const sample of await api.query(`sum by (instance) (${expr})`)) {
        const name = CHAT.find((n) => target(n) === sample.labels.instance);
        if (name !== undefined) values.set(name, sample.value);
      }
      return values;
    }

    /**
     * Each chat container's open sockets and accepted messages as Prometheus holds them,
     * once every chat container was scraped after `sinceMs` (so they are no older).
     */
    async function chatCounts(
      sinceMs: number,
    ): Promise<{ sockets: Map<string, number>; messages: Map<string, number> }> {
      const stale = (await api.targets()).filter(
        (t) =>
          CHAT.some((name) => t.instance === target(name)) &&
          (t.lastScrapeMs === undefined || t.lastScrapeMs <= sinceMs),
      );
      if (stale.length > 0) throw new Error(`not scraped yet: ${stale.map((t) => t.instance).join(', ')}`);
      return {
        sockets: await byChatContainer('securechat_chat_connections'),
        messages: await byChatContainer('securechat_chat_messages_total{outcome="accepted"}'),
      };
    }

    before(async function () {
      this.timeout(60_000);
      api = new PrometheusApi(`http://127.0.0.1:${port(deployment(), 'PROMETHEUS_PORT')}`);
      await waitFor(() => api.ready(), {
        timeoutMs: 45_000,
        intervalMs: 250,
        what: `Prometheus at ${api.url}`,
      });
    });

    it('runs Prometheus as a non-root user on its read-only root with no capabilities, its data in the volume', async () => {
      const { project } = deployment();
      expect((await project.state('prometheus')).status).to.equal('running');
      const container = await project.container('prometheus');
      const host = await project.docker([
        'inspect',
        '--format',
        '{{.Config.Image}} {{.HostConfig.ReadonlyRootfs}} {{json .HostConfig.CapDrop}}',
        container,
      ]);
      const [image, readOnly, capDrop] = host.trim().split(' ');
      process.stdout.write(`      [compose-up] prometheus image ${String(image)}\n`);
      expect([readOnly, capDrop]).to.deep.equal(['true', '["ALL"]']);
      const uid = /^Uid:\s+(\d+)/m.exec(await project.exec('prometheus', ['cat', '/proc/1/status']))?.[1];
      expect(uid).to.match(/^[1-9]\d*$/);
      // The TSDB's write-ahead log: Prometheus wrote to the named volume as that user.
      const data = await project.exec('prometheus', ['ls', '/prometheus']);
      expect(data.split('\n')).to.include('wal');
    });

    it('scrapes every auth and chat container (each target up) and loads every alert rule', async function () {
      this.timeout(SCRAPED_WITHIN_MS + 30_000);
      const expected = NODES.map((n) => `securechat-${n.role} ${target(n.name)}`).sort();
      const targets = await waitFor(
        async () => {
          const found = await api.targets();
          const down = found.filter((t) => t.health !== 'up');
          if (found.length !== expected.length || down.length > 0) {
            throw new Error(found.map((t) => `${t.instance} ${t.health} ${t.lastError}`).join('; '));
          }
          return found;
        },
        { timeoutMs: SCRAPED_WITHIN_MS, intervalMs: 500, what: 'every metrics target up' },
      );
      expect(targets.map((t) => `${t.job} ${t.instance}`).sort()).to.deep.equal(expected);

      // The API may order groups its own way; rules keep the file's order.
      const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
      const groups = await api.ruleGroups();
      expect(
        groups.map((g) => ({ name: g.name, rules: g.rules.map((r) => r.name) })).sort(byName),
      ).to.deep.equal(alertRules().sort(byName));
      for (const rule of groups.flatMap((g) => g.rules)) expect(rule.lastError, rule.name).to.equal('');
    });

    it('counts the test’s own sockets and messages on each chat container', async function () {
      this.timeout(2 * SCRAPED_WITHIN_MS + 30_000);
      const { edge } = deployment();
      // Scraped after this instant, the values no longer move by earlier tests' traffic.
      const quiet = Date.now();
      const before = await waitFor(() => chatCounts(quiet), {
        timeoutMs: SCRAPED_WITHIN_MS,
        intervalMs: 500,
        what: 'a scrape of every chat container',
      });

      const token = await edge.newUser('metered');
      const open = await edge.spread([token], (o) => nodesOf(o).size === CHAT.length);
      const room = 'metered';
      for (const o of open) await o.client.join(room);
      const opened = new Map(CHAT.map((name) => [name, open.filter((o) => o.welcome.node === name).length]));
      // One message from each container (within the user's rate limit).
      for (const name of CHAT) {
        const sender = open.find((o) => o.welcome.node === name) as Accepted;
        const ack = await sender.client.request({ type: 'send', room, text: `counted on ${name}` });
        expect(ack.type, JSON.stringify(ack)).to.equal('ack');
      }
      const done = Date.now();

      await waitFor(
        async () => {
          const now = await chatCounts(done);
          const moved = CHAT.map((name) => ({
            name,
            sockets: (now.sockets.get(name) ?? 0) - (before.sockets.get(name) ?? 0),
            messages: (now.messages.get(name) ?? 0) - (before.messages.get(name) ?? 0),
          }));
          const want = CHAT.map((name) => ({ name, sockets: opened.get(name) ?? 0, messages: 1 }));
          // Scraped and still different: say what Prometheus has (a stale target only waits).
          if (JSON.stringify(moved) !== JSON.stringify(want))
            throw new Error(`moved ${JSON.stringify(moved)}, want ${JSON.stringify(want)}`);
          return true;
        },
        {
          timeoutMs: SCRAPED_WITHIN_MS,
          intervalMs: 500,
          what: 'Prometheus to count the sockets and messages',
        },
      );
      for (const o of open) await o.client.close();
    });

    it('runs Grafana with the Prometheus data source and the securechat dashboard provisioned', async function () {
      this.timeout(120_000);
      const why = deployment().leftOut.get('grafana');
      if (why !== undefined) {
        shout(`NOT RUN: Grafana (compose profile monitoring). ${why}`);
        this.skip();
      }
      const base = `http://127.0.0.1:${port(deployment(), 'GRAFANA_PORT')}`;
      const admin = { Authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` };
      const get = async (path: string): Promise<unknown> => {
        const res = await fetch(`${base}${path}`, { headers: admin });
        if (res.status !== 200) throw new Error(`GET ${path}: ${res.status}`);
        return (await res.json()) as unknown;
      };
      const health = object(
        await waitFor(() => get('/api/health'), {
          timeoutMs: 60_000,
          intervalMs: 500,
          what: 'Grafana /api/health',
        }),
        'health',
      );
      expect(health.database).to.equal('ok');
      const list = async (path: string): Promise<Json[]> => {
        const body = await get(path);
        if (!Array.isArray(body)) throw new Error(`GET ${path}: not a list`);
        return body.map((item: unknown) => object(item, path));
      };
      expect((await list('/api/datasources')).map((s) => s.url)).to.include('http://prometheus:9090');
      const { uid } = object(JSON.parse(read('deploy/grafana/securechat.json')) as unknown, 'dashboard');
      await waitFor(async () => (await list('/api/search?type=dash-db')).some((d) => d.uid === uid), {
        timeoutMs: 30_000,
        intervalMs: 500,
        what: `the provisioned dashboard ${String(uid)}`,
      });
    });
  },
};
