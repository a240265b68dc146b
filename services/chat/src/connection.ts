import * as ws from 'ws';
import { WebSocket } from 'ws';

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

export function wsConnection(socket: WebSocket): Connection {
  const sender = (socket as unknown as { _sender?: WsSender })._sender;
  return {
    // binary: false sends the buffer as a text frame.
    send: (data) => socket.send(data, { binary: false }),
    sendPrepared: (frame) => {
      if (socket.readyState !== WebSocket.OPEN) return;
      // Straight to the socket only when ws has nothing queued (it queues only while
      // compressing or reading a Blob, neither of which happens here).
      if (sender !== undefined && sender._state === SENDER_IDLE) sender.sendFrame([frame.wire]);
      else socket.send(frame.payload, { binary: false });
    },
    close: (code, reason) => socket.close(code, reason),
    terminate: () => socket.terminate(),
    ping: () => socket.ping(),
    get bufferedAmount() {
      return socket.bufferedAmount;
    },
  };
}
