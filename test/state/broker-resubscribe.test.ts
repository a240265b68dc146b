import { expect } from 'chai';
import { Redis } from 'ioredis';
import { keySchema } from '@securechat/common';
import {
  presencePayload,
  RedisBroker,
  RedisViolationRecorder,
  messagePayload,
  type ChannelSubscriber,
} from '@securechat/state';
import { memoryLogger } from '../support/logs';

/**
 * A subscriber whose SUBSCRIBE replies the test hands out, to put the broker's steps in
 * a known order: what ioredis does after a reconnect (tell of it first, subscribe after)
 * is replayed by hand.
 */
class ScriptedSubscriber implements ChannelSubscriber {
  readonly pending: Array<{ channel: string; answer: (ok: boolean) => void }> = [];
  private message: (channel: Buffer, payload: Buffer) => void = () => undefined;
  private lost: () => void = () => undefined;
  private restoredHandler: () => void = () => undefined;

  subscribe(channel: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.pending.push({
        channel,
        answer: (ok) => (ok ? resolve(1) : reject(new Error('Connection is closed.'))),
      });
    });
  }
  confirm(channels: readonly string[]): Promise<unknown> {
    return Promise.all(channels.map((channel) => this.subscribe(channel)));
  }
  unsubscribe(): Promise<unknown> {
    return Promise.resolve(0);
  }
  onMessage(handler: (channel: Buffer, payload: Buffer) => void): void {
    this.message = handler;
  }
  onLost(handler: () => void): void {
    this.lost = handler;
  }
  onRestored(handler: () => void): void {
    this.restoredHandler = handler;
  }
  ready(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Answers every SUBSCRIBE sent so far. */
  answerAll(ok = true): void {
    for (const p of this.pending.splice(0)) p.answer(ok);
  }
  loseConnection(): void {
    this.lost();
  }
  reconnect(): void {
    this.restoredHandler();
  }
  publish(channel: string, payload: string): void {
    this.message(Buffer.from(channel, 'latin1'), Buffer.from(payload));
  }
}

/** Lets the broker's awaited promises settle (no timer: microtasks and one macrotask). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('the Redis broker after its subscriber reconnects', () => {
  let redis: Redis;
  let sub: ScriptedSubscriber;
  let broker: RedisBroker;
  const keys = keySchema('resub:');
  const events: string[] = [];

  beforeEach(async () => {
    events.length = 0;
    // Never connected: no command goes to Redis in these tests (scripts are only defined).
    redis = new Redis({ lazyConnect: true, enableOfflineQueue: false });
    sub = new ScriptedSubscriber();
    broker = new RedisBroker({
      redis,
      subscriber: sub,
      keys,
      historyMaxLen: 100,
      historyMaxAgeMs: 0,
      violations: new RedisViolationRecorder(redis, keys),
      logger: memoryLogger().logger,
    });
    broker.onFrame((room, id) => events.push(`frame ${room} ${String(id)}`));
    broker.onResubscribed((rooms, users, lostAtMs) => {
      expect(lostAtMs).to.be.a('number');
      events.push(`resubscribed ${rooms.join(',')} | ${users.join(',')}`);
    });
    await broker.start();
    const joins = [broker.subscribe('lobby'), broker.subscribeUser('ann')];
    sub.answerAll();
    await Promise.all(joins);
  });
  afterEach(() => redis.disconnect());

  it('tells of the reconnect only once every channel is subscribed again', async () => {
    sub.loseConnection();
    sub.reconnect();
    await settle();
    expect(events, 'no catch-up may read before the subscriptions are back').to.deep.equal([]);
    expect(sub.pending.map((p) => p.channel).sort()).to.deep.equal(
      [keys.roomChannel('lobby'), keys.userChannel('ann')].sort(),
    );
    sub.answerAll();
    await settle();
    expect(events).to.deep.equal(['resubscribed lobby | ann']);
  });

  it('passes on the frames that came meanwhile after telling of the reconnect, in order', async () => {
    sub.loseConnection();
    sub.reconnect();
    sub.publish(keys.roomChannel('lobby'), messagePayload('7-0', '{"type":"message"}'));
    sub.publish(keys.roomChannel('lobby'), presencePayload('bob', 'online'));
    sub.publish(keys.roomChannel('lobby'), messagePayload('8-0', '{"type":"message"}'));
    await settle();
    expect(events).to.deep.equal([]);
    sub.answerAll();
    await settle();
    expect(events).to.deep.equal([
      'resubscribed lobby | ann',
      'frame lobby 7-0',
      'frame lobby undefined',
      'frame lobby 8-0',
    ]);
    // and live frames flow straight through again
    sub.publish(keys.roomChannel('lobby'), messagePayload('9-0', '{"type":"message"}'));
    expect(events.at(-1)).to.equal('frame lobby 9-0');
  });

  it('still catches up when the confirmation fails, and once per reconnect', async () => {
    sub.loseConnection();
    sub.reconnect();
    // a second reconnect while the first one is being confirmed adds no second catch-up
    sub.reconnect();
    sub.answerAll(false);
    await settle();
    expect(events).to.deep.equal(['resubscribed lobby | ann']);
    sub.loseConnection();
    sub.reconnect();
    sub.answerAll();
    await settle();
    expect(events).to.deep.equal(['resubscribed lobby | ann', 'resubscribed lobby | ann']);
  });

  it('does not tell of the first connection', async () => {
    const fresh = new ScriptedSubscriber();
    const other = new RedisBroker({
      redis,
      subscriber: fresh,
      keys,
      historyMaxLen: 100,
      historyMaxAgeMs: 0,
      violations: new RedisViolationRecorder(redis, keys),
      logger: memoryLogger().logger,
    });
    let told = 0;
    other.onResubscribed(() => (told += 1));
    fresh.reconnect(); // ioredis says 'ready' at the first connection too
    await other.start();
    const join = other.subscribe('lobby');
    fresh.answerAll();
    await join;
    await settle();
    expect(told).to.equal(0);
  });
});
