import type { ClientOptions } from 'ws';
import { ChatClientCore } from '../client';
import type { CommonChatClientOptions } from '../client-options';
import { CoreConnection, type ConnectionHandlers, type CoreConnectionSettings } from '../connection';
import { wsTransport } from './ws-transport';

/** The Node build's options: those of both builds, plus what `ws` can do that a browser cannot. */
export interface ChatClientOptions extends CommonChatClientOptions {
  /** Sent as the `Origin` header; the server accepts only its allowed origins. */
  origin?: string;
  /** TLS: trusted CA certificates for `wss://` (e.g. a self-signed cluster). */
  ca?: ClientOptions['ca'];
  /** TLS: whether to check the server certificate. Default true (Node's default). */
  rejectUnauthorized?: boolean;
}

/**
 * The Node client (`ws`). Token by default in the `Authorization` header; `subprotocol`
 * and `query` work too. The same API as the browser build's `ChatClient`.
 */
export class ChatClient extends ChatClientCore {
  constructor(options: ChatClientOptions) {
    super(
      options,
      wsTransport({
        origin: options.origin,
        ca: options.ca,
        rejectUnauthorized: options.rejectUnauthorized,
      }),
      { tokenMethod: 'header', tokenMethods: ['header', 'subprotocol', 'query'] },
    );
  }
}

/** The settings of a Node `Connection`: the transport is `ws`, with these TLS and origin options. */
export interface ConnectionSettings extends Omit<CoreConnectionSettings, 'transport'> {
  origin: string | undefined;
  ca: ClientOptions['ca'];
  rejectUnauthorized: boolean | undefined;
}

/** One socket over `ws` (handshake, `ref` correlation; no reconnect): see docs/SDK.md. */
export class Connection extends CoreConnection {
  constructor(settings: ConnectionSettings, handlers: ConnectionHandlers) {
    const { origin, ca, rejectUnauthorized, ...rest } = settings;
    super({ ...rest, transport: wsTransport({ origin, ca, rejectUnauthorized }) }, handlers);
  }
}
