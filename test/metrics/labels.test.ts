import { loadConfig } from '@securechat/common';
import { expect } from 'chai';
import { AUTH_LABELS } from '@securechat/auth';
import { CHAT_LABELS } from '@securechat/chat';
import { allowedValues, REDIS_LABELS, type LabelSpec, type Sample } from '@securechat/metrics';
import { authLimits, createMemoryAuthState } from '@securechat/state';
import { startAuthNode, type TestAuthNode } from '../support/auth-node';
import { ChatCluster, ISSUER, type InProcessNode } from '../support/chat-cluster';
import { goodClaims, signEs256 } from '../support/jwt';
import type { Scrape } from '../support/metrics';
import { RedisServer } from '../support/redis-server';
import { connect, openSocket, type TestClient } from '../support/ws-client';

/** What a label may hold: a catalogue, or a pattern for prom-client's process metrics. */
type Allowed = readonly string[] | RegExp;

const values = (label: LabelSpec): string[] => allowedValues(label);
const LE = /^(\+Inf|\d+(\.\d+)?(e[-+]?\d+)?)$/;

/**
 * Every labelled metric family a node exports, and what each of its labels may hold. A
 * family not listed here fails the test: a new labelled metric must say what its labels
 * take before it ships. Values are catalogues of the code, never input.
 */
function allowList(nodes: readonly string[]): Record<string, Record<string, Allowed>> {
  const C = CHAT_LABELS;
  const A = AUTH_LABELS;
  const R = REDIS_LABELS;
  return {
    securechat_node_info: { service: ['auth', 'chat', 'embedded'], node: nodes },
    securechat_chat_handshakes_total: {
      outcome: values(C.handshakeOutcome),
      reason: values(C.handshakeReason),
    },
    securechat_chat_messages_total: { outcome: values(C.messageOutcome) },
    securechat_chat_dms_total: { outcome: values(C.messageOutcome) },
    securechat_chat_errors_total: { code: values(C.errorCode) },
    securechat_chat_closes_total: { reason: values(C.closeReason) },
    securechat_chat_replay_messages: { kind: values(C.replayKind), le: LE },
    securechat_chat_delivery_seconds: { le: LE },
    securechat_chat_enforcement_events_total: { kind: values(C.enforcementKind) },
    securechat_auth_requests_total: {
      route: values(A.route),
      method: values(A.method),
      status: values(A.status),
    },
    securechat_auth_request_duration_seconds: { route: values(A.route), le: LE },
    securechat_auth_logins_total: { outcome: values(A.loginOutcome) },
    securechat_auth_refreshes_total: { outcome: values(A.refreshOutcome) },
    securechat_auth_registrations_total: { outcome: values(A.registerOutcome) },
    securechat_auth_limiter_refusals_total: { limit: values(A.limit) },
    securechat_auth_limiter_errors_total: { policy: values(A.policy) },
    securechat_auth_bcrypt_seconds: { op: values(A.bcryptOp), le: LE },
    securechat_redis_command_duration_seconds: { client: values(R.client), op: values(R.op), le: LE },
    securechat_redis_command_errors_total: { client: values(R.client), op: values(R.op) },
    securechat_redis_reconnects_total: { client: values(R.client) },
    securechat_redis_connected: { client: values(R.client) },
    // prom-client's process metrics: names of Node's own resources and heap spaces.
    nodejs_gc_duration_seconds: { kind: ['major', 'minor', 'incremental', 'weakcb'], le: LE },
    nodejs_heap_space_size_total_bytes: { space: /^[a-z_]{1,40}$/ },
    nodejs_heap_space_size_used_bytes: { space: /^[a-z_]{1,40}$/ },
    nodejs_heap_space_size_available_bytes: { space: /^[a-z_]{1,40}$/ },
    nodejs_active_resources: { type: /^[A-Za-z]{1,40}$/ },
    nodejs_active_handles: { type: /^[A-Za-z]{1,40}$/ },
    nodejs_active_requests: { type: /^[A-Za-z]{1,40}$/ },
    nodejs_version_info: {
      version: [process.version],
      major: [process.versions.node.split('.')[0] as string],
      minor: [process.versions.node.split('.')[1] as string],
      patch: [process.versions.node.split('.')[2] as string],
    },
  };
}

