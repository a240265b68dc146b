import WebSocket, { type ClientOptions, type RawData } from 'ws';
import type { TransportFactory } from '../transport';

/** TLS and origin settings of the Node build, passed to `ws`. */
export interface NodeTransportOptions {
  /** Sent as the `Origin` header. */
  origin: string | undefined;
  ca: ClientOptions['ca'];
  rejectUnauthorized: boolean | undefined;
}

/** At most this much of a refused handshake's body is read, for the error message. */
const MAX_REFUSAL_BODY = 2048;

function rawText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

/** `Retry-After` in delay-seconds form (the HTTP-date form is not used by chat nodes), in ms. */
function retryAfterMs(header: string | undefined): number | undefined {
  if (header === undefined || !/^\d{1,6}$/.test(header.trim())) return undefined;
  return Number(header.trim()) * 1000;
}

/** The Node transport: `ws`, which can send headers and see a refused handshake's status. */
export function wsTransport(options: NodeTransportOptions): TransportFactory {
  return (params, events) => {
    const wsOptions: ClientOptions = {
      // The server never negotiates it and it costs memory per socket.
      perMessageDeflate: false,
      followRedirects: false,
      // No timer of ws's own: the connection's timer to `welcome` covers the opening
      // handshake, and reads what has arrived before it gives up (see CoreConnection).
      headers: params.headers,
    };
    if (options.origin !== undefined) wsOptions.origin = options.origin;
    if (options.ca !== undefined) wsOptions.ca = options.ca;
    if (options.rejectUnauthorized !== undefined) wsOptions.rejectUnauthorized = options.rejectUnauthorized;
    const ws = new WebSocket(params.url, params.protocols, wsOptions);
    let refusedStatus: number | undefined;
    let refusedRetryAfterMs: number | undefined;
    let refusedBody = '';
    let lastError: Error | undefined;
    ws.on('unexpected-response', (_req, res) => {
      refusedStatus = res.statusCode;
      refusedRetryAfterMs = retryAfterMs(res.headers['retry-after']);
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (refusedBody.length < MAX_REFUSAL_BODY) refusedBody += chunk;
      });
      res.on('error', () => ws.terminate());
      res.on('end', () => ws.terminate());
    });
    ws.on('error', (err) => {
      lastError = err;
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) events.binary();
      else events.text(rawText(data));
    });
    ws.on('close', (code, reason) => {
      events.closed(code, reason.toString('utf8'), {
        ...(refusedStatus === undefined ? {} : { refusedStatus, refusedBody }),
        ...(refusedRetryAfterMs === undefined ? {} : { refusedRetryAfterMs }),
        ...(lastError === undefined ? {} : { error: lastError }),
      });
    });
    return {
      send: (text) => ws.send(text),
      close: (code, reason) => ws.close(code, reason),
      terminate: () => ws.terminate(),
      get protocol() {
        return ws.protocol;
      },
    };
  };
}
