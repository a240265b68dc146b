import { createHash, randomBytes } from 'node:crypto';
import {
  appendFileSync,
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { ensureCertificate, type TlsFiles } from './certificate';
import type { ClusterKnobs } from './knobs';
import { describeExit, ManagedProcess, type ExitInfo } from './managed-process';
import { localFileLimits, readNginxTemplate, renderNginxConfig } from './nginx-config';
import { freePort, portIsFree } from './ports';
import { httpStatus, redisPing, waitFor, type WaitOptions } from './readiness';
import {
  appendServiceUsers,
  ensureRedisAcl,
  readAclTemplate,
  readPassword,
  redisUrlFor,
  type RedisAclFiles,
} from './redis-acl';
import { RedisCluster } from './redis-cluster';
import { SentinelGroup } from './sentinel-group';
import { ensureSigningKeys } from './signing-keys';
import {
  edgeOrigins,
  nodeEnvironment,
  nodeSpecs,
  redisArguments,
  WEB_DIST,
  type NodePlacement,
  type NodeSpec,
} from './topology';

export interface ClusterDeps {
  repoRoot: string;
  knobs: ClusterKnobs;
  /** What every node inherits (the cluster's environment less its knobs). */
  env: NodeJS.ProcessEnv;
  /** Absolute paths of redis-server, nginx and openssl. */
  tools: ReadonlyMap<string, string>;
  /** The cluster's own messages (one line each, without the prefix). */
  log: (line: string) => void;
  readyTimeoutMs?: number;
}

export interface RunningCluster {
  url: string;
  httpUrl: string;
  /** Redis's address, without credentials. */
  redisUrl: string;
  /** The operator's URL (user securechat-ops and its password): `redis: <url>` in the output. */
  operatorRedisUrl: string;
  /** The operator's URL of every Redis data server (one `redis:` line each): the master first. */
  operatorRedisUrls: string[];
  /** Sentinel mode: REDIS_SENTINELS and REDIS_SENTINEL_NAME as the nodes have them. */
  sentinel?: { sentinels: string; name: string };
  /** Redis Cluster mode: REDIS_CLUSTER_NODES, the seeds the nodes were given. */
  redisClusterNodes?: string;
  /** redis-server's arguments, to start it again the same way (a test's restart). */
  redisArgs: string[];
  nodes: { spec: NodeSpec; port: number; metricsUrl: string }[];
}

/** Credentials the cluster manages for its nodes: none of the operator's may override them. */
const MANAGED_CREDENTIALS = ['REDIS_USERNAME', 'REDIS_PASSWORD', 'REDIS_PASSWORD_FILE'];

const HOST = '127.0.0.1';
/**
 * The loopback address nginx connects to the nodes from, and the only one whose
 * X-Forwarded-For they believe (TRUST_PROXY). Every other local process connects from
 * 127.0.0.1, so reaching a node directly does not let it choose the address the node sees.
 */
export const PROXY_SOURCE = '127.0.0.2';

/** The Sentinel master group's name in CLUSTER_REDIS_MODE=sentinel (REDIS_SENTINEL_NAME). */
export const CLUSTER_SENTINEL_NAME = 'securechat';

/** Where the nodes find Redis, and the operator's URL of each data server. */
interface RedisPlacement {
  placement: Pick<NodePlacement, 'redisUrl' | 'redisSentinel' | 'redisClusterNodes'>;
  /** The master's address, without credentials (log lines). */
  redisUrl: string;
  masterPort: number;
  dataPorts: number[];
}

/**
 * The production topology as local processes: redis-server, the auth and chat nodes and
 * nginx in front of them. start() resolves once every part answers; stop() ends them all.
 */
export class Cluster {
  private readonly processes: ManagedProcess[] = [];
  private ready = false;
  private stopRequested = false;
  private stopped: Promise<void> | undefined;
  private readonly taken = new Set<number>();
  private sentinelGroup: SentinelGroup | undefined;
  /** CLUSTER_REDIS_MODE=cluster: the Redis Cluster's servers, stopped last. */
  private redisCluster: RedisCluster | undefined;
  /** PROXY_SOURCE, or HOST where the system cannot bind it (then with a warning). */
  private proxySource = PROXY_SOURCE;

  constructor(private readonly deps: ClusterDeps) {}

  /** One running part by name (`redis`, `nginx`, `chat-2`): for a test's `kill -9`. */
  part(name: string): ManagedProcess | undefined {
    return this.processes.find((p) => p.name === name);
  }

  private tool(command: string): string {
    const path = this.deps.tools.get(command);
    if (path === undefined) throw new Error(`${command} was not located`);
    return path;
  }

  /** A reason to stop waiting: a stop was asked for, or a part died while starting. */
  private abortReason(): string | undefined {
    if (this.stopRequested) return 'stopping';
    const dead = this.processes.find((p) => p.exit !== undefined);
    return dead && `${dead.name} ${describeExit(dead.exit as ExitInfo)}`;
  }

  private spawn(name: string, command: string, args: string[], env: NodeJS.ProcessEnv): ManagedProcess {
    // stop() has taken its list of processes: nothing may start after it.
    if (this.stopRequested) throw new Error('stopping');
    const proc = new ManagedProcess({
      name,
      command,
      args,
      env,
      cwd: this.deps.repoRoot,
      onExit: (info, expected) => {
        // After start-up a dead part is reported and the rest keep running: clients of a
        // dead chat node reconnect through nginx to the others.
        if (!expected && this.ready) this.deps.log(`${name} ${describeExit(info)}; the rest keep running`);
      },
    });
    this.processes.push(proc);
    proc.start();
    return proc;
  }

  async start(): Promise<RunningCluster> {
    const { knobs } = this.deps;
    mkdirSync(knobs.dir, { recursive: true });
    const tls = await ensureCertificate(join(knobs.dir, 'tls'), this.tool('openssl'));
    if (tls.created) this.deps.log(`made a self-signed certificate: ${tls.cert}`);
    const keys = ensureSigningKeys(join(knobs.dir, 'keys'));
    if (keys.created) this.deps.log(`made a token signing key: ${keys.privateKey}`);
    await this.checkFixedPorts();
    if (!(await portIsFree(0, PROXY_SOURCE))) {
      this.proxySource = HOST;
      this.deps.log(
        `cannot bind ${PROXY_SOURCE}: nginx connects from ${HOST}, and the nodes believe X-Forwarded-For from any local process`,
      );
    }

    // Every role's Redis user; the passwords are made once and kept in the directory.
    const acl = ensureRedisAcl(
      join(knobs.dir, 'redis-acl'),
      this.deps.env.REDIS_PREFIX?.trim() || 'chat:',
      readAclTemplate(this.deps.repoRoot),
    );
    if (acl.created.length > 0)
      this.deps.log(`made Redis passwords for ${acl.created.join(', ')} in ${acl.aclFile}`);
    let redisArgs: string[] = [];
    let redis: RedisPlacement;
    if (knobs.redisMode === 'sentinel') redis = await this.startSentinelGroup(acl);
    else if (knobs.redisMode === 'cluster') redis = await this.startRedisCluster(acl);
    else {
      const redisPort = await this.pickPort(knobs.redisPort);
      redisArgs = this.redisArgs(redisPort, acl);
      redis = await this.startRedis(redisPort, redisArgs);
    }
    const redisUrl = redis.redisUrl;
    const nodes = await this.startNodes(redis.placement, join(knobs.dir, 'keys'), acl);
    const httpPort = await this.pickPort(knobs.httpPort);
    const url = await this.startNginx(nodes, httpPort, tls);

    this.ready = true;
    const access = join(knobs.dir, 'nginx', 'access.log');
    const where =
      redis.placement.redisClusterNodes !== undefined
        ? `redis cluster on ${redis.placement.redisClusterNodes}`
        : `redis on ${redisUrl}`;
    this.deps.log(`http redirect on http://${HOST}:${httpPort}, ${where}, access log ${access}`);
    const operatorUrl = (port: number) =>
      redisUrlFor('operator', readPassword(acl.passwordFiles.operator), HOST, port);
    return {
      url,
      httpUrl: `http://${HOST}:${httpPort}`,
      redisUrl,
      operatorRedisUrl: operatorUrl(redis.masterPort),
      operatorRedisUrls: redis.dataPorts.map(operatorUrl),
      ...(redis.placement.redisSentinel !== undefined ? { sentinel: redis.placement.redisSentinel } : {}),
      ...(redis.placement.redisClusterNodes !== undefined
        ? { redisClusterNodes: redis.placement.redisClusterNodes }
        : {}),
      redisArgs,
      nodes,
    };
  }

  /**
   * CLUSTER_REDIS_MODE=cluster: 3 masters and 3 replicas with the production settings and
   * the ACL file, formed by `redis-cli --cluster create`, each in a fresh temporary
   * directory (a new, empty cluster at every start). Forming it and the replicas' link to
   * their masters need a user with every right: `securechat-cluster-admin`, whose
   * password is made once and kept beside the others (never given to a node).
   */
  private async startRedisCluster(acl: RedisAclFiles): Promise<RedisPlacement> {
    const passwordFile = join(dirname(acl.aclFile), 'cluster-admin.password');
    if (!existsSync(passwordFile)) {
      writeFileSync(passwordFile, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
    }
    const admin = { username: 'securechat-cluster-admin', password: readPassword(passwordFile) };
    const hash = createHash('sha256').update(admin.password).digest('hex');
    appendFileSync(acl.aclFile, `user ${admin.username} on #${hash} ~* &* +@all\n`);
    const redisServer = this.tool('redis-server');
    const cluster = await RedisCluster.start({
      env: { PATH: this.deps.env.PATH },
      command: redisServer,
      cliCommand: join(dirname(redisServer), 'redis-cli'),
      appendonly: true,
      args: [...redisArguments(), '--aclfile', acl.aclFile],
      admin,
      nodeTimeoutMs: 5000,
    });
    this.redisCluster = cluster;
    const first = cluster.ports[0] as number;
    return {
      placement: { redisClusterNodes: cluster.seeds },
      redisUrl: `redis://${HOST}:${first}`,
      masterPort: first,
      dataPorts: cluster.ports,
    };
  }

  /** redis-server's command line: AOF as the persistence, REDIS_SETTINGS, the ACL file. */
  private redisArgs(port: number, acl: RedisAclFiles): string[] {
    const dir = join(this.deps.knobs.dir, 'redis');
    mkdirSync(dir, { recursive: true });
    return [
      ...['--port', String(port), '--bind', HOST, '--dir', dir, '--daemonize', 'no', '--logfile', ''],
      // AOF is the persistence: no RDB snapshots besides it.
      ...['--save', '', ...redisArguments()],
      ...['--aclfile', acl.aclFile],
    ];
  }

  private get wait(): WaitOptions {
    return {
      timeoutMs: this.deps.readyTimeoutMs ?? 60_000,
      intervalMs: 100,
      abort: () => this.abortReason(),
    };
  }

  /** Ports the operator chose must be free now, or start-up stops before anything runs. */
  private async checkFixedPorts(): Promise<void> {
    const { knobs } = this.deps;
    this.taken.add(knobs.httpsPort);
    for (const [variable, port] of [
      ['CLUSTER_HTTPS_PORT', knobs.httpsPort],
      ['CLUSTER_HTTP_PORT', knobs.httpPort],
      ['CLUSTER_REDIS_PORT', knobs.redisPort],
    ] as const) {
      if (port !== undefined && !(await portIsFree(port, HOST))) {
        throw new Error(`port ${port} (${variable}) is in use on ${HOST}`);
      }
    }
  }

  /** `wanted`, or a free port not yet handed to another part. */
  private async pickPort(wanted?: number): Promise<number> {
    let port = wanted ?? (await freePort(HOST));
    while (wanted === undefined && this.taken.has(port)) port = await freePort(HOST);
    this.taken.add(port);
    return port;
  }

  private async startRedis(port: number, args: string[]): Promise<RedisPlacement> {
    this.spawn('redis', this.tool('redis-server'), args, { PATH: this.deps.env.PATH });
    await waitFor(() => redisPing(port), { ...this.wait, what: `redis on port ${port}` });
    const redisUrl = `redis://${HOST}:${port}`;
    return { placement: { redisUrl }, redisUrl, masterPort: port, dataPorts: [port] };
  }

  /**
   * CLUSTER_REDIS_MODE=sentinel: a master, a replica and three sentinels (free ports, data
   * in `<dir>/redis-sentinel/`), each data node with REDIS_SETTINGS and the ACL file, the
   * replica and the sentinels logging in as their own users (SERVICE_USERS).
   */
  private async startSentinelGroup(acl: RedisAclFiles): Promise<RedisPlacement> {
    const { knobs } = this.deps;
    const users = appendServiceUsers(join(knobs.dir, 'redis-acl'), acl);
    const group = await SentinelGroup.start({
      env: { PATH: this.deps.env.PATH },
      name: CLUSTER_SENTINEL_NAME,
      dir: join(knobs.dir, 'redis-sentinel'),
      // Each server's log in its own file: the harness waits on their lines.
      output: (part) => ({ file: join(knobs.dir, 'redis-sentinel', `${part}.log`) }),
      appendonly: true,
      args: [...redisArguments(), '--aclfile', acl.aclFile],
      admin: users.sentinel,
      replicaUser: users.replica,
      monitorUser: users.sentinel,
    });
    this.sentinelGroup = group;
    const master = await group.master();
    const sentinels = group.sentinelsVariable;
    this.deps.log(
      `sentinels ${sentinels} watch master group ${CLUSTER_SENTINEL_NAME} (master on port ${master}); ` +
        `chatctl: REDIS_SENTINELS=${sentinels} REDIS_SENTINEL_NAME=${CLUSTER_SENTINEL_NAME} REDIS_USERNAME=securechat-ops ` +
        `REDIS_PASSWORD_FILE=${join(knobs.dir, 'redis-acl', 'operator.password')}`,
    );
    return {
      placement: { redisSentinel: { sentinels, name: CLUSTER_SENTINEL_NAME } },
      redisUrl: `redis://${HOST}:${master}`,
      masterPort: master,
      dataPorts: [master, ...group.servers.map((s) => s.port).filter((p) => p !== master)],
    };
  }

  private async startNodes(
    redis: Pick<NodePlacement, 'redisUrl' | 'redisSentinel' | 'redisClusterNodes'>,
    keysDir: string,
    acl: RedisAclFiles,
  ): Promise<RunningCluster['nodes']> {
    const { knobs } = this.deps;
    const env = Object.fromEntries(
      Object.entries(this.deps.env).filter(([name]) => !MANAGED_CREDENTIALS.includes(name)),
    );
    const allowedOrigins = env.ALLOWED_ORIGINS?.trim()
      ? env.ALLOWED_ORIGINS.split(',').map((o) => o.trim())
      : edgeOrigins(knobs.httpsPort);
    const nodes: RunningCluster['nodes'] = [];
    for (const spec of nodeSpecs(knobs.authNodes, knobs.chatNodes)) {
      const port = await this.pickPort();
      const metricsPort = await this.pickPort();
      const placement = {
        host: HOST,
        port,
        ...redis,
        trustProxy: this.proxySource,
        allowedOrigins,
        signingKeyDir: keysDir,
        jwksDir: keysDir,
        redisPasswordFiles: { auth: acl.passwordFiles.auth, chat: acl.passwordFiles.chat },
        metrics: { host: HOST, port: metricsPort },
      };
      const args = [...spec.nodeArgs, join(this.deps.repoRoot, spec.entry)];
      this.spawn(spec.name, process.execPath, args, { ...env, ...nodeEnvironment(spec, placement) });
      nodes.push({ spec, port, metricsUrl: `http://${HOST}:${metricsPort}/metrics` });
    }
    const ready = async (port: number) => (await httpStatus(`http://${HOST}:${port}/readyz`)) === 200;
    await Promise.all(
      nodes.map((n) => waitFor(() => ready(n.port), { ...this.wait, what: `${n.spec.name} /readyz` })),
    );
    return nodes;
  }

  private async startNginx(nodes: RunningCluster['nodes'], httpPort: number, tls: TlsFiles): Promise<string> {
    const { knobs, repoRoot } = this.deps;
    const runDir = join(knobs.dir, 'nginx');
    mkdirSync(runDir, { recursive: true });
    // A root nginx runs its workers as nobody: they must reach the temp paths in here,
    // and may not be able to reach the repository (under /root, say): they get a copy.
    chmodSync(runDir, 0o755);
    let webRoot = join(repoRoot, WEB_DIST);
    if (process.getuid?.() === 0) {
      webRoot = join(runDir, 'web');
      rmSync(webRoot, { recursive: true, force: true });
      cpSync(join(repoRoot, WEB_DIST), webRoot, { recursive: true });
      this.deps.log(`running as root: nginx serves a copy of ${WEB_DIST}/ from ${webRoot}`);
    }
    const upstreams = (role: NodeSpec['role']) =>
      nodes.filter((n) => n.spec.role === role).map((n) => ({ host: HOST, port: n.port }));
    const config = renderNginxConfig(readNginxTemplate(repoRoot), {
      runDir,
      errorLog: 'stderr',
      accessLog: join(runDir, 'access.log'),
      httpsListen: `${HOST}:${knobs.httpsPort}`,
      httpListen: `${HOST}:${httpPort}`,
      publicHttpsPort: knobs.httpsPort,
      serverName: 'localhost',
      publicHost: HOST,
      ...(this.proxySource !== HOST ? { proxyBind: this.proxySource } : {}),
      certFile: tls.cert,
      keyFile: tls.key,
      webRoot,
      authServers: upstreams('auth'),
      chatServers: upstreams('chat'),
      limits: knobs.limits,
      workerProcesses: 'auto',
      ...localFileLimits(),
    });
    const confFile = join(runDir, 'nginx.conf');
    writeFileSync(confFile, config);
    this.spawn('nginx', this.tool('nginx'), ['-p', runDir, '-c', confFile, '-e', 'stderr'], {
      PATH: this.deps.env.PATH,
    });
    const url = `https://${HOST}:${knobs.httpsPort}`;
    const ca = readFileSync(tls.cert);
    const healthy = async () => (await httpStatus(`${url}/healthz`, ca)) === 200;
    await waitFor(healthy, { ...this.wait, what: `nginx ${url}/healthz` });
    return url;
  }

  /**
   * Stops everything, nodes first (they drain their sockets and still need Redis for it),
   * then nginx, then Redis (which writes its AOF out). A part that does not exit within
   * its grace period is killed with its whole process group.
   */
  stop(): Promise<void> {
    this.stopRequested = true;
    this.stopped ??= this.stopAll();
    return this.stopped;
  }

  private async stopAll(): Promise<void> {
    const graceMs = Number(this.deps.env.SHUTDOWN_GRACE_MS ?? '') || 10_000;
    const named = (name: string) => this.processes.filter((p) => p.name === name);
    const nodes = this.processes.filter((p) => p.name !== 'nginx' && p.name !== 'redis');
    await Promise.all(nodes.map((p) => p.stop('SIGTERM', graceMs + 5000)));
    await Promise.all(named('nginx').map((p) => p.stop('SIGQUIT', 5000)));
    await Promise.all(named('redis').map((p) => p.stop('SIGTERM', 10_000)));
    await this.sentinelGroup?.stop();
    await this.redisCluster?.destroy();
  }
}
