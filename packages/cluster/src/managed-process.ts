import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all. */
  error?: string;
}

export type LineSink = (line: string, stream: 'stdout' | 'stderr') => void;

export interface ManagedProcessOptions {
  name: string;
  command: string;
  args: readonly string[];
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** Where each output line goes; by default this process's stdout/stderr, prefixed `[name] `. */
  onLine?: LineSink;
  /** Called once when the process ends; `expected` is false unless stop() ended it. */
  onExit?: (info: ExitInfo, expected: boolean) => void;
}

export function prefixedSink(name: string): LineSink {
  return (line, stream) => {
    (stream === 'stdout' ? process.stdout : process.stderr).write(`[${name}] ${line}\n`);
  };
}

export function describeExit(info: ExitInfo): string {
  if (info.error !== undefined) return `could not start: ${info.error}`;
  return info.signal !== null ? `killed by ${info.signal}` : `exited with code ${info.code}`;
}

/**
 * Children still running, killed (with their groups) if this process exits without
 * stopping them: detached children would otherwise outlive a crashed supervisor or test
 * run. The 'exit' event belongs to the whole process, hence one registry for it.
 */
const live = new Set<ManagedProcess>();
let exitHookInstalled = false;

function killLiveOnExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const proc of live) proc.killGroup();
  });
}

/**
 * One child process of a supervisor. It runs in its own process group, so that a Ctrl-C
 * in the terminal reaches only the supervisor (which then stops children in order), and
 * so that stop() can kill whatever the child left behind (nginx's workers).
 */
export class ManagedProcess {
  readonly name: string;
  private child: ChildProcess | undefined;
  private exitInfo: ExitInfo | undefined;
  private stopping = false;
  private readonly exitWaiters: ((info: ExitInfo) => void)[] = [];

  constructor(private readonly options: ManagedProcessOptions) {
    this.name = options.name;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.exitInfo === undefined;
  }

  get exit(): ExitInfo | undefined {
    return this.exitInfo;
  }

  start(): void {
    if (this.child !== undefined) throw new Error(`${this.name} was already started`);
    const sink = this.options.onLine ?? prefixedSink(this.name);
    const child = spawn(this.options.command, [...this.options.args], {
      cwd: this.options.cwd,
      env: this.options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.child = child;
    live.add(this);
    killLiveOnExit();
    for (const stream of ['stdout', 'stderr'] as const) {
      const input = child[stream];
      if (input === null) continue;
      createInterface({ input, crlfDelay: Infinity }).on('line', (line) => sink(line, stream));
    }
    child.once('error', (err) => this.finish({ code: null, signal: null, error: err.message }));
    child.once('exit', (code, signal) => this.finish({ code, signal }));
  }

  private finish(info: ExitInfo): void {
    if (this.exitInfo !== undefined) return;
    this.exitInfo = info;
    live.delete(this);
    this.options.onExit?.(info, this.stopping);
    for (const waiter of this.exitWaiters.splice(0)) waiter(info);
  }

  exited(): Promise<ExitInfo> {
    if (this.exitInfo !== undefined) return Promise.resolve(this.exitInfo);
    if (this.child === undefined) return Promise.reject(new Error(`${this.name} was never started`));
    return new Promise((resolve) => this.exitWaiters.push(resolve));
  }

  /** Sends a signal to the process itself (a test's `kill -9`, nginx's reload). */
  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child?.kill(signal);
  }

  /**
   * Sends `signal`, waits up to `graceMs` for the process to exit, then kills its whole
   * process group. Resolves once it has exited.
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<ExitInfo | undefined> {
    if (this.child === undefined) return undefined;
    this.stopping = true;
    if (this.running) {
      this.child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        this.exited().then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), graceMs);
        }),
      ]);
      clearTimeout(timer);
      if (timedOut) this.killGroup();
    }
    const info = await this.exited();
    // Whatever the child started and left running (nginx workers after a SIGKILLed master).
    this.killGroup();
    return info;
  }

  /** SIGKILL to the child's whole process group (it leads one: `detached`). */
  killGroup(): void {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // ESRCH: the group is already empty.
    }
  }
}
