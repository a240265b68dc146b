import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { waitFor, type WaitOptions } from './readiness';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all. */
  error?: string;
}

export type OutputStream = 'stdout' | 'stderr';
export type LineSink = (line: string, stream: OutputStream) => void;

/**
 * Where a child's output goes:
 * - a `LineSink`: each line as it comes (the default prints it on this process's own
 *   stdout or stderr, prefixed `[name] `: the cluster supervisor);
 * - `'capture'`: kept in memory for `text()`, `logLines()` and `waitForLine()` (tests:
 *   short-lived children whose every line is asserted on);
 * - `{ file }`: both streams appended to that file by the child itself, with no pipe
 *   through this process (the benchmark: a node pays for its logging what it pays in
 *   production, and the parent nothing). `text()` and the waits read the file.
 */
export type ProcessOutput = LineSink | 'capture' | { readonly file: string };

export interface ManagedProcessOptions {
  name: string;
  command: string;
  args: readonly string[];
  /** The child's whole environment: nothing of this process's own is added. */
  env: NodeJS.ProcessEnv;
  cwd?: string;
  output?: ProcessOutput;
  /**
   * Whether the child leads a process group of its own (the default). The supervisor
   * wants it: a Ctrl-C in the terminal reaches only the supervisor, which then stops its
   * children in order, and a stop can kill whatever a child left behind (nginx's
   * workers). A test or benchmark run wants the opposite for children that start nothing
   * themselves: a Ctrl-C on the run reaches them too, so none outlives it.
   */
  ownGroup?: boolean;
  /** Called once when the process ends; `expected` is false unless stop() ended it. */
  onExit?: (info: ExitInfo, expected: boolean) => void;
}

