import WebSocket from 'ws';
import { CONNECT_TIMEOUT_MS, parseObject, withTimeout, type BenchClient, type ClientEvents } from './client';

interface Pending {
  resolve(): void;
  reject(err: Error): void;
}

/**
 * A securechat client speaking the chat.v1 protocol of CONTRACT.md directly over `ws`:
 * bearer token in the Authorization header, `welcome` first, `join` -> `joined`,
 * `send` -> `ack`, and a `message` frame per delivery (the sender's own copy included).
 */
export class OursClient implements BenchClient {
  private ws: WebSocket | undefined;
  private seq = 0;
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly url: string,
    private readonly token: string,
    private readonly origin: string | undefined,
    private readonly events: ClientEvents,
  ) {}

  connect(): Promise<void> {
    const ws = new WebSocket(this.url, ['chat.v1'], {
      headers: { Authorization: `Bearer ${this.token}` },
      perMessageDeflate: false,
      handshakeTimeout: CONNECT_TIMEOUT_MS,
      ...(this.origin !== undefined ? { origin: this.origin } : {}),
    });
    this.ws = ws;
    let welcomed = false;
    const opened = new Promise<void>((resolve, reject) => {
      ws.on('unexpected-response', (_req, res) => {
        reject(new Error(`handshake refused: HTTP ${res.statusCode}`));
        res.resume();
        ws.terminate();
      });
      ws.on('error', (err) => reject(err));
      ws.on('close', (code, reason) => {
        if (!welcomed) reject(new Error(`closed before welcome: ${code} ${reason.toString()}`));
        else this.events.onClose(`${code}${reason.length > 0 ? ` ${reason.toString()}` : ''}`);
        for (const p of this.pending.values()) p.reject(new Error('connection closed'));
        this.pending.clear();
      });
      ws.on('message', (data, isBinary) => {
        if (isBinary) return;
        const msg = parseObject(data);
        if (msg === undefined) return;
        switch (msg.type) {
          case 'message':
            this.events.onText(msg.text);
            return;
          case 'ack':
            this.events.onAck();
            return;
          case 'welcome':
            welcomed = true;
            resolve();
            return;
          case 'joined':
            this.settle(msg.ref);
            return;
          case 'error': {
            const code = typeof msg.code === 'string' ? msg.code : 'unknown';
            if (!this.settle(msg.ref, new Error(`error ${code}: ${String(msg.message)}`))) {
              this.events.onError(code);
            }
            return;
          }
          default:
            return;
        }
      });
    });
    return withTimeout(opened, CONNECT_TIMEOUT_MS, 'connect');
  }

  join(room: string): Promise<void> {
    const ref = `j${++this.seq}`;
    const joined = new Promise<void>((resolve, reject) => this.pending.set(ref, { resolve, reject }));
    if (!this.write({ type: 'join', room, ref })) {
      this.pending.delete(ref);
      return Promise.reject(new Error('not connected'));
    }
    return withTimeout(joined, CONNECT_TIMEOUT_MS, `join ${room}`);
  }

  send(room: string, text: string): boolean {
    return this.write({ type: 'send', room, text, ref: `s${++this.seq}` });
  }

  close(): void {
    this.ws?.close(1000);
  }

  private write(frame: Record<string, unknown>): boolean {
    const ws = this.ws;
    if (ws === undefined || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  /** Settles the request `ref` refers to; false when there is none. */
  private settle(ref: unknown, err?: Error): boolean {
    if (typeof ref !== 'string') return false;
    const p = this.pending.get(ref);
    if (p === undefined) return false;
    this.pending.delete(ref);
    if (err === undefined) p.resolve();
    else p.reject(err);
    return true;
  }
}
