import type { ErrorMessage, ServerErrorCode } from './protocol';

/**
 * Codes the SDK itself raises, beside the server's (`bad_request`, `forbidden`,
 * `not_found`, `rate_limited`, `internal`, ...), with what the caller can do about them.
 */
export const CLIENT_ERROR_CODES = {
  /** No reply within `requestTimeoutMs`. The request may still have taken effect. */
  timeout: 'timeout',
  /** The connection dropped before the reply. A `send` may or may not have been stored:
   *  after the reconnect, the replay tells. */
  disconnected: 'disconnected',
  /** Called while no connection is ready (connecting or reconnecting): retry after
   *  `connected`/`reconnected`. */
  not_connected: 'not_connected',
  /** The client was closed, by `close()` or by a terminal close; make a new client. */
  closed: 'closed',
  /** The server answered the handshake with an HTTP error (`status` says which). */
  handshake_refused: 'handshake_refused',
  /** No connection could be made (network, TLS, timeout, bad subprotocol). */
  connect_failed: 'connect_failed',
  /** `getToken` rejected or returned something that is not a string. */
  token_unavailable: 'token_unavailable',
  /** The server sent something this SDK cannot read, or replied with the wrong type. */
  protocol_error: 'protocol_error',
} as const;

export type ClientErrorCode = keyof typeof CLIENT_ERROR_CODES;

/** Known codes are suggested; a server may add codes, so any string is accepted. */
export type ChatErrorCode = ServerErrorCode | ClientErrorCode | (string & NonNullable<unknown>);

export interface ChatErrorDetails {
  /**
   * With `rate_limited`: the server's `retry_after_ms`. With `handshake_refused`: when the
   * node asked to be tried again (`retry_after_ms` of its body, else `Retry-After`).
   */
  retryAfterMs?: number;
  /** With `handshake_refused`: the HTTP status (401, 403, 429, ...). */
  status?: number;
  /** With `disconnected`/`connect_failed` after an open socket closed: its close frame. */
  closeCode?: number;
  closeReason?: string;
  cause?: unknown;
}

/** Every rejection of the SDK: a server `error` reply or one of the client codes. */
export class ChatError extends Error {
  override readonly name = 'ChatError';
  readonly code: ChatErrorCode;
  readonly retryAfterMs: number | undefined;
  readonly status: number | undefined;
  readonly closeCode: number | undefined;
  readonly closeReason: string | undefined;

  constructor(code: ChatErrorCode, message: string, details: ChatErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.retryAfterMs = details.retryAfterMs;
    this.status = details.status;
    this.closeCode = details.closeCode;
    this.closeReason = details.closeReason;
  }

  static fromReply(reply: ErrorMessage): ChatError {
    return new ChatError(
      reply.code,
      reply.message,
      reply.retry_after_ms === undefined ? {} : { retryAfterMs: reply.retry_after_ms },
    );
  }
}