/** `node <script> [args]` with this process's Node binary. */
export interface NodeScriptOptions extends Omit<ManagedProcessOptions, 'command' | 'args'> {
  script: string;
  args?: readonly string[];
  /** Node's own flags, before the script (`--max-semi-space-size=8`). */
  nodeArgs?: readonly string[];
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

/** The JSON objects among `lines` (a node's log lines); anything else is skipped. */
export function jsonObjects(lines: readonly string[]): Record<string, unknown>[] {
  return lines.flatMap((line) => {
    if (!line.startsWith('{')) return [];
    try {
      const value: unknown = JSON.parse(line);
      return typeof value === 'object' && value !== null && !Array.isArray(value)
        ? [value as Record<string, unknown>]
        : [];
    } catch {
      return [];
    }
  });
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

interface Line {
  readonly text: string;
  readonly stream: OutputStream;
}

/**
 * One child process, for the cluster supervisor, the test harness and the benchmark
 * alike: started with exactly the environment given, its output printed, kept or filed,
 * waited on with deadlines (a line, a condition, its exit), signalled, and stopped with a
 * grace period after which its process group is killed.
 */
export class ManagedProcess {
  readonly name: string;
  private child: ChildProcess | undefined;
  private exitInfo: ExitInfo | undefined;
  /** The exit is known and every output pipe has reached its end. */
  private closed = false;
  private stopping = false;
  private readonly captured: Line[] = [];
  private readonly exitWaiters: ((info: ExitInfo) => void)[] = [];
  /** Woken by every captured line and by the exit. */
  private readonly wakers = new Set<() => void>();

  constructor(private readonly options: ManagedProcessOptions) {
    this.name = options.name;
  }

  /** A (not yet started) `node <script>` with this process's Node binary. */
  static node(options: NodeScriptOptions): ManagedProcess {
    const { script, args = [], nodeArgs = [], ...rest } = options;
    return new ManagedProcess({ ...rest, command: process.execPath, args: [...nodeArgs, script, ...args] });
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

  /** Starts the process (once); returns `this`, so that `ManagedProcess.node(...).start()` reads. */
  start(): this {
    if (this.child !== undefined) throw new Error(`${this.name} was already started`);
    const output = this.options.output ?? prefixedSink(this.name);
    const file = typeof output === 'object' ? openSync(output.file, 'a') : undefined;
    let child: ChildProcess;
    try {
      child = spawn(this.options.command, [...this.options.args], {
        cwd: this.options.cwd,
        env: this.options.env,
        stdio: file === undefined ? ['ignore', 'pipe', 'pipe'] : ['ignore', file, file],
        detached: this.options.ownGroup ?? true,
      });
    } finally {
      // The child holds its own copy of the descriptor.
      if (file !== undefined) closeSync(file);
    }
    this.child = child;
    live.add(this);
    killLiveOnExit();
    if (typeof output !== 'object') {
      const sink: LineSink = output === 'capture' ? (text, stream) => this.capture({ text, stream }) : output;
      for (const stream of ['stdout', 'stderr'] as const) {
        const input = child[stream];
        if (input !== null)
          createInterface({ input, crlfDelay: Infinity }).on('line', (l) => sink(l, stream));
      }
    }
    // A spawn failure comes as 'error' with no pid; an 'error' later (a failed kill) is no exit.
    child.once('error', (err) => {
      if (child.pid === undefined) this.finish({ code: null, signal: null, error: err.message });
    });
    child.once('exit', (code, signal) => this.finish({ code, signal }));
    // After the exit and the end of every pipe: whatever the child wrote has been read.
    child.once('close', () => {
      this.closed = true;
      this.wake();
      const info = this.exitInfo;
      if (info !== undefined) for (const waiter of this.exitWaiters.splice(0)) waiter(info);
    });
    return this;
  }

  private capture(line: Line): void {
    this.captured.push(line);
    this.wake();
  }

  private wake(): void {
    for (const waker of [...this.wakers]) waker();
  }

  private finish(info: ExitInfo): void {
    if (this.exitInfo !== undefined) return;
    this.exitInfo = info;
    live.delete(this);
    this.options.onExit?.(info, this.stopping);
    this.wake();
  }

  /**
   * Resolves once the process has exited and its output has been read to the end (a
   * descendant still holding the pipes delays it: stop() kills the group for that).
   */
  exited(): Promise<ExitInfo> {
    if (this.child === undefined) return Promise.reject(new Error(`${this.name} was never started`));
    if (this.closed && this.exitInfo !== undefined) return Promise.resolve(this.exitInfo);
    return new Promise((resolve) => this.exitWaiters.push(resolve));
  }

  /** Resolves with the exit; after `timeoutMs`, kills the process group and rejects. */
  async exitWithin(timeoutMs: number): Promise<ExitInfo> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.killGroup();
        reject(new Error(`${this.name} still running after ${timeoutMs} ms; output: ${this.tail()}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited(), late]);
    } finally {
      clearTimeout(timer);
    }
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
    if (!this.closed) {
      if (this.running) this.child.kill(signal);
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

  /**
   * SIGKILL to the child's whole process group when it leads one (`ownGroup`), else to
   * the child alone.
   */
  killGroup(): void {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    try {
      process.kill((this.options.ownGroup ?? true) ? -pid : pid, 'SIGKILL');
    } catch {
      // ESRCH: already gone.
    }
  }

  /** The output lines so far (captured, or read back from the file), oldest first. */
  lines(stream?: OutputStream): string[] {
    const output = this.options.output;
    if (output === 'capture') {
      return this.captured.filter((l) => stream === undefined || l.stream === stream).map((l) => l.text);
    }
    if (typeof output === 'object') {
      // One file holds both streams: a stream cannot be told apart there.
      let text = '';
      try {
        text = readFileSync(output.file, 'utf8');
      } catch {
        // Not written yet.
      }
      const lines = text.split('\n');
      if (lines[lines.length - 1] === '') lines.pop();
      return lines;
    }
    throw new Error(`the output of ${this.name} goes to a sink: it is neither captured nor filed`);
  }

  /** The output so far, as text (one stream, or both in arrival order), each line ending in a newline. */
  text(stream?: OutputStream): string {
    return this.lines(stream)
      .map((line) => `${line}\n`)
      .join('');
  }

  /** The JSON log lines written to stdout so far (anything else it printed is skipped). */
  logLines(): Record<string, unknown>[] {
    return jsonObjects(this.lines('stdout'));
  }

  /** The end of the output, for an error message. */
  tail(chars = 1000): string {
    const output = this.options.output;
    return output === 'capture' || typeof output === 'object' ? this.text().slice(-chars) : '';
  }

  /**
   * Resolves with the first output line (from either stream) matching `match`; rejects
   * when the process exits without writing one, or at the deadline.
   */
  async waitForLine(match: (line: string) => boolean, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines().find(match);
      if (found !== undefined) return found;
      if (this.closed) {
        const how = this.exitInfo ? describeExit(this.exitInfo) : 'ended';
        throw new Error(`${this.name} ${how} before the line; output: ${this.tail()}`);
      }
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`no such line from ${this.name} within ${timeoutMs} ms; output: ${this.tail()}`);
      // Captured lines wake this at once; a file is polled.
      const pollMs = typeof this.options.output === 'object' ? Math.min(left, 50) : left;
      await new Promise<void>((resolve) => {
        const waker = () => {
          clearTimeout(timer);
          this.wakers.delete(waker);
          resolve();
        };
        const timer = setTimeout(waker, pollMs);
        this.wakers.add(waker);
      });
    }
  }

  /** Resolves with the first JSON log line matching `match` (see waitForLine). */
  async waitForLog(
    match: (entry: Record<string, unknown>) => boolean,
    timeoutMs = 10_000,
  ): Promise<Record<string, unknown>> {
    const line = await this.waitForLine((l) => jsonObjects([l]).some(match), timeoutMs);
    return jsonObjects([line])[0] as Record<string, unknown>;
  }

  /** waitFor(`check`), giving up at once if the process exits meanwhile. */
  waitUntil<T>(check: () => T | Promise<T>, options: WaitOptions = {}): Promise<NonNullable<T>> {
    return waitFor(check, {
      ...options,
      what: `${this.name}: ${options.what ?? 'condition'}`,
      abort: () => {
        const reason = options.abort?.();
        if (reason !== undefined) return reason;
        return this.exitInfo && `${describeExit(this.exitInfo)}; output: ${this.tail()}`;
      },
    });
  }
}
