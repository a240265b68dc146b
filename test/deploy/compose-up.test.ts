/**
 * `docker-compose up --build` for real: the project's own deploy/Dockerfile and
 * docker-compose.yml, unchanged but for their documented variables, on the local Docker
 * engine (started here as root if it is not running, and stopped again), and every check
 * made through the nginx container over TLS, trusting the deployment's own certificate.
 *
 * Base images that cannot be pulled are replaced by the stand-ins scripts/docker-base-images.sh
 * builds from Debian packages. Where no engine can run, the suite is skipped and says why.
 * The compose profiles run with it (PROFILES: `monitoring`, compose-monitoring.ts); a
 * profile's service whose image cannot be had and has no stand-in (Grafana) is left out of
 * `up`, and the run says so loudly. docs/DEPLOY.md ("docker compose", "Without a container
 * registry" and "The compose test").
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMPOSE, freePorts, portIsFree } from '@securechat/cluster';
import {
  chooseBaseImages,
  ComposeProject,
  findImage,
  networksUsing,
  shout,
  type ComposeProfile,
} from '../support/compose-project';
import { ensureDockerEngine, findExecutable, mustRun, type DockerEngine } from '../support/docker-engine';
import { ROOT } from '../support/processes';
import { isAccepted, jwtPayload, nodesOf, TlsEdge, type Accepted } from '../support/tls-edge';
import { fanOutDrill, killDrill } from '../support/drills';
import { waitFor } from '../support/wait';
import { MONITORING } from './compose-monitoring';

const AUTH = ['auth-1', 'auth-2'] as const;
const CHAT = ['chat-1', 'chat-2', 'chat-3'] as const;
/** Every long-running service of the default profile. */
const SERVICES = ['redis', ...AUTH, ...CHAT, 'nginx'] as const;
/** The images this test builds get a tag of their own: a developer's securechat:latest is left alone. */
const IMAGE_TAG = 'compose-test';
/** nginx.conf's worker_rlimit_nofile, and the compose default of NGINX_NOFILE. */
const NGINX_NOFILE_DEFAULT = 65535;
/** Carried by the stand-in base images (scripts/docker-base-images.sh) and all built on them. */
const STAND_IN_LABEL = 'org.securechat.base-image.inputs';
/** The contract: a revocation or block reaches every node's live sockets within 2 s. */
const ENFORCEMENT_MS = 2000;

/**
 * Compose profiles started with the default services, and the checks each adds. A later
 * profile (Sentinel, ...) is one more entry here: `up` then starts it with `--profile
 * <name>` and its checks run on the whole deployment (after the default services' checks,
 * before the tests that kill containers), and `down -v` proves that nothing of it is left.
 */
const PROFILES: readonly ComposeProfile[] = [MONITORING];

function log(line: string): void {
  process.stdout.write(`      [compose-up] ${line}\n`);
}

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}

