import type { AccessClaims } from '@securechat/tokens';
import { isAfter, parseId, type ParsedId } from '@securechat/state';
import { prepareTextFrame, type Connection, type PreparedFrame } from './connection';
import type { CloseCode } from './codes';

/** Live frames that arrive for a room while its join (or catch-up) is in flight. */
interface Pending {
  frames: { id: ParsedId | undefined; frame: PreparedFrame }[];
}

interface Membership {
  pending: Pending | undefined;
  /** The newest message id this session was given in the room. */
  lastId: ParsedId | undefined;
}

/** One authenticated WebSocket: its identity, rooms, and what it has been sent. */
export class Session {
  readonly rooms = new Map<string, Membership>();
  alive = true;
  closed = false;
  /** Its node-level resources (address count, registry entry, rooms) were given back. */
  released = false;
  expiryTimer: NodeJS.Timeout | undefined;
  /** A small per-session budget for requests, against floods of cheap requests. */
  private tokens: number;
  private refilledAt: number;

  constructor(
    readonly id: string,
    public claims: AccessClaims,
    readonly address: string,
    readonly connection: Connection,
    private readonly maxBuffered: number,
    private readonly onSlow: (session: Session) => void,
    private readonly requestBurst = 100,
    private readonly requestsPerSecond = 50,
  ) {
    this.tokens = requestBurst;
    this.refilledAt = Date.now();
  }

  get user(): string {
    return this.claims.sub;
  }

  takeRequestToken(now = Date.now()): boolean {
    this.tokens = Math.min(
      this.requestBurst,
      this.tokens + ((now - this.refilledAt) / 1000) * this.requestsPerSecond,
    );
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Sends a reply unless the socket's output passed the bound (then it is closed). */
  send(data: Buffer): void {
    if (this.closed) return;
    if (this.connection.bufferedAmount > this.maxBuffered) {
      this.onSlow(this);
      return;
    }
    this.connection.send(data);
  }

  sendText(text: string): void {
    this.send(Buffer.from(text));
  }

  private write(frame: PreparedFrame): void {
    if (this.closed) return;
    if (this.connection.bufferedAmount > this.maxBuffered) {
      this.onSlow(this);
      return;
    }
    this.connection.sendPrepared(frame);
  }

  /** A fan-out frame for `room`: held back while the room's join is in flight. */
  deliver(room: string, id: ParsedId | undefined, frame: PreparedFrame): void {
    const membership = this.rooms.get(room);
    if (membership === undefined) return;
    if (membership.pending !== undefined) {
      membership.pending.frames.push({ id, frame });
      return;
    }
    if (id !== undefined) {
      // Never a duplicate: a message at or before what the session already has is dropped.
      if (membership.lastId !== undefined && !isAfter(id, membership.lastId)) return;
      membership.lastId = id;
    }
    this.write(frame);
  }

  beginJoin(room: string): void {
    const existing = this.rooms.get(room);
    if (existing !== undefined) existing.pending ??= { frames: [] };
    else this.rooms.set(room, { pending: { frames: [] }, lastId: undefined });
  }

  /** Sends a replayed message and remembers it as the newest seen. */
  replayed(room: string, id: string, data: Buffer): void {
    const membership = this.rooms.get(room);
    if (membership === undefined) return;
    const parsed = parseId(id);
    if (membership.lastId !== undefined && !isAfter(parsed, membership.lastId)) return;
    membership.lastId = parsed;
    this.write(prepareTextFrame(data));
  }

  /** Ends the in-flight phase: held-back live frames newer than the replay go out, in order. */
  finishJoin(room: string): void {
    const membership = this.rooms.get(room);
    if (membership?.pending === undefined) return;
    const { frames } = membership.pending;
    membership.pending = undefined;
    for (const f of frames) this.deliver(room, f.id, f.frame);
  }

  close(close: CloseCode): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.expiryTimer);
    this.connection.close(close.code, close.reason);
    // A peer that never answers the close handshake is cut after a few seconds.
    setTimeout(() => this.connection.terminate(), 5000).unref();
  }
}
