import WebSocket from 'ws';

export type Frame = Record<string, unknown> & { type: string };

export interface OpenOptions {
  token?: string;
  method?: 'header' | 'subprotocol' | 'query';
  origin?: string | null;
  headers?: Record<string, string>;
  protocols?: string[];
  path?: string;
}

/** A raw protocol client for tests: every frame is kept, and waits are on events. */
export class TestClient {
  readonly frames: Frame[] = [];
  private readonly waiters = new Set<() => void>();
  closed: { code: number; reason: string } | undefined;
  private refs = 0;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (!isBinary) this.frames.push(JSON.parse(data.toString()) as Frame);
      this.notify();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.notify();
    });
    ws.on('error', () => undefined);
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  /**
   * Resolves with what `check` returns once it returns something, checking again on every
   * frame and on the close; rejects when `check` throws, or with `late()` at the deadline.
   */
  private until<T>(check: () => T | undefined, timeoutMs: number, late: () => string): Promise<T> {
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(test);
      };
      const test = () => {
        try {
          const value = check();
          if (value === undefined) return;
          done();
          resolve(value);
        } catch (err) {
          done();
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(late()));
      }, timeoutMs);
      this.waiters.add(test);
      test();
    });
  }

  private throwIfClosed(what: string): void {
    if (this.closed !== undefined)
      throw new Error(`closed (${this.closed.code} ${this.closed.reason}) ${what}`);
  }

  /** Resolves with the first frame (from `from` on) matching `match`. */
  next(match: (f: Frame) => boolean, timeoutMs = 5000, from = 0): Promise<Frame> {
    return this.until(
      () => {
        const found = this.frames.slice(from).find(match);
        if (found === undefined) this.throwIfClosed('while waiting');
        return found;
      },
      timeoutMs,
      () => `timed out waiting for a frame; got ${JSON.stringify(this.frames.slice(-5))}`,
    );
  }

  /** Waits until at least `n` frames match. */
  count(match: (f: Frame) => boolean, n: number, timeoutMs = 10000): Promise<Frame[]> {
    const found = () => this.frames.filter(match);
    return this.until(
      () => {
        const frames = found();
        if (frames.length >= n) return frames;
        this.throwIfClosed(`with ${frames.length}/${n}`);
        return undefined;
      },
      timeoutMs,
      () => `timed out with ${found().length}/${n} frames`,
    );
  }

  waitClose(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    return this.until(
      () => this.closed,
      timeoutMs,
      () => 'timed out waiting for close',
    );
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Sends a request with a fresh ref and resolves with the reply carrying it. */
  async request(frame: Record<string, unknown>, timeoutMs = 5000): Promise<Frame> {
    this.refs += 1;
    const ref = `r${this.refs}`;
    this.send({ ...frame, ref });
    return this.next((f) => f.ref === ref, timeoutMs);
  }

  async join(room: string, since?: string): Promise<Frame> {
    const reply = await this.request({ type: 'join', room, ...(since ? { since } : {}) });
    if (reply.type !== 'joined') throw new Error(`join failed: ${JSON.stringify(reply)}`);
    return reply;
  }

  messages(room?: string): Frame[] {
    return this.frames.filter((f) => f.type === 'message' && (room === undefined || f.room === room));
  }

  close(): Promise<void> {
    if (this.closed !== undefined) return Promise.resolve();
    this.ws.close();
    return this.waitClose().then(() => undefined);
  }
}

export interface Refused {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** Opens a WebSocket; resolves with a client, or with the HTTP refusal. */
export function openSocket(url: string, options: OpenOptions = {}): Promise<TestClient | Refused> {
  const method = options.method ?? 'header';
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  let target = `${url}${options.path ?? '/ws'}`;
  let protocols = options.protocols ?? ['chat.v1'];
  if (options.token !== undefined) {
    if (method === 'header') headers.authorization = `Bearer ${options.token}`;
    if (method === 'subprotocol') protocols = [...protocols, `bearer.${options.token}`];
    if (method === 'query') target += `?token=${encodeURIComponent(options.token)}`;
  }
  const origin = options.origin === undefined ? url.replace(/^ws/, 'http') : options.origin;
  const ws = new WebSocket(target, protocols, {
    headers,
    ...(origin !== null ? { origin } : {}),
    perMessageDeflate: false,
  });
  return new Promise((resolve, reject) => {
    const client = new TestClient(ws);
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    ws.once('error', (err) => reject(err));
  });
}

/** Opens a socket that must be accepted and waits for its welcome. */
export async function connect(url: string, options: OpenOptions = {}): Promise<TestClient> {
  const result = await openSocket(url, options);
  if (!(result instanceof TestClient)) throw new Error(`refused ${result.status}: ${result.body}`);
  await result.next((f) => f.type === 'welcome');
  return result;
}

export async function refusal(url: string, options: OpenOptions = {}): Promise<Refused> {
  const result = await openSocket(url, options);
  if (result instanceof TestClient) {
    await result.close();
    throw new Error('the handshake was accepted');
  }
  return result;
}
