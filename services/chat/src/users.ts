import { dmRoomUsers, messageFrame, type Logger } from '@securechat/common';
import type { Broker, Inbox, UserEvent } from '@securechat/state';
import { formatId, isAfter, parseId, type ParsedId } from '@securechat/state';
import { prepareTextFrame, type PreparedFrame } from './connection';
import type { Hub } from './hub';
import { noChatMetrics, type ChatMetrics } from './metrics';
import { frame } from './protocol';
import { HOLD_MAX_FRAMES, REPLAY_PAGE_COUNT, replayLimit } from './rooms';
import { CatchUpRetries } from './retries';
import type { ReadSlots } from './budget';

export interface UsersDeps {
  hub: Hub;
  broker: Broker;
  inbox: Inbox;
  historyMaxLen: number;
  /** The largest page of a read of history (PAGE_MAX_BYTES, bounded by the socket buffer). */
  pageMaxBytes: number;
  /** The node's history reads in flight, shared with the rooms' replays. */
  reads: ReadSlots;
  logger: Logger;
  /** Counts the DMs written to sockets; nothing by default. */
  metrics?: ChatMetrics;
}

/**
 * How far before a lost subscriber connection a catch-up reads DM rooms this node has
 * delivered nothing of: covers the clock difference between this node and Redis (whose
 * clock makes the ids). Sessions drop what they already had, so reading more is harmless.
 */
const CATCH_UP_MARGIN_MS = 5000;

/**
 * The users of this node: each user with a local session has their own channel
 * subscribed on the node's one subscriber connection, from before the session's
 * `welcome` to after its last session ends. What arrives there goes to every local
 * session of the user: a DM (framed once per node, once per session whatever path it
 * also took) and a read marker moved by another session. After the subscriber
 * reconnects, the user's DM rooms are read back from their streams.
 */
export class Users {
  /** Local sessions (and handshakes about to become sessions) per user. */
  private readonly counts = new Map<string, number>();
  private readonly locks = new Map<string, Promise<void>>();
  /** Per local user, the newest DM id delivered here per DM room: where a catch-up starts. */
  private readonly lastIds = new Map<string, Map<string, ParsedId>>();
  /** The last DM framed: both users of a DM may be local, and get the same bytes. */
  private lastFramed: { room: string; id: string; frame: PreparedFrame } | undefined;
  /**
   * Users whose DMs are being read back after a resubscribe: their live DMs wait here
   * until the older ones went out (a session drops a DM at or before its newest one).
   * `again`: more came than could be held, or the subscriber dropped again: read on.
   */
  private readonly holding = new Map<string, { events: UserEvent[]; again: boolean }>();
  private readonly retries = new CatchUpRetries();
  private closed = false;

  private readonly metrics: ChatMetrics;

  constructor(private readonly deps: UsersDeps) {
    this.metrics = deps.metrics ?? noChatMetrics();
    deps.broker.onUserEvent((user, event) => this.receive(user, event));
    deps.broker.onResubscribed((_rooms, users, lostAtMs) => {
      for (const user of users) {
        const held = this.holding.get(user);
        if (held !== undefined) {
          held.again = true;
          continue;
        }
        this.holding.set(user, { events: [], again: false });
        void this.catchUp(user, lostAtMs);
      }
    });
  }

  /** Counts a session of `user` about to open; subscribes the user's channel first if it is the first. */
  async acquire(user: string): Promise<void> {
    await this.withLock(user, async () => {
      const count = this.counts.get(user) ?? 0;
      if (count === 0) await this.deps.broker.subscribeUser(user);
      this.counts.set(user, count + 1);
    });
  }

  /** A session of `user` ended (or never opened); the last one out unsubscribes. */
  async release(user: string): Promise<void> {
    await this.withLock(user, async () => {
      const count = (this.counts.get(user) ?? 0) - 1;
      if (count > 0) {
        this.counts.set(user, count);
        return;
      }
      this.counts.delete(user);
      this.lastIds.delete(user);
      await this.deps.broker.unsubscribeUser(user);
    });
  }

  private async withLock(user: string, work: () => Promise<void>): Promise<void> {
    const previous = this.locks.get(user) ?? Promise.resolve();
    let release!: () => void;
    const current = new Promise<void>((r) => (release = r));
    const chained = previous.then(() => current);
    this.locks.set(user, chained);
    await previous;
    try {
      await work();
    } finally {
      release();
      if (this.locks.get(user) === chained) this.locks.delete(user);
    }
  }

