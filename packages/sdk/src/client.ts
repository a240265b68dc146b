import { backoffDelay } from './backoff';
import { messagesAfter } from './catch-up';
import { closeAction, handshakeAction, type CloseAction } from './close-codes';
import {
  resolveOptions,
  type CommonChatClientOptions,
  type PlatformDefaults,
  type ResolvedOptions,
} from './client-options';
import type { TimerHandle } from './clock';
import { CoreConnection } from './connection';
import { Emitter } from './emitter';
import { ChatError } from './errors';
import { compareMessageIds } from './message-id';
import { PresenceTracker } from './presence-tracker';
import type {
  ClientMessage,
  ConversationItem,
  HistoryMessage,
  JoinedMessage,
  MessageFrame,
  PresenceMessage,
  ReplyTypes,
  ServerMessage,
  WelcomeMessage,
} from './protocol';
import { RoomCursors } from './room-cursors';
import { SendQueue, type RateLimitedInfo } from './send-queue';
import { refreshDelay, tokenExpiry } from './token';
import type { TransportFactory } from './transport';

export type ChatClientState = 'idle' | 'connecting' | 'ready' | 'reconnecting' | 'closed';

/** A DM room caught up through `history` after a reconnect. */
export interface CaughtUpRoom {
  room: string;
  /** Messages delivered by the catch-up (duplicates excluded). */
  messages: number;
  /** More were missed than `dmCatchUpLimit`: only the newest were delivered. */
  truncated: boolean;
}

export interface ReconnectedInfo {
  /** Which attempt succeeded (1 = the first retry). */
  attempt: number;
  welcome: WelcomeMessage;
  /** The `joined` reply of every room rejoined; `history_truncated` says a gap could not be replayed in full. */
  joined: JoinedMessage[];
  /** DM rooms whose gap was read back through `history`. */
  caughtUp: CaughtUpRoom[];
}

/** A read marker moved by another connection of the same user. */
export interface ReadEvent {
  room: string;
  id: string;
}

/**
 * The client's events. `error` is only emitted when someone listens to it (an unheard
 * `error` does not throw): it reports what no request awaits, such as an unreadable
 * frame, a failed token refresh or a rejoin the server refused.
 */
export interface ChatClientEvents {
  /** Each connection's first frame (initial and every reconnect). */
  welcome: [welcome: WelcomeMessage];
  /** A room or DM message, never twice for the same room and id. */
  message: [message: MessageFrame];
  /** A user came or went (an offline is held back `presenceGraceMs`, and dropped if they return). */
  presence: [presence: PresenceMessage];
  /** Another connection of this user moved its read marker. */
  read: [read: ReadEvent];
  /** A live connection closed (before any reconnect is scheduled). */
  disconnect: [code: number, reason: string];
  /**
   * A reconnect attempt is scheduled `delayMs` from now; `cause` is why the previous
   * attempt failed (none for the first attempt after a disconnect).
   */
  reconnecting: [attempt: number, delayMs: number, cause?: ChatError];
  /** Connected again with every room rejoined and its gap replayed. */
  reconnected: [info: ReconnectedInfo];
  /** The server accepted a token refreshed ahead of expiry. */
  token_refreshed: [exp: number];
  /** A `send` or `dm` waits for the message rate limit; it goes out by itself at `until`. */
  rate_limited: [info: RateLimitedInfo];
  /** The client is finished for good: `close()`, a terminal close, or reconnects exhausted. */
  close: [code: number, reason: string];
  error: [error: ChatError];
}

/** Codes of an `error` reply after which a rejoin drops the room instead of retrying. */
const ROOM_REFUSALS: ReadonlySet<string> = new Set(['forbidden', 'not_found', 'bad_request']);

/**
 * How long a URL whose node dropped the connection or failed an attempt (a network error,
 * a timeout, a 503) is passed over when another one is not: a dead node is not retried
 * until it may be back, a busy one is left alone for a while.
 */
