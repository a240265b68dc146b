import { compareMessageIds, type ChatMessage } from '@securechat/sdk/browser';

export type Presence = 'online' | 'offline';

/** What a room or a direct conversation is to this page: its messages, unread count, members. */
export class Conversation {
  /** Messages by id, and the ids in order (oldest first). */
  private readonly byId = new Map<string, ChatMessage>();
  private order: string[] = [];
  unread = 0;
  /** Newest activity (ms), for ordering the sidebar. */
  activity = 0;
  /** The newest message known, loaded or not (from `conversations`). */
  last: ChatMessage | undefined;
  /** History before the oldest loaded message has been asked for and nothing older exists. */
  complete = false;
  /** The first page of history has been loaded. */
  loaded = false;
  /** Public rooms: joined on this connection. */
  joined = false;
  /** Users seen in the room and their presence. */
  readonly members = new Map<string, Presence>();
  /** The newest id this page told the server it has read. */
  readId: string | undefined;

  constructor(
    readonly room: string,
    /** For a DM, the other user; undefined for a public room. */
    readonly peer: string | undefined,
  ) {}

  get isDm(): boolean {
    return this.peer !== undefined;
  }

  get title(): string {
    return this.peer ?? `#${this.room}`;
  }

  get messages(): readonly ChatMessage[] {
    return this.order.map((id) => this.byId.get(id) as ChatMessage);
  }

  get oldestId(): string | undefined {
    return this.order[0];
  }

  get newest(): ChatMessage | undefined {
    const id = this.order.at(-1);
    return id === undefined ? this.last : this.byId.get(id);
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  /** Adds messages (any order, duplicates ignored); returns the ones that were new. */
  add(messages: readonly ChatMessage[]): ChatMessage[] {
    const fresh = messages.filter((m) => !this.byId.has(m.id));
    if (fresh.length === 0) return [];
    for (const m of fresh) this.byId.set(m.id, m);
    const newestBefore = this.order.at(-1);
    const appendsOnly =
      newestBefore === undefined || fresh.every((m) => compareMessageIds(m.id, newestBefore) > 0);
    this.order = appendsOnly ? [...this.order, ...fresh.map((m) => m.id)] : [...this.byId.keys()];
    this.order.sort(compareMessageIds);
    const newest = this.newest;
    if (
      newest !== undefined &&
      (this.last === undefined || compareMessageIds(newest.id, this.last.id) >= 0)
    ) {
      this.last = newest;
      this.activity = Math.max(this.activity, newest.ts);
    }
    return fresh.sort((a, b) => compareMessageIds(a.id, b.id));
  }

  /** Messages from others after `id` among those loaded: what a read marker at `id` leaves unread. */
  unreadAfter(id: string, me: string): number {
    return this.messages.filter((m) => m.from !== me && compareMessageIds(m.id, id) > 0).length;
  }

  /** Sorted members, online first. */
  memberList(): { user: string; state: Presence }[] {
    return [...this.members.entries()]
      .map(([user, state]) => ({ user, state }))
      .sort((a, b) => (a.state === b.state ? a.user.localeCompare(b.user) : a.state === 'online' ? -1 : 1));
  }
}