/** The family a sample belongs to (a histogram's `_bucket`, `_sum`, `_count` series). */
function familyOf(sample: Sample, scrape: Scrape): string {
  const types = scrape.exposition.types;
  if (types.has(sample.name)) return sample.name;
  const base = sample.name.replace(/_(bucket|sum|count)$/, '');
  if (types.has(base)) return base;
  throw new Error(`${sample.name} has no # TYPE`);
}

/** Values a client chose below; none may show up in any label of any series. */
const HOSTILE = [
  'evil"} 1\nsecurechat_pwned_total 1',
  '../../../etc/passwd',
  '<script>alert(1)</script>',
  'le="+Inf"',
  `${'x'.repeat(300)}`,
  'DROP TABLE users;--',
  '\u202eevil\u0000',
  'bobby.tables',
];
const MARKERS = ['evil', 'pwned', 'passwd', 'script', 'DROP', 'bobby', 'xxxxxxxx', 'attacker'];

describe('no label ever takes a value a client chose @redis', function () {
  this.timeout(60_000);
  let redis: RedisServer;
  let cluster: ChatCluster;
  let nodes: InProcessNode[];
  let auth: TestAuthNode;

  before(async () => {
    redis = await RedisServer.start();
    // X-Forwarded-For is believed from loopback: a client's forged addresses reach the node.
    cluster = new ChatCluster(redis, {
      TRUST_PROXY: '127.0.0.1',
      RATE_LIMIT_MAX: '2',
      BLOCK_AFTER_VIOLATIONS: '3',
    });
    nodes = [await cluster.startNode('hostile-1'), await cluster.startNode('hostile-2')];
    auth = await startAuthNode({
      state: createMemoryAuthState({
        ...authLimits(loadConfig({}, 'embedded')),
        maxConsecutiveFailures: 2,
        maxFailuresPerAddressPerDay: 5,
      }),
      env: { TRUST_PROXY: '127.0.0.1', NODE_ID: 'hostile-auth' },
    });
  });
  after(async () => {
    await cluster.stop();
    await auth.close();
    await redis.destroy();
  });

  /** `user` ends blocked (it floods past the rate limit), so each round needs its own. */
  async function hostileChat(node: InProcessNode, user: string): Promise<void> {
    const safe = HOSTILE.map((h) => h.replace(/[^\x21-\x7e]/g, '_'));
    for (const h of safe) {
      const word = h.replace(/[^A-Za-z0-9]/g, '').slice(0, 20);
      const attempts: (() => Promise<unknown>)[] = [
        () => openSocket(node.url, { token: h, headers: { 'x-forwarded-for': `203.0.113.9, ${h}` } }),
        () => openSocket(node.url, { token: cluster.token('attacker'), origin: `https://${h}` }),
        () =>
          openSocket(node.url, { token: cluster.token('attacker'), path: `/ws/${encodeURIComponent(h)}` }),
        () => openSocket(node.url, { token: cluster.token('attacker'), protocols: ['chat.v1', `x${word}`] }),
        () => openSocket(node.url, { token: cluster.token('attacker'), protocols: [`x${word}`] }),
        () => openSocket(node.url, { token: h, method: 'query' }),
        // A validly signed token whose subject is not a username.
        () =>
          openSocket(node.url, {
            token: signEs256(
              { alg: 'ES256', typ: 'JWT', kid: cluster.key.kid },
              goodClaims({ issuer: ISSUER, audience: ISSUER }, HOSTILE[HOSTILE.indexOf(h)] ?? h),
              cluster.key.privateKey,
            ),
          }),
      ];
      const results = await Promise.allSettled(attempts.map((attempt) => Promise.resolve().then(attempt)));
      for (const result of results) {
        if (result.status === 'fulfilled' && typeof result.value === 'object' && result.value !== null) {
          const maybe = result.value as Partial<TestClient>;
          maybe.ws?.terminate();
        }
      }
    }
    const c = await connect(node.url, {
      token: cluster.token(user),
      headers: { 'x-forwarded-for': '198.51.100.7' },
    });
    for (const h of HOSTILE) {
      await c.request({ type: 'join', room: h, ref: h.slice(0, 60) });
      await c.request({ type: 'send', room: h, text: h });
      await c.request({ type: 'dm', to: h, text: h });
      await c.request({ type: 'history', room: h });
      await c.request({ type: h, room: h });
      await c.request({ type: 'refresh_token', token: h });
      await c.request({ type: 'join', room: 'lobby', since: h });
    }
    await c.join('lobby');
    // Over the rate limit until blocked: the refusals and the block are counted, not named.
    for (let i = 0; i < 6 && c.closed === undefined; i++)
      c.send({ type: 'send', room: 'lobby', text: HOSTILE[0] });
    await c.waitClose(10_000);
  }

  async function hostileAuth(): Promise<void> {
    for (const h of HOSTILE) {
      const headers = { 'x-forwarded-for': h.replace(/[^\x21-\x7e]/g, '_') };
      await auth.client.post('/auth/register', { username: h, password: h }, headers);
      await auth.client.post('/auth/login', { username: h, password: h }, headers);
      await auth.client.post('/auth/login', { username: 'attacker', password: h });
      await auth.client.post('/auth/refresh', { refresh_token: h });
      await auth.client.get(`/auth/${encodeURIComponent(h)}?q=${encodeURIComponent(h)}`);
      await auth.client.get('/auth/me', { authorization: `Bearer ${h.replace(/[^\x21-\x7e]/g, '_')}` });
      await auth.client.send('MKCOL', `/${encodeURIComponent(h)}`);
    }
  }

  it('after hostile handshakes, frames, logins and URLs, every label of every series is in its allow-list', async () => {
    await Promise.all([...nodes.map((n, i) => hostileChat(n, `attacker${i}`)), hostileAuth()]);
    const scrapes = [...(await Promise.all(nodes.map((n) => n.scrape()))), await auth.scrape()];
    const allowed = allowList(['hostile-1', 'hostile-2', 'hostile-auth']);
    let checked = 0;
    for (const scrape of scrapes) {
      for (const sample of scrape.samples) {
        const labels = Object.entries(sample.labels);
        if (labels.length === 0) continue;
        const family = familyOf(sample, scrape);
        const rules = allowed[family];
        expect(rules, `${family} has labels but no allow-list`).to.not.equal(undefined);
        for (const [name, value] of labels) {
          const rule = (rules as Record<string, Allowed>)[name];
          expect(rule, `${family}: label ${name} is not allowed`).to.not.equal(undefined);
          if (rule instanceof RegExp) expect(value, `${family}{${name}}`).to.match(rule);
          else expect(rule, `${family}{${name}}`).to.include(value);
          for (const marker of MARKERS) expect(value, `${family}{${name}}`).not.to.include(marker);
          checked += 1;
        }
      }
      // (`le="+Inf"` is in every histogram: it is sent to show it cannot add one.)
      for (const h of HOSTILE.filter((x) => !x.startsWith('le='))) expect(scrape.text).not.to.include(h);
    }
    expect(checked).to.be.above(500);
    // The hostile input was seen and counted, under catalogue values.
    const [chat] = scrapes as [Scrape];
    expect(chat.value('securechat_chat_messages_total', { outcome: 'bad_request' })).to.be.above(0);
    expect(chat.value('securechat_chat_handshakes_total', { reason: 'origin' })).to.be.above(0);
    expect(chat.value('securechat_chat_handshakes_total', { reason: 'path' })).to.be.above(0);
    expect(chat.value('securechat_chat_handshakes_total', { reason: 'token_bad_claims' })).to.be.above(0);
    expect(chat.value('securechat_chat_closes_total', { reason: 'blocked' })).to.equal(1);
    const authScrape = scrapes[2] as Scrape;
    expect(authScrape.value('securechat_auth_requests_total', { route: 'unmatched' })).to.be.above(0);
    expect(authScrape.value('securechat_auth_requests_total', { method: 'other' })).to.be.above(0);
  });

  it('keeps the number of series bounded however much hostile input arrives', async () => {
    const count = async () =>
      (await Promise.all([...nodes.map((n) => n.scrape()), auth.scrape()])).reduce(
        (n, s) => n + s.samples.length,
        0,
      );
    const before = await count();
    await Promise.all([...nodes.map((n, i) => hostileChat(n, `attacker${i + 10}`)), hostileAuth()]);
    const after = await count();
    // Only catalogue rows counted for the first time may appear (and process metrics' handles).
    expect(after - before).to.be.below(40);
  });
});
