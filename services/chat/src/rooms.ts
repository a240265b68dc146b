import { messageFrame, type Logger } from '@securechat/common';
import type { Broker, Presence } from '@securechat/state';
import { formatId, isAfter, parseId, type ParsedId } from '@securechat/state';
import type { ReadSlots } from './budget';
import type { Hub } from './hub';
import { noChatMetrics, type ChatMetrics } from './metrics';
import { frame } from './protocol';
import type { Session } from './session';
import { CatchUpRetries } from './retries';

/**
 * How many messages a catch-up after a resubscribe may read. Streams are trimmed
 * approximately (whole radix nodes of up to 100 entries), so a room can hold more than
 * HISTORY_MAX_LEN: the limit leaves room for all of it.
 */
export function replayLimit(historyMaxLen: number): number {
  return historyMaxLen * 2 + 1000;
}

/** Live frames held per room while it catches up; past it they are read back from the stream. */
export const HOLD_MAX_FRAMES = 1000;

/** A room's live frames held back while its catch-up reads what came before them. */
interface Held {
  frames: { id: ParsedId | undefined; data: Buffer }[];
  /** Frames were dropped (no room left, or the subscriber dropped again): read on before releasing. */
  overflow: boolean;
}

/** The most messages one page of a replay holds (its bytes are bounded too). */
export const REPLAY_PAGE_COUNT = 500;

export interface RoomsDeps {
  hub: Hub;
  broker: Broker;
  presence: Presence;
  historyMaxLen: number;
  /** The most bytes one page of a replay may carry (at least one message). */
  pageMaxBytes: number;
  /** The most bytes one join replays before it answers `replay_more`. */
  replayMaxBytes: number;
  /** The node's reads of history in flight at once. */
  reads: ReadSlots;
  logger: Logger;
  metrics?: ChatMetrics;
}

/** What a join reports back before the replay is written. */
export type JoinReply = (members: string[], truncated: boolean) => void;

/**
 * The rooms of this node: joins (subscription, presence, replay), leaves, the inbound
 * frames of the broker and the catch-up after the subscriber reconnects. Subscription
 * changes of one room are serialised by a per-room lock, so a join never races the
 * unsubscribe of the room's last local member.
 */
export class Rooms {
  /** Newest message id fanned out per room, to catch up after a subscriber reconnect. */
  private readonly lastIds = new Map<string, ParsedId>();
  /** Rooms whose local subscription is being set up or torn down, serialised per room. */
  private readonly locks = new Map<string, Promise<void>>();
  /** Catch-ups waiting to be retried. */
  private readonly retries = new CatchUpRetries();
  /**
   * Rooms catching up after a resubscribe: their live frames wait here, so that a member
   * never gets a newer live message before the older ones the catch-up reads (a session
   * drops anything at or before its newest id: they would be lost to it).
   */
  private readonly holding = new Map<string, Held>();
  private closed = false;

  private readonly metrics: ChatMetrics;

  constructor(private readonly deps: RoomsDeps) {
    this.metrics = deps.metrics ?? noChatMetrics();
    deps.broker.onFrame((room, id, data) => this.onFrame(room, id, data));
    deps.broker.onResubscribed((rooms) => {
      this.metrics.resubscribed(rooms.length);
      for (const room of rooms) {
        const held = this.holding.get(room);
        // A catch-up already on it reads again before releasing: the new gap is after it.
        if (held !== undefined) {
          held.overflow = true;
          continue;
        }
        this.holding.set(room, { frames: [], overflow: false });
        void this.catchUp(room);
      }
    });
  }

