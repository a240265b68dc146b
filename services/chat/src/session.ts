import type { AccessClaims } from '@securechat/tokens';
import { isAfter, parseId, type ParsedId } from '@securechat/state';
import { prepareTextFrame, type Connection, type PreparedFrame } from './connection';
import { ByteBucket } from './budget';
import type { CloseCode } from './codes';

/**
 * A session's lifecycle, changed only by the session itself:
 * - `open`: it takes requests and receives frames;
 * - `closing`: a close was sent (or the socket cut); nothing more is written;
 * - `released`: the node gave back what it held (rooms, counts, registry entry).
 */
export type SessionState = 'open' | 'closing' | 'released';

/** Live frames that arrive for a room while its join is in flight. */
interface Pending {
  frames: { id: ParsedId | undefined; frame: PreparedFrame }[];
  bytes: number;
  /** More arrived than the session may buffer: they were dropped, the replay must go on. */
  overflowed: boolean;
}

interface Membership {
  pending: Pending | undefined;
  /**
   * A replay stopped short of the newest message (`replay_more`): live messages of the
   * room are withheld until the client continues it, so the room still arrives in order.
   */
  behind: boolean;
}

/** Requests waiting for the session's one read slot beyond which new ones are refused. */
const MAX_QUEUED_READS = 64;

export interface SessionOptions {
  /** Output queued for the socket beyond which the session is a slow consumer. */
  maxBufferedBytes: number;
  /** The per-session request budget (requests other than send and dm). */
  requestBurst?: number;
  requestsPerSecond?: number;
  /** Bytes per second this connection's requests may cost (default: unbounded in effect). */
  connectionBytesPerS?: number;
  /** The budget shared by all of the user's sessions on this node. */
  userBudget?: ByteBucket;
  /** Called once, when a write finds the socket's buffer over the bound. */
  onSlow: (session: Session) => void;
}

/**
 * One authenticated WebSocket: its identity, rooms, what it has been sent, its lifecycle.
 * Most sockets sit idle in no room, so what only a room or a read needs is made on first
 * use, and nothing of `options` but what it names is kept (a node passes one object).
 */
export class Session {
  private lifecycle: SessionState = 'open';
  private currentClaims: AccessClaims;
  /** Made at the first join. */
  private rooms: Map<string, Membership> | undefined;
  /**
   * The newest message id this session was given per room: one high-water mark for the
   * room's fan-out, a join's replay and the user's own channel (DMs) alike, so a
   * message reaches the session once whichever way it came. Made at the first message.
   */
  private marks: Map<string, ParsedId> | undefined;
  private awaitingPong = false;
  private cutTimer: NodeJS.Timeout | undefined;
  /** A small per-session budget for requests, against floods of cheap requests. */
  private tokens: number;
  private refilledAt: number;
  private readonly requestBurst: number;
  private readonly requestsPerSecond: number;
  private readonly maxBufferedBytes: number;
  private readonly onSlow: (session: Session) => void;
  /** What this connection's requests may cost, in bytes: its own budget and its user's. */
  private readonly connectionBudget: ByteBucket;
  private readonly userBudget: ByteBucket | undefined;
  /** Reads (history, replay) run one at a time per session; the tail of that queue, while any. */
  private readTail: Promise<unknown> | undefined;
  private queuedReads = 0;

  constructor(
    readonly id: string,
    claims: AccessClaims,
    readonly address: string,
    private readonly connection: Connection,
    options: SessionOptions,
  ) {
    this.currentClaims = claims;
    this.requestBurst = options.requestBurst ?? 100;
    this.requestsPerSecond = options.requestsPerSecond ?? 50;
    this.maxBufferedBytes = options.maxBufferedBytes;
    this.onSlow = options.onSlow;
    this.tokens = this.requestBurst;
    this.refilledAt = Date.now();
    this.connectionBudget = new ByteBucket(options.connectionBytesPerS ?? Number.MAX_SAFE_INTEGER / 8);
    this.userBudget = options.userBudget;
  }

  get state(): SessionState {
    return this.lifecycle;
  }

  /** No longer open: closing or released. */
  get closed(): boolean {
    return this.lifecycle !== 'open';
  }

  get user(): string {
    return this.currentClaims.sub;
  }

  get claims(): AccessClaims {
    return this.currentClaims;
  }

  // ---- identity -------------------------------------------------------------------

  /**
   * Takes a newer token of the same user (its `exp` not earlier than the current one's);
   * false, with nothing changed, for anything else.
   */
  renewToken(claims: AccessClaims): boolean {
    if (claims.sub !== this.user || claims.exp < this.currentClaims.exp || this.closed) return false;
    this.currentClaims = claims;
    return true;
  }