export const AVOID_URL_MS = 5000;

/** `since` for a room whose history was empty when joined: everything stored after the join. */
const BEFORE_ANY_ID = '0-0';

/** A client-side failure (as opposed to the server refusing): the connection is at fault. */
function isConnectionFailure(err: ChatError): boolean {
  return ['timeout', 'disconnected', 'not_connected', 'closed', 'protocol_error'].includes(err.code);
}

function asChatError(err: unknown, fallback: string): ChatError {
  return err instanceof ChatError ? err : new ChatError('internal', fallback, { cause: err });
}

function isDmRoom(room: string): boolean {
  return room.startsWith('dm:');
}

/** The DM room of two users, as the server names it (`dm:<a>:<b>`, sorted). */
export function dmRoomOf(a: string, b: string): string {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  return x < y ? `dm:${x}:${y}` : `dm:${y}:${x}`;
}

/** A token and its `exp` (seconds), read once when the token was obtained. */
interface HeldToken {
  readonly token: string;
  readonly exp: number | undefined;
}

/**
 * A chat connection that survives its sockets: requests by `ref`, events, reconnects with
 * capped exponential backoff and full jitter, rejoins with `since` and drops duplicates,
 * catches up DM rooms, paces sends to the rate limit, debounces presence and refreshes
 * its token ahead of expiry. Shared by the Node and browser builds, which differ only in
 * the transport they give it. See docs/SDK.md.
 */
export class ChatClientCore extends Emitter<ChatClientEvents> {
  protected readonly o: ResolvedOptions;
  private phase: ChatClientState = 'idle';
  private conn: CoreConnection | undefined;
  private readonly joinedRooms = new Set<string>();
  private readonly cursors = new RoomCursors();
  /** DM rooms' newest ids as the last `conversations` reply gave them. */
  private readonly anchors = new Map<string, string>();
  private inboxUsed = false;
  /** DM messages held while a reconnect catches up, so that none overtakes the catch-up. */
  private dmHold: MessageFrame[] | undefined;
  private readonly presence: PresenceTracker;
  private readonly queue: SendQueue;
  private attempt = 0;
  /** The URL of the latest attempt: a failover goes anywhere but there. */
  private lastUrl: string | undefined;
  /** URLs to pass over until the given time (clock ms), unless no other is left. */
  private readonly avoided = new Map<string, number>();
  /** The token of the latest attempt, reused while it has more than `refreshAheadMs` to live. */
  private heldToken: HeldToken | undefined;
  private connectedAt = 0;
  private tokenExp: number | undefined;
  private lastWelcome: WelcomeMessage | undefined;
  private reconnectTimer: TimerHandle | undefined;
  private refreshTimer: TimerHandle | undefined;
  private dropped = 0;

  constructor(
    options: CommonChatClientOptions,
    private readonly transport: TransportFactory,
    platform: PlatformDefaults,
  ) {
    super();
    this.o = resolveOptions(options, platform);
    this.presence = new PresenceTracker(this.o.clock, this.o.presenceGraceMs, (p) =>
      this.emit('presence', p),
    );
    this.queue = new SendQueue({
      clock: this.o.clock,
      request: (message) => this.request(message),
      ready: () => this.phase === 'ready' && this.conn !== undefined,
      limited: (info) => this.emit('rate_limited', info),
    });
  }

  get state(): ChatClientState {
    return this.phase;
  }

  /** The latest connection's welcome (user, node, session). */
  get welcome(): WelcomeMessage | undefined {
    return this.lastWelcome;
  }

  /** Rooms the client is in and will rejoin after a reconnect. */
  get rooms(): string[] {
    return [...this.joinedRooms];
  }

  /** The last message id delivered in `room`: where a resume starts. */
  lastMessageId(room: string): string | undefined {
    return this.cursors.get(room);
  }

