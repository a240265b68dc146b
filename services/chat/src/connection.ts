import type { WebSocket } from 'ws';

/** What the chat core needs of a socket; `ws` stays at the edge (ws-connection.ts). */
export interface Connection {
  send(data: Buffer): void;
  close(code: number, reason: string): void;
  terminate(): void;
  ping(): void;
  /** Bytes queued for this socket and not yet written to the network. */
  readonly bufferedAmount: number;
}

export function wsConnection(ws: WebSocket): Connection {
  return {
    // binary: false sends the buffer as a text frame; the buffer is shared by every
    // recipient of a fan-out, so a message is encoded once per node.
    send: (data) => ws.send(data, { binary: false }),
    close: (code, reason) => ws.close(code, reason),
    terminate: () => ws.terminate(),
    ping: () => ws.ping(),
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
  };
}
