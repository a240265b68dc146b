import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ensureRedisAcl,
  readAclTemplate,
  readPassword,
  redisUrlFor,
  type RedisAclFiles,
} from '@securechat/cluster';
import { REDIS_USERNAMES, type RedisRole } from '@securechat/state';

/** A free TCP port on loopback (the kernel picks it; we release it at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface RedisServerOptions {
  /** Extra `--name value` arguments, e.g. ['--notify-keyspace-events', 'Kgx']. */
  args?: string[];
  appendonly?: boolean;
  /**
   * Run with the product's ACL users for this REDIS_PREFIX (`npm run redis-acl`), plus a
   * test-only admin user that `url` then carries; `credentials(role)` gives each role's.
   */
  acl?: { prefix: string };
}

const TEST_ADMIN = 'securechat-test-admin';

/**
 * A real redis-server for one test suite: its own free port and temporary directory,
 * started and stopped by the harness. `stop()` then `start()` restarts it on the same
 * port (for outage tests).
 */
export class RedisServer {
  private proc: ChildProcess | undefined;
  private acl: { files: RedisAclFiles; adminPassword: string } | undefined;
  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly options: RedisServerOptions,
  ) {
    if (options.acl !== undefined) {
      const repoRoot = join(__dirname, '..', '..', '..');
      const files = ensureRedisAcl(join(dir, 'acl'), options.acl.prefix, readAclTemplate(repoRoot));
      const adminPassword = randomBytes(24).toString('base64url');
      const hash = createHash('sha256').update(adminPassword).digest('hex');
      appendFileSync(files.aclFile, `user ${TEST_ADMIN} on #${hash} ~* &* +@all\n`);
      this.acl = { files, adminPassword };
    }
  }

  /** Full rights: without ACL, the default user; with it, the test's admin user. */
  get url(): string {
    if (this.acl === undefined) return `redis://127.0.0.1:${this.port}`;
    return `redis://${TEST_ADMIN}:${this.acl.adminPassword}@127.0.0.1:${this.port}`;
  }

  /** A role's ACL user (with `acl` only): its name, password file and URL. */
  credentials(role: RedisRole): { username: string; passwordFile: string; password: string; url: string } {
    if (this.acl === undefined) throw new Error('this redis-server runs without ACL users');
    const passwordFile = this.acl.files.passwordFiles[role];
    const password = readPassword(passwordFile);
    return {
      username: REDIS_USERNAMES[role],
      passwordFile,
      password,
      url: redisUrlFor(role, password, '127.0.0.1', this.port),
    };
  }

  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    let lastError: unknown;
    for (let attempt = 0; attempt < 5; attempt++) {
      const dir = mkdtempSync(join(tmpdir(), 'securechat-redis-'));
      const server = new RedisServer(await freePort(), dir, options);
      try {
        await server.start();
        return server;
      } catch (err) {
        lastError = err;
        rmSync(dir, { recursive: true, force: true });
      }
    }
    throw lastError instanceof Error ? lastError : new Error('redis-server did not start');
  }

  async start(): Promise<void> {
    if (this.proc !== undefined) return;
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--dir',
      this.dir,
      '--save',
      '',
      '--appendonly',
      this.options.appendonly === true ? 'yes' : 'no',
      '--daemonize',
      'no',
      '--logfile',
      '',
      '--enable-debug-command',
      'local',
      ...(this.acl !== undefined ? ['--aclfile', this.acl.files.aclFile] : []),
      ...(this.options.args ?? []),
    ];
    const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    await new Promise<void>((resolve, reject) => {
      let output = '';
      const timer = setTimeout(
        () => fail(new Error(`redis-server did not start: ${output.slice(-500)}`)),
        10_000,
      );
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      };
      const fail = (err: Error) => {
        clearTimeout(timer);
        proc.kill('SIGKILL');
        this.proc = undefined;
        reject(err);
      };
      proc.stdout?.on('data', onData);
      proc.stderr?.on('data', onData);
      proc.once('error', (err) => fail(err));
      proc.once('exit', (code) => fail(new Error(`redis-server exited (${code}): ${output.slice(-500)}`)));
    });
    proc.removeAllListeners('exit');
    proc.on('exit', () => {
      if (this.proc === proc) this.proc = undefined;
    });
  }

  /** Stops the server (SIGKILL when `hard`), waiting for the process to exit. */
  async stop(hard = false): Promise<void> {
    const proc = this.proc;
    if (proc === undefined) return;
    this.proc = undefined;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill(hard ? 'SIGKILL' : 'SIGTERM');
    });
  }

  async destroy(): Promise<void> {
    await this.stop(true);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

let counter = 0;
/** A key prefix no other test shares, so tests never need FLUSHALL. */
export function uniquePrefix(name = 't'): string {
  counter += 1;
  return `${name}${process.pid}x${counter}x${Date.now().toString(36)}:`;
}