  /** Users present in a joined room, as presence reported them (sorted). */
  members(room: string): string[] {
    return this.presence.members(room);
  }

  /** Room messages withheld as duplicates so far. */
  get duplicatesDropped(): number {
    return this.dropped;
  }

  /** Messages waiting to be sent (`send`, `dm`), the one in flight included. */
  get pendingSends(): number {
    return this.queue.length;
  }

  /** Opens the first connection; resolves on `welcome`. A failure here is not retried. */
  async connect(): Promise<WelcomeMessage> {
    if (this.phase !== 'idle') throw new ChatError('closed', `connect() called in state ${this.phase}`);
    this.phase = 'connecting';
    try {
      const { welcome } = await this.establish();
      this.phase = 'ready';
      this.queue.pump();
      return welcome;
    } catch (err) {
      if (this.phase === 'connecting') this.phase = 'idle';
      throw err;
    }
  }

  /**
   * Joins `room`. With `since`, the server replays every message after it first. Resolves
   * with the `joined` reply; replayed messages follow as `message` events.
   */
  async join(room: string, options: { since?: string } = {}): Promise<JoinedMessage> {
    const conn = this.readyConnection();
    let since = options.since;
    const rejoin = this.joinedRooms.has(room);
    if (since === undefined && !rejoin && this.o.anchorJoins) {
      since = await this.anchor(conn, room);
    }
    const before = this.cursors.get(room);
    // Before sending: the replay can be delivered before this function resumes.
    if (since !== undefined) this.cursors.set(room, since);
    this.joinedRooms.add(room);
    try {
      return await conn.request({ type: 'join', room, ...(since === undefined ? {} : { since }) });
    } catch (err) {
      if (!rejoin) {
        this.joinedRooms.delete(room);
        if (before === undefined) this.cursors.delete(room);
        else this.cursors.set(room, before);
      }
      throw err;
    }
  }

  /**
   * Leaves `room`: it is not rejoined after a reconnect even if this request fails, and
   * the server forgets it from the user's rooms (`conversations`) on every device.
   */
  async leave(room: string): Promise<void> {
    const conn = this.readyConnection();
    this.joinedRooms.delete(room);
    this.presence.forget(room);
    if (!isDmRoom(room)) this.cursors.delete(room);
    await conn.request({ type: 'leave', room });
  }

  /**
   * Publishes to a joined room; resolves with the stored message's id. Messages go out
   * one at a time, in order, and wait out the rate limit (`rate_limited` event) instead
   * of being refused.
   */
  send(room: string, text: string): Promise<string> {
    try {
      this.readyConnection();
    } catch (err) {
      return Promise.reject(err);
    }
    return this.queue.enqueue({ type: 'send', room, text }, room);
  }

  /** Sends a direct message (room `dm:<a>:<b>`), queued like `send`; resolves with its id. */
  dm(to: string, text: string): Promise<string> {
    try {
      this.readyConnection();
    } catch (err) {
      return Promise.reject(err);
    }
    const me = this.lastWelcome?.user;
    return this.queue.enqueue({ type: 'dm', to, text }, me === undefined ? undefined : dmRoomOf(me, to));
  }

  /**
   * The `limit` messages (default 50) before `before` (default: the newest), oldest first,
   * shaped like `message` events. The server bounds each reply in bytes too; a reply cut
   * short is continued here, page by page, until `limit` messages or the start of the
   * room. Page back with `before` = the first id of the last page. History does not go
   * through the duplicate filter: it is for showing, not for resuming.
   */
  async history(room: string, options: { before?: string; limit?: number } = {}): Promise<MessageFrame[]> {
    const limit = options.limit ?? 50;
    let before = options.before;
    let messages: MessageFrame[] = [];
    for (;;) {
      const page = await this.historyPage(room, { before, limit: limit - messages.length });
      messages = [...page.messages, ...messages];
      const first = page.messages[0];
      if (!page.more || first === undefined || messages.length >= limit) return messages;
      before = first.id;
    }
  }

