import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManagedProcess, type ExitInfo, type ProcessOutput } from './managed-process';
import { freePort } from './ports';

export interface RedisServerOptions {
  /** The server's whole environment: `{ PATH }`, so that `command` is found. */
  env: NodeJS.ProcessEnv;
  /** `redis-server` by default. */
  command?: string;
  /** Its working directory; by default a new temporary one, removed by destroy(). */
  dir?: string;
  /** Extra `--name value` arguments, e.g. ['--notify-keyspace-events', 'Kgx']. */
  args?: readonly string[];
  /** Append-only file on (Debian's default is off); no RDB snapshots either way. */
  appendonly?: boolean;
  /** `--enable-debug-command local`: Redis 7 refuses DEBUG without it (tests only). */
  debugCommand?: boolean;
  /** How its port is chosen; a free one by default (a cluster node needs its bus port free too). */
  pickPort?: () => Promise<number>;
  /** How long start() waits for "Ready to accept connections"; 10 s by default. */
  readyTimeoutMs?: number;
  /**
   * A sentinel (`redis-server sentinel.conf --sentinel`) with this configuration, written
   * to `<dir>/sentinel.conf` at the first start (Sentinel rewrites it; a restart keeps it).
   */
  sentinelConfig?: string;
  /** Where its output goes; kept in memory by default (`'capture'`). */
  output?: ProcessOutput;
  /** Its name in output and errors; `redis-server :<port>` by default. */
  name?: string;
  /**
   * TLS only, on its port (the plain port off), with this certificate and key; clients are
   * not asked for certificates. Replication (and a sentinel's monitoring) over TLS too.
   */
  tls?: RedisTlsFiles;
}

/** PEM files of a TLS server: its certificate and key, and the CA its peers' are checked with. */
export interface RedisTlsFiles {
  cert: string;
  key: string;
  ca: string;
}

const READY_LINE = 'Ready to accept connections';
/** A sentinel logs its id once it has loaded (and, if new, saved) its configuration. */
const SENTINEL_READY_LINE = 'Sentinel ID is';
/** Free ports are free when asked for, not necessarily when redis-server binds them. */
const START_ATTEMPTS = 5;

/** The version of the `redis-server` on PATH (`7.0.15`), or a message naming the package. */
export function redisServerVersion(command = 'redis-server'): string {
  try {
    const out = execFileSync(command, ['--version'], { encoding: 'utf8' });
    return /v=(\S+)/.exec(out)?.[1] ?? out.trim();
  } catch {
    throw new Error(`${command} not found: install it (apt-get install redis-server)`);
  }
}

/**
 * A real redis-server for a test suite or a benchmark run: a free loopback port, its own
 * directory, no RDB snapshots, started and stopped by the harness. stop() then start()
 * restarts it on the same port and directory (outage tests). The cluster supervisor
 * starts its own Redis among its parts (Cluster.startRedis), with production settings.
 */
export class RedisServer {
  private proc: ManagedProcess | undefined;

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly ownsDir: boolean,
    private readonly options: RedisServerOptions,
  ) {}

  get url(): string {
    return `${this.options.tls !== undefined ? 'rediss' : 'redis'}://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.proc?.running === true;
  }

  /** The running server's pid (for CPU and memory figures). */
  get pid(): number {
    const pid = this.proc?.running === true ? this.proc.pid : undefined;
    if (pid === undefined) throw new Error('redis-server is not running');
    return pid;
  }

  static async start(options: RedisServerOptions): Promise<RedisServer> {
    let lastError: unknown;
    for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
      const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'securechat-redis-'));
      const port = await (options.pickPort ?? freePort)();
      const server = new RedisServer(port, dir, options.dir === undefined, options);
      try {
        await server.start();
        return server;
      } catch (err) {
        lastError = err;
        if (server.ownsDir) rmSync(dir, { recursive: true, force: true });
      }
    }
    throw lastError instanceof Error ? lastError : new Error('redis-server did not start');
  }

  /** Starts the server (again) on its port; resolves once it accepts connections. */
  async start(): Promise<void> {
    if (this.proc?.running === true) return;
    const o = this.options;
    const args: string[] = [];
    if (o.sentinelConfig !== undefined) {
      const file = join(this.dir, 'sentinel.conf');
      if (!existsSync(file)) writeFileSync(file, o.sentinelConfig, { mode: 0o600 });
      args.push(file, '--sentinel');
    }
    if (o.tls === undefined) args.push('--port', String(this.port));
    else {
      args.push('--port', '0', '--tls-port', String(this.port), '--tls-replication', 'yes');
      args.push('--tls-cert-file', o.tls.cert, '--tls-key-file', o.tls.key, '--tls-ca-cert-file', o.tls.ca);
      args.push('--tls-auth-clients', 'no');
    }
    args.push('--bind', '127.0.0.1', '--dir', this.dir);
    args.push('--save', '', '--appendonly', o.appendonly === true ? 'yes' : 'no');
    args.push('--daemonize', 'no', '--logfile', '');
    if (o.debugCommand === true) args.push('--enable-debug-command', 'local');
    args.push(...(o.args ?? []));
    this.proc = new ManagedProcess({
      name: o.name ?? `${o.sentinelConfig !== undefined ? 'redis-sentinel' : 'redis-server'} :${this.port}`,
      command: o.command ?? 'redis-server',
      args,
      env: o.env,
      output: o.output ?? 'capture',
      // No group of its own: a Ctrl-C on the run reaches it too.
      ownGroup: false,
    }).start();
    try {
      const ready = o.sentinelConfig !== undefined ? SENTINEL_READY_LINE : READY_LINE;
      await this.proc.waitForLine((line) => line.includes(ready), o.readyTimeoutMs ?? 10_000);
    } catch (err) {
      await this.proc.stop('SIGKILL', 1000);
      this.proc = undefined;
      throw err;
    }
  }

  /** Stops the server (SIGKILL when `hard`: no shutdown save), waiting for it to exit. */
  async stop(hard = false): Promise<ExitInfo | undefined> {
    const proc = this.proc;
    this.proc = undefined;
    return proc?.stop(hard ? 'SIGKILL' : 'SIGTERM', 10_000);
  }

  /** Kills the server and removes its directory if start() made it. */
  async destroy(): Promise<void> {
    await this.stop(true);
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }
}
