import { spawn, type ChildProcess } from 'node:child_process';
import { connect as netConnect } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { toJwks, type SigningKey } from '@securechat/tokens';
import { freePort } from './redis-server';

/** The repository root (this file runs from test/dist/support). */
export const ROOT = resolve(__dirname, '..', '..', '..');

export interface NodeProcess {
  proc: ChildProcess;
  port: number;
  url: string;
  output: () => string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/** Writes the public key set of `key` to a temp file (what `npm run keys` writes). */
export function writeJwks(keys: SigningKey[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'securechat-keys-'));
  const file = join(dir, 'jwks.json');
  writeFileSync(file, JSON.stringify(toJwks(keys.map((k) => k.publicKey))));
  return file;
}

/**
 * Runs a service entry point (`services/<name>/dist/main.js`) as a child process on a
 * free port and waits for its "listening" log line.
 */
export async function startNodeProcess(
  service: 'auth' | 'chat' | 'embedded',
  env: Record<string, string>,
  readyText = 'listening',
): Promise<NodeProcess> {
  const port = env.PORT !== undefined ? Number(env.PORT) : await freePort();
  let output = '';
  const proc = spawn(process.execPath, [join(ROOT, 'services', service, 'dist', 'main.js')], {
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | string>((res) =>
    proc.once('exit', (code, signal) => res(code ?? signal ?? -1)),
  );
  await new Promise<void>((res, rej) => {
    const timer = setTimeout(
      () => rej(new Error(`${service} did not start: ${output.slice(-1000)}`)),
      15_000,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(readyText)) {
        clearTimeout(timer);
        res();
      }
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      rej(new Error(`${service} exited (${code}): ${output.slice(-1000)}`));
    });
  });
  return {
    proc,
    port,
    url: `ws://127.0.0.1:${port}`,
    output: () => output,
    exited,
    stop: (signal = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

/** Runs an entry point expected to fail at start; resolves with its exit code and output. */
export function runToExit(
  service: 'auth' | 'chat',
  env: Record<string, string>,
): Promise<{ code: number; output: string }> {
  return new Promise((res) => {
    let output = '';
    const proc = spawn(process.execPath, [join(ROOT, 'services', service, 'dist', 'main.js')], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout.on('data', (c: Buffer) => (output += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (output += c.toString()));
    proc.once('exit', (code) => res({ code: code ?? -1, output }));
  });
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
