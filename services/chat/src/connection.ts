import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import * as ws from 'ws';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { CloseReason, WireTally } from './metrics';

/** A text frame framed once (WebSocket header + payload) and written as is to many sockets. */
export interface PreparedFrame {
  readonly payload: Buffer;
  readonly wire: Buffer;
}

/** What the chat core needs of a socket; `ws` stays at the edge (this file). */
export interface Connection {
  send(data: Buffer): void;
  /** Writes a frame prepared once for all recipients of a fan-out. */
  sendPrepared(frame: PreparedFrame): void;
  close(code: number, reason: string): void;
  terminate(): void;
  ping(): void;
  /** Bytes queued for this socket and not yet written to the network. */
  readonly bufferedAmount: number;
  /**
   * Resolves once the socket's own buffer is below its high-water mark (at once if it
   * is), or the socket is gone: the pace at which a reader drains its output.
   */
  drained(): Promise<void>;
}

interface FrameOptions {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  mask: boolean;
  readOnly: boolean;
}

/** The parts of ws's Sender this file relies on (the same ones Socket.IO uses). */
interface WsSender {
  _state: number;
  sendFrame(list: Buffer[]): void;
}

const { Sender } = ws as unknown as { Sender: { frame(data: Buffer, options: FrameOptions): Buffer[] } };
const SENDER_IDLE = 0;

/**
 * Frames a server-to-client text message once. A fan-out to N local members then costs N
 * socket writes of the same bytes, not N framings (the idea of Socket.IO's
 * wsPreEncodedFrame). Server frames are never masked; compression is off.
 */
export function prepareTextFrame(payload: Buffer): PreparedFrame {
  const parts = Sender.frame(payload, { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: true });
  return { payload, wire: parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts) };
}

/** The parts of the network socket under ws that pacing needs. */
interface RawSocket {
  readonly writableNeedDrain: boolean;
  readonly destroyed: boolean;
  once(event: 'drain' | 'close', listener: () => void): void;
  off(event: 'drain' | 'close', listener: () => void): void;
}

/**
 * ws's socket as the chat core's `Connection`: a class, so that an idle socket holds one
 * small object and no closures (an object literal of seven closures and a getter cost
 * each socket about 0.9 KB of heap).
 */
class WsConnection implements Connection {
  constructor(
    private readonly socket: WebSocket,
    private readonly wire: WireTally,
  ) {}

  // binary: false sends the buffer as a text frame.
  send(data: Buffer): void {
    this.wire.bytesOut += data.length;
    this.wire.framesOut += 1;
    this.socket.send(data, { binary: false });
  }

  sendPrepared(frame: PreparedFrame): void {
    const socket = this.socket;
    if (socket.readyState !== WebSocket.OPEN) return;
    // The one per-recipient cost of the metrics: two additions.
    this.wire.bytesOut += frame.wire.length;
    this.wire.framesOut += 1;
    // Straight to the socket only when ws has nothing queued (it queues only while
    // compressing or reading a Blob, neither of which happens here).
    const sender = (socket as unknown as { _sender: WsSender | null })._sender;
    if (sender !== null && sender._state === SENDER_IDLE) sender.sendFrame([frame.wire]);
    else socket.send(frame.payload, { binary: false });
  }

  close(code: number, reason: string): void {
    this.socket.close(code, reason);
  }

  terminate(): void {
    this.socket.terminate();
  }

  ping(): void {
    this.socket.ping();
  }

  get bufferedAmount(): number {
    return this.socket.bufferedAmount;
  }

  drained(): Promise<void> {
    const raw = (this.socket as unknown as { _socket: RawSocket | null })._socket;
    return new Promise<void>((resolve) => {
      if (raw === null || raw.destroyed || !raw.writableNeedDrain) return resolve();
      const done = () => {
        raw.off('drain', done);
        raw.off('close', done);
        resolve();
      };
      raw.once('drain', done);
      raw.once('close', done);
    });
  }
}

export function wsConnection(socket: WebSocket, wire: WireTally = unused()): Connection {
  return new WsConnection(socket, wire);
}

function unused(): WireTally {
  return { bytesIn: 0, framesIn: 0, bytesOut: 0, framesOut: 0 };
}

