import { expect } from 'chai';
import { DeliveryProbe, type ChannelSubscriber } from '@securechat/state';
import { memoryLogger } from '../support/logs';
import { waitFor } from '../support/wait';

/**
 * Pub/sub in a box: what is published on a subscribed channel comes back on the next
 * turn, unless its channel is stalled (a shard whose subscription stopped delivering).
 */
class LoopbackPubSub implements ChannelSubscriber {
  readonly subscribed = new Set<string>();
  readonly stalled = new Set<string>();
  /** Probes delivered per channel. */
  readonly delivered = new Map<string, number>();
  private handler: (channel: Buffer, payload: Buffer) => void = () => undefined;

  subscribe(channel: string): Promise<unknown> {
    this.subscribed.add(channel);
    return Promise.resolve(1);
  }
  confirm(channels: readonly string[]): Promise<unknown> {
    return Promise.all(channels.map((channel) => this.subscribe(channel)));
  }
  unsubscribe(channel: string): Promise<unknown> {
    this.subscribed.delete(channel);
    return Promise.resolve(0);
  }
  onMessage(handler: (channel: Buffer, payload: Buffer) => void): void {
    this.handler = handler;
  }
  onLost(): void {}
  onRestored(): void {}
  ready(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  publish(channel: string, message: string): Promise<number> {
    if (this.subscribed.has(channel) && !this.stalled.has(channel)) {
      setImmediate(() => {
        this.delivered.set(channel, (this.delivered.get(channel) ?? 0) + 1);
        this.handler(Buffer.from(channel, 'latin1'), Buffer.from(message, 'latin1'));
      });
    }
    return Promise.resolve(1);
  }
}

describe("a chat node's delivery probe", () => {
  let pubsub: LoopbackPubSub;
  let channels: string[];
  let probe: DeliveryProbe;
  const log = memoryLogger();

  beforeEach(async () => {
    pubsub = new LoopbackPubSub();
    channels = ['probe:{n.0}'];
    probe = new DeliveryProbe({
      subscriber: pubsub,
      publish: (channel, message) => pubsub.publish(channel, message),
      channels: () => Promise.resolve([...channels]),
      logger: log.logger,
      intervalMs: 20,
      freshMs: 150,
    });
    await probe.start();
  });
  afterEach(() => probe.close());

  it('is delivering once its first probe came back, and not while its channel stalls', async () => {
    expect(probe.delivering()).to.equal(true);
    pubsub.stalled.add('probe:{n.0}');
    await waitFor(() => !probe.delivering(), { what: 'not delivering', timeoutMs: 2000 });
    pubsub.stalled.clear();
    await waitFor(() => probe.delivering(), { what: 'delivering again', timeoutMs: 2000 });
  });

  it('probes a master added to the cluster from then on, without a restart', async () => {
    channels = ['probe:{n.0}', 'probe:{n.3}'];
    await waitFor(() => pubsub.subscribed.has('probe:{n.3}'), { what: 'the new channel subscribed' });
    // a new channel does not turn readiness off while its first probe is on the way
    expect(probe.delivering()).to.equal(true);
    // and it counts: the new shard stalling turns readiness off
    pubsub.stalled.add('probe:{n.3}');
    await waitFor(() => !probe.delivering(), { what: 'the new shard stalled', timeoutMs: 2000 });
    pubsub.stalled.clear();
    await waitFor(() => probe.delivering(), { what: 'delivering again', timeoutMs: 2000 });
    expect(log.lines().some((l) => l.message === 'delivery probe follows the cluster')).to.equal(true);
  });

  it('drops the channel of a master that left', async () => {
    channels = ['probe:{n.0}', 'probe:{n.3}'];
    await waitFor(() => pubsub.subscribed.has('probe:{n.3}'), { what: 'the new channel subscribed' });
    channels = ['probe:{n.3}'];
    await waitFor(() => !pubsub.subscribed.has('probe:{n.0}'), { what: 'the old channel dropped' });
    // what is left is all that counts: a stall of the dropped channel changes nothing
    pubsub.stalled.add('probe:{n.0}');
    // Ten more probes on the channel left (ten intervals, beyond freshMs) and still ready.
    const from = pubsub.delivered.get('probe:{n.3}') ?? 0;
    await waitFor(() => (pubsub.delivered.get('probe:{n.3}') ?? 0) >= from + 10, {
      what: 'ten probe rounds',
    });
    expect(probe.delivering()).to.equal(true);
  });
});