  /**
   * One reply of `history`: at most `limit` messages before `before`, fewer when the
   * server's byte bound cut it; `more` says older messages remain (ask again with
   * `before` = the first id).
   */
  async historyPage(
    room: string,
    options: { before?: string; limit?: number } = {},
  ): Promise<{ messages: MessageFrame[]; more: boolean }> {
    const { before, limit } = options;
    const reply: HistoryMessage = await this.request({
      type: 'history',
      room,
      ...(before === undefined ? {} : { before }),
      ...(limit === undefined ? {} : { limit }),
    });
    return { messages: reply.messages.map((m) => ({ type: 'message', ...m })), more: reply.more === true };
  }

  /** The user's rooms and DM conversations, newest activity first, with unread counts. */
  async conversations(): Promise<ConversationItem[]> {
    const reply = await this.request({ type: 'conversations' });
    this.noteConversations(reply.items);
    return reply.items;
  }

  /**
   * Moves the user's read marker in `room` to `id` (never backwards); the user's other
   * connections get a `read` event.
   */
  async markRead(room: string, id: string): Promise<void> {
    await this.request({ type: 'read', room, id });
  }

  /** Application-level ping; resolves with the round trip in milliseconds. */
  async ping(): Promise<number> {
    const start = this.o.clock.now();
    await this.request({ type: 'ping' });
    return this.o.clock.now() - start;
  }

  /** Ends the client for good; resolves when the socket has closed. */
  async close(): Promise<void> {
    if (this.phase === 'closed') return;
    const conn = this.conn;
    this.finish(1000, 'client_close');
    if (conn) await conn.ended;
  }

  /**
   * Drops the socket without a close frame, as a network failure would; the client then
   * reconnects as usual. For tests and fault drills.
   */
  dropConnection(): void {
    this.conn?.terminate();
  }