/**
 * The close ws sent on its own after a socket error, by its error code (ws closes 1009
 * for a message over maxPayload, 1007 for invalid UTF-8, 1002 for other protocol
 * violations); undefined for an error that is not a protocol one (a reset connection).
 */
export function wsCloseReason(err: Error): CloseReason | undefined {
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string' || !code.startsWith('WS_ERR_')) return undefined;
  if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') return 'too_big';
  if (code === 'WS_ERR_INVALID_UTF8') return 'invalid_utf8';
  return 'protocol_error';
}

/**
 * What the core hears from its sockets: one handler for all of them, told which socket's
 * subject (the core's own object for it, a session) each event is about. One handler per
 * server rather than closures per socket: they were most of what an idle socket cost.
 */
export interface ConnectionEvents<S> {
  /** A text message (already checked against maxPayload and UTF-8 by ws). */
  text(subject: S, data: string): void;
  /** A binary message, which the protocol does not accept. */
  binary(subject: S): void;
  pong(subject: S): void;
  /** A socket-level error (ws then closes the socket itself). */
  error(subject: S, err: Error): void;
  /** The socket is gone, however it ended. */
  closed(subject: S): void;
}

export interface EdgeOptions<S> {
  maxMessageBytes: number;
  /** The one subprotocol the server selects when it is offered. */
  subprotocol: string;
  /** An error of the server itself (not of one socket). */
  onError(err: Error): void;
  /** Where the bytes and frames in and out are counted. */
  wire?: WireTally;
  /** Where every socket's events go. */
  events: ConnectionEvents<S>;
}

/**
 * The WebSocket server at the edge: turns an upgrade that the node already admitted into
 * a `Connection` and routes the socket's events, with the subject the core made of it, to
 * the core's handler. The listeners are the same four functions on every socket (they
 * find the subject by the socket they are called on).
 */
export class WebSocketEdge<S> {
  private readonly wss: WebSocketServer;
  private readonly wire: WireTally;
  private readonly subjects = new WeakMap<WebSocket, S>();
  private readonly onPong: (this: WebSocket) => void;
  private readonly onMessage: (this: WebSocket, data: RawData, isBinary: boolean) => void;
  private readonly onError: (this: WebSocket, err: Error) => void;
  private readonly onClose: (this: WebSocket) => void;

  constructor(options: EdgeOptions<S>) {
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxMessageBytes,
      perMessageDeflate: false,
      clientTracking: false,
      handleProtocols: (protocols) => (protocols.has(options.subprotocol) ? options.subprotocol : false),
    });
    this.wss.on('error', options.onError);
    const { events } = options;
    const wire = (this.wire = options.wire ?? unused());
    const subjects = this.subjects;
    // Plain functions: ws calls a listener with the socket as `this`.
    this.onPong = function (this: WebSocket) {
      const subject = subjects.get(this);
      if (subject !== undefined) events.pong(subject);
    };
    this.onMessage = function (this: WebSocket, data: RawData, isBinary: boolean) {
      const subject = subjects.get(this);
      if (subject === undefined) return;
      const bytes = Buffer.isBuffer(data)
        ? data
        : Array.isArray(data)
          ? Buffer.concat(data)
          : Buffer.from(data);
      wire.bytesIn += bytes.length;
      wire.framesIn += 1;
      if (isBinary) return events.binary(subject);
      events.text(subject, bytes.toString());
    };
    this.onError = function (this: WebSocket, err: Error) {
      const subject = subjects.get(this);
      if (subject !== undefined) events.error(subject, err);
    };
    this.onClose = function (this: WebSocket) {
      const subject = subjects.get(this);
      if (subject !== undefined) events.closed(subject);
    };
  }

  /** Completes the handshake (the 101) and routes the socket's events with the subject `attach` makes of it. */
  accept(req: IncomingMessage, socket: Duplex, head: Buffer, attach: (connection: Connection) => S): void {
    this.wss.handleUpgrade(req, socket, head, (socket) => {
      this.subjects.set(socket, attach(wsConnection(socket, this.wire)));
      socket.on('pong', this.onPong);
      socket.on('message', this.onMessage);
      // ws closes with 1009 for oversize frames and 1007 for invalid UTF-8 by itself.
      socket.on('error', this.onError);
      socket.on('close', this.onClose);
    });
  }

  close(): void {
    this.wss.close();
  }
}
