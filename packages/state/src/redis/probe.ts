import { randomBytes } from 'node:crypto';
import type { Logger } from '@securechat/common';
import type { ChannelSubscriber } from './channel-subscriber';

export interface DeliveryProbeOptions {
  /** Publishes on the node's request-path client (PUBLISH, or SPUBLISH in Redis Cluster). */
  publish: (channel: string, message: string) => Promise<unknown>;
  /** The node's subscriptions, shared with the broker: the probes come back on them. */
  subscriber: ChannelSubscriber;
  /**
   * The node's own channels (`keys.probe(nodeId)`; in Redis Cluster one per master), asked
   * again before every probe: a master added to the cluster is probed from then on.
   */
  channels: () => Promise<string[]>;
  logger: Logger;
  /** Between two probes; 1000 ms by default. */
  intervalMs?: number;
  /** Ready while a probe came back within this; 3000 ms by default. */
  freshMs?: number;
  now?: () => number;
}

/**
 * Whether this node's pub/sub delivers: every `intervalMs` it publishes a probe on its
 * own channel, through the same server and subscriber connection as room messages, and
 * it counts as delivering while a probe came back within `freshMs`. A PING says the
 * server answers; this says that what is published reaches the node, which a lost or
 * stalled subscription (a failover, a killed subscriber connection) breaks while
 * commands still work.
 */
export class DeliveryProbe {
  private readonly intervalMs: number;
  private readonly freshMs: number;
  private readonly now: () => number;
  /** Each run's probes carry its own token: another process's message is not ours. */
  private readonly token = randomBytes(8).toString('hex');
  private timer: NodeJS.Timeout | undefined;
  private channels: string[] = [];
  /** When each channel's probe last came back. */
  private readonly back = new Map<string, number>();
  private failing = false;
  private firstBack: (() => void) | undefined;
  private following: Promise<void> | undefined;

  constructor(private readonly options: DeliveryProbeOptions) {
    this.intervalMs = options.intervalMs ?? 1000;
    this.freshMs = options.freshMs ?? 3000;
    this.now = options.now ?? Date.now;
    options.subscriber.onMessage((channel: Buffer, payload: Buffer) => {
      const name = channel.toString('latin1');
      if (this.channels.includes(name) && payload.toString('latin1') === this.token) {
        this.back.set(name, this.now());
        if (this.delivering()) this.firstBack?.();
      }
    });
  }

  /**
   * Subscribes and sends the first probe; later ones follow every `intervalMs` until
   * close(). Resolves once the first came back, or after `freshMs` (not delivering yet:
   * readiness says so).
   */
  async start(): Promise<void> {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => void this.send(), this.intervalMs);
    this.timer.unref();
    await this.follow();
    let timeout: NodeJS.Timeout | undefined;
    const back = new Promise<void>((resolve) => {
      this.firstBack = resolve;
      timeout = setTimeout(resolve, this.freshMs);
    });
    await this.send();
    await back;
    clearTimeout(timeout);
    this.firstBack = undefined;
  }

  /** On every channel, a probe came back within `freshMs`. */
  delivering(): boolean {
    const now = this.now();
    return (
      this.channels.length > 0 &&
      this.channels.every((channel) => now - (this.back.get(channel) ?? -Infinity) <= this.freshMs)
    );
  }

  /**
   * Subscribes the channels that are new (a master added) and drops those gone. A new
   * channel counts as fresh for its first `freshMs`: readiness does not flap while its
   * first probe is on the way, and says 503 if none comes back.
   */
  private follow(): Promise<void> {
    this.following ??= this.refollow().finally(() => (this.following = undefined));
    return this.following;
  }

  private async refollow(): Promise<void> {
    const wanted = await this.options.channels();
    const added = wanted.filter((channel) => !this.channels.includes(channel));
    const gone = this.channels.filter((channel) => !wanted.includes(channel));
    if (added.length === 0 && gone.length === 0) return;
    const first = this.channels.length === 0;
    await Promise.all(added.map((channel) => this.options.subscriber.subscribe(channel)));
    const now = this.now();
    if (!first) for (const channel of added) this.back.set(channel, now);
    for (const channel of gone) {
      this.back.delete(channel);
      this.options.subscriber.unsubscribe(channel).catch(() => undefined);
    }
    this.channels = wanted;
    if (!first) this.options.logger.info('delivery probe follows the cluster', { added, gone });
  }

  private async send(): Promise<void> {
    try {
      await this.follow();
      await Promise.all(this.channels.map((channel) => this.options.publish(channel, this.token)));
      this.failing = false;
    } catch (err) {
      // Once per outage: the readiness answer says the rest.
      if (!this.failing) this.options.logger.warn('delivery probe not sent', { err });
      this.failing = true;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await Promise.all(
      this.channels.map((channel) => this.options.subscriber.unsubscribe(channel).catch(() => undefined)),
    );
  }
}