  // ---- liveness -------------------------------------------------------------------

  /**
   * One heartbeat: pings the peer and returns true, or returns false when the previous
   * ping was never answered (the caller cuts the session).
   */
  heartbeat(): boolean {
    if (this.awaitingPong) return false;
    this.awaitingPong = true;
    this.connection.ping();
    return true;
  }

  pong(): void {
    this.awaitingPong = false;
  }

  /** Spends `cost` from the request budget; false (nothing spent) when it lacks them. */
  takeRequestToken(cost = 1, now = Date.now()): boolean {
    this.tokens = Math.min(
      this.requestBurst,
      this.tokens + ((now - this.refilledAt) / 1000) * this.requestsPerSecond,
    );
    this.refilledAt = now;
    if (this.tokens < cost) return false;
    this.tokens -= cost;
    return true;
  }

  // ---- cost -----------------------------------------------------------------------

  /** Charges bytes this session's requests caused to its budgets (it may go into debt). */
  charge(bytes: number): void {
    this.connectionBudget.charge(bytes);
    this.userBudget?.charge(bytes);
  }

  /** Milliseconds until no budget of the session is in debt; 0: requests are admitted. */
  budgetWaitMs(): number {
    return Math.max(this.connectionBudget.waitMs(), this.userBudget?.waitMs() ?? 0);
  }

  /**
   * Runs a read (a history page, a replay) after the session's earlier reads: one at a
   * time, so that a socket's requests cannot make the node fetch in parallel what the
   * socket has not read. Undefined, with nothing run, when too many already wait.
   */
  exclusive<T>(work: () => Promise<T>): Promise<T> | undefined {
    if (this.queuedReads >= MAX_QUEUED_READS) return undefined;
    this.queuedReads += 1;
    const run = (this.readTail ?? Promise.resolve()).then(work);
    const tail: Promise<unknown> = run
      .catch(() => undefined)
      .finally(() => {
        this.queuedReads -= 1;
        // The last read ended: an idle session holds no promise.
        if (this.readTail === tail) this.readTail = undefined;
      });
    this.readTail = tail;
    return run;
  }

