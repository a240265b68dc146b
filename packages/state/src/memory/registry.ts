import type { ConnectionRegistry } from '../chat-ports';

type Clock = () => number;

/** The per-user connection cap, shared by the memory nodes of one MemoryCluster. */
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
