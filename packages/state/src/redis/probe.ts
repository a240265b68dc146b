import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '@securechat/common';

export interface DeliveryProbeOptions {
  /** The node's request-path client: it publishes the probes. */
  redis: Redis;
  /** The node's subscriber connection, shared with the broker: the probes come back on it. */
  subscriber: Redis;
  /** The node's own channel (`keys.probe(nodeId)`). */
  channel: string;
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
  private lastBack: number | undefined;
  private failing = false;
  private firstBack: (() => void) | undefined;

  constructor(private readonly options: DeliveryProbeOptions) {
    this.intervalMs = options.intervalMs ?? 1000;
    this.freshMs = options.freshMs ?? 3000;
    this.now = options.now ?? Date.now;
    options.subscriber.on('messageBuffer', (channel: Buffer, payload: Buffer) => {
      if (channel.toString('latin1') === options.channel && payload.toString('latin1') === this.token) {
        this.lastBack = this.now();
        this.firstBack?.();
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
    await this.options.subscriber.subscribe(this.options.channel);
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

  /** A probe came back within `freshMs`. */
  delivering(): boolean {
    return this.lastBack !== undefined && this.now() - this.lastBack <= this.freshMs;
  }

  private async send(): Promise<void> {
    try {
      await this.options.redis.publish(this.options.channel, this.token);
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
    await this.options.subscriber.unsubscribe(this.options.channel).catch(() => undefined);
  }
}
