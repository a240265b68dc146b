/**
 * The browser build of the SDK (`@securechat/sdk/browser`): the native `WebSocket`, no
 * Node built-ins, ESM. The same API as the Node build; the token goes as a
 * `bearer.<token>` subprotocol by default (browsers cannot send headers).
 */
import { ChatClientCore } from './client';
import type { CommonChatClientOptions } from './client-options';
import { webSocketTransport, type WebSocketConstructor } from './browser/web-transport';

export * from './shared';
export { webSocketTransport, type WebSocketConstructor } from './browser/web-transport';

/** The browser build's options: those of both builds, with `tokenMethod` `subprotocol` (default) or `query`. */
export interface ChatClientOptions extends CommonChatClientOptions {
  /** The WebSocket constructor; the platform's own by default. */
  WebSocket?: WebSocketConstructor;
}

export class ChatClient extends ChatClientCore {
  constructor(options: ChatClientOptions) {
    super(options, webSocketTransport(options.WebSocket), {
      tokenMethod: 'subprotocol',
      tokenMethods: ['subprotocol', 'query'],
    });
  }
}
