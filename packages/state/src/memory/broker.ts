import { messageFrame } from '@securechat/common';
import {
  messageCost,
  type Broker,
  type FrameHandler,
  type HistoryPage,
  type PageBounds,
  type PublishOutcome,
  type RateLimits,
  type ReplayResult,
  type StoredMessage,
  type UserEventHandler,
} from '../chat-ports';
import { directPayload, dispatchRoomPayload, dispatchUserPayload, messagePayload } from '../room-channel';
import { compareIds } from '../stream-id';
import type { MemoryMessageLimiter } from './rate-limit';

type Clock = () => number;

/** Receives the payloads of a room's (or a user's) channel, as a node's subscriber connection does. */
type RoomListener = (room: string, payload: Buffer) => void;

export interface RoomLog {
  entries: StoredMessage[];
  lastMs: number;
  seq: number;
  maxDeleted: string;
}

/** A user's inbox in memory: what `inbox:<user>:rooms` and `inbox:<user>:read` hold in Redis. */
export interface MemoryInboxEntry {
  rooms: Map<string, number>;
  read: Map<string, string>;
}

/**
 * The in-process stand-in for Redis pub/sub and streams: several memory brokers (one
 * per node) can share a bus, so embedded mode and unit tests see the same semantics,
 * down to the payloads on a room's channel (room-channel.ts).
 */
export class MemoryBus {
  readonly logs = new Map<string, RoomLog>();
  readonly subscribers = new Map<string, Set<RoomListener>>();
  readonly userSubscribers = new Map<string, Set<RoomListener>>();
  readonly inboxes = new Map<string, MemoryInboxEntry>();

  constructor(readonly now: Clock = Date.now) {}

  publish(room: string, payload: string): void {
    deliver(this.subscribers, room, payload);
  }

  /** Publishes on a user's own channel. */
  publishToUser(user: string, payload: string): void {
    deliver(this.userSubscribers, user, payload);
  }

  inbox(user: string): MemoryInboxEntry {
    let entry = this.inboxes.get(user);
    if (entry === undefined) {
      entry = { rooms: new Map(), read: new Map() };
      this.inboxes.set(user, entry);
    }
    return entry;
  }
}

function deliver(subscribers: Map<string, Set<RoomListener>>, name: string, payload: string): void {
  const listeners = subscribers.get(name);
  if (listeners === undefined) return;
  const bytes = Buffer.from(payload);
  // Delivered asynchronously, in publish order, like pub/sub.
  for (const listener of [...listeners]) queueMicrotask(() => listener(name, bytes));
}

function listen(subscribers: Map<string, Set<RoomListener>>, name: string, listener: RoomListener): void {
  let set = subscribers.get(name);
  if (set === undefined) {
    set = new Set();
    subscribers.set(name, set);
  }
  set.add(listener);
}

function unlisten(subscribers: Map<string, Set<RoomListener>>, name: string, listener: RoomListener): void {
  const set = subscribers.get(name);
  set?.delete(listener);
  if (set?.size === 0) subscribers.delete(name);
}

export class MemoryBroker implements Broker {
  private handler: FrameHandler = () => undefined;
  private userHandler: UserEventHandler = () => undefined;
  private readonly rooms = new Set<string>();
  private readonly users = new Set<string>();
  private readonly listener: RoomListener = (room, payload) =>
    dispatchRoomPayload(room, payload, this.handler);
  private readonly userListener: RoomListener = (user, payload) =>
    dispatchUserPayload(user, payload, this.userHandler);

  constructor(
    private readonly bus: MemoryBus,
    private readonly historyMaxLen: number,
    private readonly limiter: MemoryMessageLimiter,
    /** 0: no age bound. */
    private readonly historyMaxAgeMs = 0,
  ) {}

  /** The same steps as publish_limited.lua and rate_violation.lua, without Redis. */
  async publishLimited(
    room: string,
    from: string,
    text: string,
    limits: RateLimits,
    direct?: readonly string[],
  ): Promise<PublishOutcome> {
    const retryAfterMs = this.limiter.take(from, limits);
    if (retryAfterMs > 0) return { refused: await this.limiter.record(from, limits, retryAfterMs) };
    return { published: this.store(room, from, text, direct) };
  }

