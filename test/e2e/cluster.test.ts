/**
 * The real local topology, end to end: `Cluster` from @securechat/cluster (what
 * `npm run cluster` runs) starts redis-server with AOF, 2 auth nodes, 3 chat nodes and nginx
 * with a self-signed certificate on free ports, and every check goes through nginx over
 * https/wss, trusting that certificate by `ca` only. A last test runs `npm run cluster`'s
 * entry point as a real child process.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import {
  Cluster,
  freePort,
  freePorts,
  httpStatus,
  locateTools,
  ManagedProcess,
  missingToolsMessage,
  parseKnobs,
  passedEnvironment,
  portIsFree,
  redisArguments,
  redisPing,
  type RunningCluster,
} from '@securechat/cluster';
import { PartOutput } from '../support/part-output';
import { ENTRIES, ROOT, runScript } from '../support/processes';
import { fanOutDrill, killDrill } from '../support/drills';
import { waitFor } from '../support/wait';
import { isAccepted, nodesOf, PASSWORD, TlsEdge, type Accepted, type Tokens } from '../support/tls-edge';
import { TestClient, type Frame } from '../support/ws-client';

const HOST = '127.0.0.1';
/** The idle socket must outlive nginx's default 60 s and the template's 75 s proxy_read_timeout. */
const IDLE_MS = 80_000;

// ---- processes, for the `npm run cluster` test ------------------------------------------

interface ProcessId {
  pid: number;
  /** /proc start time: a pid reused by another process is not mistaken for this one. */
  start: string;
}

/** State (R, S, Z…), parent pid and start time of a process, from /proc/<pid>/stat. */
function procStat(pid: number): { state: string; ppid: number; start: string } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid …": comm may hold spaces, so the fields start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '', ppid: Number(fields[1]), start: fields[19] ?? '' };
}

/** Every process descended from `root` (children, nginx's workers, …). */
function descendants(root: number): ProcessId[] {
  const children = new Map<number, ProcessId[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(Number(entry));
    if (stat === undefined) continue;
    const list = children.get(stat.ppid) ?? [];
    list.push({ pid: Number(entry), start: stat.start });
    children.set(stat.ppid, list);
  }
  const found: ProcessId[] = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift() as number) ?? []) {
      found.push(child);
      queue.push(child.pid);
    }
  }
  return found;
}

/** Whether the process still runs. A zombie runs nothing and holds no port: it counts as gone. */
function running(id: ProcessId): boolean {
  const stat = procStat(id.pid);
  return stat !== undefined && stat.start === id.start && stat.state !== 'Z' && stat.state !== 'X';
}

// ---- the suite ------------------------------------------------------------------------

/** The same token with its signature altered: well formed, badly signed. */
function tampered(jwt: string): string {
  const [header, payload, signature] = jwt.split('.') as [string, string, string];
  const i = Math.floor(signature.length / 2);
  const swapped = signature[i] === 'A' ? 'B' : 'A';
  return `${header}.${payload}.${signature.slice(0, i)}${swapped}${signature.slice(i + 1)}`;
}

/**
 * The operator's URL that `npm run cluster` prints works for redis-cli-style reads and
 * writes and for chatctl; without it, Redis answers nothing but PING, and even with it a
 * forged message on a room's channel is refused.
 */
async function checkOperatorUrl(url: string, port: number): Promise<void> {
  const operator = new Redis(url, { maxRetriesPerRequest: 1 });
  const anonymous = new Redis(`redis://${HOST}:${port}`, {
    maxRetriesPerRequest: 1,
    enableReadyCheck: false,
  });
  for (const client of [operator, anonymous]) client.on('error', () => undefined);
  try {
    expect(await operator.set('chat:blocked:nobody', 'operator', 'EX', 5)).to.equal('OK');
    expect(await operator.del('chat:blocked:nobody')).to.equal(1);
    expect(await operator.publish('chat:room:lobby:ch', '9-0\n{}').catch((e: Error) => e.message)).to.match(
      /NOPERM/,
    );
    expect(await anonymous.ping()).to.equal('PONG');
    for (const call of [
      () => anonymous.get('chat:user:alice'),
      () => anonymous.publish('chat:control', 'blocked alice'),
      () => anonymous.publish('__keyevent@0__:set', 'chat:blocked:alice'),
    ]) {
      expect(await call().catch((e: Error) => e.message)).to.match(/NOPERM/);
    }
  } finally {
    operator.disconnect();
    anonymous.disconnect();
  }
  const ctl = spawnSync(process.execPath, [join(ROOT, 'services/chat/dist/chatctl.js'), 'status', 'alice'], {
    env: { PATH: process.env.PATH ?? '', REDIS_URL: url },
    encoding: 'utf8',
  });
  expect(ctl.status, ctl.stderr).to.equal(0);
  expect(ctl.stdout).to.include('alice: not blocked');
}

