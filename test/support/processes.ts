import { spawnSync } from 'node:child_process';
import { connect as netConnect } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import {
  freePort,
  httpStatus,
  KEY_FILES,
  ManagedProcess,
  NODE_ARGS,
  type ExitInfo,
} from '@securechat/cluster';
import { toJwks, type SigningKey } from '@securechat/tokens';

/** The repository root (this file runs from test/dist/support). */
export const ROOT = resolve(__dirname, '..', '..', '..');

/** The compiled entry points, relative to ROOT, as the npm scripts run them. */
export const ENTRIES = {
  auth: 'services/auth/dist/main.js',
  chat: 'services/chat/dist/main.js',
  embedded: 'services/embedded/dist/main.js',
  chatctl: 'services/chat/dist/chatctl.js',
  keys: 'packages/tokens/dist/cli-keys.js',
  cluster: 'packages/cluster/dist/main.js',
} as const;

export interface RunOptions {
  /** For messages; the script's file name by default. */
  name?: string;
  args?: readonly string[];
  nodeArgs?: readonly string[];
}

/**
 * `node <script>` (relative to ROOT) as an operator runs it: with exactly the environment
 * given, never the test runner's, its output captured for assertions, in the runner's
 * process group (a Ctrl-C on the run ends it too). Started, not waited for.
 */
export function runScript(script: string, env: NodeJS.ProcessEnv, options: RunOptions = {}): ManagedProcess {
  return ManagedProcess.node({
    name: options.name ?? basename(script),
    script: resolve(ROOT, script),
    args: options.args,
    nodeArgs: options.nodeArgs,
    env,
    cwd: ROOT,
    output: 'capture',
    ownGroup: false,
  }).start();
}

/** Runs `script` to its end (killed after `timeoutMs`): its exit and its output. */
export async function runToExit(
  script: string,
  env: NodeJS.ProcessEnv,
  options: RunOptions & { timeoutMs?: number } = {},
): Promise<ExitInfo & { stdout: string; stderr: string; output: string }> {
  const proc = runScript(script, env, options);
  const exit = await proc.exitWithin(options.timeoutMs ?? 15_000);
  return { ...exit, stdout: proc.text('stdout'), stderr: proc.text('stderr'), output: proc.text() };
}

export interface ServiceOptions extends RunOptions {
  /** The environment, given the port chosen for the node (its `PORT` is set either way). */
  env: Record<string, string> | ((port: number) => Record<string, string>);
  readyTimeoutMs?: number;
}

/**
 * An auth, chat or embedded node as its own process on a free loopback port, ready
 * (`/readyz` answers 200) when start() resolves. Its metrics listener takes any free
 * port (METRICS_PORT=0) unless the environment names one: several nodes run at once.
 */
export class ServiceProcess {
  private constructor(
    readonly proc: ManagedProcess,
    readonly port: number,
  ) {}

  static async start(script: string, options: ServiceOptions): Promise<ServiceProcess> {
    const port = await freePort();
    const given = typeof options.env === 'function' ? options.env(port) : options.env;
    const proc = runScript(
      script,
      { HOST: '127.0.0.1', METRICS_PORT: '0', ...given, PORT: String(port) },
      options,
    );
    const node = new ServiceProcess(proc, port);
    try {
      await proc.waitUntil(async () => (await httpStatus(`${node.url}/readyz`)) === 200, {
        what: '/readyz',
        timeoutMs: options.readyTimeoutMs ?? 15_000,
        intervalMs: 50,
      });
    } catch (err) {
      await proc.stop('SIGKILL', 1000);
      throw err;
    }
    return node;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  /** The metrics URL the node logged when its listener started (it starts before /readyz). */
  get metricsUrl(): string {
    const line = this.proc.logLines().find((l) => l.message === 'metrics listening');
    if (typeof line?.url !== 'string') throw new Error(`${this.proc.name} logged no metrics listener`);
    return line.url;
  }

  /** `signal` (SIGTERM: a chat node drains), then the process is killed after `graceMs`. */
  stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<ExitInfo | undefined> {
    return this.proc.stop(signal, graceMs);
  }

  /** `kill -9`: no drain, no cleanup. */
  kill(): Promise<ExitInfo | undefined> {
    return this.proc.stop('SIGKILL', 1000);
  }
}

/** A chat node as `npm run start:chat` runs it, on a free port, ready. */
export function startChatNode(env: Record<string, string>): Promise<ServiceProcess> {
  return ServiceProcess.start(ENTRIES.chat, { env, name: env.NODE_ID ?? 'chat', nodeArgs: NODE_ARGS.chat });
}

/** Writes the public key set of `keys` to a temp file (what `npm run keys` writes). */
export function writeJwks(keys: SigningKey[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'securechat-keys-'));
  const file = join(dir, KEY_FILES.jwks);
  writeFileSync(file, JSON.stringify(toJwks(keys.map((k) => k.publicKey))));
  return file;
}

/** Writes a signing key pair into `dir` with the real `npm run keys` CLI. */
export function makeKeys(dir: string): { privateKey: string; jwks: string } {
  const result = spawnSync(process.execPath, [join(ROOT, ENTRIES.keys), dir], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`keys CLI failed: ${result.stderr}`);
  return { privateKey: join(dir, KEY_FILES.privateKey), jwks: join(dir, KEY_FILES.jwks) };
}

/**
 * A slowloris: opens a connection to `port`, sends `partial` (headers never finished) and
 * resolves with how long the server took to cut it; rejects if it is still open after
 * `deadlineMs`.
 */
export function slowlorisLifetime(port: number, partial: string, deadlineMs: number): Promise<number> {
  return new Promise((res, rej) => {
    const started = Date.now();
    const socket = netConnect({ host: '127.0.0.1', port }, () => socket.write(partial));
    const timer = setTimeout(() => {
      socket.destroy();
      rej(new Error(`the connection was still open after ${deadlineMs} ms`));
    }, deadlineMs);
    socket.on('data', () => undefined);
    socket.once('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      res(Date.now() - started);
    });
  });
}