  /**
   * Joins a session to a room: live frames are held back until the reply (and the
   * replay, with `since`) has been sent, so there is no hole and no duplicate between
   * the two. On failure the session is out of the room again and the error is thrown.
   * Resolves false when `reply` was never called: the session left the room (or closed)
   * before the join completed.
   */
  async join(session: Session, room: string, since: string | undefined, reply: JoinReply): Promise<boolean> {
    const { hub, broker, presence } = this.deps;
    session.beginJoin(room);
    let answered = false;
    const answer: JoinReply = (members, truncated) => {
      answered = true;
      reply(members, truncated);
    };
    try {
      await this.withLock(room, async () => {
        const first = hub.join(room, session);
        if (first) {
          await broker.subscribe(room);
          await this.markTail(room);
        }
      });
      await presence.join(room, session.user);
      const members = await presence.members(room);
      if (since === undefined) {
        if (session.closed || !session.inRoom(room)) return false;
        answer(members, false);
        const written = session.finishJoin(room);
        if (written > 0) this.metrics.delivered(written);
        this.metrics.joined();
        return true;
      }
      const replay = session.exclusive(() =>
        this.replay(session, room, since, (truncated) => answer(members, truncated)),
      );
      if (replay === undefined) throw new TooManyReadsError();
      await replay;
      if (answered) this.metrics.joined();
      return answered;
    } catch (err) {
      await this.exit(session, room);
      throw err;
    }
  }

  /**
   * Writes the messages after `since` page by page, each page read only once the socket
   * has room for it and its budgets are out of debt (the pace at which it drains), up to
   * REPLAY_MAX_BYTES. A replay that stops short of the newest message says so with
   * `replay_more` and its last id; the room stays behind until the client continues.
   */
  private async replay(
    session: Session,
    room: string,
    since: string,
    joined: (truncated: boolean) => void,
  ): Promise<void> {
    const { broker, pageMaxBytes, replayMaxBytes, reads } = this.deps;
    let from = since;
    let sent = 0;
    let first = true;
    let more = true;
    let messages = 0;
    let written = 0;
    while (more && (first || sent < replayMaxBytes)) {
      if (!(await session.readyFor(pageMaxBytes))) return;
      let page;
      try {
        page = await reads.run(() =>
          broker.replay(room, from, { limit: REPLAY_PAGE_COUNT, maxBytes: pageMaxBytes }),
        );
      } catch (err) {
        // Before `joined` the join fails; after it, the client continues from what it got.
        if (first) throw err;
        this.deps.logger.warn('replay stopped', { room, session: session.id, err });
        break;
      }
      if (session.closed || !session.inRoom(room)) return;
      if (first) joined(page.truncated);
      first = false;
      for (const m of page.messages) {
        const data = Buffer.from(messageFrame(m));
        written += session.replayed(room, m.id, data);
        sent += data.length;
        from = m.id;
      }
      messages += page.messages.length;
      more = page.more;
    }
    this.metrics.replayed('join', messages);
    if (session.closed || !session.inRoom(room)) return;
    // (Another join of the room may have finished the in-flight phase already: what counts
    // is whether the room is left behind.)
    written += session.finishJoin(room, !more);
    if (written > 0) this.metrics.delivered(written);
    if (session.isBehind(room)) session.sendText(frame({ type: 'replay_more', room, last: from }));
  }

  /** Removes a session from a room locally, then presence and subscription as needed. */
  async leave(session: Session, room: string): Promise<void> {
    if (session.inRoom(room)) this.metrics.left();
    await this.exit(session, room);
  }

  /** Leaves without counting it: a join that failed is neither a join nor a leave. */
  private async exit(session: Session, room: string): Promise<void> {
    const { hub, broker, presence } = this.deps;
    session.leaveRoom(room);
    const stillHere = hub.userInRoom(room, session.user, session);
    await this.withLock(room, async () => {
      const empty = hub.leave(room, session);
      if (empty) {
        this.lastIds.delete(room);
        await broker.unsubscribe(room);
      }
    });
    if (!stillHere) await presence.leave(room, session.user).catch(() => undefined);
  }

  /** Leaves every room of a released session (each counts as a leave). */
  async leaveAll(session: Session, rooms: readonly string[]): Promise<void> {
    if (rooms.length > 0) this.metrics.left(rooms.length);
    await Promise.all(rooms.map((room) => this.exit(session, room)));
  }

  /** Serialises subscription changes of one room on this node. */
  private async withLock<T>(room: string, work: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(room) ?? Promise.resolve();
    let release!: () => void;
    const current = new Promise<void>((r) => (release = r));
    const chained = previous.then(() => current);
    this.locks.set(room, chained);
    await previous;
    try {
      return await work();
    } finally {
      release();
      if (this.locks.get(room) === chained) this.locks.delete(room);
    }
  }

