import { ChatError, Connection, systemClock } from '@securechat/sdk';
import { CONNECT_TIMEOUT_MS, withTimeout, type BenchClient, type ClientEvents } from './client';

/** A send's ack later than this is counted as an error (it is not a delivery). */
const REQUEST_TIMEOUT_MS = 30_000;

function code(err: unknown): string {
  return err instanceof ChatError ? err.code : 'unknown';
}

/**
 * A securechat client built on the SDK's Connection (`@securechat/sdk`), as the
 * Socket.IO clients are built on socket.io-client: bearer token in the Authorization
 * header, `welcome` first, `join` -> `joined` and `send` -> `ack` as requests settled by
 * their `ref`, and a `message` frame per delivery (the sender's own copy included). No
 * reconnect: a connection lost during a step is counted, not repaired.
 */
export class OursClient implements BenchClient {
  private connection: Connection | undefined;

  constructor(
    private readonly url: string,
    private readonly token: string,
    private readonly origin: string | undefined,
    private readonly events: ClientEvents,
  ) {}

  connect(): Promise<void> {
    const connection = new Connection(
      {
        url: this.url,
        token: this.token,
        tokenMethod: 'header',
        origin: this.origin,
        ca: undefined,
        rejectUnauthorized: undefined,
        connectTimeoutMs: CONNECT_TIMEOUT_MS,
        requestTimeoutMs: REQUEST_TIMEOUT_MS,
        clock: systemClock,
      },
      {
        frame: (message) => {
          if (message.type === 'message') this.events.onText(message.text);
          else if (message.type === 'error') this.events.onError(message.code);
        },
        invalid: () => this.events.onError('invalid_frame'),
        closed: (closeCode, reason) =>
          this.events.onClose(`${closeCode}${reason !== '' ? ` ${reason}` : ''}`),
      },
    );
    this.connection = connection;
    return withTimeout(
      connection.opened.then(() => undefined),
      CONNECT_TIMEOUT_MS,
      'connect',
    );
  }

  join(room: string): Promise<void> {
    const connection = this.connection;
    if (connection?.isOpen !== true) return Promise.reject(new Error('not connected'));
    return withTimeout(
      connection.request({ type: 'join', room }).then(() => undefined),
      CONNECT_TIMEOUT_MS,
      `join ${room}`,
    );
  }

  send(room: string, text: string): boolean {
    const connection = this.connection;
    if (connection?.isOpen !== true) return false;
    connection.request({ type: 'send', room, text }).then(
      () => this.events.onAck(),
      (err: unknown) => this.events.onError(code(err)),
    );
    return true;
  }

  close(): void {
    this.connection?.close(1000);
  }
}
