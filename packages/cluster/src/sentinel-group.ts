import {
  createLogger,
  createRedisClient,
  singleTarget,
  waitReady,
  type RedisAddress,
  type standaloneRedis,
} from '@securechat/common';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ProcessOutput } from './managed-process';
import { waitFor } from './readiness';
import { RedisServer, type RedisServerOptions, type RedisTlsFiles } from './redis-server';

type Redis = ReturnType<typeof standaloneRedis>;

export interface SentinelGroupOptions {
  /** The servers' whole environment: `{ PATH }`, so that `redis-server` is found. */
  env: NodeJS.ProcessEnv;
  /** The master group's name (REDIS_SENTINEL_NAME); `securechat` by default. */
  name?: string;
  /** Replicas of the master; 1 by default. */
  replicas?: number;
  /** Sentinels; 3 by default (quorum: a majority). */
  sentinels?: number;
  /** Extra arguments of every data node (master and replicas), e.g. `--aclfile`. */
  args?: readonly string[];
  appendonly?: boolean;
  debugCommand?: boolean;
  /**
   * A user of the data nodes with every right: replicas replicate as it, sentinels
   * monitor as it, and the group's own checks use it. Unset: the data nodes' default user.
   */
  admin?: { username: string; password: string };
  /** `masteruser`/`masterauth` of every data node; `admin` by default. */
  replicaUser?: { username: string; password: string };
  /** `sentinel auth-user`/`auth-pass`; `admin` by default. */
  monitorUser?: { username: string; password: string };
  /**
   * Data directories `<dir>/redis-<n>` and `<dir>/sentinel-<n>`, kept (the sentinels'
   * configuration is written anew at each start); by default temporary ones, removed.
   */
  dir?: string;
  /** Where each server's output goes (`redis-1`, `sentinel-1`, ...); kept in memory by default. */
  output?: (part: string) => ProcessOutput;
  /** The sentinels' own password (`requirepass`), for REDIS_SENTINEL_PASSWORD; unset: none. */
  sentinelPassword?: string;
  /** Sentinel's `down-after-milliseconds`; 1000 by default (a kill -9 is noticed in about 1 s). */
  downAfterMs?: number;
  /** Every server (data nodes and sentinels) speaks only TLS, with these files (REDIS_TLS). */
  tls?: RedisTlsFiles;
}

/** `host:port` of a server. */
function address(port: number): RedisAddress {
  return { host: '127.0.0.1', port };
}

