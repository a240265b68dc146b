import type { Presence } from '../chat-ports';
import { presencePayload } from '../room-channel';
import type { MemoryBus } from './broker';

/** Presence shared by the memory nodes of one bus; entries expire like Redis's. */
export class MemoryPresenceTable {
  readonly rooms = new Map<string, Map<string, Map<string, number>>>(); // room -> user -> node -> expiry
}

/** What presence.lua does, in memory: changes are announced on the room's channel. */
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
        this.bus.publish(room, presencePayload(user, 'offline'));
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
      this.bus.publish(room, presencePayload(user, 'online'));
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
      this.bus.publish(room, presencePayload(user, 'offline'));
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
