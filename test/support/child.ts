import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';

/** The repository root, from test/dist/support. */
export const ROOT = resolve(__dirname, '..', '..', '..');

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * A service started as its own `node` process, as an operator would start it, with
 * exactly the environment given (never the test runner's). Its stdout is read as JSON
 * log lines.
 */
export class NodeProcess {
  private stdout = '';
  private stderrText = '';
  private readonly waiters = new Set<() => void>();
  readonly exited: Promise<Exit>;

  private constructor(private readonly proc: ChildProcess) {
    proc.stdout?.on('data', (chunk: Buffer) => {
      this.stdout += chunk.toString();
      this.wake();
    });
    proc.stderr?.on('data', (chunk: Buffer) => {
      this.stderrText += chunk.toString();
      this.wake();
    });
    this.exited = new Promise((done) => {
      proc.once('exit', (code, signal) => {
        this.wake();
        done({ code, signal });
      });
    });
  }

  static start(script: string, env: Record<string, string>): NodeProcess {
    const proc = spawn(process.execPath, [resolve(ROOT, script)], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new NodeProcess(proc);
  }

  get stderr(): string {
    return this.stderrText;
  }

  get output(): string {
    return this.stdout;
  }

  /** The JSON lines written to stdout so far. */
  lines(): Record<string, unknown>[] {
    return this.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  /** Resolves with the first log line matching `match`; fails on exit or deadline. */
  async waitForLine(
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs = 10_000,
  ): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => (exited = true));
    for (;;) {
      const found = this.lines().find(match);
      if (found !== undefined) return found;
      if (exited) throw new Error(`process exited before the line; stderr: ${this.stderrText.slice(-500)}`);
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`no such line within ${timeoutMs} ms; stdout: ${this.stdout.slice(-500)}`);
      await new Promise<void>((wake) => {
        const timer = setTimeout(wake, left);
        this.waiters.add(() => {
          clearTimeout(timer);
          wake();
        });
      });
    }
  }

  /** Resolves with the exit, or rejects (killing the process) after `timeoutMs`. */
  async exit(timeoutMs = 10_000): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.proc.kill('SIGKILL');
        reject(new Error(`process still running after ${timeoutMs} ms`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  signal(signal: NodeJS.Signals): void {
    this.proc.kill(signal);
  }

  /** For after() hooks: make sure nothing outlives the test. */
  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGKILL');
    await this.exited;
  }

  private wake(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const w of waiters) w();
  }
}