  private request<M extends ClientMessage>(message: M): Promise<ReplyTypes[M['type']]> {
    try {
      return this.readyConnection().request(message);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private readyConnection(): CoreConnection {
    if (this.phase === 'closed') throw new ChatError('closed', 'the client is closed');
    if (this.phase !== 'ready' || !this.conn) {
      throw new ChatError('not_connected', `the client is ${this.phase}`);
    }
    return this.conn;
  }

  /** The room's newest id, BEFORE_ANY_ID for an empty room, undefined if history is refused. */
  private async anchor(conn: CoreConnection, room: string): Promise<string | undefined> {
    try {
      const reply = await conn.request({ type: 'history', room, limit: 1 });
      return reply.messages.at(-1)?.id ?? BEFORE_ANY_ID;
    } catch (err) {
      // The join that follows reports a refusal in its own words.
      if (err instanceof ChatError && !isConnectionFailure(err)) return undefined;
      throw err;
    }
  }

  private noteConversations(items: readonly ConversationItem[]): void {
    this.inboxUsed = true;
    for (const item of items) {
      if (item.last !== undefined && isDmRoom(item.room)) this.anchors.set(item.room, item.last.id);
    }
  }

  private async fetchToken(): Promise<string> {
    let token: unknown;
    try {
      token = await this.o.getToken();
    } catch (err) {
      throw new ChatError('token_unavailable', 'getToken failed', { cause: err });
    }
    if (typeof token !== 'string' || token === '') {
      throw new ChatError('token_unavailable', 'getToken did not return a token');
    }
    return token;
  }

  /**
   * The first connection goes to the first URL. Every later attempt goes to a URL drawn
   * at random from the others than the last one tried, so that the clients of a node that
   * failed spread over every other node instead of all landing on "the next one"; URLs
   * avoided for now (`avoidUrl`) are passed over while any other is left.
   */
  private nextUrl(): string {
    const { urls } = this.o;
    const last = this.lastUrl;
    const now = this.o.clock.now();
    const others = last === undefined ? [] : [...new Set(urls)].filter((u) => u !== last);
    const fresh = others.filter((u) => (this.avoided.get(u) ?? 0) <= now);
    const pool = fresh.length > 0 ? fresh : others;
    let url: string;
    if (last === undefined) url = urls[0] as string;
    else if (pool.length === 0) url = last;
    else if (pool.length === 1) url = pool[0] as string;
    else url = pool[Math.min(pool.length - 1, Math.floor(this.o.random() * pool.length))] as string;
    this.lastUrl = url;
    return url;
  }

  /** Passes over the last URL tried for `ms` (at least AVOID_URL_MS) when choosing the next. */
  private avoidUrl(ms = 0): void {
    if (this.lastUrl === undefined || this.o.urls.length < 2) return;
    const until = this.o.clock.now() + Math.max(AVOID_URL_MS, ms);
    this.avoided.set(this.lastUrl, Math.max(this.avoided.get(this.lastUrl) ?? 0, until));
  }

  /**
   * The token for a connection attempt: the one held while it has more than
   * `refreshAheadMs` to live (a storm of retries must not become a storm of calls to the
   * auth service), otherwise a new one from `getToken`. A token without a readable `exp`
   * is never reused.
   */
  private async attemptToken(): Promise<HeldToken> {
    const held = this.heldToken;
    if (held?.exp !== undefined && held.exp * 1000 - this.o.clock.now() > this.o.refreshAheadMs) {
      return held;
    }
    const token = await this.fetchToken();
    // Read once per token: every attempt and refresh schedule uses it.
    const fresh: HeldToken = { token, exp: tokenExpiry(token) };
    this.heldToken = fresh;
    return fresh;
  }

  /** The server refused or ended the held token (401, token_expired): never offer it again. */
  private dropToken(): void {
    this.heldToken = undefined;
  }

  /** One connection attempt: token, handshake, welcome, rejoin of every room, DM catch-up. */
  private async establish(): Promise<{
    welcome: WelcomeMessage;
    joined: JoinedMessage[];
    caughtUp: CaughtUpRoom[];
  }> {
    const { token, exp } = await this.attemptToken();
    if (this.phase === 'closed') throw new ChatError('closed', 'the client is closed');
    const resuming = this.phase === 'reconnecting' && this.o.dmCatchUpLimit > 0;
    let conn: CoreConnection;
    try {
      conn = new CoreConnection(
        {
          url: this.nextUrl(),
          token,
          tokenMethod: this.o.tokenMethod,
          connectTimeoutMs: this.o.connectTimeoutMs,
          requestTimeoutMs: this.o.requestTimeoutMs,
          clock: this.o.clock,
          transport: this.transport,
        },
        {
          frame: (message) => this.onFrame(message),
          invalid: (reason) => this.emitError(new ChatError('protocol_error', `unreadable frame: ${reason}`)),
          closed: (code, reason) => this.onConnectionClosed(conn, code, reason),
          // Synchronously: the presence that follows `joined` in the same read must find the room.
          reply: (message) => {
            if (message.type === 'joined') this.presence.joined(message.room, message.members);
          },
        },
      );
    } catch {
      // A transport's messages can quote the URL, and with it a `?token=`.
      throw new ChatError('connect_failed', 'could not start the handshake (bad URL, header or subprotocol)');
    }
    this.conn = conn;
    // Held from the first frame after welcome: a live DM must not overtake the catch-up.
    if (resuming) this.dmHold = [];
    try {
      const welcome = await conn.opened;
      this.connectedAt = this.o.clock.now();
      this.lastWelcome = welcome;
      this.queue.setLimits(welcome.limits);
      this.emit('welcome', welcome);
      this.scheduleRefresh(conn, exp);
      const joined = await this.rejoinAll(conn);
      const caughtUp = resuming ? await this.catchUpDms(conn) : [];
      this.releaseDmHold();
      return { welcome, joined, caughtUp };
    } catch (err) {
      this.dmHold = undefined;
      if (this.conn === conn) this.conn = undefined;
      conn.close();
      throw err;
    }
  }

  private async rejoinAll(conn: CoreConnection): Promise<JoinedMessage[]> {
    const rooms = [...this.joinedRooms];
    const results = await Promise.allSettled(
      rooms.map((room) => {
        // DM rooms are caught up through history (their messages come on the user's
        // channel, which a join's replay does not cover); the join is for presence.
        const since = isDmRoom(room) ? undefined : this.cursors.get(room);
        return conn.request({ type: 'join', room, ...(since === undefined ? {} : { since }) });
      }),
    );
    const joined: JoinedMessage[] = [];
    results.forEach((result, i) => {
      const room = rooms[i] as string;
      if (result.status === 'fulfilled') {
        joined.push(result.value);
        return;
      }
      const err = asChatError(result.reason, 'rejoin failed');
      if (!ROOM_REFUSALS.has(err.code)) throw err;
      // Refused for good (the room is gone or no longer ours): retrying would not help.
      this.joinedRooms.delete(room);
      this.presence.forget(room);
      this.cursors.delete(room);
      this.emitError(new ChatError(err.code, `rejoin of ${room} refused: ${err.message}`));
    });
    return joined;
  }

  /**
   * The DM rooms to read back after a reconnect: every one the client has seen a message
   * of, and, when the app uses the inbox, those the `conversations` reply shows newer
   * than what the client knows (a conversation begun while it was away).
   */
  private async catchUpDms(conn: CoreConnection): Promise<CaughtUpRoom[]> {
    const from = new Map<string, string>();
    for (const room of this.cursors.rooms()) {
      if (isDmRoom(room)) from.set(room, this.cursors.get(room) as string);
    }
    if (this.inboxUsed) {
      try {
        const reply = await conn.request({ type: 'conversations' });
        for (const item of reply.items) {
          if (!isDmRoom(item.room) || item.last === undefined) continue;
          const start = this.cursors.get(item.room) ?? this.anchors.get(item.room) ?? BEFORE_ANY_ID;
          if (compareMessageIds(item.last.id, start) > 0) from.set(item.room, start);
          else from.delete(item.room);
        }
        this.noteConversations(reply.items);
      } catch (err) {
        this.tolerate(err, 'conversations for the DM catch-up');
      }
    }
    const rooms = [...from];
    const results = await Promise.all(
      rooms.map(async ([room, start]) => {
        try {
          return await messagesAfter(
            async (before, limit) =>
              (
                await conn.request({
                  type: 'history',
                  room,
                  limit,
                  ...(before === undefined ? {} : { before }),
                })
              ).messages,
            start,
            this.o.dmCatchUpLimit,
          );
        } catch (err) {
          this.tolerate(err, `the DM catch-up of ${room}`);
          return undefined;
        }
      }),
    );
    const caughtUp: CaughtUpRoom[] = [];
    results.forEach((result, i) => {
      if (result === undefined) return;
      const room = (rooms[i] as [string, string])[0];
      let delivered = 0;
      for (const m of result.messages) if (this.deliver({ type: 'message', ...m })) delivered += 1;
      caughtUp.push({ room, messages: delivered, truncated: result.truncated });
    });
    return caughtUp;
  }

  /**
   * A catch-up request the server refused (e.g. `internal` while its Redis is down): the
   * connection is fine, so the reconnect goes on without it and the app hears of it. A
   * failure of the connection itself fails the attempt.
   */
  private tolerate(raw: unknown, what: string): void {
    const err = asChatError(raw, `${what} failed`);
    if (isConnectionFailure(err)) throw err;
    this.emitError(new ChatError(err.code, `${what} failed: ${err.message}`));
  }

  private releaseDmHold(): void {
    const held = this.dmHold;
    this.dmHold = undefined;
    for (const m of held ?? []) this.deliver(m);
  }

  /** Emits a message unless it is at or before its room's cursor; true when emitted. */
  private deliver(message: MessageFrame): boolean {
    if (this.cursors.accept(message.room, message.id)) {
      this.emit('message', message);
      return true;
    }
    this.dropped += 1;
    return false;
  }

  private onFrame(message: ServerMessage): void {
    switch (message.type) {
      case 'message':
        if (this.dmHold !== undefined && isDmRoom(message.room)) this.dmHold.push(message);
        else this.deliver(message);
        return;
      case 'presence':
        this.presence.event(message);
        return;
      case 'read':
        this.emit('read', { room: message.room, id: message.id });
        return;
      case 'error':
        this.emitError(ChatError.fromReply(message));
        return;
      case 'replay_more':
        void this.continueReplay(message.room, message.last);
        return;
      case 'welcome':
      case 'joined':
      case 'left':
      case 'ack':
      case 'history':
      case 'token_refreshed':
      case 'pong':
      case 'conversations':
        // A reply whose request already timed out, or an unsolicited duplicate: nothing awaits it.
        return;
    }
  }

  /**
   * The server's replay of `room` stopped short (`replay_more`): continue it from where it
   * stopped, as a join with `since`. The room's cursor is left alone (its messages keep
   * arriving in order). A refusal for the room drops it; a rate limit or a failure is
   * retried after a delay; a lost connection is left to the reconnect, which rejoins from
   * the cursor.
   */
  private async continueReplay(room: string, last: string): Promise<void> {
    const conn = this.conn;
    if (conn === undefined || !this.joinedRooms.has(room)) return;
    try {
      await conn.request({ type: 'join', room, since: last });
    } catch (raw) {
      const err = asChatError(raw, 'replay continuation failed');
      if (conn !== this.conn || !this.joinedRooms.has(room) || isConnectionFailure(err)) return;
      if (ROOM_REFUSALS.has(err.code)) {
        this.joinedRooms.delete(room);
        this.cursors.delete(room);
        this.emitError(new ChatError(err.code, `replay of ${room} refused: ${err.message}`));
        return;
      }
      this.emitError(err);
      const delay = err.retryAfterMs ?? this.o.reconnect.baseDelayMs;
      this.o.clock.setTimeout(() => {
        if (conn === this.conn) void this.continueReplay(room, this.cursors.get(room) ?? last);
      }, delay);
    }
  }

  private onConnectionClosed(conn: CoreConnection, code: number, reason: string): void {
    if (conn !== this.conn || this.phase === 'closed') return;
    this.conn = undefined;
    this.clearRefresh();
    this.emit('disconnect', code, reason);
    if (code === 1008) this.dropToken();
    // The node went away (or drains): the next attempts go elsewhere. 1008 is about the
    // user's token, 1013 about this client's reading: the node itself is fine.
    else if (code !== 1013) this.avoidUrl();
    // While connecting, the attempt in progress fails on its own and decides what next.
    if (this.phase !== 'ready') return;
    const action = closeAction(code, reason);
    const stable = this.o.clock.now() - this.connectedAt >= this.o.reconnect.stableAfterMs;
    if (action === 'reconnect_soon' || stable) this.attempt = 0;
    this.afterFailure(action, code, reason);
  }

  private afterFailure(action: CloseAction, code: number, reason: string, cause?: ChatError): void {
    if (action === 'stop' || !this.o.reconnect.enabled) {
      this.finish(code, reason);
      return;
    }
    if (this.attempt >= this.o.reconnect.maxAttempts) {
      this.emitError(new ChatError('connect_failed', `gave up after ${this.attempt} reconnect attempts`));
      this.finish(code, 'reconnect_failed');
      return;
    }
    this.attempt += 1;
    const jitter = backoffDelay(this.attempt, this.o.reconnect, this.o.random);
    // A server that shed the attempt said when to come back: never sooner, and spread.
    const hint = cause?.retryAfterMs;
    const delay =
      hint === undefined ? jitter : Math.max(hint, Math.min(this.o.reconnect.maxDelayMs, hint + jitter));
    this.phase = 'reconnecting';
    if (cause === undefined) this.emit('reconnecting', this.attempt, delay);
    else this.emit('reconnecting', this.attempt, delay, cause);
    this.reconnectTimer = this.o.clock.setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.reconnectNow();
    }, delay);
  }