  private receive(user: string, event: UserEvent): void {
    const held = event.kind === 'message' ? this.holding.get(user) : undefined;
    if (held === undefined) this.onEvent(user, event);
    else if (held.events.length < HOLD_MAX_FRAMES) held.events.push(event);
    else held.again = true;
  }

  /** Ends a user's catch-up: the DMs held meanwhile go out (sessions drop those they have). */
  private releaseHeld(user: string): void {
    const held = this.holding.get(user);
    this.holding.delete(user);
    for (const event of held?.events ?? []) this.onEvent(user, event);
  }

  private onEvent(user: string, event: UserEvent): void {
    if (event.kind === 'read') {
      const sessions = this.deps.hub.sessionsOf(user).filter((s) => s.id !== event.session);
      if (sessions.length === 0) return;
      const prepared = prepareTextFrame(Buffer.from(frame({ type: 'read', room: event.room, id: event.id })));
      for (const session of sessions) session.sendPrepared(prepared);
      return;
    }
    // Only the DM rooms of this user (the channel is theirs, but the check is cheap).
    const pair = dmRoomUsers(event.room);
    if (pair === undefined || (pair[0] !== user && pair[1] !== user)) return;
    const id = parseId(event.id);
    let rooms = this.lastIds.get(user);
    if (rooms === undefined) {
      rooms = new Map();
      this.lastIds.set(user, rooms);
    }
    const last = rooms.get(event.room);
    if (last === undefined || isAfter(id, last)) rooms.set(event.room, id);
    const sessions = this.deps.hub.sessionsOf(user);
    if (sessions.length === 0) return;
    const prepared = this.framed(event.room, event.id, event.frame);
    let written = 0;
    for (const session of sessions) written += session.deliverDirect(event.room, id, prepared);
    if (written > 0) this.metrics.delivered(written, event.frame);
  }

  private framed(room: string, id: string, data: Buffer): PreparedFrame {
    const last = this.lastFramed;
    if (last !== undefined && last.room === room && last.id === id) return last.frame;
    const prepared = prepareTextFrame(data);
    this.lastFramed = { room, id, frame: prepared };
    return prepared;
  }

  /**
   * After the subscriber reconnected: reads back each DM room of the user from the last
   * id delivered here, or from shortly before the connection was lost. Sessions drop
   * what they already have.
   */
  private async catchUp(user: string, lostAtMs: number, attempt = 0): Promise<void> {
    if (this.closed || !this.counts.has(user)) {
      this.releaseHeld(user);
      return;
    }
    const { broker, inbox, historyMaxLen, pageMaxBytes, reads, logger } = this.deps;
    try {
      const rooms = (await inbox.rooms(user)).filter((room) => dmRoomUsers(room) !== undefined);
      const floor = `${Math.max(0, lostAtMs - CATCH_UP_MARGIN_MS)}-0`;
      let caught = 0;
      for (const room of rooms) {
        const known = this.lastIds.get(user)?.get(room);
        let from = known === undefined ? floor : formatId(known);
        // Page by page, like a room's catch-up: no read larger than a page, however long the gap.
        for (let more = true, count = 0; more && count < replayLimit(historyMaxLen);) {
          const page = await reads.run(() =>
            broker.replay(room, from, { limit: REPLAY_PAGE_COUNT, maxBytes: pageMaxBytes }),
          );
          for (const m of page.messages) {
            this.onEvent(user, { kind: 'message', room, id: m.id, frame: Buffer.from(messageFrame(m)) });
            from = m.id;
          }
          count += page.messages.length;
          caught += page.messages.length;
          more = page.more;
        }
      }
      if (caught > 0) logger.info('caught up DMs after resubscribe', { username: user, messages: caught });
      const held = this.holding.get(user);
      if (held?.again === true) {
        held.events = [];
        held.again = false;
        await this.catchUp(user, lostAtMs);
        return;
      }
      this.releaseHeld(user);
    } catch (err) {
      // As for rooms: the request connection may come back after the subscriber.
      if (!this.retries.schedule(attempt, (next) => void this.catchUp(user, lostAtMs, next))) {
        logger.error('DM catch-up failed, giving up', { username: user, attempts: attempt + 1, err });
        this.releaseHeld(user);
        return;
      }
      if (attempt === 0) logger.warn('DM catch-up failed, retrying', { username: user, err });
    }
  }

  /** Stops catch-up retries (the node is closing). */
  close(): void {
    this.closed = true;
    this.retries.clear();
    this.holding.clear();
  }
}
