import { expect } from 'chai';
import { connect, refusal, type TestClient } from '../support/ws-client';
import { ChatCluster, type InProcessNode } from '../support/chat-cluster';
import { RedisServer } from '../support/redis-server';
import { waitFor } from '../support/wait';

type Line = Record<string, unknown>;

describe('chat audit trail @redis', () => {
  let redis: RedisServer;
  let cluster: ChatCluster;
  /** Behind a trusted proxy (TRUST_PROXY=127.0.0.1): X-Forwarded-For names the client. */
  let proxied: InProcessNode;
  /** Trusts no proxy: X-Forwarded-For is the client's word and is ignored. */
  let direct: InProcessNode;
  const tokens: string[] = [];
  const token = (user: string, ttlS = 900) => {
    const t = cluster.token(user, ttlS);
    tokens.push(t);
    return t;
  };
  const from = (address: string) => ({ 'x-forwarded-for': address });

  const audits = (node: InProcessNode, event: string, match: Line = {}): Line[] =>
    node.logs
      .lines()
      .filter(
        (l) => l.audit === true && l.event === event && Object.entries(match).every(([k, v]) => l[k] === v),
      );
  const auditLine = (node: InProcessNode, event: string, match: Line) =>
    waitFor(() => audits(node, event, match)[0], {
      what: `${event} ${JSON.stringify(match)} on ${node.name}`,
      timeoutMs: 3000,
    });
  const sessionOf = (c: TestClient) => c.frames.find((f) => f.type === 'welcome')?.session as string;

  before(async () => {
    redis = await RedisServer.start();
    cluster = new ChatCluster(redis, {
      RATE_LIMIT_MAX: '2',
      RATE_LIMIT_WINDOW_MS: '60000',
      BLOCK_AFTER_VIOLATIONS: '1000',
    });
    proxied = await cluster.startNode('au-proxied', { TRUST_PROXY: '127.0.0.1' });
    direct = await cluster.startNode('au-direct');
  });
  after(async () => {
    await cluster.stop();
    await redis.destroy();
  });

  it('connected carries the user, the real client address, the node, the session and the method', async () => {
    const amy = await connect(proxied.url, { token: token('amy'), headers: from('203.0.113.7') });
    const line = await auditLine(proxied, 'connected', { session: sessionOf(amy) });
    expect(line).to.include({
      username: 'amy',
      address: '203.0.113.7',
      node: 'au-proxied',
      method: 'header',
    });
    // what a client prepends to X-Forwarded-For is not believed
    const ann = await connect(proxied.url, {
      token: token('ann'),
      method: 'subprotocol',
      headers: from('6.6.6.6, 203.0.113.8'),
    });
    expect(await auditLine(proxied, 'connected', { session: sessionOf(ann) })).to.include({
      username: 'ann',
      address: '203.0.113.8',
      method: 'subprotocol',
    });
    // without a trusted proxy the TCP peer is the address
    const abe = await connect(direct.url, { token: token('abe'), method: 'query', headers: from('6.6.6.6') });
    expect(await auditLine(direct, 'connected', { session: sessionOf(abe) })).to.include({
      username: 'abe',
      address: '127.0.0.1',
      node: 'au-direct',
      method: 'query',
    });
    await Promise.all([amy.close(), ann.close(), abe.close()]);
  });

  it('handshake_refused carries the reason, status, address, node and a handshake id', async () => {
    expect((await refusal(proxied.url, { token: 'garbage', headers: from('198.51.100.1') })).status).to.equal(
      401,
    );
    const bad = await auditLine(proxied, 'handshake_refused', { address: '198.51.100.1' });
    expect(bad).to.include({ reason: 'token_malformed', status: 401, node: 'au-proxied' });
    expect(bad.session).to.be.a('string').with.length.greaterThan(8);

    await cluster.admin.set(cluster.keys.blocked('bart'), 'operator', 'EX', 60);
    const blocked = await refusal(proxied.url, { token: token('bart'), headers: from('198.51.100.2') });
    expect(blocked.status).to.equal(403);
    expect(await auditLine(proxied, 'handshake_refused', { address: '198.51.100.2' })).to.include({
      reason: 'blocked',
      status: 403,
      username: 'bart',
      node: 'au-proxied',
    });

    const origin = await refusal(proxied.url, {
      token: token('bea'),
      origin: 'http://evil.example',
      headers: from('198.51.100.3'),
    });
    expect(origin.status).to.equal(403);
    expect(await auditLine(proxied, 'handshake_refused', { address: '198.51.100.3' })).to.include({
      reason: 'origin',
      status: 403,
    });
  });

  it('kicked_blocked, kicked_revoked and token_expired carry the user, address, node and session', async () => {
    const eli = await connect(proxied.url, { token: token('eli', 2), headers: from('203.0.113.12') });
    const cleo = await connect(proxied.url, { token: token('cleo'), headers: from('203.0.113.10') });
    const issued = cluster.issue('dan');
    tokens.push(issued.token);
    const dan = await connect(proxied.url, { token: issued.token, headers: from('203.0.113.11') });

    await cluster.admin.set(cluster.keys.blocked('cleo'), 'operator', 'EX', 60);
    expect(await cleo.waitClose(2000)).to.deep.equal({ code: 1008, reason: 'blocked' });
    expect(await auditLine(proxied, 'kicked_blocked', { session: sessionOf(cleo) })).to.include({
      username: 'cleo',
      address: '203.0.113.10',
      node: 'au-proxied',
    });
    expect(await auditLine(proxied, 'block_seen', { username: 'cleo' })).to.include({ node: 'au-proxied' });

    await cluster.admin.set(cluster.keys.revoked(issued.jti), 'operator', 'EX', 900);
    expect(await dan.waitClose(2000)).to.deep.equal({ code: 1008, reason: 'token_revoked' });
    expect(await auditLine(proxied, 'kicked_revoked', { session: sessionOf(dan) })).to.include({
      username: 'dan',
      address: '203.0.113.11',
      node: 'au-proxied',
    });
    expect(await auditLine(proxied, 'revocation_seen', { jti: issued.jti })).to.include({
      sessions_closed: 1,
      node: 'au-proxied',
    });

    expect(await eli.waitClose(8000)).to.deep.equal({ code: 1008, reason: 'token_expired' });
    expect(await auditLine(proxied, 'token_expired', { session: sessionOf(eli) })).to.include({
      username: 'eli',
      address: '203.0.113.12',
      node: 'au-proxied',
    });
  });

  it('token_refresh_refused carries the user, address, node and session, whatever the reason', async () => {
    const fay = await connect(proxied.url, { token: token('fay'), headers: from('203.0.113.20') });
    const revoked = cluster.issue('fay');
    await cluster.admin.set(cluster.keys.revoked(revoked.jti), 'operator', 'EX', 900);
    const cases: [string, string][] = [
      ['not.a.token', 'malformed'],
      [token('someoneelse'), 'other_user'],
      [revoked.token, 'revoked'],
    ];
    for (const [candidate, reason] of cases) {
      expect(await fay.request({ type: 'refresh_token', token: candidate })).to.include({
        type: 'error',
        code: 'forbidden',
      });
      expect(
        await auditLine(proxied, 'token_refresh_refused', { session: sessionOf(fay), reason }),
      ).to.include({ username: 'fay', address: '203.0.113.20', node: 'au-proxied' });
    }
    await fay.close();
  });

  it('a flood of rate-limited messages makes a summary line with a count, not a line per message', async function () {
    this.timeout(40_000);
    // A node of its own, so that the summary counts only this flood.
    const flood = await cluster.startNode('au-flood');
    const flo = await connect(flood.url, { token: token('flo') });
    await flo.join('flood');
    const sent = 32;
    for (let i = 0; i < sent; i++) flo.send({ type: 'send', room: 'flood', text: `x${i}`, ref: `f${i}` });
    const replies = await flo.count((f) => typeof f.ref === 'string' && f.ref.startsWith('f'), sent);
    expect(replies.filter((r) => r.type === 'ack')).to.have.length(2);
    const refused = replies.filter((r) => r.type === 'error');
    expect(refused).to.have.length(sent - 2);
    for (const r of refused) expect(r).to.include({ code: 'rate_limited' });
    expect(flo.closed).to.equal(undefined);

    // The summary comes on the node's 10 s period; a flood may straddle two of them.
    const summaries = () => audits(flood, 'rate_limited', { username: 'flo' });
    const total = () => summaries().reduce((n, l) => n + Number(l.rejected), 0);
    await waitFor(() => total() === sent - 2, { what: 'the rate_limited summary', timeoutMs: 15_000 });
    expect(summaries().length).to.be.within(1, 2);
    for (const line of summaries()) expect(line).to.include({ node: 'au-flood', period_s: 10 });
    const events = flood.logs
      .lines()
      .filter((l) => l.audit === true && l.username === 'flo')
      .map((l) => l.event);
    expect(events.filter((e) => e !== 'rate_limited')).to.deep.equal(['connected']);
    await flo.close();
    await flood.stop();
  });

  it('escapes control characters that reach a username field from a raw Redis key', async () => {
    // redis-cli can SET any key name; the nodes log the name's tail as the username.
    const hostile =
      'evil\n{"audit":true,"event":"forged","level":"info"}\r\u001b[31m\u0000\u007f\u0085\u2028\u2029end';
    await cluster.admin.set(`${cluster.prefix}blocked:${hostile}`, 'x', 'EX', 60);
    await cluster.admin.set(`${cluster.prefix}revoked-before:${hostile}`, String(Date.now()), 'EX', 60);
    await cluster.admin.del(`${cluster.prefix}blocked:${hostile}`);
    const isHostile = (l: Line) =>
      typeof l.username === 'string' && l.username.startsWith('evil') && l.username.endsWith('end');
    for (const node of [proxied, direct]) {
      for (const event of ['block_seen', 'revocation_seen', 'unblock_seen']) {
        await waitFor(() => audits(node, event).find(isHostile), {
          what: `${event} of the hostile name on ${node.name}`,
          timeoutMs: 3000,
        });
      }
      const raw = node.logs.text();
      const rawLines = raw.split('\n').filter((l) => l !== '');
      // one JSON object per line: nothing was split off or forged
      expect(rawLines.map((l) => JSON.parse(l) as Line)).to.have.length(node.logs.lines().length);
      expect(node.logs.lines().some((l) => l.event === 'forged')).to.equal(false);
      for (const l of rawLines) {
        // eslint-disable-next-line no-control-regex
        expect(l).not.to.match(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
      }
      const line = audits(node, 'block_seen').find(isHostile) as Line;
      // DEL, C1 and the Unicode separators are written as \u escapes, not raw
      expect(line.username).to.include('\\u007f').and.include('\\u0085').and.include('\\u2028');
    }
  });

  it('never writes a token', () => {
    const text = [proxied, direct].map((n) => n.logs.text()).join('\n');
    expect(tokens.length).to.be.greaterThan(5);
    for (const t of tokens) expect(text).not.to.include(t.split('.')[2] as string);
  });
});
