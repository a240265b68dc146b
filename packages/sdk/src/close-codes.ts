/**
 * What the client does when the server ends a connection, by close code and reason, and
 * when it refuses a handshake, by HTTP status. Everything not listed reconnects with
 * backoff: an unknown failure is assumed to be transient, and `maxAttempts` bounds it.
 * docs/PROTOCOL.md gives the same decision for every close and refusal the server sends
 * (a test holds the two, and the server's catalogue, in step: this package ships alone
 * and imports nothing of the server's).
 *
 * | close            | reason          | action                                          |
 * | ---------------- | --------------- | ----------------------------------------------- |
 * | 1008             | `blocked`       | stop: reconnecting would be refused             |
 * | 1008             | `token_revoked` | stop: the session is over (logout, reuse, ...)  |
 * | 1008             | `token_expired` | reconnect soon, with a fresh token              |
 * | 1003, 1007, 1009 | (any)           | stop: the client sent what the server never     |
 * |                  |                 | accepts (binary, invalid UTF-8, too big)        |
 * | 1012             | `restart`       | reconnect soon: the node is draining            |
 * | 1013             | (any)           | reconnect soon (`slow_consumer`: try again)     |
 * | 1001             | (any)           | reconnect soon (`going_away`)                   |
 * | anything else    |                 | reconnect with backoff                          |
 *
 * | handshake status | action                                                           |
 * | ---------------- | ---------------------------------------------------------------- |
 * | 403              | stop: origin not allowed or user blocked, a new token won't help |
 * | 400, 404         | stop: not a chat.v1 WebSocket request, or the wrong path: a bug  |
 * | anything else    | reconnect with backoff (401 retries with a fresh token)          |
 *
 * "Soon" still waits a jittered delay (up to `baseDelayMs`) so that the clients of a
 * draining node do not all arrive on the others at the same instant, and it restarts the
 * backoff schedule; "with backoff" keeps escalating unless the connection that closed had
 * been up for `stableAfterMs`.
 */
export type CloseAction = 'stop' | 'reconnect_soon' | 'reconnect_backoff';

/** Close code 1008 reasons after which the client never reconnects. */
export const TERMINAL_CLOSE_REASONS: ReadonlySet<string> = new Set(['blocked', 'token_revoked']);

/**
 * Close codes after which the client never reconnects, whatever the reason: the client
 * sent something the server never accepts (a binary frame, invalid UTF-8, a message over
 * its size limit), and would only send it again.
 */
export const TERMINAL_CLOSE_CODES: ReadonlySet<number> = new Set([1003, 1007, 1009]);

/** Handshake statuses after which the client never reconnects. */
export const TERMINAL_HANDSHAKE_STATUSES: ReadonlySet<number> = new Set([400, 403, 404]);

export function closeAction(code: number, reason: string): CloseAction {
  if (TERMINAL_CLOSE_CODES.has(code)) return 'stop';
  switch (code) {
    case 1008:
      return TERMINAL_CLOSE_REASONS.has(reason)
        ? 'stop'
        : reason === 'token_expired'
          ? 'reconnect_soon'
          : 'reconnect_backoff';
    case 1001:
    case 1012:
    case 1013:
      return 'reconnect_soon';
    default:
      return 'reconnect_backoff';
  }
}

export function handshakeAction(status: number): CloseAction {
  return TERMINAL_HANDSHAKE_STATUSES.has(status) ? 'stop' : 'reconnect_backoff';
}
