import { execFile } from 'node:child_process';
import { ManagedProcess } from './managed-process';
import { freeClusterPort } from './ports';
import { waitFor } from './readiness';
import { RedisServer, type RedisServerOptions } from './redis-server';

export interface RedisClusterOptions extends Omit<RedisServerOptions, 'pickPort' | 'dir'> {
  /** Masters (3 by default: the least `redis-cli --cluster create` accepts). */
  masters?: number;
  /** Replicas per master (1 by default). */
  replicas?: number;
  /** `cluster-node-timeout`: how long a master may be silent before its replica takes over (ms). */
  nodeTimeoutMs?: number;
  /**
   * A user with every right (`redis-cli --cluster create` and the replicas' own link to
   * their master need it when the default user may do nothing: the product's ACL file).
   */
  admin?: { username: string; password: string };
  /** `redis-cli`, by default. */
  cliCommand?: string;
  /** How long start() waits for `cluster_state:ok` everywhere; 30 s by default. */
  formTimeoutMs?: number;
}

/** One server of the cluster as `CLUSTER NODES` describes it. */
export interface ClusterNodeInfo {
  id: string;
  port: number;
  role: 'master' | 'replica';
  /** The master's id, for a replica. */
  masterId: string | undefined;
  /** Whether the node is seen as failed (`fail` or `fail?`). */
  failed: boolean;
  /** Hash slot ranges held, for a master: `[[0, 5460]]`. */
  slots: [number, number][];
}

const HOST = '127.0.0.1';

/**
 * A real Redis Cluster for tests, the benchmark and `npm run cluster`: masters and
 * replicas as `redis-server --cluster-enabled yes` on free ports (each port's bus port,
 * port + 10000, free too) in their own directories, joined by `redis-cli --cluster
 * create`, ready once every server reports `cluster_state:ok` and every replica is in
 * sync. A server can be killed (`kill -9`) and started again for failover tests.
 */
export class RedisCluster {
  private constructor(
    readonly servers: readonly RedisServer[],
    private readonly options: RedisClusterOptions,
  ) {}

  static async start(options: RedisClusterOptions): Promise<RedisCluster> {
    const masters = options.masters ?? 3;
    const replicas = options.replicas ?? 1;
    const args = [
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      'nodes.conf',
      '--cluster-node-timeout',
      String(options.nodeTimeoutMs ?? 2000),
      // A master killed without a replica must not stop the whole cluster from serving the
      // other slots: tests kill masters on purpose.
      '--cluster-require-full-coverage',
      'no',
      ...(options.admin !== undefined
        ? ['--masteruser', options.admin.username, '--masterauth', options.admin.password]
        : []),
      // TLS servers talk TLS on the cluster bus too.
      ...(options.tls !== undefined ? ['--tls-cluster', 'yes'] : []),
      ...(options.args ?? []),
    ];
    const servers: RedisServer[] = [];
    const cluster = new RedisCluster(servers, options);
    try {
      // One at a time: two servers asking for free ports at once may be given the same one.
      for (let i = 0; i < masters * (1 + replicas); i++) {
        servers.push(await RedisServer.start({ ...options, args, pickPort: () => freeClusterPort(HOST) }));
      }
      await cluster.create(replicas);
      await cluster.waitHealthy(options.formTimeoutMs ?? 30_000);
      return cluster;
    } catch (err) {
      await cluster.destroy();
      throw err;
    }
  }

  /** `host:port` of every server, comma-separated: REDIS_CLUSTER_NODES. */
  get seeds(): string {
    return this.servers.map((s) => `${HOST}:${s.port}`).join(',');
  }

  get ports(): number[] {
    return this.servers.map((s) => s.port);
  }

  /** The server on `port`. */
  server(port: number): RedisServer {
    const server = this.servers.find((s) => s.port === port);
    if (server === undefined) throw new Error(`no cluster server on port ${port}`);
    return server;
  }

  private async create(replicas: number): Promise<void> {
    const { admin } = this.options;
    const cli = new ManagedProcess({
      name: 'redis-cli --cluster create',
      command: this.options.cliCommand ?? 'redis-cli',
      args: [
        ...this.cliTls(),
        ...(admin !== undefined ? ['--user', admin.username] : []),
        '--cluster',
        'create',
        ...this.servers.map((s) => `${HOST}:${s.port}`),
        '--cluster-replicas',
        String(replicas),
        '--cluster-yes',
      ],
      // The password goes in the environment, not on a command line that `ps` shows.
      env: { PATH: this.options.env.PATH, ...(admin !== undefined ? { REDISCLI_AUTH: admin.password } : {}) },
      output: 'capture',
      ownGroup: false,
    }).start();
    const exit = await cli.exitWithin(60_000);
    if (exit.code !== 0) throw new Error(`redis-cli --cluster create failed: ${cli.tail()}`);
  }

