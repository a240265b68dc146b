import { messageFrame } from '@securechat/common';
import type {
  Broker,
  FrameHandler,
  PublishOutcome,
  RateLimits,
  ReplayResult,
  StoredMessage,
} from '../chat-ports';
import { dispatchRoomPayload, messagePayload } from '../room-channel';
import { compareIds } from '../stream-id';
import type { MemoryMessageLimiter } from './rate-limit';

type Clock = () => number;

/** Receives the payloads of a room's channel, as a node's subscriber connection does. */
type RoomListener = (room: string, payload: Buffer) => void;

interface RoomLog {
  entries: StoredMessage[];
  lastMs: number;
  seq: number;
  maxDeleted: string;
}

/**
 * The in-process stand-in for Redis pub/sub and streams: several memory brokers (one
 * per node) can share a bus, so embedded mode and unit tests see the same semantics,
 * down to the payloads on a room's channel (room-channel.ts).
 */
export class MemoryBus {
  readonly logs = new Map<string, RoomLog>();
  readonly subscribers = new Map<string, Set<RoomListener>>();

  constructor(readonly now: Clock = Date.now) {}

  publish(room: string, payload: string): void {
    const listeners = this.subscribers.get(room);
    if (listeners === undefined) return;
    const bytes = Buffer.from(payload);
    // Delivered asynchronously, in publish order, like pub/sub.
    for (const listener of [...listeners]) queueMicrotask(() => listener(room, bytes));
  }
}

export class MemoryBroker implements Broker {
  private handler: FrameHandler = () => undefined;
  private readonly rooms = new Set<string>();
  private readonly listener: RoomListener = (room, payload) =>
    dispatchRoomPayload(room, payload, this.handler);

  constructor(
    private readonly bus: MemoryBus,
    private readonly historyMaxLen: number,
    private readonly limiter: MemoryMessageLimiter,
  ) {}

  /** The same steps as publish_limited.lua and rate_violation.lua, without Redis. */
  async publishLimited(
    room: string,
    from: string,
    text: string,
    limits: RateLimits,
  ): Promise<PublishOutcome> {
    const retryAfterMs = this.limiter.take(from, limits);
    if (retryAfterMs > 0) return { refused: await this.limiter.record(from, limits, retryAfterMs) };
    return { published: this.store(room, from, text) };
  }

  onFrame(handler: FrameHandler): void {
    this.handler = handler;
  }

  onResubscribed(): void {
    // In-process delivery cannot be lost.
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  private store(room: string, from: string, text: string): StoredMessage {
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
    if (log.entries.length > this.historyMaxLen) {
      const dropped = log.entries.splice(0, log.entries.length - this.historyMaxLen);
      log.maxDeleted = (dropped[dropped.length - 1] as StoredMessage).id;
    }
    this.bus.publish(room, messagePayload(message.id, messageFrame(message)));
    return message;
  }

  subscribe(room: string): Promise<void> {
    if (!this.rooms.has(room)) {
      this.rooms.add(room);
      let set = this.bus.subscribers.get(room);
      if (set === undefined) {
        set = new Set();
        this.bus.subscribers.set(room, set);
      }
      set.add(this.listener);
    }
    return Promise.resolve();
  }

  unsubscribe(room: string): Promise<void> {
    if (this.rooms.delete(room)) {
      const set = this.bus.subscribers.get(room);
      set?.delete(this.listener);
      if (set?.size === 0) this.bus.subscribers.delete(room);
    }
    return Promise.resolve();
  }

  history(room: string, limit: number, before?: string): Promise<StoredMessage[]> {
    const entries = this.bus.logs.get(room)?.entries ?? [];
    const older = before === undefined ? entries : entries.filter((m) => compareIds(m.id, before) < 0);
    return Promise.resolve(older.slice(Math.max(0, older.length - limit)));
  }

  replay(room: string, since: string, limit: number): Promise<ReplayResult> {
    const log = this.bus.logs.get(room);
    if (log === undefined) return Promise.resolve({ messages: [], truncated: false });
    return Promise.resolve({
      messages: log.entries.filter((m) => compareIds(m.id, since) > 0).slice(0, limit),
      truncated: compareIds(log.maxDeleted, since) > 0,
    });
  }

  close(): Promise<void> {
    for (const room of [...this.rooms]) void this.unsubscribe(room);
    return Promise.resolve();
  }
}
