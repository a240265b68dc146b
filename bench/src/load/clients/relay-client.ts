import WebSocket from 'ws';
import { CONNECT_TIMEOUT_MS, parseObject, withTimeout, type BenchClient, type ClientEvents } from './client';

/**
 * A client of the bare relay: `{"join":R}` -> `{"joined":R}`, then `{"room":R,"text":T}`
 * out, and the same bytes back from every member's node.
 */
export class RelayClient implements BenchClient {
  private ws: WebSocket | undefined;
  private readonly joins = new Map<string, () => void>();

  constructor(
    private readonly url: string,
    private readonly events: ClientEvents,
  ) {}

  connect(): Promise<void> {
    const ws = new WebSocket(this.url, { perMessageDeflate: false, handshakeTimeout: CONNECT_TIMEOUT_MS });
    this.ws = ws;
    let open = false;
    const opened = new Promise<void>((resolve, reject) => {
      ws.on('error', (err) => reject(err));
      ws.on('open', () => {
        open = true;
        resolve();
      });
      ws.on('close', (code) => {
        if (!open) reject(new Error(`closed before open: ${code}`));
        else this.events.onClose(String(code));
      });
      ws.on('message', (data, isBinary) => {
        if (isBinary) return;
        const msg = parseObject(data);
        if (msg === undefined) return;
        if (typeof msg.joined === 'string') {
          this.joins.get(msg.joined)?.();
          this.joins.delete(msg.joined);
        } else {
          this.events.onText(msg.text);
        }
      });
    });
    return withTimeout(opened, CONNECT_TIMEOUT_MS, 'connect');
  }

  join(room: string): Promise<void> {
    const ws = this.ws;
    if (ws === undefined || ws.readyState !== WebSocket.OPEN)
      return Promise.reject(new Error('not connected'));
    const joined = new Promise<void>((resolve) => this.joins.set(room, resolve));
    ws.send(JSON.stringify({ join: room }));
    return withTimeout(joined, CONNECT_TIMEOUT_MS, `join ${room}`);
  }

  send(room: string, text: string): boolean {
    const ws = this.ws;
    if (ws === undefined || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify({ room, text }));
    return true;
  }

  close(): void {
    this.ws?.close(1000);
  }
}
