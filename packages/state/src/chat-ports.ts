/**
 * Ports of the chat nodes' shared state: fan-out with history and the per-user message
 * rate (Broker), presence per room and the per-user connection cap. Memory and Redis
 * implementations pass one contract suite (test/state/chat-state.contract.ts).
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

export interface Broker {
  /** Inbound traffic is inverted: the node registers its handler, the broker never imports the node. */
  onFrame(handler: FrameHandler): void;
  /** Called after the broker lost and regained its subscriptions (messages may have been missed). */
  onResubscribed(handler: (rooms: string[]) => void): void;
  /**
   * Counts the message against `from`'s limit: a true sliding window over all nodes.
   * Only when it is allowed is it stored in the room's history and fanned out to every
   * node: one round trip for an accepted message. A refusal counts as a violation, and
   * enough violations within one window block the user.
   */
  publishLimited(room: string, from: string, text: string, limits: RateLimits): Promise<PublishOutcome>;
  /** Receives the room's frames from now on; resolves once subscribed. */
  subscribe(room: string): Promise<void>;
  unsubscribe(room: string): Promise<void>;
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

export interface RateLimits {
  readonly max: number;
  readonly windowMs: number;
  readonly blockAfterViolations: number;
  readonly blockDurationS: number;
}

/** Everything a chat node shares with the cluster. */
export interface ChatState {
  broker: Broker;
  presence: Presence;
  registry: ConnectionRegistry;
  revocations: RevocationStore;
  blocklist: Blocklist;
  enforcement: EnforcementFeed;
  ready(): Promise<boolean>;
  close(): Promise<void>;
}
