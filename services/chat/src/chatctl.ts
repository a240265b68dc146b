#!/usr/bin/env node
/**
 * chatctl: the operator's commands over the same Redis keys as `redis-cli` recipes in
 * docs/OPERATIONS.md. `npm run chatctl -- <command> ...` with the nodes' Redis variables
 * (REDIS_URL, or REDIS_SENTINELS + REDIS_SENTINEL_NAME; REDIS_PREFIX; credentials).
 */
import type { RedisLike } from '@securechat/common';
import {
  createLogger,
  createRedisClient,
  describeRedisTarget,
  redisConnection,
  keyLayoutOf,
  isRoom,
  keySchema,
  loadConfig,
  normalizeUsername,
  waitReady,
  type KeySchema,
  type Logger,
  type RedisTarget,
} from '@securechat/common';
import { RedisBlocklist, RedisInbox, RedisRevocationStore, type Conversation } from '@securechat/state';

const USAGE = `usage: npm run chatctl -- <command>
  block <user> [duration] [reason]   block (duration like 90s, 15m, 1h, 2d; default 1h)
  unblock <user>                     lift a block
  status <user>                      block, live connections and rate window of a user
  revoke <jti>                       revoke one access token
  revoke-user <user>                 revoke every token the user holds now
  online <room>                      who is present in a room
  rate <user>                        the user's current sliding rate window
  conversations <user>               the user's rooms and DMs, newest activity first, with unread counts
  top [--once] [--interval=S] [--metrics=URL,...]
                                     live view: nodes, connections, message rates,
                                     refusals, Redis health (Ctrl-C to leave)
`;

const JTI = /^[A-Za-z0-9_-]{8,64}$/;

export function parseDuration(text: string): number {
  const match = /^(\d+)([smhd]?)$/.exec(text);
  if (match === null) throw new Error(`not a duration: ${text}`);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[match[2] as '' | 's' | 'm' | 'h' | 'd'];
  const seconds = Number(match[1]) * unit;
  if (seconds < 1 || seconds > 365 * 86400) throw new Error('a duration is 1 s to 365 d');
  return seconds;
}

/** An argument in its normalized form; `parse` gives undefined for an invalid one. */
function arg(value: string | undefined, parse: (value: string) => string | undefined, what: string): string {
  const parsed = value === undefined ? undefined : parse(value);
  if (parsed === undefined) throw new Error(`a valid ${what} is required\n${USAGE}`);
  return parsed;
}

const userArg = (value: string | undefined) => arg(value, normalizeUsername, 'username');
const roomArg = (value: string | undefined) => arg(value, (r) => (isRoom(r) ? r : undefined), 'room');
const jtiArg = (value: string | undefined) => arg(value, (j) => (JTI.test(j) ? j : undefined), 'jti');

/** A bad duration is a bad argument like any other: it prints the usage too. */
function duration(text: string): number {
  try {
    return parseDuration(text);
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
  }
}

/** One line per room: `<room>  <unread> unread  <time> <from>: "<text>"` (text quoted, cut at 60). */
function conversationLine(c: Conversation): string {
  const unread = `${c.unread}${c.unread >= 100 ? '+' : ''} unread`;
  if (c.last === undefined) return `${c.room}  ${unread}  (no messages)`;
  const text = c.last.text.length > 60 ? `${c.last.text.slice(0, 60)}…` : c.last.text;
  // JSON.stringify escapes control characters: nothing a user wrote reaches the terminal raw.
  return `${c.room}  ${unread}  ${new Date(c.last.ts).toISOString()} ${c.last.from}: ${JSON.stringify(text)}`;
}

interface Settings {
  keys: KeySchema;
  maxTokenLifeS: number;
  rateWindowMs: number;
}

/** Accept times (unix ms) in the user's sliding window: the list holds newest first. */
async function rateWindow(redis: RedisLike, settings: Settings, user: string): Promise<number[]> {
  const since = Date.now() - settings.rateWindowMs;
  const times = (await redis.lrange(settings.keys.rateWindow(user), 0, -1)).map(Number);
  return times.filter((t) => t > since);
}

async function run(redis: RedisLike, settings: Settings, argv: string[]): Promise<string> {
  const { keys, maxTokenLifeS } = settings;
  const [command, ...args] = argv;
  const blocklist = new RedisBlocklist(redis, keys);
  const revocations = new RedisRevocationStore(redis, keys);
  switch (command) {
    case 'block': {
      const user = userArg(args[0]);
      const seconds = duration(args[1] ?? '1h');
      await blocklist.block(user, args.slice(2).join(' ') || 'operator', seconds);
      return `blocked ${user} for ${seconds} s`;
    }
    case 'unblock': {
      const user = userArg(args[0]);
      return (await blocklist.unblock(user)) ? `unblocked ${user}` : `${user} was not blocked`;
    }
    case 'status': {
      const user = userArg(args[0]);
      const now = Date.now();
      const [reason, ttl, conns, rate] = await Promise.all([
        redis.get(keys.blocked(user)),
        redis.ttl(keys.blocked(user)),
        redis.zcount(keys.connections(user), String(now), '+inf'),
        rateWindow(redis, settings, user).then((times) => times.length),
      ]);
      const blocked = reason === null ? 'not blocked' : `blocked (${reason}, ${ttl} s left)`;
      return `${user}: ${blocked}; ${conns} live connection(s); ${rate} message(s) in the rate window`;
    }
    case 'revoke': {
      const jti = jtiArg(args[0]);
      await revocations.revoke(jti, Math.floor(Date.now() / 1000) + maxTokenLifeS, 'operator');
      return `revoked ${jti}`;
    }
    case 'revoke-user': {
      const user = userArg(args[0]);
      await revocations.revokeAllOf(user, maxTokenLifeS);
      return `revoked every token of ${user} issued until now`;
    }
    case 'online': {
      const room = roomArg(args[0]);
      const users = await redis.hkeys(keys.presence(room));
      return users.length === 0 ? `nobody in ${room}` : users.sort().join('\n');
    }
    case 'rate': {
      const user = userArg(args[0]);
      const since = Date.now() - settings.rateWindowMs;
      const [times, violations] = await Promise.all([
        rateWindow(redis, settings, user),
        redis.zcount(keys.rateViolations(user), `(${since}`, '+inf'),
      ]);
      const oldest = times.at(-1);
      const age = oldest !== undefined ? `, oldest ${Date.now() - oldest} ms ago` : '';
      return `${user}: ${times.length} accepted message(s) in the window${age}; ${violations} violation(s)`;
    }
    case 'conversations': {
      const user = userArg(args[0]);
      const items = await new RedisInbox(redis, keys).conversations(user);
      return items.length === 0 ? `${user} has no rooms` : items.map(conversationLine).join('\n');
    }
    default:
      throw new Error(USAGE);
  }
}