  /** redis-cli's TLS arguments, for a cluster of TLS servers. */
  private cliTls(): string[] {
    const { tls } = this.options;
    return tls === undefined ? [] : ['--tls', '--cacert', tls.ca];
  }

  /** One command on one server through redis-cli (its raw reply as text). */
  cli(port: number, ...command: string[]): Promise<string> {
    const { admin } = this.options;
    const args = [
      ...this.cliTls(),
      '-h',
      HOST,
      '-p',
      String(port),
      ...(admin !== undefined ? ['--user', admin.username] : []),
    ];
    return new Promise((resolve, reject) => {
      execFile(
        this.options.cliCommand ?? 'redis-cli',
        [...args, ...command],
        {
          env: {
            PATH: this.options.env.PATH,
            ...(admin !== undefined ? { REDISCLI_AUTH: admin.password } : {}),
          },
          timeout: 5000,
        },
        (err, stdout) => (err ? reject(err) : resolve(stdout)),
      );
    });
  }

  /** The cluster as the server on `port` (by default the first that answers) sees it. */
  async nodes(port?: number): Promise<ClusterNodeInfo[]> {
    const candidates = port !== undefined ? [port] : this.runningPorts();
    let lastError: unknown;
    for (const p of candidates) {
      try {
        return parseClusterNodes(await this.cli(p, 'CLUSTER', 'NODES'));
      } catch (err) {
        lastError = err;
      }
    }
    throw lastError instanceof Error ? lastError : new Error('no cluster server answers');
  }

  /** The live masters holding slots. */
  async masters(): Promise<ClusterNodeInfo[]> {
    return (await this.nodes()).filter((n) => n.role === 'master' && !n.failed && n.slots.length > 0);
  }

  /** The master that holds `slot`. */
  async masterOf(slot: number): Promise<ClusterNodeInfo> {
    const master = (await this.masters()).find((m) => m.slots.some(([a, b]) => slot >= a && slot <= b));
    if (master === undefined) throw new Error(`no live master holds slot ${slot}`);
    return master;
  }

  private runningPorts(): number[] {
    return this.servers.filter((s) => s.running).map((s) => s.port);
  }

  /**
   * Resolves once every running server says `cluster_state:ok`, sees every slot held by
   * a live master, and every running replica's link to its master is up.
   */
  async waitHealthy(timeoutMs = 30_000): Promise<void> {
    await waitFor(
      async () => {
        for (const port of this.runningPorts()) {
          const info = await this.cli(port, 'CLUSTER', 'INFO').catch(() => '');
          if (!info.includes('cluster_state:ok')) return undefined;
          const replication = await this.cli(port, 'INFO', 'replication').catch(() => '');
          if (replication.includes('role:slave') && !replication.includes('master_link_status:up'))
            return undefined;
        }
        const held = (await this.masters().catch(() => [])).flatMap((m) => m.slots);
        const covered = held.reduce((sum, [a, b]) => sum + (b - a + 1), 0);
        return covered === 16384 ? true : undefined;
      },
      { what: 'redis cluster healthy', timeoutMs, intervalMs: 100 },
    );
  }

  /** Kills every server and removes their directories. */
  async destroy(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.destroy()));
  }
}

/** `CLUSTER NODES` output, parsed. */
export function parseClusterNodes(text: string): ClusterNodeInfo[] {
  const out: ClusterNodeInfo[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(' ');
    if (fields.length < 8) continue;
    const [id, address, flags, master] = fields as [string, string, string, string];
    const port = Number(/:(\d+)/.exec(address)?.[1]);
    const flagSet = new Set(flags.split(','));
    const slots: [number, number][] = [];
    for (const range of fields.slice(8)) {
      if (range.startsWith('[')) continue; // a slot being migrated
      const [a, b] = range.split('-').map(Number);
      if (a !== undefined && Number.isInteger(a)) slots.push([a, b ?? a]);
    }
    out.push({
      id,
      port,
      role: flagSet.has('master') ? 'master' : 'replica',
      masterId: master === '-' ? undefined : master,
      failed: flagSet.has('fail') || flagSet.has('fail?'),
      slots,
    });
  }
  return out;
}
