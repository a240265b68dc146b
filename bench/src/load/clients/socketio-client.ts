import { io, type Socket } from 'socket.io-client';
import { CONNECT_TIMEOUT_MS, withTimeout, type BenchClient, type ClientEvents } from './client';

/**
 * A socket.io-client on the WebSocket transport only (no long-polling upgrade dance):
 * `join` with an acknowledgement, `send` with an acknowledgement (as ours acks every
 * send), and a `message` event per delivery.
 */
export class SocketIoClient implements BenchClient {
  private socket: Socket | undefined;

  constructor(
    private readonly url: string,
    private readonly events: ClientEvents,
  ) {}

  connect(): Promise<void> {
    const socket = io(this.url, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      timeout: CONNECT_TIMEOUT_MS,
    });
    this.socket = socket;
    let connected = false;
    const opened = new Promise<void>((resolve, reject) => {
      socket.on('connect', () => {
        connected = true;
        resolve();
      });
      socket.on('connect_error', (err) => reject(err));
      socket.on('disconnect', (reason) => {
        if (connected) this.events.onClose(reason);
      });
      socket.on('message', (msg: unknown) => {
        if (typeof msg === 'object' && msg !== null) this.events.onText((msg as { text?: unknown }).text);
      });
    });
    return withTimeout(opened, CONNECT_TIMEOUT_MS, 'connect');
  }

  async join(room: string): Promise<void> {
    const socket = this.socket;
    if (socket === undefined || !socket.connected) throw new Error('not connected');
    const ok: unknown = await socket.timeout(CONNECT_TIMEOUT_MS).emitWithAck('join', room);
    if (ok !== true) throw new Error(`join ${room} refused`);
  }

  send(room: string, text: string): boolean {
    const socket = this.socket;
    if (socket === undefined || !socket.connected) return false;
    socket.emit('send', { room, text }, () => this.events.onAck());
    return true;
  }

  close(): void {
    this.socket?.disconnect();
  }
}
