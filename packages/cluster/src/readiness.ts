import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** Certificate authority for an https URL (the self-signed certificate). */
  ca?: string | Buffer;
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

/** Polls `check` until it is true; rejects at the deadline or when `abort` gives a reason. */
export async function pollUntil(
  what: string,
  check: () => Promise<boolean>,
  options: WaitOptions,
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  const interval = options.intervalMs ?? 100;
  let last = '';
  for (;;) {
    const reason = options.abort?.();
    if (reason !== undefined) throw new Error(`${what}: ${reason}`);
    try {
      if (await check()) return;
      last = '';
    } catch (err) {
      last = err instanceof Error ? `: ${err.message}` : '';
    }
    if (Date.now() > deadline) throw new Error(`${what} was not ready within ${options.timeoutMs} ms${last}`);
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

/** Waits until `url` answers 200. */
export function waitForHttp(url: string, options: WaitOptions): Promise<void> {
  return pollUntil(url, async () => (await httpStatus(url, options.ca)) === 200, options);
}