/** `top`: the live view until Ctrl-C (or one report with --once); its exit code. */
async function top(args: string[]): Promise<number> {
  // Loaded only here: the one-shot commands need none of it (nor prom-client's load time).
  const { parseTopOptions, runTop } = await import('./top.js');
  const options = parseTopOptions(args);
  const config = loadConfig(process.env, 'ops');
  // Quiet: the view itself says when Redis is down. A server of a Redis Cluster is
  // followed as the other commands do; a Redis that does not answer yet is shown DOWN.
  const logger = createLogger({ level: 'error', service: 'chatctl' });
  const { redis, target } = await connectOperator(config, 'chatctl-top', 2000, logger, 2000).catch(() => {
    const client = createRedisClient({
      ...redisConnection(config),
      commandTimeoutMs: 2000,
      name: 'chatctl-top',
      logger,
    });
    return { redis: client, target: config.redisTarget };
  });
  const stop = new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  try {
    return await runTop(
      redis,
      keySchema(config.redisPrefix, keyLayoutOf(target)),
      options,
      process.stdout,
      describeRedisTarget(target),
      stop,
    );
  } finally {
    redis.disconnect();
  }
}

/**
 * The operator's client, ready. A REDIS_URL naming one server of a Redis Cluster (each
 * `redis:` line of `npm run cluster` in cluster mode) is followed as `redis-cli -c` would:
 * the server says `cluster_enabled:1`, and chatctl goes on with a Cluster client seeded
 * with it (same credentials), in the cluster key layout.
 */
async function connectOperator(
  config: Parameters<typeof redisConnection>[0],
  name: string,
  commandTimeoutMs: number,
  logger: Logger,
  readyTimeoutMs = 5000,
): Promise<{ redis: RedisLike; target: RedisTarget }> {
  const settings = { ...redisConnection(config), commandTimeoutMs, name, logger };
  const unreachable = (target: RedisTarget) => () => {
    throw new Error(`cannot reach Redis (${describeRedisTarget(target)})`);
  };
  const first = createRedisClient(settings);
  try {
    // No offline queue (as on the nodes): the commands wait for the connection here.
    await waitReady(first, readyTimeoutMs).catch(unreachable(settings.target));
    const single = settings.target;
    if (single.mode !== 'single') return { redis: first, target: single };
    if (!/^cluster_enabled:1/m.test(await first.info('cluster'))) return { redis: first, target: single };
    first.disconnect();
    const url = new URL(single.url);
    const target: RedisTarget = Object.freeze({
      mode: 'cluster',
      nodes: [{ host: url.hostname, port: Number(url.port || '6379') }],
      tls: single.tls,
    });
    const fromUrl = (value: string) => (value === '' ? undefined : decodeURIComponent(value));
    const redis = createRedisClient({
      ...settings,
      target,
      username: settings.username ?? fromUrl(url.username),
      password: settings.password ?? fromUrl(url.password),
    });
    await waitReady(redis, readyTimeoutMs).catch((err: unknown) => {
      redis.disconnect();
      unreachable(target)();
      throw err;
    });
    return { redis, target };
  } catch (err) {
    first.disconnect();
    throw err;
  }
}

async function main(): Promise<void> {
  if (process.argv[2] === 'top') {
    // Exit at once: fetch's keep-alive sockets would hold the process open for seconds.
    process.exit(await top(process.argv.slice(3)));
  }
  const config = loadConfig(process.env, 'ops');
  const logger = createLogger({ level: 'error', service: 'chatctl' });
  const { redis, target } = await connectOperator(
    config,
    'chatctl',
    Math.max(5000, config.redisCommandTimeoutMs),
    logger,
  );
  try {
    process.stdout.write(
      `${await run(
        redis,
        {
          keys: keySchema(config.redisPrefix, keyLayoutOf(target)),
          maxTokenLifeS: config.accessTokenTtlS,
          rateWindowMs: config.rateLimitWindowMs,
        },
        process.argv.slice(2),
      )}\n`,
    );
  } finally {
    redis.disconnect();
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    // A store failure names its cause: an operator must tell "down" from "not allowed" (NOPERM).
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}${cause}\n`);
    process.exit(1);
  });
}
