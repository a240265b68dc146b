import type { Registry } from 'prom-client';
import { Distribution, pulledLabelledGauge, REDIS_BUCKETS, Tally, type LabelSpec } from './instruments';

/** Which of a process's Redis connections: the label `client`. */
export const REDIS_CLIENTS = ['auth', 'chat', 'subscriber'] as const;
export type RedisClientRole = (typeof REDIS_CLIENTS)[number];

/**
 * The operations the product sends, by name: Redis command names, and for a Lua script
 * (EVALSHA / EVAL) the script's own name. The label `op` is one of these or `other`
 * (rate-limiter-flexible's scripts, which are not ours, count as `script`).
 */
export const REDIS_OPS = [
  // Lua scripts of packages/state/lua (a test checks that each has its name here)
  'acquire_connection',
  'create_user',
  'history',
  'inbox_read',
  'inbox_remember',
  'login_account',
  'login_known',
  'presence',
  'publish_limited',
  'rate_take',
  'rate_violation',
  'record_access',
  'replay',
  'revoke_family',
  'room_tail',
  'rotate_refresh',
  'store_message',
  'script',
  // commands
  'client',
  'cluster',
  'config',
  'del',
  'discard',
  'eval',
  'evalsha',
  'exec',
  'exists',
  'expire',
  'get',
  'hdel',
  'hget',
  'hgetall',
  'hincrby',
  'hkeys',
  'hmget',
  'hset',
  'hsetnx',
  'incr',
  'incrby',
  'info',
  'lindex',
  'llen',
  'lpop',
  'lpush',
  'lrange',
  'lrem',
  'ltrim',
  'mget',
  'multi',
  'pexpire',
  'pexpireat',
  'ping',
  'psubscribe',
  'pttl',
  'publish',
  'punsubscribe',
  'quit',
  'select',
  'set',
  'spublish',
  'ssubscribe',
  'subscribe',
  'sunsubscribe',
  'ttl',
  'unsubscribe',
  'wait',
  'xadd',
  'xinfo',
  'xlen',
  'xrange',
  'xrevrange',
  'xtrim',
  'zadd',
  'zcard',
  'zcount',
  'zpopmin',
  'zrange',
  'zrangebyscore',
  'zrem',
  'zremrangebyrank',
  'zremrangebyscore',
  'zscore',
] as const;

export const REDIS_LABELS = {
  client: { name: 'client', values: REDIS_CLIENTS } satisfies LabelSpec,
  op: { name: 'op', values: REDIS_OPS } satisfies LabelSpec,
};

/** Marks a command already timed by `instrument`. */
const TIMED = Symbol('securechat.timed');

/** The part of an ioredis command the instrumentation reads. */
interface CommandLike {
  readonly name: string;
  readonly args: readonly unknown[];
  readonly promise: Promise<unknown>;
}

/** An ioredis client or cluster: `sendCommand` is where every command passes. */
export interface InstrumentableClient {
  sendCommand(command: never, ...rest: never[]): unknown;
  readonly status: string;
  on(event: 'ready', listener: () => void): unknown;
}

/**
 * A process's Redis metrics: command latency and failures by operation, reconnects,
 * and whether each connection is up. Shared by every client of the process, each
 * instrumented with its role.
 */
export class RedisMetrics {
  private readonly latency: Distribution;
  private readonly failures: Tally;
  private readonly reconnects: Tally;
  private readonly clients: { role: RedisClientRole; client: InstrumentableClient }[] = [];

  constructor(registry: Registry) {
    const { client, op } = REDIS_LABELS;
    this.latency = new Distribution(
      registry,
      {
        name: 'securechat_redis_command_duration_seconds',
        help: 'Redis commands from send to reply, by connection and operation (a Lua script by its name)',
        buckets: REDIS_BUCKETS,
      },
      [client, op],
    );
    this.failures = new Tally(
      registry,
      {
        name: 'securechat_redis_command_errors_total',
        help: 'Redis commands that failed (refused, timed out, connection lost, script error)',
      },
      [client, op],
    );
    this.reconnects = new Tally(
      registry,
      {
        name: 'securechat_redis_reconnects_total',
        help: 'Times a Redis connection became ready again after losing its connection',
      },
      [client],
    );
    pulledLabelledGauge(
      registry,
      { name: 'securechat_redis_connected', help: '1 while every connection of that role is ready' },
      [client],
      () => this.connected(),
    );
  }

  /**
   * Times every command `client` sends, by operation, and counts its reconnects. Lua
   * scripts go out as EVALSHA (or EVAL) with their SHA1: `scripts` maps it to a name.
   */
  instrument(
    client: InstrumentableClient,
    role: RedisClientRole,
    scripts: ReadonlyMap<string, string> = new Map(),
  ): void {
    this.clients.push({ role, client });
    this.reconnects.inc(0, role);
    let wasReady = client.status === 'ready';
    client.on('ready', () => {
      if (wasReady) this.reconnects.inc(1, role);
      wasReady = true;
    });
    const original = client.sendCommand.bind(client) as (command: CommandLike, ...rest: unknown[]) => unknown;
    // A command may pass through sendCommand more than once (offline queue, resend): it
    // is timed from the first, marked by a property of its own. (A WeakSet of the
    // commands cost each one an ephemeron entry, which every young-generation collection
    // then walks: measurable per message, docs/BENCHMARKS.md.)
    const send = (command: CommandLike & { [TIMED]?: true }, ...rest: unknown[]): unknown => {
      if (command[TIMED] !== true) {
        command[TIMED] = true;
        const op = operation(command, scripts);
        const start = performance.now();
        command.promise.then(
          () => this.latency.observe((performance.now() - start) / 1000, role, op),
          () => this.failures.inc(1, role, op),
        );
      }
      return original(command, ...rest);
    };
    (client as unknown as { sendCommand: typeof send }).sendCommand = send;
  }

  private *connected(): Iterable<readonly [readonly string[], number]> {
    const roles = new Map<RedisClientRole, boolean>();
    for (const { role, client } of this.clients) {
      roles.set(role, (roles.get(role) ?? true) && client.status === 'ready');
    }
    for (const [role, up] of roles) yield [[role], up ? 1 : 0];
  }
}

function operation(command: CommandLike, scripts: ReadonlyMap<string, string>): string {
  const name = command.name.toLowerCase();
  if (name !== 'evalsha' && name !== 'eval') return name;
  const first = command.args[0];
  const sha = typeof first === 'string' ? first : Buffer.isBuffer(first) ? first.toString() : '';
  return scripts.get(sha) ?? 'script';
}
