import { ERROR_CODES } from '@securechat/chat';
import { parseServerMessage } from '@securechat/sdk';
import { ChatCluster, type InProcessNode } from '../support/chat-cluster';
import { RedisServer } from '../support/redis-server';
import { connect, type Frame, type TestClient } from '../support/ws-client';
import { waitFor } from '../support/wait';
import type { Action } from './frames';

/** The ref of a frame the server must answer with it: a JSON object's string ref of 1-64. */
function refOf(text: string): string | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    const ref = (value as { ref?: unknown }).ref;
    return typeof ref === 'string' && ref.length >= 1 && ref.length <= 64 ? ref : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Closes a fuzzing socket may get: 1003 binary, 1007 invalid UTF-8, 1009 too big, 1008 a
 * block (its sends broke the rate limit), 1013 it stopped reading.
 */
const ALLOWED_CLOSES = new Set([1003, 1007, 1008, 1009, 1013]);

const MIB = 1024 * 1024;

/** Stands for a fresh token of the fuzzing socket's own user in a generated frame. */
export const OWN_TOKEN = '$OWN_TOKEN$';

export interface FuzzFigures {
  runs: number;
  frames: number;
  closes: Record<string, number>;
  errors: Record<string, number>;
  replies: Record<string, number>;
}

/**
 * A real chat node (in this process, as the tests build them) on a real redis-server,
 * a healthy client on it, and sockets that throw generated frames at it. `run` plays one
 * sequence on a fresh socket of a fresh user and throws on any finding: a frame of an
 * unknown type or error code, an `internal error` (an unexpected exception), a close
 * other than the documented ones, no answer to a final ping, or a healthy client that is
 * not answered.
 */
export class FuzzTarget {
  readonly figures: FuzzFigures = { runs: 0, frames: 0, closes: {}, errors: {}, replies: {} };
  private users = 0;
  private redisBaseline = 0;

  private constructor(
    readonly redis: RedisServer,
    readonly cluster: ChatCluster,
    readonly node: InProcessNode,
    readonly healthy: TestClient,
    readonly tokens: readonly string[],
  ) {}

  static async start(): Promise<FuzzTarget> {
    const redis = await RedisServer.start({
      args: ['--maxmemory', '512mb', '--maxmemory-policy', 'noeviction'],
    });
    const cluster = new ChatCluster(redis, {
      MAX_HANDSHAKES_PER_ADDRESS_PER_MIN: '1000000',
      HISTORY_MAX_LEN: '50',
      LOG_LEVEL: 'warn',
    });
    const node = await cluster.startNode('fuzz');
    const healthy = await connect(node.url, { token: cluster.token('healthy') });
    await healthy.join('fuzz');
    // Tokens a refresh_token may carry: a newer one of the socket's own user, another
    // user's, an expired one.
    const tokens = [
      OWN_TOKEN,
      cluster.token('alice'),
      cluster.token('bob', 5, { now: Date.now() - 60_000 }),
      cluster.token('zed'),
    ];
    const target = new FuzzTarget(redis, cluster, node, healthy, tokens);
    target.redisBaseline = await target.redisUsed();
    return target;
  }

  async redisUsed(): Promise<number> {
    return Number(/used_memory:(\d+)/.exec(await this.cluster.admin.info('memory'))?.[1] ?? 0);
  }

