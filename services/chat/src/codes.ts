/**
 * The catalogues of the WebSocket protocol: error codes carried by `error` messages
 * (the connection stays open) and close codes (the connection ends), each with what a
 * client should do about it.
 */
export const ERROR_CODES = {
  bad_request: 'the frame is not a valid request; fix the client',
  forbidden: "not allowed for this user (room not joined, someone else's DM, token refused)",
  not_found: 'reserved: no current request answers it',
  rate_limited: 'too many messages; retry after retry_after_ms',
  internal: 'the server failed or a backing service is unavailable; retry later',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface CloseCode {
  readonly code: number;
  readonly reason: string;
  /** Whether a client should reconnect (with backoff) after it. */
  readonly reconnect: boolean;
}

export const CLOSE = {
  tokenExpired: { code: 1008, reason: 'token_expired', reconnect: true },
  tokenRevoked: { code: 1008, reason: 'token_revoked', reconnect: false },
  blocked: { code: 1008, reason: 'blocked', reconnect: false },
  unsupportedData: { code: 1003, reason: 'binary frames are not accepted', reconnect: false },
  tooBig: { code: 1009, reason: 'message too big', reconnect: false },
  restart: { code: 1012, reason: 'restart', reconnect: true },
  slowConsumer: { code: 1013, reason: 'slow_consumer', reconnect: true },
  normal: { code: 1000, reason: '', reconnect: false },
} as const satisfies Record<string, CloseCode>;

/** Handshake refusals: HTTP status and the JSON error code of the body. */
export const HANDSHAKE = {
  notFound: { status: 404, error: 'not_found' },
  badRequest: { status: 400, error: 'bad_request' },
  originRefused: { status: 403, error: 'origin_not_allowed' },
  invalidToken: { status: 401, error: 'invalid_token' },
  blocked: { status: 403, error: 'blocked' },
  tooManyConnections: { status: 429, error: 'too_many_connections' },
  tooManyHandshakes: { status: 429, error: 'too_many_handshakes' },
  unavailable: { status: 503, error: 'unavailable' },
} as const;

export type HandshakeRefusal = (typeof HANDSHAKE)[keyof typeof HANDSHAKE];
