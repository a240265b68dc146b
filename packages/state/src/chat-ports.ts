/**
 * Ports of the chat nodes' shared state: fan-out with history and the per-user message
 * rate (Broker), presence per room, the per-user connection cap and each user's inbox
 * (their rooms and read markers). Memory and Redis implementations pass one contract
 * suite (test/state/chat-state.contract.ts).
 */
import type { Blocklist, RevocationStore } from './ports';
import type { EnforcementFeed } from './enforcement';

export interface StoredMessage {
  readonly id: string;
  readonly room: string;
  readonly from: string;
  readonly text: string;
  readonly ts: number;
}

/**
 * What a node receives from the broker: a frame already serialised (and UTF-8 encoded)
 * for clients, sent as is to every local member. `id` is the message id (undefined for
 * presence events).
 */
export type FrameHandler = (room: string, id: string | undefined, frame: Buffer) => void;

/** A message over its sender's limit: neither stored nor published. */
export interface RateRefusal {
  readonly retryAfterMs: number;
  /** Refused messages of the sender within the window, this one included. */
  readonly violations: number;
  /** This refusal blocked the sender (BLOCK_AFTER_VIOLATIONS reached). */
  readonly blocked: boolean;
}

export type PublishOutcome =
  | { readonly published: StoredMessage; readonly refused?: undefined }
  | { readonly published?: undefined; readonly refused: RateRefusal };

/**
 * How much one read of a room's history may return: at most `limit` messages and at most
 * `maxBytes` (by `messageCost`), but always at least one message when there is one, so
 * that paging always moves on.
 */
export interface PageBounds {
  readonly limit: number;
  readonly maxBytes: number;
}

export interface HistoryPage {
  /** Oldest first. */
  readonly messages: StoredMessage[];
  /** Older messages remain before the first one returned. */
  readonly more: boolean;
}

export interface ReplayResult {
  /** Oldest first. */
  readonly messages: StoredMessage[];
  /** Some messages after `since` were trimmed from the history: the client missed them. */
  readonly truncated: boolean;
  /** Newer messages remain after the last one returned: read the next page from it. */
  readonly more: boolean;
}

/** The fixed part of a message frame, beside its room name, from, text and ts. */
const FRAME_OVERHEAD = 128;

/**
 * What a message costs to send, in bytes: an upper bound of its frame's size (every
 * character JSON may escape counted as \uXXXX). history.lua and replay.lua compute the
 * same from the stored fields, with `frameOverhead(room)`.
 */
export function messageCost(m: Pick<StoredMessage, 'room' | 'from' | 'text' | 'ts'>): number {
  let size = frameOverhead(m.room);
  for (const v of [m.from, m.text, String(m.ts)]) size += Buffer.byteLength(v) + 5 * escapes(v);
  return size;
}

export function frameOverhead(room: string): number {
  return FRAME_OVERHEAD + Buffer.byteLength(room);
}

