import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { WorkerReply, WorkerRequest } from '../load/protocol';

/** Any request a forked bench process answers: an `op` and its fields. */
export interface OpRequest {
  readonly op: string;
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * The bench's side of one forked load generator process: request/reply by id. `R` is the
 * requests its script answers (the rate steps' load generator by default, or the storm's).
 */
export class WorkerHandle<R extends OpRequest = WorkerRequest> {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  private constructor(private readonly proc: ChildProcess) {
    proc.on('message', (raw: unknown) => {
      const reply = raw as WorkerReply;
      const p = this.pending.get(reply.id);
      if (p === undefined) return;
      this.pending.delete(reply.id);
      clearTimeout(p.timer);
      if (reply.ok) p.resolve(reply.result);
      else p.reject(new Error(`load generator: ${reply.error}`));
    });
    proc.on('exit', (code, signal) => {
      for (const p of this.pending.values()) {
        clearTimeout(p.timer);
        p.reject(new Error(`load generator exited (${code ?? signal})`));
      }
      this.pending.clear();
    });
    proc.on('error', () => undefined);
  }

  /** Forks `script` (default: the rate steps' load generator, load/worker.js). */
  static start<R extends OpRequest = WorkerRequest>(
    script = join(__dirname, '..', 'load', 'worker.js'),
  ): WorkerHandle<R> {
    return new WorkerHandle<R>(
      fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] }),
    );
  }

  get pid(): number {
    if (this.proc.pid === undefined) throw new Error('load generator has no pid');
    return this.proc.pid;
  }

  request<T>(request: R | { op: 'close' }, timeoutMs = 60_000): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`load generator did not answer ${request.op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: (v) => resolve(v as T), reject, timer });
      this.proc.send({ ...request, id });
    });
  }

  /** Asks the generator to close its clients and exit; kills it if it does not. */
  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
    await this.request({ op: 'close' }, 5000).catch(() => undefined);
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}