  /** Plays one sequence on a new socket; resolves with the frames sent. */
  async run(actions: readonly Action[]): Promise<number> {
    this.users += 1;
    const user = `fz${this.users}`;
    const c = await connect(this.node.url, { token: this.cluster.token(user) });
    // A newer token of the socket's own user, where a generated refresh_token asks for it.
    const ownToken = this.cluster.token(user, 1800);
    let sent = 0;
    let reading = true;
    // Every frame with a valid ref must be answered by a reply carrying it.
    const expected = new Map<string, number>();
    try {
      for (const a of actions) {
        if (c.closed !== undefined) break;
        sent += 1;
        switch (a.kind) {
          case 'text': {
            c.ws.send(a.text.replaceAll(OWN_TOKEN, ownToken));
            const ref = refOf(a.text);
            if (ref !== undefined) expected.set(ref, (expected.get(ref) ?? 0) + 1);
            break;
          }
          case 'binary':
            c.ws.send(a.bytes, { binary: true });
            break;
          case 'bad_utf8':
            c.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
            break;
          case 'oversize':
            c.ws.send('x'.repeat(65_537));
            break;
          case 'stop_reading':
            reading = false;
            (c.ws as unknown as { _socket: { pause(): void } })._socket.pause();
            break;
        }
      }
      if (reading && c.closed === undefined) {
        // Still open: every request is answered, and a ping after them.
        c.send({ type: 'ping', ref: 'fuzz-final' });
        expected.set('fuzz-final', 1);
        const unanswered = () =>
          [...expected].filter(([ref, n]) => c.frames.filter((f) => f.ref === ref).length < n);
        await waitFor(() => c.closed !== undefined || unanswered().length === 0, {
          what: `replies to ${user}'s requests`,
          timeoutMs: 15_000,
        }).catch(() => {
          throw new Error(`${user}: no reply to ${JSON.stringify(unanswered().map(([ref]) => ref))}`);
        });
      }
      this.check(c.frames, user);
      if (c.closed !== undefined) {
        const key = `${c.closed.code} ${c.closed.reason}`.trim();
        this.figures.closes[key] = (this.figures.closes[key] ?? 0) + 1;
        if (!ALLOWED_CLOSES.has(c.closed.code)) throw new Error(`unexpected close ${key} for ${user}`);
      }
    } finally {
      c.ws.terminate();
    }
    this.figures.runs += 1;
    this.figures.frames += sent;
    // Every 4th run: the healthy client's own request budget (50/s) is not what is tested.
    if (this.figures.runs % 4 === 0) await this.checkHealthy();
    return sent;
  }

  private check(frames: readonly Frame[], user: string): void {
    for (const f of frames) {
      // The SDK's parser is the client's view of the protocol: a frame it does not know or
      // cannot read is a finding (a hand-kept list here once fell behind a new frame type).
      const parsed = parseServerMessage(f);
      if (parsed.kind !== 'message')
        throw new Error(`${user} got a frame the SDK cannot read (${parsed.kind}): ${JSON.stringify(f)}`);
      this.figures.replies[f.type] = (this.figures.replies[f.type] ?? 0) + 1;
      if (f.type !== 'error') continue;
      const code = String(f.code);
      this.figures.errors[code] = (this.figures.errors[code] ?? 0) + 1;
      if (!Object.hasOwn(ERROR_CODES, code))
        throw new Error(`${user} got an unknown error code: ${JSON.stringify(f)}`);
      // Redis is up and idle here: any `internal` is a bug (an unexpected exception, or a
      // command Redis refuses, such as XREVRANGE to `(0-0`, which this test once found).
      if (code === 'internal') throw new Error(`${user} caused an internal error: ${JSON.stringify(f)}`);
    }
  }

  /** The healthy client is answered: a ping and a history page. */
  async checkHealthy(): Promise<void> {
    const pong = await this.healthy.request({ type: 'ping' }, 10_000);
    if (pong.type !== 'pong') throw new Error(`healthy client's ping got ${JSON.stringify(pong)}`);
    const history = await this.healthy.request({ type: 'history', room: 'fuzz', limit: 5 }, 10_000);
    if (history.type !== 'history')
      throw new Error(`healthy client's history got ${JSON.stringify(history)}`);
    if (this.healthy.frames.length > 10_000) this.healthy.frames.splice(0, this.healthy.frames.length - 100);
  }

  /**
   * Memory stays bounded: every fuzzing socket's session is released (only the healthy
   * one is left), no room is left with a member but the healthy client's, Redis grew by
   * less than `redisBoundMiB` (history is 50 messages per room).
   */
  async checkBounds(redisBoundMiB = 64): Promise<{ redisGrowthMiB: number; heapMiB: number }> {
    await waitFor(() => this.node.node.connectionCount === 1, {
      what: 'every fuzzing session released',
      timeoutMs: 20_000,
    });
    const rooms = [...this.node.node.hub.localRooms.keys()];
    if (rooms.length !== 1 || rooms[0] !== 'fuzz')
      throw new Error(`rooms left with members: ${rooms.join(', ')}`);
    const redisGrowthMiB = ((await this.redisUsed()) - this.redisBaseline) / MIB;
    if (redisGrowthMiB > redisBoundMiB)
      throw new Error(`Redis grew ${redisGrowthMiB.toFixed(1)} MiB (bound ${redisBoundMiB})`);
    return { redisGrowthMiB, heapMiB: process.memoryUsage().heapUsed / MIB };
  }

  async stop(): Promise<void> {
    await this.healthy.close().catch(() => undefined);
    await this.cluster.stop();
    await this.redis.destroy();
  }
}
