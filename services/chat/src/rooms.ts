import { messageFrame, type Logger } from '@securechat/common';
import type { Broker, Presence } from '@securechat/state';
import { formatId, isAfter, parseId, type ParsedId } from '@securechat/state';
import type { Hub } from './hub';
import { noChatMetrics, type ChatMetrics } from './metrics';
import type { Session } from './session';

/**
 * How many messages a replay may return. Streams are trimmed approximately (whole radix
 * nodes of up to 100 entries), so a room can hold more than HISTORY_MAX_LEN: the limit
 * leaves room for all of it, so a resume never silently stops short of the newest.
 */
export function replayLimit(historyMaxLen: number): number {
  return historyMaxLen * 2 + 1000;
}

/** Reads of a room's stream after a resubscribe, 250 ms apart, doubling, at most 5 s. */
const CATCH_UP_ATTEMPTS = 16;

export interface RoomsDeps {
  hub: Hub;
  broker: Broker;
  presence: Presence;
  historyMaxLen: number;
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
  private readonly retries = new Set<NodeJS.Timeout>();
  private closed = false;

  private readonly metrics: ChatMetrics;

  constructor(private readonly deps: RoomsDeps) {
    this.metrics = deps.metrics ?? noChatMetrics();
    deps.broker.onFrame((room, id, data) => this.onFrame(room, id, data));
    deps.broker.onResubscribed((rooms) => {
      this.metrics.resubscribed(rooms.length);
      for (const room of rooms) void this.catchUp(room);
    });
  }

  /**
   * Joins a session to a room: live frames are held back until the reply (and the
   * replay, with `since`) has been sent, so there is no hole and no duplicate between
   * the two. On failure the session is out of the room again and the error is thrown.
   */
  async join(session: Session, room: string, since: string | undefined, reply: JoinReply): Promise<void> {
    const { hub, broker, presence, historyMaxLen } = this.deps;
    session.beginJoin(room);
    try {
      await this.withLock(room, async () => {
        const first = hub.join(room, session);
        if (first) await broker.subscribe(room);
      });
      await presence.join(room, session.user);
      const members = await presence.members(room);
      let truncated = false;
      let replay: { id: string; data: Buffer }[] = [];
      if (since !== undefined) {
        const result = await broker.replay(room, since, replayLimit(historyMaxLen));
        truncated = result.truncated;
        replay = result.messages.map((m) => ({ id: m.id, data: Buffer.from(messageFrame(m)) }));
        this.metrics.replayed('join', replay.length);
      }
      if (session.closed || !session.inRoom(room)) return;
      reply(members, truncated);
      let written = 0;
      for (const m of replay) written += session.replayed(room, m.id, m.data);
      written += session.finishJoin(room);
      if (written > 0) this.metrics.delivered(written);
      this.metrics.joined();
    } catch (err) {
      await this.exit(session, room);
      throw err;
    }
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

  private onFrame(room: string, id: string | undefined, data: Buffer): void {
    // Parsed once per node, for the high-water mark here and every member's in the Hub.
    const parsed = id === undefined ? undefined : parseId(id);
    if (parsed !== undefined) {
      // A catch-up may replay older ids after newer live ones: keep the newest.
      const last = this.lastIds.get(room);
      if (last === undefined || isAfter(parsed, last)) this.lastIds.set(room, parsed);
    }
    this.deps.hub.fanOut(room, parsed, data);
  }

  /**
   * After the subscriber reconnected, reads back from the stream what pub/sub may have
   * dropped. Sessions drop anything they already have, so nothing is delivered twice.
   * The subscriber can be back before the request-path connection is: a failed read is
   * retried with back-off (about a minute in all) while the room has local members.
   */
  private async catchUp(room: string, attempt = 0): Promise<void> {
    const last = this.lastIds.get(room);
    if (this.closed || last === undefined || !this.deps.hub.hasRoom(room)) return;
    try {
      const { messages } = await this.deps.broker.replay(
        room,
        formatId(last),
        replayLimit(this.deps.historyMaxLen),
      );
      this.metrics.replayed('catchup', messages.length);
      for (const m of messages) this.onFrame(room, m.id, Buffer.from(messageFrame(m)));
      if (messages.length > 0)
        this.deps.logger.info('caught up after resubscribe', { room, messages: messages.length });
    } catch (err) {
      if (attempt + 1 >= CATCH_UP_ATTEMPTS) {
        this.deps.logger.error('catch-up failed, giving up', { room, attempts: attempt + 1, err });
        return;
      }
      if (attempt === 0) this.deps.logger.warn('catch-up failed, retrying', { room, err });
      const timer = setTimeout(
        () => {
          this.retries.delete(timer);
          void this.catchUp(room, attempt + 1);
        },
        Math.min(250 * 2 ** attempt, 5000),
      );
      timer.unref();
      this.retries.add(timer);
    }
  }

  /** Stops catch-up retries (the node is closing). */
  close(): void {
    this.closed = true;
    for (const timer of this.retries) clearTimeout(timer);
    this.retries.clear();
  }
}
