/**
 * The catalogues of the WebSocket protocol, each code with what a client should do about
 * it: error codes carried by `error` messages (the connection stays open), close codes (the
 * connection ends) and handshake refusals (it never opens). docs/PROTOCOL.md documents the
 * same rows; test/chat/catalogue.test.ts holds the docs, these catalogues and the SDK's
 * reconnect decision (packages/sdk/src/close-codes.ts, which ships alone and cannot import
 * this module) in step.
 */
export const ERROR_CODES = {
  bad_request: 'the frame is not a valid request; fix the client',
  forbidden: "not allowed for this user (room not joined, someone else's DM, token refused)",
  not_found: 'nothing to act on (a `read` in a room without messages)',
  rate_limited: 'too many messages; retry after retry_after_ms',
  internal: 'the server failed or a backing service is unavailable; retry later',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * What a client does after a close or a refused handshake (the SDK's `CloseAction`):
 * never reconnect; reconnect after a short jittered delay, restarting its backoff; or
 * reconnect with capped exponential backoff.
 */
export type ClientAction = 'stop' | 'reconnect_soon' | 'reconnect_backoff';

export interface CloseCode {
  readonly code: number;
  /** Empty for the closes ws sends on its own, which carry no reason. */
  readonly reason: string;
  readonly client: ClientAction;
}

/** Every close frame a chat node sends. */
export const CLOSE = {
  tokenExpired: { code: 1008, reason: 'token_expired', client: 'reconnect_soon' },
  tokenRevoked: { code: 1008, reason: 'token_revoked', client: 'stop' },
  blocked: { code: 1008, reason: 'blocked', client: 'stop' },
  unsupportedData: { code: 1003, reason: 'binary frames are not accepted', client: 'stop' },
  /** Sent by ws itself for a text frame that is not UTF-8 (`skipUTF8Validation` stays off). */
  invalidUtf8: { code: 1007, reason: '', client: 'stop' },
  /** Sent by ws itself for a message over its `maxPayload`, which is MAX_MESSAGE_BYTES. */
  tooBig: { code: 1009, reason: '', client: 'stop' },
  restart: { code: 1012, reason: 'restart', client: 'reconnect_soon' },
  slowConsumer: { code: 1013, reason: 'slow_consumer', client: 'reconnect_soon' },
} as const satisfies Record<string, CloseCode>;

/** Handshake refusals: HTTP status, the JSON error code of the body, and what the client does. */
export const HANDSHAKE = {
  notFound: { status: 404, error: 'not_found', client: 'stop' },
  badRequest: { status: 400, error: 'bad_request', client: 'stop' },
  originRefused: { status: 403, error: 'origin_not_allowed', client: 'stop' },
  invalidToken: { status: 401, error: 'invalid_token', client: 'reconnect_backoff' },
  blocked: { status: 403, error: 'blocked', client: 'stop' },
  tooManyConnections: { status: 429, error: 'too_many_connections', client: 'reconnect_backoff' },
  tooManyHandshakes: { status: 429, error: 'too_many_handshakes', client: 'reconnect_backoff' },
  unavailable: { status: 503, error: 'unavailable', client: 'reconnect_backoff' },
  overloaded: { status: 503, error: 'overloaded', client: 'reconnect_backoff' },
} as const satisfies Record<string, { status: number; error: string; client: ClientAction }>;

export type HandshakeRefusal = (typeof HANDSHAKE)[keyof typeof HANDSHAKE];