/** Reads `field:value` lines of an INFO reply. */
function infoField(info: string, field: string): string | undefined {
  return new RegExp(`^${field}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

/**
 * A real Sentinel deployment on loopback: a master, its replicas and (by default three)
 * `redis-server --sentinel` processes, each on a free port in a temporary directory of
 * its own, started and stopped by the harness (tests, `npm run cluster` with
 * CLUSTER_REDIS_MODE=sentinel). start() resolves once every sentinel knows every other
 * sentinel and every replica is in sync, so that a failover can happen at once.
 */
export class SentinelGroup {
  /** The group's own connections (admin), one per server, made on demand. */
  private readonly clients = new Map<number, Redis>();

  private constructor(
    private readonly options: SentinelGroupOptions,
    readonly name: string,
    /** Every data node, the first master first. */
    readonly servers: readonly RedisServer[],
    readonly sentinelServers: readonly RedisServer[],
  ) {}

  static async start(options: SentinelGroupOptions): Promise<SentinelGroup> {
    const name = options.name ?? 'securechat';
    const replicaUser = options.replicaUser ?? options.admin;
    // Every data node can be a replica after a failover, so each knows how to log in to a master.
    const auth =
      replicaUser !== undefined
        ? ['--masteruser', replicaUser.username, '--masterauth', replicaUser.password]
        : [];
    const part = (what: string): Partial<RedisServerOptions> => {
      const dir = options.dir === undefined ? undefined : join(options.dir, what);
      if (dir !== undefined) mkdirSync(dir, { recursive: true, mode: 0o700 });
      return {
        name: what,
        ...(dir !== undefined ? { dir } : {}),
        ...(options.output !== undefined ? { output: options.output(what) } : {}),
      };
    };
    const base: RedisServerOptions = {
      env: options.env,
      ...(options.tls !== undefined ? { tls: options.tls } : {}),
      appendonly: options.appendonly,
      debugCommand: options.debugCommand,
      args: [...(options.args ?? []), ...auth],
    };
    const started: RedisServer[] = [];
    try {
      const master = await RedisServer.start({ ...base, ...part('redis-1') });
      started.push(master);
      const servers = [master];
      for (let i = 0; i < (options.replicas ?? 1); i++) {
        const replica = await RedisServer.start({
          ...base,
          ...part(`redis-${i + 2}`),
          args: [...(base.args ?? []), '--replicaof', '127.0.0.1', String(master.port)],
        });
        started.push(replica);
        servers.push(replica);
      }
      const sentinels: RedisServer[] = [];
      const config = SentinelGroup.sentinelConfig(name, master.port, options);
      for (let i = 0; i < (options.sentinels ?? 3); i++) {
        const where = part(`sentinel-${i + 1}`);
        // A kept directory holds the last run's view of the group: start from the configuration.
        if (where.dir !== undefined) rmSync(join(where.dir, 'sentinel.conf'), { force: true });
        const sentinel = await RedisServer.start({
          env: options.env,
          sentinelConfig: config,
          ...(options.tls !== undefined ? { tls: options.tls } : {}),
          ...where,
        });
        started.push(sentinel);
        sentinels.push(sentinel);
      }
      const group = new SentinelGroup(options, name, servers, sentinels);
      await group.settled(master.port);
      return group;
    } catch (err) {
      await Promise.all(started.map((s) => s.destroy()));
      throw err;
    }
  }

  private static sentinelConfig(name: string, masterPort: number, o: SentinelGroupOptions): string {
    const sentinels = o.sentinels ?? 3;
    const lines = [
      `sentinel monitor ${name} 127.0.0.1 ${masterPort} ${Math.floor(sentinels / 2) + 1}`,
      `sentinel down-after-milliseconds ${name} ${o.downAfterMs ?? 1000}`,
      `sentinel failover-timeout ${name} 10000`,
      `sentinel parallel-syncs ${name} 1`,
    ];
    const monitor = o.monitorUser ?? o.admin;
    if (monitor !== undefined) {
      lines.push(
        `sentinel auth-user ${name} ${monitor.username}`,
        `sentinel auth-pass ${name} ${monitor.password}`,
      );
    }
    if (o.sentinelPassword !== undefined) {
      lines.push(`requirepass ${o.sentinelPassword}`, `sentinel sentinel-pass ${o.sentinelPassword}`);
    }
    return `${lines.join('\n')}\n`;
  }

  /** REDIS_SENTINELS: the sentinels' addresses. */
  get sentinels(): RedisAddress[] {
    return this.sentinelServers.map((s) => address(s.port));
  }

  /** REDIS_SENTINELS as the variable's text. */
  get sentinelsVariable(): string {
    return this.sentinels.map(({ host, port }) => `${host}:${port}`).join(',');
  }

  /** The data node on `port`. */
  server(port: number): RedisServer {
    const server = this.servers.find((s) => s.port === port);
    if (server === undefined) throw new Error(`no data node on port ${port}`);
    return server;
  }

  /** An admin connection of the group to a data node or a sentinel (kept until destroy). */
  async client(port: number): Promise<Redis> {
    let client = this.clients.get(port);
    if (client === undefined) {
      const sentinel = this.sentinelServers.some((s) => s.port === port);
      const o = this.options;
      const tls = o.tls;
      client = createRedisClient({
        target:
          tls === undefined
            ? singleTarget(`redis://127.0.0.1:${port}`)
            : { ...singleTarget(`rediss://127.0.0.1:${port}`), ca: readFileSync(tls.ca, 'utf8') },
        ...(sentinel
          ? { password: o.sentinelPassword }
          : { username: o.admin?.username, password: o.admin?.password }),
        name: 'sentinel-group',
        commandTimeoutMs: 2000,
        logger: createLogger({ level: 'error', service: 'sentinel-group' }),
      });
      this.clients.set(port, client);
    }
    await waitReady(client, 5000);
    return client;
  }

  /** What one sentinel says the master is (its port), or undefined if it cannot say. */
  async masterSeenBy(sentinelPort: number): Promise<number | undefined> {
    try {
      const sentinel = await this.client(sentinelPort);
      const reply = (await sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.name)) as
        [string, string] | null;
      return reply === null ? undefined : Number(reply[1]);
    } catch {
      return undefined;
    }
  }

  /** The master's port, as every sentinel agrees (waits up to `timeoutMs` for them to). */
  async master(timeoutMs = 10_000): Promise<number> {
    return waitFor(
      async () => {
        const seen = await Promise.all(this.sentinelServers.map((s) => this.masterSeenBy(s.port)));
        const first = seen[0];
        return first !== undefined && seen.every((p) => p === first) ? first : undefined;
      },
      { what: `the sentinels to agree on the master of ${this.name}`, timeoutMs },
    );
  }

  /** The replication role a data node reports (`master`, `slave`), undefined when down. */
  async role(port: number): Promise<string | undefined> {
    try {
      return infoField(await (await this.client(port)).info('replication'), 'role');
    } catch {
      return undefined;
    }
  }

  /**
   * Waits until the master on `masterPort` is a master, every other running data node is
   * its replica in sync, every sentinel agrees and knows the others and the replicas.
   */
  async settled(masterPort: number, timeoutMs = 20_000): Promise<void> {
    const running = () => this.servers.filter((s) => s.running);
    await waitFor(
      async () => {
        if ((await this.role(masterPort)) !== 'master') return false;
        for (const replica of running().filter((s) => s.port !== masterPort)) {
          const info = await (await this.client(replica.port)).info('replication').catch(() => '');
          if (infoField(info, 'master_port') !== String(masterPort)) return false;
          if (infoField(info, 'master_link_status') !== 'up') return false;
        }
        for (const s of this.sentinelServers) {
          if ((await this.masterSeenBy(s.port)) !== masterPort) return false;
          const sentinel = await this.client(s.port);
          const peers = (await sentinel.call('SENTINEL', 'SENTINELS', this.name)) as unknown[];
          if (peers.length !== this.sentinelServers.length - 1) return false;
          const replicas = (await sentinel.call('SENTINEL', 'REPLICAS', this.name)) as string[][];
          const healthy = replicas.filter((r) => {
            const flags = r[r.indexOf('flags') + 1] ?? '';
            return flags === 'slave';
          });
          if (healthy.length < running().length - 1) return false;
        }
        return true;
      },
      { what: `the Sentinel group ${this.name} to settle on :${masterPort}`, timeoutMs, intervalMs: 100 },
    );
  }

  /**
   * `SENTINEL FAILOVER`: promotes a replica without waiting for the master to fail.
   * Resolves with the new master's port once every sentinel names it and it is a master;
   * the other data nodes follow it later (`settled(to)` waits for them: the demoted
   * master is converted at the sentinels' next INFO round, up to 10 s later).
   */
  async failover(): Promise<{ from: number; to: number }> {
    const from = await this.master();
    const sentinel = await this.client(this.sentinelServers[0]?.port ?? 0);
    await sentinel.call('SENTINEL', 'FAILOVER', this.name);
    return { from, to: await this.newMaster(from, 'SENTINEL FAILOVER') };
  }

  /** The master after `from`, once every sentinel names it and it reports itself master. */
  private newMaster(from: number, after: string): Promise<number> {
    return waitFor(
      async () => {
        const now = await this.master().catch(() => undefined);
        return now !== undefined && now !== from && (await this.role(now)) === 'master' ? now : undefined;
      },
      { what: `a new master after ${after}`, timeoutMs: 30_000, intervalMs: 50 },
    );
  }

  /**
   * kill -9 of the master: the sentinels notice it is down and promote a replica.
   * Resolves with the new master's port once every sentinel names it; the old master
   * stays down (restart it with `server(from).start()`, it comes back as a replica).
   */
  async killMaster(): Promise<{ from: number; to: number }> {
    const from = await this.master();
    this.clients.get(from)?.disconnect();
    this.clients.delete(from);
    await this.server(from).stop(true);
    return { from, to: await this.newMaster(from, 'the master was killed') };
  }

  /** Stops every server gracefully (data nodes write their AOF out), sentinels first. */
  async stop(): Promise<void> {
    for (const client of this.clients.values()) client.disconnect();
    this.clients.clear();
    await Promise.all(this.sentinelServers.map((s) => s.stop()));
    await Promise.all(this.servers.map((s) => s.stop()));
  }

  async destroy(): Promise<void> {
    for (const client of this.clients.values()) client.disconnect();
    this.clients.clear();
    await Promise.all([...this.sentinelServers, ...this.servers].map((s) => s.destroy()));
  }
}
