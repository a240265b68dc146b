import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, openSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface CommandResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CommandOptions {
  env: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
  /** Called with every chunk of output as it comes (a log file, a progress line). */
  onOutput?: (chunk: string) => void;
}

/**
 * Runs a command to its end and collects its output. Past `timeoutMs` the command is
 * killed (SIGKILL) and the promise rejects: a hung docker call fails the test with its
 * command line instead of hanging mocha.
 */
export function runCommand(
  command: string,
  args: readonly string[],
  options: CommandOptions,
): Promise<CommandResult> {
  const { timeoutMs = 60_000 } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: options.env,
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      options.onOutput?.(chunk);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      options.onOutput?.(chunk);
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `${command} ${args.join(' ')}: still running after ${timeoutMs} ms\n${stderr.slice(-2000)}`,
        ),
      );
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

/** Like runCommand, but a non-zero exit rejects with the command and its stderr. */
export async function mustRun(
  command: string,
  args: readonly string[],
  options: CommandOptions,
): Promise<string> {
  const result = await runCommand(command, args, options);
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} exited ${result.status ?? result.signal}:\n${result.stderr.slice(-3000)}`,
    );
  }
  return result.stdout;
}

/** The absolute path of `name` on `path` (or in `extra` directories), if executable there. */
export function findExecutable(
  name: string,
  path: string | undefined,
  extra: readonly string[] = [],
): string | undefined {
  for (const dir of [...(path ?? '').split(delimiter), ...extra]) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Where the docker client finds a local engine, and where dockerd listens by default. */
const DEFAULT_SOCKET = '/var/run/docker.sock';

/** A Docker engine the tests may use, and whether they started it (and so must stop it). */
export interface DockerEngine {
  readonly startedHere: boolean;
  /** Server version, e.g. 20.10.24+dfsg1. */
  readonly version: string;
  /** Stops dockerd if this process started it; otherwise does nothing. */
  stop(): Promise<void>;
}

export type EngineOutcome = { engine: DockerEngine } | { unavailable: string };

export interface EngineOptions {
  /** The environment docker commands run with (PATH, HOME). */
  env: NodeJS.ProcessEnv;
  /** Where a dockerd started here writes its log. */
  logFile: string;
  readyTimeoutMs?: number;
}

/** The engine's version, or why the docker client could not get it. */
async function serverVersion(env: NodeJS.ProcessEnv): Promise<{ version: string } | { error: string }> {
  try {
    const result = await runCommand('docker', ['version', '--format', '{{.Server.Version}}'], {
      env,
      timeoutMs: 20_000,
    });
    if (result.status === 0) return { version: result.stdout.trim() };
    return { error: result.stderr.trim().split('\n').pop() ?? `exit ${String(result.status)}` };
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * The local Docker engine (the default socket): the one already running, or a dockerd
 * started here as root, in the background, until stop(). Where none can run (no docker
 * client, no dockerd, not root, dockerd refusing to start) it says why instead; the
 * caller skips, loudly.
 */
export async function ensureDockerEngine(options: EngineOptions): Promise<EngineOutcome> {
  const { env, logFile, readyTimeoutMs = 60_000 } = options;
  if (findExecutable('docker', env.PATH) === undefined) {
    return { unavailable: 'no docker client on PATH (Debian: apt-get install docker.io)' };
  }
  const running = await serverVersion(env);
  if ('version' in running) {
    return { engine: { startedHere: false, version: running.version, stop: () => Promise.resolve() } };
  }
  if (existsSync(DEFAULT_SOCKET) && /permission denied/i.test(running.error)) {
    return {
      unavailable: `a Docker engine runs but this user may not use it (${running.error}): run as root or join the docker group`,
    };
  }
  const dockerd = findExecutable('dockerd', env.PATH, ['/usr/sbin', '/usr/bin']);
  if (dockerd === undefined) {
    return {
      unavailable: 'no Docker engine answers and there is no dockerd to start (apt-get install docker.io)',
    };
  }
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    return {
      unavailable: `no Docker engine answers (${running.error}) and starting ${dockerd} needs root: start it (sudo ${dockerd} &) and run the test again`,
    };
  }

  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(dockerd, [], { env, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  let exit: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = signal ?? String(code);
      resolve();
    });
    child.once('error', (err) => {
      exit = err.message;
      resolve();
    });
  });
  const stop = async (): Promise<void> => {
    if (exit !== undefined) return;
    // dockerd stops the containerd it started along with it.
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), 30_000);
    });
    const killed = await Promise.race([exited.then(() => false), late]);
    clearTimeout(timer);
    if (killed) {
      child.kill('SIGKILL');
      await exited;
    }
  };

  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    const answer = await serverVersion(env);
    if ('version' in answer) return { engine: { startedHere: true, version: answer.version, stop } };
    if (exit !== undefined) {
      return { unavailable: `dockerd exited (${exit}) before it answered; its log ends:\n${tail(logFile)}` };
    }
    if (Date.now() > deadline) {
      await stop();
      return {
        unavailable: `dockerd did not answer within ${readyTimeoutMs} ms; its log ends:\n${tail(logFile)}`,
      };
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
