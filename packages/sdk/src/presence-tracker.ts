import type { Clock, TimerHandle } from './clock';
import type { PresenceMessage } from './protocol';

/**
 * Presence as a person should see it: who is in each room, with an `offline` held back
 * for a grace period and dropped when the user comes back within it, so that a brief
 * reconnect (theirs or ours) does not flap offline/online. Repeated states are not
 * reported twice, and after our own rejoin the new member list is compared with the old
 * one instead of being announced again.
 */
export class PresenceTracker {
  private readonly rooms = new Map<string, Set<string>>();
  private readonly leaving = new Map<string, TimerHandle>();

  constructor(
    private readonly clock: Clock,
    private readonly graceMs: number,
    private readonly emit: (presence: PresenceMessage) => void,
  ) {}

  /** Users present in `room` as last reported (an offline in its grace period still counts). */
  members(room: string): string[] {
    return [...(this.rooms.get(room) ?? [])].sort();
  }

  /** A `joined` reply: the first one sets the list; after a rejoin the differences are reported. */
  joined(room: string, members: readonly string[]): void {
    const known = this.rooms.get(room);
    if (known === undefined) {
      this.rooms.set(room, new Set(members));
      return;
    }
    const now = new Set(members);
    for (const user of now) this.online(room, user);
    for (const user of known) if (!now.has(user)) this.offline(room, user);
  }

  /** A `presence` frame from the server. */
  event(p: PresenceMessage): void {
    if (p.state === 'online') this.online(p.room, p.user);
    else this.offline(p.room, p.user);
  }

  /** We left the room: forget it, and any offline it was holding. */
  forget(room: string): void {
    this.rooms.delete(room);
    for (const [key, timer] of this.leaving) {
      if (key.startsWith(`${room}\n`)) {
        this.clock.clearTimeout(timer);
        this.leaving.delete(key);
      }
    }
  }

  clear(): void {
    for (const timer of this.leaving.values()) this.clock.clearTimeout(timer);
    this.leaving.clear();
    this.rooms.clear();
  }

  private set(room: string): Set<string> {
    let set = this.rooms.get(room);
    if (set === undefined) {
      set = new Set();
      this.rooms.set(room, set);
    }
    return set;
  }

  private online(room: string, user: string): void {
    const key = `${room}\n${user}`;
    const pending = this.leaving.get(key);
    if (pending !== undefined) {
      // Back within the grace period: neither the offline nor this online is news.
      this.clock.clearTimeout(pending);
      this.leaving.delete(key);
      return;
    }
    const set = this.set(room);
    if (set.has(user)) return;
    set.add(user);
    this.emit({ type: 'presence', room, user, state: 'online' });
  }

  private offline(room: string, user: string): void {
    const set = this.rooms.get(room);
    if (set?.has(user) !== true) return;
    const key = `${room}\n${user}`;
    if (this.leaving.has(key)) return;
    const gone = () => {
      this.leaving.delete(key);
      set.delete(user);
      this.emit({ type: 'presence', room, user, state: 'offline' });
    };
    if (this.graceMs <= 0) {
      gone();
      return;
    }
    this.leaving.set(key, this.clock.setTimeout(gone, this.graceMs));
  }
}
