import type { TransportFactory } from '../transport';

/** The parts of the browser's `WebSocket` this transport uses (no DOM typings needed). */
interface BrowserSocket {
  binaryType: string;
  readonly protocol: string;
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string, protocols: string[]) => BrowserSocket;

/** A close a page may send itself (browsers allow 1000 and 3000-4999 only). */
const DROPPED = 4000;

function nativeWebSocket(): WebSocketConstructor {
  const ctor = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (ctor === undefined) throw new TypeError('this platform has no WebSocket');
  return ctor;
}

/**
 * The browser transport: the native `WebSocket`. A browser cannot set headers (the
 * token goes as a subprotocol or in the query) nor see a refused handshake's status: a
 * refusal looks like a network failure (1006), so the client retries with backoff and a
 * fresh token each time. `terminate` cannot cut a socket without a close frame here; it
 * closes with 4000 and reports 1006 at once, as a lost network would.
 */
export function webSocketTransport(ctor?: WebSocketConstructor): TransportFactory {
  return (params, events) => {
    if (Object.keys(params.headers).length > 0) {
      throw new TypeError('a browser cannot send headers: use tokenMethod subprotocol or query');
    }
    const Native = ctor ?? nativeWebSocket();
    const ws = new Native(params.url, params.protocols);
    ws.binaryType = 'arraybuffer';
    let done = false;
    const finish = (code: number, reason: string, error?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      events.closed(code, reason, error === undefined ? {} : { error });
    };
    // The native socket has no handshake timeout of its own.
    const timer = setTimeout(() => {
      if (ws.readyState === 0) {
        ws.close();
        finish(1006, '', new Error('handshake timed out'));
      }
    }, params.handshakeTimeoutMs);
    ws.onopen = () => clearTimeout(timer);
    ws.onmessage = (event) => {
      if (typeof event.data === 'string') events.text(event.data);
      else events.binary();
    };
    ws.onerror = () => undefined; // always followed by close, which carries what is known
    ws.onclose = (event) => finish(event.code, event.reason);
    return {
      send: (text) => ws.send(text),
      close: (code, reason) => {
        ws.close(code === 1000 || (code >= 3000 && code <= 4999) ? code : 1000, reason);
      },
      terminate: () => {
        try {
          ws.close(DROPPED, 'dropped');
        } finally {
          finish(1006, '');
        }
      },
      get protocol() {
        return ws.protocol;
      },
    };
  };
}