  /**
   * Waits until `bytes` more fit under the slow-consumer bound and the budgets are out of
   * debt: before a read, so that output the socket could not take is never fetched and a
   * slow reader costs Redis nothing. False when the session closed meanwhile.
   */
  async readyFor(bytes: number): Promise<boolean> {
    if (this.closed) return false;
    if (this.connection.bufferedAmount + bytes > this.maxBufferedBytes) {
      await this.connection.drained();
    }
    for (let wait = this.budgetWaitMs(); wait > 0 && !this.closed; wait = this.budgetWaitMs()) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(wait, 1000)).unref());
    }
    return !this.closed;
  }

  // ---- rooms ----------------------------------------------------------------------

  inRoom(room: string): boolean {
    return this.rooms?.has(room) === true;
  }

  get roomNames(): string[] {
    return this.rooms === undefined ? [] : [...this.rooms.keys()];
  }

  /** Starts (or restarts) a join: live frames of the room are held until `finishJoin`. */
  beginJoin(room: string): void {
    const rooms = (this.rooms ??= new Map());
    const existing = rooms.get(room);
    if (existing !== undefined) existing.pending ??= { frames: [], bytes: 0, overflowed: false };
    else rooms.set(room, { pending: { frames: [], bytes: 0, overflowed: false }, behind: false });
  }

  /**
   * Ends the in-flight phase. When the replay reached the newest message (`complete`) and
   * no held frame was dropped, held-back live frames newer than the replay go out, in
   * order, and live delivery resumes; otherwise the room stays behind until the client
   * continues the replay. Returns how many held messages were written (presence is not
   * counted).
   */
  finishJoin(room: string, complete = true): number {
    const membership = this.rooms?.get(room);
    if (membership?.pending === undefined) return 0;
    const { frames, overflowed } = membership.pending;
    membership.pending = undefined;
    membership.behind = !complete || overflowed;
    if (membership.behind) return 0;
    let written = 0;
    for (const f of frames) {
      const n = this.deliver(room, f.id, f.frame);
      if (f.id !== undefined) written += n;
    }
    return written;
  }

  /** Whether the room's live messages are withheld behind a replay that stopped short. */
  isBehind(room: string): boolean {
    return this.rooms?.get(room)?.behind === true;
  }

  /** Forgets the room (and its mark: a later join with `since` replays again); false when not in it. */
  leaveRoom(room: string): boolean {
    this.marks?.delete(room);
    return this.rooms?.delete(room) === true;
  }

  // ---- output ---------------------------------------------------------------------

  /** A reply or any other frame built for this session alone; charged to its budgets. */
  sendText(text: string): void {
    if (!this.writable()) return;
    const data = Buffer.from(text);
    this.charge(data.length);
    this.connection.send(data);
  }

  /** A prepared frame for this session alone (e.g. a `read` event built once per node). */
  sendPrepared(frame: PreparedFrame): void {
    if (this.writable()) this.connection.sendPrepared(frame);
  }

  /**
   * A fan-out frame for `room`: held back while the room's join is in flight. Returns 1
   * when it was written to the socket, 0 otherwise (held, withheld, a duplicate, not
   * writable), so that a fan-out counts its deliveries with additions.
   */
  deliver(room: string, id: ParsedId | undefined, frame: PreparedFrame): number {
    const membership = this.rooms?.get(room);
    if (membership === undefined) return 0;
    if (this.held(membership, id, frame)) return 0;
    return this.write(room, id, frame);
  }

  /**
   * A DM from the user's own channel: it reaches the session whether or not it joined
   * the DM room, held back (or withheld) like a fan-out frame while a join of that room
   * is in flight or behind. Returns 1 when written, like `deliver`.
   */
  deliverDirect(room: string, id: ParsedId, frame: PreparedFrame): number {
    const membership = this.rooms?.get(room);
    if (membership !== undefined && this.held(membership, id, frame)) return 0;
    return this.write(room, id, frame);
  }

  /**
   * Whether a room's live frame stays out of the socket for now: held while a join is in
   * flight (bounded like the socket's buffer: past it they are dropped and the replay must
   * go on, the stream still has them), or withheld, for a message, while the room is
   * behind a replay that stopped short (the client reads those from the stream).
   */
  private held(membership: Membership, id: ParsedId | undefined, frame: PreparedFrame): boolean {
    const pending = membership.pending;
    if (pending !== undefined) {
      if (pending.overflowed) return true;
      pending.bytes += frame.wire.length;
      if (pending.bytes > this.maxBufferedBytes) {
        pending.overflowed = true;
        pending.frames = [];
        return true;
      }
      pending.frames.push({ id, frame });
      return true;
    }
    return id !== undefined && membership.behind;
  }

  /** Sends a replayed message and remembers it as the newest seen; 1 when written. */
  replayed(room: string, id: string, data: Buffer): number {
    if (this.rooms?.has(room) !== true) return 0;
    const parsed = parseId(id);
    if (!this.advance(room, parsed)) return 0;
    if (!this.writable()) return 0;
    this.charge(data.length);
    this.connection.sendPrepared(prepareTextFrame(data));
    return 1;
  }

  /** Writes a room's frame unless the session already has its id; 1 when written. */
  private write(room: string, id: ParsedId | undefined, frame: PreparedFrame): number {
    if (id !== undefined && !this.advance(room, id)) return 0;
    if (!this.writable()) return 0;
    this.connection.sendPrepared(frame);
    return 1;
  }

  /** Moves the room's mark to `id`; false for a duplicate (at or before the mark). */
  private advance(room: string, id: ParsedId): boolean {
    const marks = (this.marks ??= new Map());
    const mark = marks.get(room);
    if (mark !== undefined && !isAfter(id, mark)) return false;
    marks.set(room, id);
    return true;
  }

  /** The one slow-consumer check: an open session whose output stays within the bound. */
  private writable(): boolean {
    if (this.closed) return false;
    if (this.connection.bufferedAmount <= this.maxBufferedBytes) return true;
    this.onSlow(this);
    return false;
  }

  // ---- lifecycle ------------------------------------------------------------------

  /** open → closing: sends the close frame; a peer that never answers is cut after 5 s. */
  close(close: CloseCode): void {
    if (this.closed) return;
    this.lifecycle = 'closing';
    this.connection.close(close.code, close.reason);
    this.cutTimer = setTimeout(() => this.connection.terminate(), 5000);
    this.cutTimer.unref();
  }

  /** Cuts the socket without a close handshake (a dead peer, the end of a drain). */
  terminate(): void {
    if (this.lifecycle === 'released') return;
    this.lifecycle = 'closing';
    this.connection.terminate();
  }

  /**
   * → released, once: the socket is gone. Returns the rooms the session was in, for the
   * node to leave; undefined when it was already released.
   */
  release(): string[] | undefined {
    if (this.lifecycle === 'released') return undefined;
    this.lifecycle = 'released';
    clearTimeout(this.cutTimer);
    const rooms = this.roomNames;
    this.rooms = undefined;
    this.marks = undefined;
    return rooms;
  }
}
