import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Redis } from 'ioredis';
import { join } from 'node:path';
import {
  ensureRedisAcl,
  readAclTemplate,
  readPassword,
  RedisServer as ManagedRedis,
  redisUrlFor,
  type ExitInfo,
  type RedisAclFiles,
  type RedisServerOptions as ManagedRedisOptions,
} from '@securechat/cluster';
import { REDIS_USERNAMES, type RedisRole } from '@securechat/state';
import { ROOT } from './processes';

export interface RedisServerOptions extends Pick<ManagedRedisOptions, 'args' | 'appendonly'> {
  /**
   * Run with the product's ACL users for this REDIS_PREFIX (`npm run redis-acl`), plus a
   * test-only admin user that `url` then carries; `credentials(role)` gives each role's.
   */
  acl?: { prefix: string };
}

export const TEST_ADMIN = 'securechat-test-admin';

/** The product's ACL users for REDIS_PREFIX `prefix`, plus a test-only admin user with every right. */
export interface TestAcl {
  dir: string;
  files: RedisAclFiles;
  adminPassword: string;
}

export function makeTestAcl(prefix: string): TestAcl {
  const dir = mkdtempSync(join(tmpdir(), 'securechat-acl-'));
  const files = ensureRedisAcl(dir, prefix, readAclTemplate(ROOT));
  const adminPassword = randomBytes(24).toString('base64url');
  const hash = createHash('sha256').update(adminPassword).digest('hex');
  appendFileSync(files.aclFile, `user ${TEST_ADMIN} on #${hash} ~* &* +@all\n`);
  return { dir, files, adminPassword };
}

/** A role's ACL user of `acl`: its name, password file and password. */
export function roleCredentials(
  acl: TestAcl,
  role: RedisRole,
): { username: string; passwordFile: string; password: string } {
  const passwordFile = acl.files.passwordFiles[role];
  return { username: REDIS_USERNAMES[role], passwordFile, password: readPassword(passwordFile) };
}

/**
 * A real redis-server for one test suite (@securechat/cluster's, shared with the
 * benchmark): its own free port and temporary directory, DEBUG allowed, and optionally the
 * product's ACL users. `stop()` then `start()` restarts it on the same port (outage
 * tests); `destroy()` removes it all.
 */
export class RedisServer {
  private constructor(
    private readonly server: ManagedRedis,
    private readonly acl: TestAcl | undefined,
  ) {}

  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const acl = options.acl !== undefined ? makeTestAcl(options.acl.prefix) : undefined;
    const server = await ManagedRedis.start({
      env: { PATH: process.env.PATH },
      debugCommand: true,
      appendonly: options.appendonly,
      args: [...(acl !== undefined ? ['--aclfile', acl.files.aclFile] : []), ...(options.args ?? [])],
    });
    return new RedisServer(server, acl);
  }

  get port(): number {
    return this.server.port;
  }

  get dir(): string {
    return this.server.dir;
  }

  get pid(): number {
    return this.server.pid;
  }

  /** Full rights: without ACL, the default user; with it, the test's admin user. */
  get url(): string {
    if (this.acl === undefined) return this.server.url;
    return `redis://${TEST_ADMIN}:${this.acl.adminPassword}@127.0.0.1:${this.port}`;
  }

  /** A role's ACL user (with `acl` only): its name, password file and URL. */
  credentials(role: RedisRole): { username: string; passwordFile: string; password: string; url: string } {
    if (this.acl === undefined) throw new Error('this redis-server runs without ACL users');
    const credentials = roleCredentials(this.acl, role);
    return { ...credentials, url: redisUrlFor(role, credentials.password, '127.0.0.1', this.port) };
  }

  /** A node's Redis variables for this server (chat-cluster's RedisBackend). */
  nodeEnv(): Record<string, string> {
    return { REDIS_URL: this.url };
  }

  /** A plain client with full rights; a failed command fails its test. */
  adminClient(): Redis {
    return new Redis(this.url, { maxRetriesPerRequest: 1 });
  }

  start(): Promise<void> {
    return this.server.start();
  }

  /** Stops the server (SIGKILL when `hard`: no shutdown save), waiting for it to exit. */
  stop(hard = false): Promise<ExitInfo | undefined> {
    return this.server.stop(hard);
  }

  async destroy(): Promise<void> {
    await this.server.destroy();
    if (this.acl !== undefined) rmSync(this.acl.dir, { recursive: true, force: true });
  }
}

let counter = 0;
/** A key prefix no other test shares, so tests never need FLUSHALL. */
export function uniquePrefix(name = 't'): string {
  counter += 1;
  return `${name}${process.pid}x${counter}x${Date.now().toString(36)}:`;
}