  private async reconnectNow(): Promise<void> {
    if (this.phase !== 'reconnecting') return;
    try {
      const { welcome, joined, caughtUp } = await this.establish();
      if (this.phase !== 'reconnecting') return;
      this.phase = 'ready';
      this.emit('reconnected', { attempt: this.attempt, welcome, joined, caughtUp });
      this.queue.pump();
    } catch (raw) {
      if (this.phase !== 'reconnecting') return;
      const err = asChatError(raw, 'reconnect failed');
      const action =
        err.status !== undefined
          ? handshakeAction(err.status)
          : err.closeCode !== undefined
            ? closeAction(err.closeCode, err.closeReason ?? '')
            : 'reconnect_backoff';
      // A failed token callback is the app's to see (its session may be over: log in again).
      if (action === 'stop' || err.code === 'token_unavailable') this.emitError(err);
      // The token was refused or ended: the next attempt asks getToken for a new one.
      if (err.status === 401 || err.closeCode === 1008) this.dropToken();
      // Otherwise the node failed us (down, too slow, shedding): try the others first.
      else if (err.code !== 'token_unavailable') this.avoidUrl(err.retryAfterMs);
      this.afterFailure(action, err.closeCode ?? 1006, err.closeReason ?? err.code, err);
    }
  }

  /** Refreshes the connection's token, expiring at `exp` (seconds), ahead of its expiry. */
  private scheduleRefresh(conn: CoreConnection, exp: number | undefined): void {
    this.clearRefresh();
    this.tokenExp = exp;
    if (!this.o.tokenRefresh || exp === undefined) return;
    const delay = Math.floor(refreshDelay(exp, this.o.clock.now(), this.o.refreshAheadMs));
    this.refreshTimer = this.o.clock.setTimeout(() => {
      this.refreshTimer = undefined;
      void this.refreshToken(conn);
    }, delay);
  }