describe('docker compose up: the deployment in containers, through nginx over TLS @docker @redis @nginx', function () {
  this.timeout(60_000);
  let began = Date.now();
  let dir: string | undefined;
  let engine: DockerEngine | undefined;
  let project: ComposeProject | undefined;
  let edgeClient: TlsEdge | undefined;
  let httpsPort: number;
  /** The free ports given to the profiles' port variables. */
  const profilePorts: Record<string, number> = {};
  /** Services of the profiles this run cannot start, with why. */
  const leftOut = new Map<string, string>();
  /** Logs are kept when a test or the set-up failed; removed after a clean run or a skip. */
  let keepLogs = true;
  let down = false;

  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME ?? tmpdir(),
    // The CA bundle the base-image script copies into the node stand-in (an intercepting proxy's).
    ...(process.env.NODE_EXTRA_CA_CERTS !== undefined
      ? { NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS }
      : {}),
  };
  const compose = (): ComposeProject => {
    if (project === undefined) throw new Error('the project did not start');
    return project;
  };
  const edge = (): TlsEdge => {
    if (edgeClient === undefined) throw new Error('the project did not start');
    return edgeClient;
  };

  /** The container whose log holds the audit line `event` of request `requestId`. */
  async function servedBy(event: string, requestId: string): Promise<string> {
    return waitFor(
      async () => {
        const found: string[] = [];
        for (const name of AUTH) {
          const lines = await compose().jsonLogs(name);
          if (lines.some((l) => l.event === event && l.request_id === requestId && l.node === name))
            found.push(name);
        }
        if (found.length > 1) throw new Error(`${event} ${requestId} logged by ${found.join(' and ')}`);
        return found[0];
      },
      { timeoutMs: 10_000, intervalMs: 200, what: `the ${event} line of request ${requestId}` },
    );
  }

  /** Sockets of one user on every chat container. */
  async function onEveryChatNode(token: string): Promise<Accepted[]> {
    const open = await edge().spread([token], (o) => nodesOf(o).size === CHAT.length);
    expect([...nodesOf(open)].sort()).to.deep.equal([...CHAT]);
    return open;
  }

  before(async function () {
    this.timeout(20 * 60_000);
    began = Date.now();
    dir = mkdtempSync(join(tmpdir(), 'securechat-compose-'));
    let phase = Date.now();
    const outcome = await ensureDockerEngine({ env, logFile: join(dir, 'dockerd.log') });
    if ('unavailable' in outcome) {
      shout(`SKIPPED: docker compose up @docker. ${outcome.unavailable}`);
      keepLogs = false;
      this.skip();
    }
    engine = outcome.engine;
    log(
      `Docker engine ${engine.version} ${engine.startedHere ? `started here in ${seconds(phase)}` : 'already running'}`,
    );
    if (findExecutable('docker-compose', env.PATH) === undefined) {
      throw new Error(
        'docker-compose is missing (Debian: apt-get install docker-compose); npm test installs it as root',
      );
    }

    phase = Date.now();
    const base = await chooseBaseImages({ repoRoot: ROOT, env, logFile: join(dir, 'base-images.log') });
    log(`base images in ${seconds(phase)}: ${base.report.join('; ')}`);

    // A profile's service with no stand-in runs only where its image can be had.
    const optionalImages: Record<string, string> = {};
    for (const { service, variable, image: fallback } of PROFILES.flatMap((p) => p.optionalImages ?? [])) {
      const image = process.env[variable] ?? fallback;
      const found = await findImage(image, env, join(dir, 'base-images.log'));
      if ('unavailable' in found) {
        leftOut.set(
          service,
          `${variable}=${image} cannot be had here (${found.unavailable}) and nothing stands in for it: ` +
            `the service is left out of \`up\`. Set ${variable} to an image this engine has to run it.`,
        );
        shout(`NOT RUN: ${service}. ${leftOut.get(service) ?? ''}`);
      } else {
        optionalImages[variable] = image;
        log(`${image}: ${found.found}`);
      }
    }
    const portVariables = PROFILES.flatMap((p) => p.portVariables ?? []);

    // The host's hard limit caps the container's (runc refuses more): ask a container.
    const hardLimit = Number(
      (
        await mustRun(
          'docker',
          ['run', '--rm', '--network', 'none', base.variables.DEBIAN_IMAGE, 'sh', '-c', 'ulimit -Hn'],
          { env, timeoutMs: 60_000 },
        )
      ).trim(),
    );
    const nofile =
      Number.isInteger(hardLimit) && hardLimit > 0 ? Math.min(hardLimit, NGINX_NOFILE_DEFAULT) : 4096;

    // The backend network's subnet is fixed (nginx's address in it is the one the nodes
    // trust): a project of this file left running, e.g. by an interrupted run, holds it.
    const holders = await networksUsing(COMPOSE.subnet, env);
    if (holders.length > 0) {
      throw new Error(
        `network ${holders.join(', ')} already uses ${COMPOSE.subnet}, which docker-compose.yml needs: ` +
          'remove its project first (docker-compose -p <project> down -v; the project is the name before _backend)',
      );
    }

    phase = Date.now();
    let lastError: unknown;
    // A port found free may be taken before docker binds it: then again with others.
    for (let attempt = 0; attempt < 3 && project === undefined; attempt++) {
      const [https, http, ...more] = (await freePorts(2 + portVariables.length, '0.0.0.0')) as [
        number,
        number,
        ...number[],
      ];
      const ports = Object.fromEntries(portVariables.map((v, i) => [v, more[i] as number]));
      const candidate = new ComposeProject({
        repoRoot: ROOT,
        name: `sctest${randomBytes(4).toString('hex')}`,
        variables: {
          ...base.variables,
          ...optionalImages,
          SECURECHAT_TAG: IMAGE_TAG,
          HTTPS_PORT: String(https),
          HTTP_PORT: String(http),
          NGINX_NOFILE: String(nofile),
          ...Object.fromEntries(Object.entries(ports).map(([v, port]) => [v, String(port)])),
        },
        profiles: PROFILES.map((p) => p.profile),
        env,
        dir,
      });
      // Services left out: `up` names all the others (their dependencies come with them).
      const services =
        leftOut.size === 0
          ? []
          : (await candidate.mustCompose(['config', '--services']))
              .split('\n')
              .map((l) => l.trim())
              .filter((name) => name !== '' && !leftOut.has(name));
      const up = await candidate.compose(['up', '--build', '--detach', ...services], 15 * 60_000);
      if (up.status === 0) {
        project = candidate;
        httpsPort = https;
        Object.assign(profilePorts, ports);
        break;
      }
      lastError = new Error(`docker-compose up exited ${up.status ?? up.signal}:\n${up.stderr.slice(-3000)}`);
      await candidate.compose(['down', '--volumes', '--remove-orphans', '--timeout', '5'], 120_000);
      if (!/port is already allocated|address already in use/i.test(up.stderr)) break;
    }
    if (project === undefined) throw lastError instanceof Error ? lastError : new Error(String(lastError));
    log(
      `docker-compose ${PROFILES.map((p) => `--profile ${p.profile} `).join('')}up --build as project ` +
        `${project.name} in ${seconds(phase)} (NGINX_NOFILE=${nofile}` +
        `${[...leftOut.keys()].map((s) => `; ${s} left out`).join('')})`,
    );

    const url = `https://127.0.0.1:${httpsPort}`;
    const ca = Buffer.from(await project.exec('nginx', ['cat', '/etc/nginx/certs/cert.pem']));
    const client = new TlsEdge(url, ca, url);
    edgeClient = client;
    await waitFor(async () => (await client.send('GET', '/healthz')).status === 200, {
      timeoutMs: 30_000,
      intervalMs: 250,
      what: `${url}/healthz`,
    });
    log(`ready ${seconds(began)} after the start`);
    keepLogs = false;
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') keepLogs = true;
  });

  after(async function () {
    this.timeout(180_000);
    await edgeClient?.closeAll();
    if (project !== undefined && !down) {
      await project.compose(['down', '--volumes', '--remove-orphans', '--timeout', '10'], 170_000);
    }
    if (project !== undefined) {
      // Every source change makes a new image and build stage; the untagged ones of earlier
      // runs on the stand-ins would pile up (hundreds of MB each). What this run built or
      // took from the cache (each build step's "---> <id>") stays, as the next run's cache.
      const used = new Set(
        [...readFileSync(project.logFile, 'utf8').matchAll(/---> ([0-9a-f]{12})\b/g)].map((m) => m[1]),
      );
      const dangling = await project
        .docker(['images', '--quiet', '--filter', 'dangling=true', '--filter', `label=${STAND_IN_LABEL}`])
        .catch(() => '');
      const stale = [...new Set(dangling.split('\n').map((l) => l.trim()))].filter(
        (id) => id !== '' && !used.has(id),
      );
      if (stale.length > 0) {
        await project.docker(['rmi', ...stale]).catch(() => undefined);
        log(`removed ${stale.length} untagged image(s) of earlier runs`);
      }
    }
    await engine?.stop();
    if (engine !== undefined) log(`done in ${seconds(began)}`);
    if (dir !== undefined) {
      if (keepLogs) log(`logs kept in ${dir}`);
      else rmSync(dir, { recursive: true, force: true });
    }
  });

  /**
   * redis-cli in the redis container as the operator (DEPLOY.md's recipe): Redis runs with
   * the ACL file, so the default user can do nothing.
   */
  const operatorCli = async (...args: string[]): Promise<string> =>
    (
      await compose().exec('redis', [
        'sh',
        '-c',
        'exec redis-cli --no-auth-warning --user securechat-ops --pass "$(cat /redis-ops/operator.password)" "$@"',
        'redis-cli',
        ...args,
      ])
    ).trim();

  describe('the default services', () => {
    it('runs every service healthy; nginx serves health, keys and the web client over TLS', async () => {
      for (const service of SERVICES) {
        const state = await compose().state(service);
        expect(state.status, service).to.equal('running');
        // nginx has no health check of its own; Redis and the nodes have.
        if (service !== 'nginx') expect(state.health, service).to.equal('healthy');
      }
      for (const init of ['keys', 'certs']) {
        expect((await compose().state(init)).status, init).to.equal('exited');
      }
      const health = await edge().send('GET', '/healthz');
      expect(health.status).to.equal(200);
      const jwks = await edge().send('GET', '/auth/jwks.json');
      expect(jwks.status, jwks.text).to.equal(200);
      expect((JSON.parse(jwks.text) as { keys: unknown[] }).keys).to.have.length.above(0);
      const page = await edge().send('GET', '/');
      expect(page.status).to.equal(200);
      expect(page.headers['content-type']).to.match(/^text\/html/);
      expect(page.headers['strict-transport-security']).to.be.a('string');
      // The nodes run as `node` (1000), nginx as 101, Redis as `redis`: none as root.
      const uid = async (service: string) =>
        /^Uid:\s+(\d+)/m.exec(await compose().exec(service, ['cat', '/proc/1/status']))?.[1];
      for (const service of [...AUTH, ...CHAT]) expect(await uid(service), service).to.equal('1000');
      expect(await uid('nginx')).to.equal('101');
      expect(await uid('redis')).to.match(/^[1-9]\d*$/);
    });

    it('registers and logs in through nginx on both auth containers', async () => {
      // Each nginx worker balances on its own; requests of one kind in a row reach both
      // containers within a few (interleaved with others, one kind may keep meeting one).
      const users: string[] = [];
      const registeredOn = new Set<string>();
      while (registeredOn.size < AUTH.length) {
        if (users.length >= 12) throw new Error(`12 registrations, all on ${[...registeredOn].join(', ')}`);
        const username = `user_${users.length}`;
        const requestId = await edge().register(username);
        users.push(username);
        registeredOn.add(await servedBy('register', requestId));
      }
      const loggedInOn = new Set<string>();
      const sessions: { username: string; token: string }[] = [];
      for (let i = 0; loggedInOn.size < AUTH.length; i++) {
        if (i >= 12) throw new Error(`12 logins, all on ${[...loggedInOn].join(', ')}`);
        const username = users[i % users.length] as string;
        const { tokens, requestId } = await edge().login(username);
        expect(tokens.token_type).to.equal('Bearer');
        sessions.push({ username, token: tokens.access_token });
        loggedInOn.add(await servedBy('login_success', requestId));
      }
      for (const { username, token } of sessions) {
        const me = await edge().send('GET', '/auth/me', { headers: { Authorization: `Bearer ${token}` } });
        expect(me.status, me.text).to.equal(200);
        expect(JSON.parse(me.text)).to.deep.equal({ username });
      }
      const wrong = await edge().send('POST', '/auth/login', {
        body: { username: 'user_0', password: 'not it at all' },
      });
      expect(wrong.status).to.equal(401);
      expect(JSON.parse(wrong.text)).to.include({ error: 'invalid_credentials' });
    });

    it('fans a room out across all three chat containers, each message to each member exactly once, in order', async () => {
      await fanOutDrill(edge(), CHAT);
    });
    it('a logout closes the user’s sockets on every chat container (1008 token_revoked) within 2 s', async () => {
      const token = await edge().newUser('revokee');
      const open = await onEveryChatNode(token);
      const logout = await edge().send('POST', '/auth/logout', {
        headers: { Authorization: `Bearer ${token}` },
      });
      expect(logout.status, logout.text).to.equal(204);
      const closes = await Promise.all(open.map((o) => o.client.waitClose(ENFORCEMENT_MS)));
      for (const close of closes) expect(close).to.deep.equal({ code: 1008, reason: 'token_revoked' });
      expect((await edge().refused(token)).status).to.equal(401);
    });

    it('a block set with redis-cli in the redis container closes the user’s sockets on every chat container within 2 s', async () => {
      const token = await edge().newUser('blockee');
      const open = await onEveryChatNode(token);
      const set = await operatorCli('SET', 'chat:blocked:blockee', 'compose test', 'EX', '300');
      expect(set).to.equal('OK');
      const closes = await Promise.all(open.map((o) => o.client.waitClose(ENFORCEMENT_MS)));
      for (const close of closes) expect(close).to.deep.equal({ code: 1008, reason: 'blocked' });
      expect((await edge().refused(token)).status).to.equal(403);
      const login = await edge().send('POST', '/auth/login', {
        body: { username: 'blockee', password: 'correct horse battery staple' },
      });
      expect(login.status, login.text).to.equal(403);
      expect(JSON.parse(login.text)).to.include({ error: 'blocked' });

      expect(await operatorCli('DEL', 'chat:blocked:blockee')).to.equal('1');
      const again = await edge().accepted(token);
      expect(CHAT).to.include(again.welcome.node);
      await again.client.close();
    });
  });

  for (const { profile, checks } of PROFILES) {
    describe(`profile ${profile}`, () =>
      checks(() => ({ project: compose(), edge: edge(), ports: profilePorts, leftOut })));
  }

  // After the profiles' checks: these leave a chat container down.
  describe('containers killed', () => {
    it('a Redis container killed and started again still holds a revocation (AOF); the nodes recover', async function () {
      this.timeout(120_000);
      const token = await edge().newUser('erin');
      const socket = await edge().accepted(token);
      const logout = await edge().send('POST', '/auth/logout', {
        headers: { Authorization: `Bearer ${token}` },
      });
      expect(logout.status, logout.text).to.equal(204);
      expect(await socket.client.waitClose(ENFORCEMENT_MS)).to.deep.equal({
        code: 1008,
        reason: 'token_revoked',
      });
      const revokedKey = `chat:revoked:${String(jwtPayload(token).jti)}`;
      const redisCli = operatorCli;
      expect(await redisCli('EXISTS', revokedKey)).to.equal('1');
      // Only the append-only file can bring it back: no RDB snapshots are configured.
      expect(await redisCli('CONFIG', 'GET', 'appendonly')).to.equal('appendonly\nyes');
      expect(await redisCli('CONFIG', 'GET', 'save')).to.equal('save');

      // SIGKILL: no shutdown save. The restart policy leaves a killed container down.
      await compose().docker(['kill', await compose().container('redis')]);
      await waitFor(async () => (await compose().state('redis')).status === 'exited', {
        what: 'redis to be down',
      });
      // Down: the chat nodes fail closed, the revoked token above all.
      expect((await edge().refused(token)).status).to.equal(503);

      await compose().mustCompose(['start', 'redis']);
      await waitFor(async () => (await compose().state('redis')).health === 'healthy', {
        timeoutMs: 30_000,
        intervalMs: 250,
        what: 'the restarted redis to be healthy',
      });
      expect(await redisCli('EXISTS', revokedKey)).to.equal('1');

      const statuses: number[] = [];
      let acceptedRevoked = false;
      await waitFor(
        async () => {
          const result = await edge().handshake(token);
          if (isAccepted(result)) {
            acceptedRevoked = true;
            result.client.ws.terminate();
            return true;
          }
          statuses.push(result.status);
          // 503 while the nodes reconnect; then the revocation, read back from the AOF.
          return result.status === 401;
        },
        { timeoutMs: 30_000, intervalMs: 200, what: 'the revoked token to get 401' },
      );
      expect(acceptedRevoked, 'the revoked token was accepted after the restart').to.equal(false);
      expect(
        statuses.filter((s) => s !== 503 && s !== 401),
        'statuses',
      ).to.deep.equal([]);

      // 503 while the auth nodes reconnect; 409 only if an earlier attempt's reply was lost.
      await waitFor(
        async () => {
          const reply = await edge().send('POST', '/auth/register', {
            body: { username: 'frank', password: 'correct horse battery staple' },
          });
          return reply.status === 201 || reply.status === 409;
        },
        { timeoutMs: 30_000, intervalMs: 200, what: 'a registration after the restart' },
      );
      const fresh = (await edge().login('frank')).tokens.access_token;
      const pair = await edge().spread([fresh], (open) => nodesOf(open).size >= 2);
      const a = pair[0] as Accepted;
      const b = pair.find((p) => p.welcome.node !== a.welcome.node) as Accepted;
      const room = 'after-restart';
      for (const s of [a, b]) {
        await waitFor(async () => (await s.client.request({ type: 'join', room })).type === 'joined', {
          timeoutMs: 15_000,
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
    });

    it('docker kill of a chat container: its SDK clients resume on the others and miss nothing', async function () {
      this.timeout(120_000);
      const writerToken = await edge().newUser('writer');
      const readerToken = await edge().newUser('reader');
      const writer = edge().sdk(() => Promise.resolve(writerToken));
      await killDrill({
        edge: edge(),
        writer,
        writerNode: (await writer.connect()).node,
        readerToken,
        nodes: CHAT,
        // Nine messages in all: within one user's default rate limit (10 a minute), which
        // the deployment keeps.
        before: 3,
        during: 5,
        reconnectTimeoutMs: 60_000,
        lastMessageTimeoutMs: 15_000,
        kill: async (victim) => {
          await compose().docker(['kill', await compose().container(victim)]);
          await waitFor(async () => (await compose().state(victim)).status === 'exited', {
            what: `${victim} to be down`,
          });
        },
      });
      await writer.close();
    });
  });

  describe('the logs', () => {
    it('writes no token to any container’s log', async () => {
      expect(edge().secrets.size).to.be.above(20);
      const logs = new Map<string, string>();
      for (const service of [...SERVICES, 'keys', 'certs']) logs.set(service, await compose().logs(service));
      // nginx's access log goes to the container's stdout: proof that it is being read.
      expect(logs.get('nginx')).to.include('"uri":"/auth/login"');
      expect(`${logs.get('auth-1') ?? ''}${logs.get('auth-2') ?? ''}`).to.include('login_success');
      for (const [service, text] of logs) {
        const leaked = [...edge().secrets].filter((s) => text.includes(s));
        expect(leaked.length, `${service} log holds ${leaked.length} tokens`).to.equal(0);
        expect(text.includes('token='), `${service} log holds a query token`).to.equal(false);
        expect(/eyJ[A-Za-z0-9_-]{10,}\.eyJ/.test(text), `${service} log holds a JWT`).to.equal(false);
      }
    });
  });

  describe('docker-compose down -v', () => {
    it('leaves no container, network or volume of the project, and frees the published port', async function () {
      this.timeout(180_000);
      await edge().closeAll();
      await compose().mustCompose(['down', '--volumes', '--remove-orphans', '--timeout', '20'], 170_000);
      down = true;
      expect(await compose().leftovers()).to.deep.equal({ containers: [], networks: [], volumes: [] });
      expect(await portIsFree(httpsPort, '0.0.0.0')).to.equal(true);
    });
  });
});
