/**
 * The chat WebSocket protocol (chat.v1) as TypeScript types: one JSON object per text
 * frame, discriminated by `type`. Field names follow the wire exactly (snake_case where
 * the wire uses it) so a frame can be read without translation.
 */

/** The subprotocol every connection asks for and the server selects. */
export const SUBPROTOCOL = 'chat.v1';

/** Prefix of the second offered subprotocol when the token travels that way. */
export const BEARER_SUBPROTOCOL_PREFIX = 'bearer.';

// ---------------------------------------------------------------------------
// Client to server

export interface JoinRequest {
  type: 'join';
  room: string;
  /** Replay every message of the room after this id before live ones. */
  since?: string;
  ref?: string;
}

export interface LeaveRequest {
  type: 'leave';
  room: string;
  ref?: string;
}

export interface SendRequest {
  type: 'send';
  room: string;
  text: string;
  ref?: string;
}

export interface DmRequest {
  type: 'dm';
  to: string;
  text: string;
  ref?: string;
}

export interface HistoryRequest {
  type: 'history';
  room: string;
  before?: string;
  limit?: number;
  ref?: string;
}

export interface RefreshTokenRequest {
  type: 'refresh_token';
  token: string;
  ref?: string;
}

export interface PingRequest {
  type: 'ping';
  ref?: string;
}

/** The user's rooms and conversations, newest activity first. */
export interface ConversationsRequest {
  type: 'conversations';
  ref?: string;
}

/** Moves the user's read marker in `room` to `id` (never backwards). */
export interface ReadRequest {
  type: 'read';
  room: string;
  id: string;
  ref?: string;
}

export type ClientMessage =
  | JoinRequest
  | LeaveRequest
  | SendRequest
  | DmRequest
  | HistoryRequest
  | RefreshTokenRequest
  | PingRequest
  | ConversationsRequest
  | ReadRequest;

export type ClientMessageType = ClientMessage['type'];

// ---------------------------------------------------------------------------
// Server to client

/** The server's message rate limit, per user over all their connections. */
export interface RateLimitInfo {
  /** Messages (`send` + `dm`) accepted in any window. */
  messages: number;
  window_ms: number;
}

/** First frame of every connection. */
export interface WelcomeMessage {
  type: 'welcome';
  user: string;
  node: string;
  session: string;
  /** The message rate limit (servers since issue 11): the SDK spaces its sends to stay within it. */
  limits?: RateLimitInfo;
  /**
   * The largest WebSocket message the server accepts, in bytes (its MAX_MESSAGE_BYTES; servers
   * since issue 11): the whole JSON frame, envelope and escaping included. Larger closes 1009.
   */
  max_message_bytes?: number;
}

export interface JoinedMessage {
  type: 'joined';
  room: string;
  members: string[];
  /** Present and true when `since` was older than the history the server keeps. */
  history_truncated?: boolean;
  ref?: string;
}

export interface LeftMessage {
  type: 'left';
  room: string;
  ref?: string;
}

export interface AckMessage {
  type: 'ack';
  id: string;
  /** Where the message went (for a DM, its `dm:` room). */
  room?: string;
  ref?: string;
}

/** A room message as stored: what `message` frames and `history` replies carry. */
export interface ChatMessage {
  room: string;
  /** Orders the room's history; a Redis Stream id ("<ms>-<seq>"). */
  id: string;
  from: string;
  text: string;
  /** Server time, milliseconds since the epoch. */
  ts: number;
}

export interface MessageFrame extends ChatMessage {
  type: 'message';
}

export type PresenceState = 'online' | 'offline';

export interface PresenceMessage {
  type: 'presence';
  room: string;
  user: string;
  state: PresenceState;
}

export interface HistoryMessage {
  type: 'history';
  room: string;
  /** Oldest first. */
  messages: ChatMessage[];
  /** Present and true when older messages remain (ask again with `before` = the first id). */
  more?: boolean;
  ref?: string;
}

/**
 * A replay stopped short of the newest message of `room` (it was bounded in bytes): the
 * room's live messages are withheld until the client continues with `join` and
 * `since: last`. The SDK does so by itself.
 */
export interface ReplayMoreMessage {
  type: 'replay_more';
  room: string;
  /** The id of the last message the replay covered. */
  last: string;
}

export interface TokenRefreshedMessage {
  type: 'token_refreshed';
  /** Expiry of the connection's new token, as the JWT `exp` (seconds). */
  exp: number;
  ref?: string;
}

export interface PongMessage {
  type: 'pong';
  ref?: string;
}

/** One of the user's rooms or conversations. */
export interface ConversationItem {
  room: string;
  /** The room's newest message; absent for a room with none yet. */
  last?: MessageFrame;
  /** Messages after the user's read marker, at most 100 (100 means "100 or more"). */
  unread: number;
}

export interface ConversationsMessage {
  type: 'conversations';
  items: ConversationItem[];
  ref?: string;
}

/**
 * The user's read marker in `room`: the reply to `read` (with its ref: the marker now,
 * which is never behind what was asked unless the room holds nothing newer), or an event
 * when another connection of the user moved it.
 */
export interface ReadMessage {
  type: 'read';
  room: string;
  id: string;
  ref?: string;
}

/** Error codes the contract names; a server may add others, so `code` stays a string. */
export const SERVER_ERROR_CODES = [
  'bad_request',
  'forbidden',
  'not_found',
  'rate_limited',
  'internal',
] as const;
export type ServerErrorCode = (typeof SERVER_ERROR_CODES)[number];

export interface ErrorMessage {
  type: 'error';
  code: string;
  message: string;
  ref?: string;
  /** With `rate_limited`: how long to wait before sending again. */
  retry_after_ms?: number;
}

export type ServerMessage =
  | WelcomeMessage
  | JoinedMessage
  | LeftMessage
  | AckMessage
  | MessageFrame
  | PresenceMessage
  | HistoryMessage
  | ReplayMoreMessage
  | TokenRefreshedMessage
  | PongMessage
  | ConversationsMessage
  | ReadMessage
  | ErrorMessage;

export type ServerMessageType = ServerMessage['type'];

/** The reply each request expects (besides an `error` with its ref). */
export interface ReplyTypes {
  join: JoinedMessage;
  leave: LeftMessage;
  send: AckMessage;
  dm: AckMessage;
  history: HistoryMessage;
  refresh_token: TokenRefreshedMessage;
  ping: PongMessage;
  conversations: ConversationsMessage;
  read: ReadMessage;
}

export const REPLY_TYPE: { readonly [K in ClientMessageType]: ReplyTypes[K]['type'] } = {
  join: 'joined',
  leave: 'left',
  send: 'ack',
  dm: 'ack',
  history: 'history',
  refresh_token: 'token_refreshed',
  ping: 'pong',
  conversations: 'conversations',
  read: 'read',
};