// Control characters (with DEL, as Lua's %c), quote and backslash.
// eslint-disable-next-line no-control-regex
const ESCAPED = /[\x00-\x1f\x7f"\\]/g;

function escapes(v: string): number {
  return v.match(ESCAPED)?.length ?? 0;
}

/**
 * What arrives on a user's own channel: a DM (the frame serialised once, like a room's)
 * or a read marker moved by one of the user's sessions (`session` says which).
 */
export type UserEvent =
  | { readonly kind: 'message'; readonly room: string; readonly id: string; readonly frame: Buffer }
  | { readonly kind: 'read'; readonly room: string; readonly id: string; readonly session: string };

export type UserEventHandler = (user: string, event: UserEvent) => void;

/**
 * After the subscriber connection came back: the rooms and users it was subscribed to
 * (their messages may have been missed) and when it was lost (unix ms, this node's clock).
 */
export type ResubscribedHandler = (rooms: string[], users: string[], lostAtMs: number) => void;

export interface Broker {
  /** Inbound traffic is inverted: the node registers its handler, the broker never imports the node. */
  onFrame(handler: FrameHandler): void;
  /** The handler of the users' own channels (DMs and read markers). */
  onUserEvent(handler: UserEventHandler): void;
  /** Adds a handler called after the broker lost and regained its subscriptions. */
  onResubscribed(handler: ResubscribedHandler): void;
  /**
   * Counts the message against `from`'s limit: a true sliding window over all nodes.
   * Only when it is allowed is it stored in the room's history, `from`'s read marker in
   * the room moved to it, and fanned out: one round trip for an accepted message. A room
   * message goes to the room's channel; a DM (`direct`: its two users) to each user's
   * own channel instead, so that it reaches every connection of both without a join.
   * A refusal counts as a violation, and enough violations within one window block the user.
   */
  publishLimited(
    room: string,
    from: string,
    text: string,
    limits: RateLimits,
    direct?: readonly string[],
  ): Promise<PublishOutcome>;
  /** Receives the room's frames from now on; resolves once subscribed. */
  subscribe(room: string): Promise<void>;
  unsubscribe(room: string): Promise<void>;
  /** Receives the user's own channel from now on; resolves once subscribed. */
  subscribeUser(user: string): Promise<void>;
  unsubscribeUser(user: string): Promise<void>;
  /** One page of the messages just before `before` (default: the newest), oldest first. */
  history(room: string, bounds: PageBounds, before?: string): Promise<HistoryPage>;
  /** One page of the messages after `since`, oldest first; `more` says where to go on. */
  replay(room: string, since: string, bounds: PageBounds): Promise<ReplayResult>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export interface PresenceChange {
  readonly user: string;
  readonly state: 'online' | 'offline';
}

export interface Presence {
  /**
   * Marks `user` present in `room` on this node (idempotent). When it is the user's
   * first presence anywhere, the `online` event is published to the room.
   */
  join(room: string, user: string): Promise<void>;
  /** Removes this node's presence of `user`; the last one out publishes `offline`. */
  leave(room: string, user: string): Promise<void>;
  /** Users present in the room on any live node. */
  members(room: string): Promise<string[]>;
  /**
   * Refreshes this node's entries (so they outlive the TTL) and expires other nodes'
   * entries that stopped being refreshed, publishing `offline` for users left nowhere.
   */
  heartbeat(entries: readonly { room: string; user: string }[]): Promise<void>;
}

export interface ConnectionRegistry {
  /** Registers a session if the user holds fewer than `limit` across the cluster. */
  acquire(user: string, session: string, limit: number): Promise<boolean>;
  release(user: string, session: string): Promise<void>;
  /** Keeps this node's sessions alive; a dead node's sessions expire. */
  heartbeat(sessions: readonly { user: string; session: string }[]): Promise<void>;
}

/** One of a user's rooms as `conversations` lists it. */
export interface Conversation {
  readonly room: string;
  /** The room's newest message, if it has one. */
  readonly last?: StoredMessage;
  /** Messages after the user's read marker, at most INBOX_LIMITS.unread. */
  readonly unread: number;
}

export type ReadOutcome =
  /** The marker is now at `id` (moved, or already there or beyond: it never goes back). */
  | { readonly status: 'moved' | 'kept'; readonly id: string }
  /** The room is not one of the user's rooms (never joined, left, or no DM). */
  | { readonly status: 'unknown' }
  /** The room holds no message to mark. */
  | { readonly status: 'empty' };

/** The bounds of an inbox, documented in docs/PROTOCOL.md. */
export const INBOX_LIMITS = Object.freeze({
  /** Rooms remembered per user; past it, the one remembered longest ago is forgotten. */
  rooms: 200,
  /** Unread counts stop here: this value means "this many or more". */
  unread: 100,
});

/**
 * A user's rooms across devices, and their read markers. Only membership and markers are
 * stored; the last message and unread counts are read from the rooms' streams when
 * asked, so sending a message writes nothing per recipient.
 */
export interface Inbox {
  /**
   * Remembers a room the user joined (again); its read marker starts now if it has none,
   * so the history before the first join is not unread.
   */
  remember(user: string, room: string): Promise<void>;
  /** Remembers a DM room for both its users (if not already: no write then). */
  rememberDirect(room: string, users: readonly string[]): Promise<void>;
  /** Forgets a room the user left on purpose, with its read marker. */
  forget(user: string, room: string): Promise<void>;
  /** The user's remembered rooms (any order). */
  rooms(user: string): Promise<string[]>;
  /**
   * The user's rooms, newest activity first (the newest message, or when it was
   * remembered for a room with none); DM rooms without any message are left out.
   */
  conversations(user: string): Promise<Conversation[]>;
  /**
   * Moves the user's read marker in `room` to `id` (clamped to the room's newest message)
   * unless it is already there or beyond; a move is announced on the user's channel
   * with `session`, so that their other sessions hear of it.
   */
  markRead(user: string, room: string, id: string, session: string): Promise<ReadOutcome>;
}

export interface RateLimits {
  readonly max: number;
  readonly windowMs: number;
  readonly blockAfterViolations: number;
  readonly blockDurationS: number;
}

/** Everything a chat node shares with the cluster. */
export interface ChatState {
  broker: Broker;
  inbox: Inbox;
  presence: Presence;
  registry: ConnectionRegistry;
  revocations: RevocationStore;
  blocklist: Blocklist;
  enforcement: EnforcementFeed;
  /** Starts what the state runs by itself (on Redis: the delivery probe), after the broker. */
  start(): Promise<void>;
  /** Reachable, and (on Redis) delivering: a probe through the node's own subscription came back recently. */
  ready(): Promise<boolean>;
  close(): Promise<void>;
}
