import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { Redis } from 'ioredis';
import {
  createRedisClient,
  waitReady,
  type RedisConnectionSettings,
  type StandaloneTarget,
} from '@securechat/common';
import { SentinelGroup, type RedisTlsFiles } from '@securechat/cluster';
import type { RedisRole } from '@securechat/state';
import { memoryLogger } from './logs';
import { makeTestAcl, roleCredentials, TEST_ADMIN, type TestAcl } from './redis-server';

/** Keyspace events on every data node from the start: a promoted replica has them too. */
export const KEYSPACE_ARGS = ['--notify-keyspace-events', 'KE$gx'];

export interface TestSentinelOptions {
  /** The product's ACL users for this REDIS_PREFIX on every data node, and a test admin. */
  acl?: { prefix: string };
  /** Extra arguments of every data node. */
  args?: readonly string[];
  /** Sentinels that require a password (REDIS_SENTINEL_PASSWORD). */
  sentinelPassword?: boolean;
  appendonly?: boolean;
  /** Replicas of the master (1 by default). */
  replicas?: number;
  /** Every server speaks only TLS (REDIS_TLS=true, REDIS_TLS_CA_FILE=`tls.ca`). */
  tls?: RedisTlsFiles;
}

/**
 * A Sentinel group for one test suite (@securechat/cluster's SentinelGroup: a master,
 * one replica, three sentinels, free ports, temporary directories), with the product's
 * ACL users when asked, and the settings and environment a node needs to use it.
 */
export class TestSentinel {
  private constructor(
    readonly group: SentinelGroup,
    private readonly acl: TestAcl | undefined,
    readonly sentinelPassword: string | undefined,
    readonly tls: RedisTlsFiles | undefined,
  ) {
    this.tlsCa = tls === undefined ? undefined : readFileSync(tls.ca, 'utf8');
  }

  /** The CA's PEM, read once: every client of a TLS group checks the servers with it. */
  private readonly tlsCa: string | undefined;

  static async start(options: TestSentinelOptions = {}): Promise<TestSentinel> {
    const acl = options.acl !== undefined ? makeTestAcl(options.acl.prefix) : undefined;
    const sentinelPassword =
      options.sentinelPassword === true ? randomBytes(18).toString('base64url') : undefined;
    try {
      const group = await SentinelGroup.start({
        env: { PATH: process.env.PATH },
        debugCommand: true,
        appendonly: options.appendonly,
        replicas: options.replicas,
        args: [
          ...(acl !== undefined ? ['--aclfile', acl.files.aclFile] : []),
          // A promoted replica has no backlog to offer a partial resync: full resyncs at once.
          '--repl-diskless-sync-delay',
          '0',
          ...(options.args ?? []),
        ],
        ...(acl !== undefined ? { admin: { username: TEST_ADMIN, password: acl.adminPassword } } : {}),
        ...(sentinelPassword !== undefined ? { sentinelPassword } : {}),
        ...(options.tls !== undefined ? { tls: options.tls } : {}),
      });
      return new TestSentinel(group, acl, sentinelPassword, options.tls);
    } catch (err) {
      if (acl !== undefined) rmSync(acl.dir, { recursive: true, force: true });
      throw err;
    }
  }

  get target(): StandaloneTarget {
    return Object.freeze({
      mode: 'sentinel',
      sentinels: this.group.sentinels,
      name: this.group.name,
      tls: this.tlsCa !== undefined,
      ...(this.tlsCa !== undefined ? { ca: this.tlsCa } : {}),
    });
  }

  /** The connection settings of a role (with `acl`), or of the admin (full rights). */
  connection(role?: RedisRole): RedisConnectionSettings {
    const credentials =
      this.acl === undefined
        ? {}
        : role === undefined
          ? { username: TEST_ADMIN, password: this.acl.adminPassword }
          : roleCredentials(this.acl, role);
    return {
      target: this.target,
      username: credentials.username,
      password: credentials.password,
      sentinelPassword: this.sentinelPassword,
      commandTimeoutMs: 1000,
    };
  }

  /** A node's Redis variables with full rights (chat-cluster's RedisBackend). */
  nodeEnv(): Record<string, string> {
    return this.env();
  }

  /** A plain Sentinel-mode client with full rights, following the master; a failed command fails its test. */
  adminClient(): Redis {
    const c = this.connection();
    const ca = this.target.ca;
    return new Redis({
      sentinels: this.group.sentinels.map(({ host, port }) => ({ host, port })),
      name: this.group.name,
      ...(c.username !== undefined ? { username: c.username } : {}),
      ...(c.password !== undefined ? { password: c.password } : {}),
      ...(c.sentinelPassword !== undefined ? { sentinelPassword: c.sentinelPassword } : {}),
      ...(ca !== undefined ? { tls: { ca }, sentinelTLS: { ca }, enableTLSForSentinelMode: true } : {}),
      maxRetriesPerRequest: 1,
      failoverDetector: true,
      reconnectOnError: (err) => err.message.startsWith('READONLY'),
    });
  }

  /** A node's environment for this group: REDIS_SENTINELS, REDIS_SENTINEL_NAME and credentials. */
  env(role?: RedisRole): Record<string, string> {
    const c = this.connection(role);
    return {
      REDIS_SENTINELS: this.group.sentinelsVariable,
      REDIS_SENTINEL_NAME: this.group.name,
      ...(c.username !== undefined ? { REDIS_USERNAME: c.username } : {}),
      ...(c.password !== undefined ? { REDIS_PASSWORD: c.password } : {}),
      ...(c.sentinelPassword !== undefined ? { REDIS_SENTINEL_PASSWORD: c.sentinelPassword } : {}),
      ...(this.tls !== undefined ? { REDIS_TLS: 'true', REDIS_TLS_CA_FILE: this.tls.ca } : {}),
    };
  }

  /** A client in Sentinel mode as the nodes make it (it follows the master), ready. */
  async client(role?: RedisRole, name = 'test', subscriber = false): Promise<Redis> {
    const client = createRedisClient({
      ...this.connection(role),
      target: this.target,
      name,
      subscriber,
      logger: memoryLogger(name).logger,
    });
    await waitReady(client, 10_000);
    return client;
  }

  async destroy(): Promise<void> {
    await this.group.destroy();
    if (this.acl !== undefined) rmSync(this.acl.dir, { recursive: true, force: true });
  }
}
