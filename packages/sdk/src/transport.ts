/**
 * The one part of the SDK that differs between its builds: how a WebSocket is opened.
 * The Node build adapts `ws` (node/ws-transport.ts), the browser build the native
 * `WebSocket` (browser/web-transport.ts); everything else is shared source.
 */

/** What a connection asks of its transport when it dials. */
export interface DialParams {
  /** The URL, with `?token=` already added when the token travels that way. */
  url: string;
  /** Offered subprotocols: `chat.v1`, and `bearer.<token>` for that method. */
  protocols: string[];
  /** `Authorization: Bearer` when the token travels in a header (Node only). */
  headers: Record<string, string>;
  /** From the dial to the open socket. */
  handshakeTimeoutMs: number;
}

/** What a transport knows of how a socket ended. */
export interface CloseDetail {
  /** The HTTP status of a refused handshake. */
  refusedStatus?: number;
  /** The start of a refused handshake's body. */
  refusedBody?: string;
  /** A refused handshake's `Retry-After` (seconds), in milliseconds. */
  refusedRetryAfterMs?: number;
  error?: Error;
}

/** What a transport reports, each at most once except `text` and `binary`. */
export interface TransportEvents {
  /** A text frame. */
  text(data: string): void;
  /** A binary frame (never sent by the server). */
  binary(): void;
  /** The socket closed or could not open; `refusedStatus` when the server answered HTTP instead of 101. */
  closed(code: number, reason: string, detail: CloseDetail): void;
}

/** An open or opening socket. */
export interface Transport {
  send(text: string): void;
  /** A close handshake (code 1000 or 3000-4999 in browsers). */
  close(code: number, reason: string): void;
  /** Drops the socket at once, as a dead network would (a close in browsers, which cannot do that). */
  terminate(): void;
  /** The subprotocol the server selected. */
  readonly protocol: string;
}

/** Opens a socket; throws synchronously for a URL or subprotocol the platform refuses. */
export type TransportFactory = (params: DialParams, events: TransportEvents) => Transport;
