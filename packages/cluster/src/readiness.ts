import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';

export interface WaitOptions {
  /** What is awaited, for the error message. */
  what?: string;
  /** 5000 by default. */
  timeoutMs?: number;
  /** Between two checks; 20 by default. */
  intervalMs?: number;
  /** Returns a reason to give up at once (a process that died), or undefined. */
  abort?: () => string | undefined;
}

/** The status of one GET, or an error when nothing answered within `timeoutMs`. */
export function httpStatus(url: string, ca?: string | Buffer, timeoutMs = 2000): Promise<number> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(
      target,
      { method: 'GET', agent: false, timeout: timeoutMs, ...(ca ? { ca } : {}) },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.once('timeout', () => req.destroy(new Error(`no answer from ${url} in ${timeoutMs} ms`)));
    req.once('error', reject);
    req.end();
  });
}

/** Answers `PING` with `+PONG` (a Redis that is loading its AOF answers `-LOADING`). */
export function redisPing(port: number, host = '127.0.0.1', timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

/**
 * Polls `check` until it returns a truthy value, and resolves with it. Rejects at the
 * deadline (naming the last error `check` threw, if any) or as soon as `abort` gives a
 * reason. The one polling wait of the harnesses: tests, the benchmark and the cluster.
 */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  options: WaitOptions = {},
): Promise<NonNullable<T>> {
  const { what = 'condition', timeoutMs = 5000, intervalMs = 20 } = options;
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const reason = options.abort?.();
    if (reason !== undefined) throw new Error(`gave up waiting for ${what}: ${reason}`);
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      last = err instanceof Error ? `: ${err.message}` : `: ${String(err)}`;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
