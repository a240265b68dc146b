import { messageFrame, presenceFrame } from '@securechat/common';
import type {
  Broker,
  ConnectionRegistry,
  FrameHandler,
  MessageRateLimiter,
  Presence,
  PublishOutcome,
  RateDecision,
  RateLimits,
  ReplayResult,
  StoredMessage,
} from '../chat-ports';
import type { Blocklist } from '../ports';
import { compareIds } from '../stream-id';

type Clock = () => number;

interface RoomLog {
  entries: StoredMessage[];
  lastMs: number;
  seq: number;
  maxDeleted: string;
}

/**
 * The in-process stand-in for Redis pub/sub and streams: several memory brokers (one
 * per node) can share a bus, so embedded mode and unit tests see the same semantics.
 */
export class MemoryBus {
  readonly logs = new Map<string, RoomLog>();
  readonly subscribers = new Map<string, Set<FrameHandler>>();

  constructor(readonly now: Clock = Date.now) {}

  emit(room: string, id: string | undefined, text: string): void {
    const handlers = this.subscribers.get(room);
    if (handlers === undefined) return;
    const frame = Buffer.from(text);
    // Delivered asynchronously, in publish order, like pub/sub.
    for (const handler of [...handlers]) queueMicrotask(() => handler(room, id, frame));
  }
}

export class MemoryBroker implements Broker {
  private handler: FrameHandler = () => undefined;
  private readonly rooms = new Set<string>();
  private readonly dispatch: FrameHandler = (room, id, frame) => this.handler(room, id, frame);

  constructor(
    private readonly bus: MemoryBus,
    private readonly historyMaxLen: number,
    private readonly limiter: MessageRateLimiter,
  ) {}

  async publishLimited(
    room: string,
    from: string,
    text: string,
    limits: RateLimits,
  ): Promise<PublishOutcome> {
    const decision = await this.limiter.consume(from, limits);
    if (!decision.allowed) return { refused: decision };
    return { published: await this.publish(room, from, text) };
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

  publish(room: string, from: string, text: string): Promise<StoredMessage> {
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
    this.bus.emit(room, message.id, messageFrame(message));
    return Promise.resolve(message);
  }

  subscribe(room: string): Promise<void> {
    if (!this.rooms.has(room)) {
      this.rooms.add(room);
      let set = this.bus.subscribers.get(room);
      if (set === undefined) {
        set = new Set();
        this.bus.subscribers.set(room, set);
      }
      set.add(this.dispatch);
    }
    return Promise.resolve();
  }

  unsubscribe(room: string): Promise<void> {
    if (this.rooms.delete(room)) {
      const set = this.bus.subscribers.get(room);
      set?.delete(this.dispatch);
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

/** Presence shared by the memory nodes of one bus; entries expire like Redis's. */
export class MemoryPresenceTable {
  readonly rooms = new Map<string, Map<string, Map<string, number>>>(); // room -> user -> node -> expiry
}

export class MemoryPresence implements Presence {
  constructor(
    private readonly bus: MemoryBus,
    private readonly table: MemoryPresenceTable,
    private readonly node: string,
    private readonly ttlMs: number,
  ) {}

  private room(room: string): Map<string, Map<string, number>> {
    let users = this.table.rooms.get(room);
    if (users === undefined) {
      users = new Map();
      this.table.rooms.set(room, users);
    }
    return users;
  }

  private sweep(room: string): void {
    const now = this.bus.now();
    const users = this.room(room);
    for (const [user, nodes] of users) {
      for (const [node, expiry] of nodes) if (expiry <= now) nodes.delete(node);
      if (nodes.size === 0) {
        users.delete(user);
        this.bus.emit(room, undefined, presenceFrame(room, user, 'offline'));
      }
    }
  }

  join(room: string, user: string): Promise<void> {
    this.sweep(room);
    const users = this.room(room);
    let nodes = users.get(user);
    if (nodes === undefined) {
      nodes = new Map();
      users.set(user, nodes);
      this.bus.emit(room, undefined, presenceFrame(room, user, 'online'));
    }
    nodes.set(this.node, this.bus.now() + this.ttlMs);
    return Promise.resolve();
  }

  leave(room: string, user: string): Promise<void> {
    this.sweep(room);
    const users = this.room(room);
    const nodes = users.get(user);
    if (nodes?.delete(this.node) === true && nodes.size === 0) {
      users.delete(user);
      this.bus.emit(room, undefined, presenceFrame(room, user, 'offline'));
    }
    if (users.size === 0) this.table.rooms.delete(room);
    return Promise.resolve();
  }

  members(room: string): Promise<string[]> {
    this.sweep(room);
    return Promise.resolve([...this.room(room).keys()].sort());
  }

  async heartbeat(entries: readonly { room: string; user: string }[]): Promise<void> {
    const expiry = this.bus.now() + this.ttlMs;
    const seen = new Set<string>();
    for (const { room, user } of entries) {
      if (!seen.has(room)) {
        seen.add(room);
        this.sweep(room);
      }
      const nodes = this.room(room).get(user);
      if (nodes === undefined) await this.join(room, user);
      else nodes.set(this.node, expiry);
    }
    // Like presence.lua, only the rooms renewed are swept here (nodes now heartbeat a
    // slice of their rooms per tick); any other room is swept by its next update.
  }
}

export class MemoryConnectionRegistry implements ConnectionRegistry {
  private readonly users = new Map<string, Map<string, number>>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: Clock = Date.now,
  ) {}

  acquire(user: string, session: string, limit: number): Promise<boolean> {
    const now = this.now();
    let sessions = this.users.get(user);
    if (sessions === undefined) {
      sessions = new Map();
      this.users.set(user, sessions);
    }
    for (const [s, expiry] of sessions) if (expiry <= now) sessions.delete(s);
    if (sessions.size >= limit) return Promise.resolve(false);
    sessions.set(session, now + this.ttlMs);
    return Promise.resolve(true);
  }

  release(user: string, session: string): Promise<void> {
    const sessions = this.users.get(user);
    sessions?.delete(session);
    if (sessions?.size === 0) this.users.delete(user);
    return Promise.resolve();
  }

  heartbeat(sessions: readonly { user: string; session: string }[]): Promise<void> {
    const expiry = this.now() + this.ttlMs;
    for (const { user, session } of sessions) this.users.get(user)?.set(session, expiry);
    return Promise.resolve();
  }
}

export class MemoryMessageRateLimiter implements MessageRateLimiter {
  private readonly accepted = new Map<string, number[]>();
  private readonly violations = new Map<string, number[]>();

  constructor(
    private readonly blocklist: Blocklist,
    private readonly now: Clock = Date.now,
  ) {}

  async consume(user: string, limits: RateLimits): Promise<RateDecision> {
    const now = this.now();
    const from = now - limits.windowMs;
    const window = (this.accepted.get(user) ?? []).filter((t) => t > from);
    this.accepted.set(user, window);
    if (window.length < limits.max) {
      window.push(now);
      return { allowed: true };
    }
    const retryAfterMs = Math.max(1, (window[0] as number) + limits.windowMs - now);
    let bad = (this.violations.get(user) ?? []).filter((t) => t > from);
    bad.push(now);
    let blocked = false;
    const count = bad.length;
    if (count >= limits.blockAfterViolations) {
      if ((await this.blocklist.blockedReason(user)) === undefined) {
        await this.blocklist.block(user, 'rate_limit', limits.blockDurationS);
        blocked = true;
      }
      bad = [];
    }
    this.violations.set(user, bad);
    return { allowed: false, retryAfterMs, violations: count, blocked };
  }
}
