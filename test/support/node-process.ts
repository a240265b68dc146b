import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { freePort, httpStatus, ManagedProcess, pollUntil, type NodeSpec } from '@securechat/cluster';
import { REPO_ROOT } from './nginx';

/** Writes a signing key pair into `dir` with the real `npm run keys` CLI. */
export function makeKeys(dir: string): { privateKey: string; jwks: string } {
  const result = spawnSync(process.execPath, [join(REPO_ROOT, 'packages/tokens/dist/cli-keys.js'), dir], {
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`keys CLI failed: ${result.stderr}`);
  return { privateKey: join(dir, 'private.pem'), jwks: join(dir, 'jwks.json') };
}

/**
 * One auth or chat node as a child process (`node services/<role>/dist/main.js`), the way
 * the cluster starts it, with its JSON log lines kept for assertions.
 */
export class NodeProcess {
  private readonly output: string[] = [];
  private proc: ManagedProcess | undefined;

  private constructor(
    readonly spec: NodeSpec,
    readonly port: number,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /** Starts the node on a free port and waits until its /readyz answers 200. */
  static async start(spec: NodeSpec, env: (port: number) => Record<string, string>): Promise<NodeProcess> {
    const port = await freePort();
    const node = new NodeProcess(spec, port, { PATH: process.env.PATH, ...env(port) });
    await node.start();
    return node;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const proc = new ManagedProcess({
      name: this.spec.name,
      command: process.execPath,
      args: [join(REPO_ROOT, this.spec.entry)],
      env: this.env,
      cwd: REPO_ROOT,
      onLine: (line) => this.output.push(line),
    });
    this.proc = proc;
    proc.start();
    await pollUntil(
      `${this.spec.name} /readyz`,
      async () => (await httpStatus(`${this.url}/readyz`)) === 200,
      {
        timeoutMs: 15_000,
        abort: () => (proc.exit ? `exited: ${this.text().slice(-1000)}` : undefined),
      },
    );
  }

  /** Everything the node wrote to stdout and stderr. */
  text(): string {
    return this.output.join('\n');
  }

  /** The JSON log lines (anything else it printed is skipped). */
  lines(): Record<string, unknown>[] {
    return this.output.flatMap((line) => {
      try {
        const value: unknown = JSON.parse(line);
        return typeof value === 'object' && value !== null ? [value as Record<string, unknown>] : [];
      } catch {
        return [];
      }
    });
  }

  async stop(): Promise<void> {
    await this.proc?.stop('SIGTERM', 10_000);
  }

  /** `kill -9`: no drain, no cleanup. */
  async kill(): Promise<void> {
    await this.proc?.stop('SIGKILL', 1000);
  }
}
