import type { Logger } from '@securechat/common';
import type { ResubscribedHandler } from '../chat-ports';
import type { ChannelSubscriber } from './channel-subscriber';

/** What a subscribed channel carries: a room's frames or a user's own events. */
export type Subscription =
  { readonly room: string; readonly user?: undefined } | { readonly user: string; readonly room?: undefined };

/** How many frames wait while a resubscribe is confirmed (one round trip's worth, and more). */
const EARLY_FRAMES_MAX = 10_000;

export interface ResubscriptionDeps {
  subscriber: ChannelSubscriber;
  /** The node's channels now (the broker's own map). */
  channels: () => ReadonlyMap<string, Subscription>;
  /** Where a frame goes once it may: the broker's dispatch to the node's handlers. */
  dispatch: (channel: Buffer, payload: Buffer) => void;
  logger: Logger;
}

/**
 * The node's subscriptions across reconnects of its subscriber. Pub/sub is at most once:
 * once every channel is subscribed again, the handlers read back from the streams what
 * was published meanwhile. ioredis resubscribes by itself, but it tells of the reconnect
 * before its SUBSCRIBE has even been sent (the Cluster's sharded group likewise): a
 * catch-up read that Redis ran before the SUBSCRIBE would miss every message published
 * between the two (a CI run lost acked messages to a live member across a Sentinel
 * failover). So the channels are subscribed again on the same connections and the
 * handlers run once the replies are in. Frames arriving meanwhile wait and follow the
 * handlers, which hold them until their catch-up is done.
 */
export class Resubscription {
  private readonly handlers: ResubscribedHandler[] = [];
  private wasConnected = false;
  /** When the subscriber was lost (the earliest time anything may have been missed). */
  private lostAt: number | undefined;
  /** Frames that came while a resubscribe is being confirmed. */
  private early: Array<[Buffer, Buffer]> | undefined;

  constructor(private readonly deps: ResubscriptionDeps) {
    // Buffers, not strings: a message frame goes to the sockets as the bytes Redis sent.
    deps.subscriber.onMessage((channel: Buffer, payload: Buffer) => {
      if (this.early === undefined) deps.dispatch(channel, payload);
      else if (this.early.length < EARLY_FRAMES_MAX) this.early.push([channel, payload]);
      // Beyond the bound a message is dropped here and read back by the catch-up, which
      // reads after this point; a presence or read-marker event is lost (never seen so far).
    });
    deps.subscriber.onLost(() => {
      this.lostAt ??= Date.now();
    });
    deps.subscriber.onRestored(() => void this.restored());
  }

  onResubscribed(handler: ResubscribedHandler): void {
    this.handlers.push(handler);
  }

  /** The first connection is made: from now on a restore is a reconnect. */
  connected(): void {
    this.wasConnected = true;
  }

  private async restored(): Promise<void> {
    const lostAt = this.lostAt ?? Date.now();
    this.lostAt = undefined;
    const channels = this.deps.channels();
    if (!this.wasConnected || channels.size === 0) {
      this.wasConnected = true;
      return;
    }
    if (this.early !== undefined) return; // a confirmation is under way: it covers this one too
    const subs = [...channels];
    this.early = [];
    try {
      await this.deps.subscriber.confirm(subs.map(([channel]) => channel));
    } catch (err) {
      // Lost again or refused: catch up anyway, as well as can be (a new reconnect repeats it).
      this.deps.logger.warn('resubscribe not confirmed', { channels: subs.length, err });
    }
    const early = this.early;
    this.early = undefined;
    const rooms = subs.flatMap(([, s]) => (s.room === undefined ? [] : [s.room]));
    const users = subs.flatMap(([, s]) => (s.user === undefined ? [] : [s.user]));
    for (const handler of this.handlers) handler(rooms, users, lostAt);
    for (const [channel, payload] of early) this.deps.dispatch(channel, payload);
  }
}