  /**
   * Where a catch-up of a newly subscribed room starts: its newest message once the
   * subscription is in place (anything later arrives live or is in the stream after it),
   * `0-0` for an empty room. Without it, a room that had not yet delivered a message on
   * this node would have nothing to catch up from after a reconnect.
   */
  private async markTail(room: string): Promise<void> {
    const page = await this.deps.broker.history(room, { limit: 1, maxBytes: this.deps.pageMaxBytes });
    this.advance(room, parseId(page.messages.at(-1)?.id ?? '0-0'));
  }

  /** Moves the room's high-water mark to `id` if it is newer: a catch-up may read older ids. */
  private advance(room: string, id: ParsedId): void {
    const last = this.lastIds.get(room);
    if (last === undefined || isAfter(id, last)) this.lastIds.set(room, id);
  }

  private onFrame(room: string, id: string | undefined, data: Buffer): void {
    // Parsed once per node, for the high-water mark here and every member's in the Hub.
    const parsed = id === undefined ? undefined : parseId(id);
    const held = this.holding.get(room);
    if (held === undefined) this.deliver(room, parsed, data);
    else if (held.frames.length < HOLD_MAX_FRAMES) held.frames.push({ id: parsed, data });
    else held.overflow = true;
  }

  private deliver(room: string, id: ParsedId | undefined, data: Buffer): void {
    if (id !== undefined) this.advance(room, id);
    this.deps.hub.fanOut(room, id, data);
  }

  /** Ends a room's catch-up: the frames held meanwhile go out (members drop those they have). */
  private release(room: string): void {
    const held = this.holding.get(room);
    this.holding.delete(room);
    for (const f of held?.frames ?? []) this.deliver(room, f.id, f.data);
  }

  /**
   * After the subscriber reconnected, reads back from the stream what pub/sub may have
   * dropped. Sessions drop anything they already have, so nothing is delivered twice.
   * The subscriber can be back before the request-path connection is: a failed read is
   * retried with back-off (about a minute in all) while the room has local members. A
   * room whose first join has not yet read its tail (`markTail`) is retried the same way.
   */
  private async catchUp(room: string, attempt = 0): Promise<void> {
    if (this.closed || !this.deps.hub.hasRoom(room)) {
      this.release(room);
      return;
    }
    const { broker, pageMaxBytes, reads, historyMaxLen } = this.deps;
    let count = 0;
    try {
      const last = this.lastIds.get(room);
      if (last === undefined) throw new Error('the room has no mark yet');
      let from = formatId(last);
      // Page by page, like a replay: no read larger than a page, however long the gap.
      for (let more = true; more && count < replayLimit(historyMaxLen) && this.deps.hub.hasRoom(room);) {
        const page = await reads.run(() =>
          broker.replay(room, from, { limit: REPLAY_PAGE_COUNT, maxBytes: pageMaxBytes }),
        );
        for (const m of page.messages) {
          this.deliver(room, parseId(m.id), Buffer.from(messageFrame(m)));
          from = m.id;
        }
        count += page.messages.length;
        more = page.more;
      }
      this.metrics.replayed('catchup', count);
      if (count > 0) this.deps.logger.info('caught up after resubscribe', { room, messages: count });
      const held = this.holding.get(room);
      if (held?.overflow === true) {
        // More came meanwhile than could be held: they are in the stream, read on.
        held.frames = [];
        held.overflow = false;
        await this.catchUp(room);
        return;
      }
      this.release(room);
    } catch (err) {
      if (!this.retries.schedule(attempt, (next) => void this.catchUp(room, next))) {
        this.deps.logger.error('catch-up failed, giving up', { room, attempts: attempt + 1, err });
        this.release(room);
        return;
      }
      if (attempt === 0) this.deps.logger.warn('catch-up failed, retrying', { room, err });
    }
  }

  /** Stops catch-up retries (the node is closing). */
  close(): void {
    this.closed = true;
    this.retries.clear();
    this.holding.clear();
  }
}

/** A session already has MAX_QUEUED_READS reads waiting: the request is refused. */
export class TooManyReadsError extends Error {
  constructor() {
    super('too many reads in progress');
    this.name = 'TooManyReadsError';
  }
}
