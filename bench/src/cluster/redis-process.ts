import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { freePort } from './free-port';

/**
 * The redis-server a system under test runs on: a free loopback port, its own
 * directory, no persistence (the same settings for all three systems).
 */
export class RedisProcess {
  private constructor(
    readonly port: number,
    private readonly proc: ChildProcess,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number {
    if (this.proc.pid === undefined) throw new Error('redis-server has no pid');
    return this.proc.pid;
  }

  static version(): string {
    try {
      const out = execFileSync('redis-server', ['--version'], { encoding: 'utf8' });
      return /v=(\S+)/.exec(out)?.[1] ?? out.trim();
    } catch {
      throw new Error('redis-server not found: install it (apt-get install redis-server)');
    }
  }

  static async start(dir: string): Promise<RedisProcess> {
    let lastError: unknown;
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = await freePort();
      const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''];
      args.push('--appendonly', 'no', '--daemonize', 'no', '--logfile', '');
      const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      try {
        await waitForReady(proc);
        proc.stdout?.resume();
        proc.stderr?.resume();
        return new RedisProcess(port, proc);
      } catch (err) {
        lastError = err;
        proc.kill('SIGKILL');
      }
    }
    throw lastError instanceof Error ? lastError : new Error('redis-server did not start');
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      this.proc.once('exit', () => resolve());
      this.proc.kill('SIGKILL');
    });
  }
}

function waitForReady(proc: ChildProcess): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let output = '';
    const done = (err?: Error) => {
      clearTimeout(timer);
      proc.stdout?.off('data', onData);
      proc.stderr?.off('data', onData);
      proc.off('exit', onExit);
      if (err === undefined) resolve();
      else reject(err);
    };
    const timer = setTimeout(
      () => done(new Error(`redis-server did not start: ${output.slice(-300)}`)),
      10_000,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) done();
    };
    const onExit = (code: number | null) =>
      done(new Error(`redis-server exited (${code}): ${output.slice(-300)}`));
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    proc.once('error', (err) => done(err));
    proc.once('exit', onExit);
  });
}
