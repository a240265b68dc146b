import { dmRoomUsers } from '@securechat/common';
import { INBOX_LIMITS, type Conversation, type Inbox, type ReadOutcome } from '../chat-ports';
import { readPayload } from '../room-channel';
import { compareIds } from '../stream-id';
import { byActivity, markerAt } from '../redis/inbox';
import type { MemoryBus, MemoryInboxEntry } from './broker';

/** What the Redis inbox does (inbox_remember.lua, inbox_read.lua, room_tail.lua), in memory. */
export class MemoryInbox implements Inbox {
  constructor(private readonly bus: MemoryBus) {}

  remember(user: string, room: string): Promise<void> {
    const now = this.bus.now();
    const entry = this.bus.inbox(user);
    entry.rooms.set(room, now);
    if (dmRoomUsers(room) === undefined && !entry.read.has(room)) entry.read.set(room, markerAt(now));
    this.bound(entry);
    return Promise.resolve();
  }

  rememberDirect(room: string, users: readonly string[]): Promise<void> {
    const now = this.bus.now();
    for (const user of users) {
      const entry = this.bus.inbox(user);
      if (!entry.rooms.has(room)) entry.rooms.set(room, now);
      this.bound(entry);
    }
    return Promise.resolve();
  }

  forget(user: string, room: string): Promise<void> {
    const entry = this.bus.inbox(user);
    entry.rooms.delete(room);
    entry.read.delete(room);
    return Promise.resolve();
  }

  rooms(user: string): Promise<string[]> {
    return Promise.resolve([...this.bus.inbox(user).rooms.keys()]);
  }

  conversations(user: string): Promise<Conversation[]> {
    const entry = this.bus.inbox(user);
    const items: (Conversation & { activity: number })[] = [];
    for (const [room, remembered] of entry.rooms) {
      const log = this.bus.logs.get(room)?.entries ?? [];
      const last = log.at(-1);
      if (last === undefined) {
        if (dmRoomUsers(room) === undefined) items.push({ room, unread: 0, activity: remembered });
        continue;
      }
      const marker = entry.read.get(room);
      const after = marker === undefined ? log : log.filter((m) => compareIds(m.id, marker) > 0);
      items.push({
        room,
        last,
        unread: Math.min(after.length, INBOX_LIMITS.unread),
        activity: Number(last.id.split('-')[0]),
      });
    }
    return Promise.resolve(items.sort(byActivity).map(({ activity: _activity, ...item }) => item));
  }

  markRead(user: string, room: string, id: string, session: string): Promise<ReadOutcome> {
    const newest = this.bus.logs.get(room)?.entries.at(-1)?.id;
    if (newest === undefined) return Promise.resolve({ status: 'empty' });
    const mark = compareIds(id, newest) > 0 ? newest : id;
    const entry = this.bus.inbox(user);
    if (!entry.rooms.has(room)) return Promise.resolve({ status: 'unknown' });
    const current = entry.read.get(room);
    if (current !== undefined && compareIds(current, mark) >= 0) {
      return Promise.resolve({ status: 'kept', id: current });
    }
    entry.read.set(room, mark);
    this.bus.publishToUser(user, readPayload(room, mark, session));
    return Promise.resolve({ status: 'moved', id: mark });
  }

  /** Past the bound, the rooms remembered longest ago are forgotten, with their markers. */
  private bound(entry: MemoryInboxEntry): void {
    const excess = entry.rooms.size - INBOX_LIMITS.rooms;
    if (excess <= 0) return;
    const oldest = [...entry.rooms].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1)).slice(0, excess);
    for (const [room] of oldest) {
      entry.rooms.delete(room);
      entry.read.delete(room);
    }
  }
}