describe('the real cluster through nginx, over TLS @redis @nginx', function () {
  this.timeout(60_000);
  const output = new PartOutput();
  let dir: string;
  let cluster: Cluster | undefined;
  let topology: RunningCluster;
  let tools: ReadonlyMap<string, string>;
  let ca: Buffer;
  let chatNames: string[];
  /** The deployment's TLS edge: every token it hands out is remembered (none may reach a log). */
  let edge: TlsEdge;
  let restartedRedis: ManagedProcess | undefined;

  let idle: Accepted;
  let idleOpenedAt: number;
  let idlePings = 0;

  /** The `connected` audit line a chat node wrote for a session. */
  function connectedLine(welcome: Frame): Promise<Record<string, unknown>> {
    return waitFor(
      () =>
        output
          .json(String(welcome.node))
          .find((l) => l.event === 'connected' && l.session === welcome.session),
      { what: `the connected line of session ${String(welcome.session)}` },
    );
  }

  before(async function () {
    this.timeout(120_000);
    output.install();
    dir = mkdtempSync(join(tmpdir(), 'securechat-cluster-'));
    // A root nginx runs its workers as nobody: they must reach the run directory in here.
    chmodSync(dir, 0o755);
    const located = locateTools(process.env.PATH);
    if (located.missing.length > 0) {
      throw new Error(missingToolsMessage(located.missing, process.getuid?.() === 0));
    }
    tools = located.found;
    let lastError: unknown;
    // Free ports are free when asked for, not necessarily when redis-server or nginx binds them.
    for (let attempt = 0; attempt < 3 && cluster === undefined; attempt++) {
      const [httpsPort, redisPort] = (await freePorts(2)) as [number, number];
      const knobs = parseKnobs(
        { CLUSTER_HTTPS_PORT: String(httpsPort), CLUSTER_REDIS_PORT: String(redisPort), CLUSTER_DIR: dir },
        ROOT,
      );
      const candidate = new Cluster({
        repoRoot: ROOT,
        knobs,
        // What every node inherits, as from `npm run cluster`'s environment. Debug logs make
        // the no-token-in-logs check cover everything the nodes can write.
        env: passedEnvironment({
          PATH: process.env.PATH,
          LOG_LEVEL: 'debug',
          RATE_LIMIT_MAX: '1000',
          // Every account here registers from 127.0.0.1: room beyond the default 20 an hour.
          REGISTER_MAX_PER_ADDRESS_PER_HOUR: '1000',
          SHUTDOWN_GRACE_MS: '5000',
        }),
        tools,
        log: (line) => output.add('cluster', line),
        readyTimeoutMs: 60_000,
      });
      try {
        topology = await candidate.start();
        cluster = candidate;
      } catch (err) {
        lastError = err;
        await candidate.stop();
      }
    }
    if (cluster === undefined) {
      const detail = lastError instanceof Error ? lastError.message : String(lastError);
      throw new Error(`the cluster did not start: ${detail}\n${output.tail()}`);
    }
    ca = readFileSync(join(dir, 'tls', 'cert.pem'));
    edge = new TlsEdge(topology.url, ca, topology.url);
    chatNames = topology.nodes.filter((n) => n.spec.role === 'chat').map((n) => n.spec.name);
    expect(chatNames).to.have.length(3);
    expect(topology.nodes.filter((n) => n.spec.role === 'auth')).to.have.length(2);

    // The idle socket of the last test opens first, so that its long wait runs alongside
    // every other test instead of after them.
    idle = await edge.accepted(await edge.newUser('idler'));
    idleOpenedAt = Date.now();
    idle.client.ws.on('ping', () => (idlePings += 1));
  });

  after(async function () {
    this.timeout(60_000);
    await edge?.closeAll();
    await cluster?.stop();
    await restartedRedis?.stop('SIGTERM', 10_000);
    output.uninstall();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('registers and logs in through nginx; the tokens work and refresh', async () => {
    await edge.register('alice');
    const duplicate = await edge.send('POST', '/auth/register', {
      body: { username: 'ALICE', password: PASSWORD },
    });
    expect(duplicate.status).to.equal(409);
    const { tokens } = await edge.login('alice');
    expect(tokens.token_type).to.equal('Bearer');
    expect(tokens.expires_in).to.be.a('number');
    const me = await edge.send('GET', '/auth/me', {
      headers: { Authorization: `Bearer ${tokens.access_token}` },
    });
    expect(me.status, me.text).to.equal(200);
    expect(JSON.parse(me.text)).to.deep.equal({ username: 'alice' });
    const refreshed = await edge.send('POST', '/auth/refresh', {
      body: { refresh_token: tokens.refresh_token },
    });
    expect(refreshed.status, refreshed.text).to.equal(200);
    const rotated = edge.remember(JSON.parse(refreshed.text) as Tokens);
    expect(rotated.refresh_token).to.not.equal(tokens.refresh_token);
    const wrong = await edge.send('POST', '/auth/login', {
      body: { username: 'alice', password: 'not the password' },
    });
    expect(wrong.status).to.equal(401);
    expect(JSON.parse(wrong.text)).to.include({ error: 'invalid_credentials' });
  });

  it('accepts a wss handshake with each token method; the subprotocol is chat.v1, never the token', async () => {
    const token = await edge.newUser('bob');
    for (const method of ['header', 'subprotocol', 'query'] as const) {
      const { client, welcome, protocolHeader } = await edge.accepted(token, method);
      expect(welcome.user, method).to.equal('bob');
      expect(chatNames, method).to.include(welcome.node);
      expect(client.ws.protocol, method).to.equal('chat.v1');
      expect(protocolHeader, method).to.equal('chat.v1');
      // The node saw the token where the client put it: nginx passed each way on.
      expect((await connectedLine(welcome)).method, method).to.equal(method);
      expect((await client.request({ type: 'ping' })).type, method).to.equal('pong');
      await client.close();
    }
  });

  it('refuses bad handshakes through nginx with their HTTP status, never a 101', async () => {
    const token = await edge.newUser('carol');
    const badOrigin = await edge.refusedWith({ token, origin: 'https://evil.example' });
    expect(badOrigin.status, badOrigin.body).to.equal(403);
    const wrongPort = await edge.refusedWith({ token, origin: 'https://127.0.0.1:1' });
    expect(wrongPort.status, wrongPort.body).to.equal(403);
    for (const method of ['header', 'subprotocol', 'query'] as const) {
      const badToken = await edge.refusedWith({ token: tampered(token), method });
      expect(badToken.status, `${method}: ${badToken.body}`).to.equal(401);
      expect(JSON.parse(badToken.body), method).to.have.property('error').that.is.a('string');
    }
    const none = await edge.refusedWith({});
    expect(none.status, none.body).to.equal(401);
    const garbage = await edge.refusedWith({ token: 'not-a-jwt', method: 'query' });
    expect(garbage.status, garbage.body).to.equal(401);
  });

  it('fans a room out across the three chat nodes, each message to each member exactly once, in order', async () => {
    await fanOutDrill(edge, chatNames);
  });

  it('gives the nodes the real client address and ignores a forged X-Forwarded-For', async () => {
    const forged = { 'X-Forwarded-For': '203.0.113.7', 'X-Real-IP': '203.0.113.8' };
    await edge.register('dave');
    const reply = await edge.send('POST', '/auth/login', {
      body: { username: 'dave', password: PASSWORD },
      headers: forged,
    });
    expect(reply.status, reply.text).to.equal(200);
    edge.remember(JSON.parse(reply.text) as Tokens);
    const requestId = reply.headers['x-request-id'];
    expect(requestId).to.be.a('string');
    const authLine = await waitFor(
      () =>
        ['auth-1', 'auth-2']
          .flatMap((name) => output.json(name))
          .find((l) => l.event === 'login_success' && l.request_id === requestId),
      { what: 'the login_success audit line' },
    );
    expect(authLine.address).to.equal(HOST);

    const token = (JSON.parse(reply.text) as Tokens).access_token;
    for (const method of ['header', 'query'] as const) {
      const result = await edge.handshakeWith({ token, method, headers: forged });
      if (!isAccepted(result)) throw new Error(`refused: ${result.status} ${result.body}`);
      const line = await connectedLine(result.welcome);
      expect(line.address, method).to.equal(HOST);
      await result.client.close();
    }
    // Reached directly, not through nginx: a local process cannot choose its address either
    // (the nodes believe X-Forwarded-For only from nginx's own source address).
    const authNode = topology.nodes.find((n) => n.spec.role === 'auth');
    const direct = await fetch(`http://${HOST}:${String(authNode?.port)}/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...forged },
      body: JSON.stringify({ username: 'dave', password: 'not the password' }),
    });
    expect(direct.status).to.equal(401);
    const directId = direct.headers.get('x-request-id');
    const directLine = await waitFor(
      () =>
        ['auth-1', 'auth-2']
          .flatMap((name) => output.json(name))
          .find((l) => l.event === 'login_failure' && l.request_id === directId),
      { what: 'the login_failure audit line of the direct request' },
    );
    expect(directLine.address).to.equal(HOST);
    const chatNode = topology.nodes.find((n) => n.spec.role === 'chat');
    const ws = new WebSocket(`ws://${HOST}:${String(chatNode?.port)}/ws`, ['chat.v1'], {
      headers: { Authorization: `Bearer ${token}`, ...forged },
      origin: topology.url,
      perMessageDeflate: false,
    });
    const directClient = new TestClient(ws);
    const welcome = await directClient.next((f) => f.type === 'welcome', 10_000);
    expect((await connectedLine(welcome)).address).to.equal(HOST);
    await directClient.close();
    const everything = output.text(topology.nodes.map((n) => n.spec.name));
    expect(everything).to.not.include('203.0.113.');
  });

  it('kill -9 of a chat node: its SDK clients reconnect through nginx to the others and miss nothing', async function () {
    this.timeout(90_000);
    await edge.register('writer');
    const writerToken = (await edge.login('writer')).tokens.access_token;
    await edge.register('reader');
    const readerToken = (await edge.login('reader')).tokens.access_token;
    const writer = edge.sdk(() => Promise.resolve(writerToken));
    const victim = await killDrill({
      edge: edge,
      writer,
      writerNode: (await writer.connect()).node,
      readerToken,
      nodes: chatNames,
      // the idle socket's node stays up (other tests use it)
      spare: [String(idle.welcome.node)],
      before: 5,
      during: 10,
      reconnectTimeoutMs: 30_000,
      lastMessageTimeoutMs: 10_000,
      kill: async (victim) => {
        const part = cluster?.part(victim);
        if (part === undefined) throw new Error(`no part ${victim}`);
        part.signal('SIGKILL');
        expect((await part.exited()).signal).to.equal('SIGKILL');
      },
    });
    await waitFor(() => output.of('cluster').includes(`${victim} killed by SIGKILL; the rest keep running`), {
      what: "the cluster's report of the dead node",
    });
    await writer.close();
  });

  it('a Redis restart: a revocation made before it still holds, and the nodes recover without a restart', async function () {
    this.timeout(90_000);
    const token = await edge.newUser('erin');
    const socket = await edge.accepted(token);
    const logout = await edge.send('POST', '/auth/logout', { headers: { Authorization: `Bearer ${token}` } });
    expect(logout.status, logout.text).to.equal(204);
    expect(await socket.client.waitClose(5000)).to.deep.equal({ code: 1008, reason: 'token_revoked' });
    expect((await edge.refusedWith({ token })).status).to.equal(401);

    const live = topology.nodes.filter((n) => cluster?.part(n.spec.name)?.running === true);
    const pids = new Map(live.map((n) => [n.spec.name, cluster?.part(n.spec.name)?.pid]));
    const redis = cluster?.part('redis');
    if (redis === undefined) throw new Error('no redis part');
    await redis.stop('SIGTERM', 10_000);
    // Down: the nodes fail closed, the revoked token above all.
    expect((await edge.refusedWith({ token })).status).to.equal(503);

    // The cluster's own command line for it: same port, same data directory, same users.
    const port = Number(new URL(topology.redisUrl).port);
    expect(topology.redisArgs).to.include.members(redisArguments());
    restartedRedis = new ManagedProcess({
      name: 'redis',
      command: tools.get('redis-server') as string,
      args: topology.redisArgs,
      env: { PATH: process.env.PATH },
      cwd: ROOT,
      output: (line, stream) => output.add('redis', line, stream),
    }).start();
    await restartedRedis.waitUntil(() => redisPing(port), {
      what: 'PONG',
      timeoutMs: 15_000,
      intervalMs: 100,
    });

    let acceptedRevoked = false;
    const statuses: number[] = [];
    await waitFor(
      async () => {
        const result = await edge.handshakeWith({ token });
        if (isAccepted(result)) {
          acceptedRevoked = true;
          result.client.ws.terminate();
          return true;
        }
        statuses.push(result.status);
        // 503 while the nodes reconnect to Redis; then the revocation read back from the AOF.
        return result.status === 401;
      },
      { timeoutMs: 20_000, intervalMs: 200, what: 'the revoked token to get 401' },
    );
    expect(acceptedRevoked, 'the revoked token was accepted after the restart').to.equal(false);
    expect(
      statuses.filter((s) => s !== 503 && s !== 401),
      'statuses',
    ).to.deep.equal([]);

    // A new login: the auth nodes are back.
    // 503 while the auth nodes reconnect; 409 only if an earlier attempt's reply was lost.
    await waitFor(
      async () => {
        const reply = await edge.send('POST', '/auth/register', {
          body: { username: 'frank', password: PASSWORD },
        });
        return reply.status === 201 || reply.status === 409;
      },
      { timeoutMs: 20_000, intervalMs: 200, what: 'a registration after the restart' },
    );
    const fresh = await waitFor(
      async () => {
        const reply = await edge.send('POST', '/auth/login', {
          body: { username: 'frank', password: PASSWORD },
        });
        return reply.status === 200 ? edge.remember(JSON.parse(reply.text) as Tokens) : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 200, what: 'a login after the restart' },
    );
    // And a send and receive across two chat nodes.
    const pair = await edge.spread([fresh.access_token], (open) => nodesOf(open).size >= 2);
    const [a, b] = [
      pair[0] as Accepted,
      pair.find((p) => p.welcome.node !== pair[0]?.welcome.node) as Accepted,
    ];
    const room = 'after-restart';
    for (const s of [a, b]) {
      await waitFor(async () => (await s.client.request({ type: 'join', room })).type === 'joined', {
        timeoutMs: 10_000,
        what: `a join on ${String(s.welcome.node)}`,
      });
    }
    const ack = await a.client.request({ type: 'send', room, text: 'back' });
    expect(ack.type, JSON.stringify(ack)).to.equal('ack');
    for (const s of [a, b]) {
      const got = await s.client.next((f) => f.type === 'message' && f.id === ack.id, 10_000);
      expect(got).to.include({ room, text: 'back', from: 'frank' });
    }
    for (const s of pair) await s.client.close();
    // Not restarted: the same processes, still running.
    for (const [name, pid] of pids) {
      expect(cluster?.part(name)?.pid, name).to.equal(pid);
      expect(cluster?.part(name)?.running, name).to.equal(true);
    }
  });

  it("writes no token to nginx's access or error log, nor to any node's log", async () => {
    await edge.register('grace');
    const { tokens } = await edge.login('grace');
    const result = await edge.accepted(tokens.access_token, 'query');
    expect((await connectedLine(result.welcome)).method).to.equal('query');
    await result.client.close();
    expect(
      (
        await edge.refusedWith({
          token: tokens.access_token,
          method: 'query',
          origin: 'https://evil.example',
        })
      ).status,
    ).to.equal(403);
    const refreshed = await edge.send('POST', '/auth/refresh', {
      body: { refresh_token: tokens.refresh_token },
    });
    expect(refreshed.status).to.equal(200);
    edge.remember(JSON.parse(refreshed.text) as Tokens);
    // nginx logs this one to its error log: proof that the error log is being read.
    const large = await edge.send('POST', '/auth/login', {
      body: { username: 'grace', password: 'x'.repeat(20_000) },
    });
    expect(large.status).to.equal(413);

    const accessLog = join(dir, 'nginx', 'access.log');
    const entries = () =>
      readFileSync(accessLog, 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    // A WebSocket is logged when it ends; the ?token= ones go through the quiet locations.
    await waitFor(() => entries().filter((e) => e.uri === '/_quiet/ws' && e.status === 101).length >= 1, {
      what: 'the access log entry of the ?token= socket',
    });
    await waitFor(() => output.of('nginx').some((l) => l.includes('too large body')), {
      what: "nginx's error log line",
    });
    const logs: Record<string, string> = {
      'nginx access': readFileSync(accessLog, 'utf8'),
      'nginx error': output.text(['nginx']),
    };
    for (const name of [...topology.nodes.map((n) => n.spec.name), 'redis', 'cluster']) {
      logs[name] = output.text([name]);
    }
    expect(`${logs['auth-1']}${logs['auth-2']}`).to.include('login_success');
    expect(edge.secrets.size).to.be.above(20);
    for (const [name, text] of Object.entries(logs)) {
      const leaked = [...edge.secrets].filter((s) => text.includes(s));
      expect(leaked.length, `${name} log holds ${leaked.length} tokens`).to.equal(0);
      expect(text.includes('token='), `${name} log holds a query token`).to.equal(false);
      expect(/eyJ[A-Za-z0-9_-]{10,}\.eyJ/.test(text), `${name} log holds a JWT`).to.equal(false);
    }
  });

  it('npm run cluster as a child process: ready line, prefixed node logs, nothing left after SIGINT', async function () {
    this.timeout(120_000);
    const stateDir = mkdtempSync(join(tmpdir(), 'securechat-cluster-cmd-'));
    chmodSync(stateDir, 0o755);
    const httpsPort = await freePort();
    let child: ManagedProcess | undefined;
    let started: ProcessId[] = [];
    try {
      child = runScript(
        ENTRIES.cluster,
        { PATH: process.env.PATH ?? '', CLUSTER_HTTPS_PORT: String(httpsPort), CLUSTER_DIR: stateDir },
        { name: 'npm run cluster' },
      );
      const proc = child;
      await proc.waitForLine((l) => l.startsWith('cluster ready:'), 90_000);
      const stdout = () => proc.lines('stdout');
      const stderr = proc.lines('stderr');
      const url = `https://${HOST}:${httpsPort}`;
      expect(stdout().filter((l) => l.startsWith('cluster ready:'))).to.deep.equal([`cluster ready: ${url}`]);
      // Redis requires credentials: the operator's URL comes right after the ready line
      // (a line of its own, which may reach this process a moment after the ready line).
      await proc.waitForLine((l) => l.startsWith('redis: '), 10_000);
      const lines = stdout();
      const ready = lines.indexOf(`cluster ready: ${url}`);
      const redisLine = /^redis: (redis:\/\/securechat-ops:[A-Za-z0-9_-]{32,}@127\.0\.0\.1:(\d+))$/.exec(
        lines[ready + 1] ?? '',
      );
      expect(redisLine, `the line after the ready line: ${lines[ready + 1]}`).to.not.equal(null);
      const operatorUrl = redisLine?.[1] as string;
      await checkOperatorUrl(operatorUrl, Number(redisLine?.[2]));

      // Every line is prefixed with the name of the part that wrote it.
      const names = ['auth-1', 'auth-2', 'chat-1', 'chat-2', 'chat-3'];
      for (const line of [...stdout(), ...stderr]) {
        if (line.startsWith('cluster ready:') || line === redisLine?.[0] || line.startsWith('metrics: '))
          continue;
        expect(line).to.match(/^\[(cluster|redis|nginx|auth-[12]|chat-[123])\] /);
      }
      // After the ready line, one `metrics: <node> <url>` line per node, each answering.
      await proc.waitForLine((l) => l.startsWith(`metrics: ${names.at(-1) as string} `), 10_000);
      const metricsLines = stdout()
        .slice(ready + 1)
        .filter((l) => l.startsWith('metrics: '));
      expect(metricsLines).to.have.length(names.length);
      const metricsUrls = metricsLines.map((line, i) => {
        const match = /^metrics: (\S+) (http:\/\/127\.0\.0\.1:(\d+)\/metrics)$/.exec(line);
        expect(match?.[1], line).to.equal(names[i]);
        return match?.[2] as string;
      });
      for (const [i, metricsUrl] of metricsUrls.entries()) {
        const scraped = await (await fetch(metricsUrl)).text();
        expect(scraped).to.include(
          `securechat_node_info{service="${(names[i] as string).split('-')[0]}",node="${names[i]}"} 1`,
        );
      }
      const nodePorts: number[] = [];
      for (const name of names) {
        const logged = stdout()
          .filter((l) => l.startsWith(`[${name}] {`))
          .map((l) => JSON.parse(l.slice(name.length + 3)) as Record<string, unknown>);
        expect(logged.length, name).to.be.above(0);
        for (const l of logged) expect(l.node, name).to.equal(name);
        const listening = logged.find((l) => String(l.message).endsWith('node listening'));
        expect(listening, `${name} listening line`).to.not.equal(undefined);
        nodePorts.push(Number(listening?.port));
      }
      const where = stdout()
        .map((l) =>
          /^\[cluster\] http redirect on http:\/\/127\.0\.0\.1:(\d+), redis on redis:\/\/127\.0\.0\.1:(\d+)/.exec(
            l,
          ),
        )
        .find((m) => m !== null);
      expect(where, 'the [cluster] line naming its ports').to.not.equal(undefined);
      const metricsPorts = metricsUrls.map((u) => Number(new URL(u).port));
      const ports = [httpsPort, Number(where?.[1]), Number(where?.[2]), ...nodePorts, ...metricsPorts];
      for (const port of ports) expect(await portIsFree(port, HOST), `port ${port} in use`).to.equal(false);

      const clusterCa = readFileSync(join(stateDir, 'tls', 'cert.pem'));
      expect(await httpStatus(`${url}/healthz`, clusterCa)).to.equal(200);
      expect(await httpStatus(`${url}/auth/jwks.json`, clusterCa)).to.equal(200);

      started = descendants(proc.pid as number);
      // redis-server, five nodes, nginx's master and at least one worker.
      expect(started.length, JSON.stringify(started)).to.be.at.least(8);

      proc.signal('SIGINT');
      expect(await proc.exitWithin(60_000)).to.deep.equal({ code: 0, signal: null });
      expect(stdout()).to.include('[cluster] stopped');
      await waitFor(() => started.every((p) => !running(p)), {
        what: 'every process the cluster started to be gone',
        timeoutMs: 5000,
      }).catch(() => {
        throw new Error(`still running: ${JSON.stringify(started.filter(running))}`);
      });
      const stillBound = async () => {
        const bound: number[] = [];
        for (const port of ports) if (!(await portIsFree(port, HOST))) bound.push(port);
        return bound;
      };
      await waitFor(async () => (await stillBound()).length === 0, {
        what: 'every port to be free',
        timeoutMs: 5000,
      }).catch(async () => {
        throw new Error(`ports still bound: ${(await stillBound()).join(', ')}`);
      });
    } finally {
      // A check that failed before `started` was read leaves the cluster's parts running
      // once the supervisor is killed (a redis-server outlived two such runs): read them now.
      if (child?.running === true && started.length === 0 && child.pid !== undefined) {
        started = descendants(child.pid);
      }
      if (child?.running === true) await child.stop('SIGKILL', 1000);
      // Only processes this test's cluster started (by pid and start time).
      for (const p of started.filter(running)) process.kill(p.pid, 'SIGKILL');
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  it('keeps an idle socket open through nginx for more than 60 s: the nodes ping it', async function () {
    this.timeout(IDLE_MS + 10_000);
    const { client } = idle;
    // A deliberate wait, not a settle: the socket has to stay idle past nginx's default
    // 60 s and the template's 75 s proxy_read_timeout, and only the node's pings (every
    // PING_INTERVAL_MS, 25 s) carry data over it. It started before the other tests.
    const remaining = idleOpenedAt + IDLE_MS - Date.now();
    if (remaining > 0) {
      const closed = await client.waitClose(remaining).then(
        (close) => close,
        () => undefined,
      );
      expect(closed, 'the idle socket was closed').to.equal(undefined);
    }
    expect(Date.now() - idleOpenedAt).to.be.at.least(IDLE_MS);
    expect(client.closed).to.equal(undefined);
    expect(client.frames.map((f) => f.type)).to.deep.equal(['welcome']);
    expect(idlePings, 'pings from the node').to.be.at.least(2);
    expect((await client.request({ type: 'ping' })).type).to.equal('pong');
  });
});