  onFrame(handler: FrameHandler): void {
    this.handler = handler;
  }

  onUserEvent(handler: UserEventHandler): void {
    this.userHandler = handler;
  }

  onResubscribed(): void {
    // In-process delivery cannot be lost.
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  private store(
    room: string,
    from: string,
    text: string,
    direct: readonly string[] | undefined,
  ): StoredMessage {
    let log = this.bus.logs.get(room);
    if (log === undefined) {
      log = { entries: [], lastMs: 0, seq: 0, maxDeleted: '0-0' };
      this.bus.logs.set(room, log);
    }
    const ts = this.bus.now();
    if (ts > log.lastMs) {
      log.lastMs = ts;
      log.seq = 0;
    } else {
      log.seq += 1;
    }
    const message: StoredMessage = { id: `${log.lastMs}-${log.seq}`, room, from, text, ts };
    log.entries.push(message);
    // Bounded by count and by age, as publish_limited.lua does (there approximately).
    let drop = Math.max(0, log.entries.length - this.historyMaxLen);
    if (this.historyMaxAgeMs > 0) {
      const oldest = ts - this.historyMaxAgeMs;
      while (drop < log.entries.length && (log.entries[drop] as StoredMessage).ts < oldest) drop += 1;
    }
    if (drop > 0) {
      const dropped = log.entries.splice(0, drop);
      log.maxDeleted = (dropped[dropped.length - 1] as StoredMessage).id;
    }
    this.bus.inbox(from).read.set(room, message.id);
    const frame = messageFrame(message);
    if (direct === undefined) this.bus.publish(room, messagePayload(message.id, frame));
    else for (const user of direct) this.bus.publishToUser(user, directPayload(message.id, room, frame));
    return message;
  }

  subscribe(room: string): Promise<void> {
    if (!this.rooms.has(room)) {
      this.rooms.add(room);
      listen(this.bus.subscribers, room, this.listener);
    }
    return Promise.resolve();
  }

  unsubscribe(room: string): Promise<void> {
    if (this.rooms.delete(room)) unlisten(this.bus.subscribers, room, this.listener);
    return Promise.resolve();
  }

  subscribeUser(user: string): Promise<void> {
    if (!this.users.has(user)) {
      this.users.add(user);
      listen(this.bus.userSubscribers, user, this.userListener);
    }
    return Promise.resolve();
  }

  unsubscribeUser(user: string): Promise<void> {
    if (this.users.delete(user)) unlisten(this.bus.userSubscribers, user, this.userListener);
    return Promise.resolve();
  }

  history(room: string, bounds: PageBounds, before?: string): Promise<HistoryPage> {
    const entries = this.bus.logs.get(room)?.entries ?? [];
    const older = before === undefined ? entries : entries.filter((m) => compareIds(m.id, before) < 0);
    const page = takePage([...older].reverse(), bounds);
    return Promise.resolve({ messages: page.messages.reverse(), more: page.more });
  }

  replay(room: string, since: string, bounds: PageBounds): Promise<ReplayResult> {
    const log = this.bus.logs.get(room);
    if (log === undefined) return Promise.resolve({ messages: [], truncated: false, more: false });
    const page = takePage(
      log.entries.filter((m) => compareIds(m.id, since) > 0),
      bounds,
    );
    return Promise.resolve({ ...page, truncated: compareIds(log.maxDeleted, since) > 0 });
  }

  close(): Promise<void> {
    for (const room of [...this.rooms]) void this.unsubscribe(room);
    for (const user of [...this.users]) void this.unsubscribeUser(user);
    return Promise.resolve();
  }
}

/** The page history.lua and replay.lua return: `bounds`, and at least one message. */
function takePage(
  ordered: StoredMessage[],
  bounds: PageBounds,
): { messages: StoredMessage[]; more: boolean } {
  const messages: StoredMessage[] = [];
  let bytes = 0;
  for (const m of ordered) {
    if (messages.length >= bounds.limit) return { messages, more: true };
    const size = messageCost(m);
    if (messages.length > 0 && bytes + size > bounds.maxBytes) return { messages, more: true };
    messages.push(m);
    bytes += size;
  }
  return { messages, more: false };
}
