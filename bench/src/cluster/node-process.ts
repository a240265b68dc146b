import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { delay } from './free-port';

/**
 * One server node of a system under test: `node <script>` with the given environment,
 * its output in a log file (so logging costs the node what it costs in production,
 * and nothing here), ready once GET /readyz answers 200.
 */
export class NodeProcess {
  private constructor(
    readonly port: number,
    readonly logFile: string,
    private readonly proc: ChildProcess,
  ) {}

  get pid(): number {
    if (this.proc.pid === undefined) throw new Error('node process has no pid');
    return this.proc.pid;
  }

  static async start(script: string, env: Record<string, string>, port: number, logFile: string) {
    const fd = openSync(logFile, 'a');
    const proc = spawn(process.execPath, [script], { env, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const node = new NodeProcess(port, logFile, proc);
    await node.waitReady(30_000);
    return node;
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) {
        throw new Error(`node exited (${this.proc.exitCode ?? this.proc.signalCode}): ${this.logTail()}`);
      }
      if ((await readyzStatus(this.port)) === 200) return;
      if (Date.now() > deadline) throw new Error(`node on port ${this.port} not ready: ${this.logTail()}`);
      await delay(100);
    }
  }

  logTail(chars = 600): string {
    try {
      return readFileSync(this.logFile, 'utf8').slice(-chars);
    } catch {
      return '';
    }
  }

  /** SIGTERM (ours drains), then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    const proc = this.proc;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      proc.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      proc.kill('SIGTERM');
    });
  }
}

function readyzStatus(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/readyz', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}