  private clearRefresh(): void {
    if (this.refreshTimer !== undefined) this.o.clock.clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
  }

  /**
   * Swaps the live connection's token for a fresh one. On any failure it stays put: if
   * the server then closes with `token_expired`, the reconnect fetches a token anyway.
   */
  private async refreshToken(conn: CoreConnection): Promise<void> {
    try {
      const token = await this.fetchToken();
      if (conn !== this.conn || !conn.isOpen) return;
      const exp = tokenExpiry(token);
      if (exp === undefined || (this.tokenExp !== undefined && exp <= this.tokenExp)) {
        throw new ChatError(
          'token_unavailable',
          'getToken returned a token that expires no later than the current one',
        );
      }
      const reply = await conn.request({ type: 'refresh_token', token });
      this.heldToken = { token, exp };
      if (conn !== this.conn) return;
      this.emit('token_refreshed', reply.exp);
      this.scheduleRefresh(conn, exp);
    } catch (err) {
      if (conn === this.conn) this.emitError(asChatError(err, 'token refresh failed'));
    }
  }

  private finish(code: number, reason: string): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    if (this.reconnectTimer !== undefined) this.o.clock.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.clearRefresh();
    this.presence.clear();
    this.queue.rejectAll(new ChatError('closed', 'the client is closed'));
    const conn = this.conn;
    this.conn = undefined;
    conn?.close(1000, '');
    this.emit('close', code, reason);
  }

  private emitError(err: ChatError): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}
