/**
 * Least privilege in Redis: one ACL user per role, each allowed only the commands and the
 * key and channel patterns of the product's prefix that its work needs (docs/DEPLOY.md,
 * "Redis users"). The lists are the state package's knowledge: which Lua scripts each
 * node role runs and what they call (test/state/acl.test.ts reads the scripts and checks
 * every command they call is granted), what ioredis and rate-limiter-flexible send.
 *
 * Redis checks ACLs inside scripts too, call by call, and a selector `( … )` grants its
 * commands only together with its own patterns. So a node's PUBLISH, granted in a
 * selector with the room and control channels alone, can reach no other channel (no
 * forged keyspace event), while its SUBSCRIBEs, granted at the root, can listen to those.
 */

export type RedisRole = 'auth' | 'chat' | 'operator' | 'operator-ro';

export const REDIS_ROLES: readonly RedisRole[] = Object.freeze(['auth', 'chat', 'operator', 'operator-ro']);

/** The ACL user of each role (REDIS_USERNAME). */
export const REDIS_USERNAMES: Readonly<Record<RedisRole, string>> = Object.freeze({
  auth: 'securechat-auth',
  chat: 'securechat-chat',
  operator: 'securechat-ops',
  'operator-ro': 'securechat-ops-ro',
});

/**
 * What ioredis sends on connecting: AUTH/HELLO, CLIENT SETNAME, SELECT, INFO (its ready
 * check); in Redis Cluster also CLUSTER SLOTS (the slot map), CLUSTER INFO (its ready
 * check), READONLY/READWRITE (each
 * connection's role) and ASKING (a slot being migrated).
 */
const CONNECTION = [
  'ping',
  'hello',
  'auth',
  'client|setname',
  'select',
  'quit',
  'info',
  'cluster|slots',
  'cluster|info',
  'readonly',
  'readwrite',
  'asking',
];

/** The Lua scripts (packages/state/lua) each node role runs. */
export const ROLE_SCRIPTS: Readonly<Record<'auth' | 'chat', readonly string[]>> = Object.freeze({
  auth: ['create_user', 'rotate_refresh', 'record_access', 'revoke_family', 'login_account', 'login_known'],
  chat: [
    'publish_limited',
    'replay',
    'history',
    'presence',
    'acquire_connection',
    'rate_violation',
    'inbox_remember',
    'inbox_read',
    'room_tail',
    // Redis Cluster: publish_limited.lua's two steps
    'rate_take',
    'store_message',
  ],
});

/** rate-limiter-flexible's Redis limiter: its increment script, MULTI blocks, GET, DEL. */
const RATE_LIMITER_FLEXIBLE = ['set', 'incrby', 'pttl', 'expire', 'get', 'del', 'multi', 'exec'];

/**
 * The commands of each node role beyond CONNECTION: those its code sends and those its
 * scripts call. PUBLISH is never here; see `aclRules`.
 */
export const ROLE_COMMANDS: Readonly<Record<'auth' | 'chat', readonly string[]>> = Object.freeze({
  auth: [
    ...RATE_LIMITER_FLEXIBLE,
    'evalsha',
    'eval',
    'discard',
    'mget',
    'exists',
    'hget',
    'hgetall',
    'hmget',
    'hset',
    'hincrby',
    'pexpire',
    'ttl',
    'zadd',
    'zcard',
    'zscore',
    'zrangebyscore',
    'zremrangebyscore',
    'zremrangebyrank',
    // the metrics directory (`<prefix>nodes`, chatctl top): its own entry, and forgetting dead ones
    'hdel',
  ],
  chat: [
    'evalsha',
    'eval',
    'get',
    'mget',
    'set',
    'del',
    'exists',
    'hdel',
    'hget',
    'hgetall',
    'hincrby',
    'hkeys',
    'hset',
    'hsetnx',
    'multi',
    'exec',
    'pexpire',
    'pexpireat',
    'zadd',
    'zcard',
    'zpopmin',
    'zrange',
    'zrangebyscore',
    'zrem',
    'zremrangebyscore',
    'zscore',
    'lindex',
    'llen',
    'lpush',
    // the sliding window takes its push back on a refusal
    'lpop',
    'ltrim',
    // Redis Cluster: a rate slot given back when its message could not be stored
    'lrem',
    'xadd',
    'xinfo|stream',
    'xlen',
    'xrange',
    'xrevrange',
    'xtrim',
    'subscribe',
    'unsubscribe',
    // Redis Cluster: sharded pub/sub of the rooms' and users' channels
    'ssubscribe',
    'sunsubscribe',
    // REDIS_WAIT_REPLICAS: an ack waits for replicas
    'wait',
    // the metrics directory (`<prefix>nodes`, chatctl top)
    'hset',
    'hgetall',
  ],
});

const PREFIX = /^[A-Za-z0-9_.:{}-]{1,64}$/;

/**
 * The rules of one role for the deployment's REDIS_PREFIX, as ACL SETUSER arguments
 * (without the user's name and password). Keys: `~` read and write, `%R~` read only.
 */
export function aclRules(role: RedisRole, prefix: string): string[] {
  if (!PREFIX.test(prefix)) throw new Error(`REDIS_PREFIX must be 1-64 of [A-Za-z0-9_.:{}-]: ${prefix}`);
  const p = prefix;
  const base = ['resetkeys', 'resetchannels', '-@all'];
  const plus = (commands: readonly string[]) => commands.map((c) => `+${c}`);
  const keyEvents = ['set', 'del', 'expired'].map((e) => `&__keyevent@*__:${e}`);
  switch (role) {
    case 'auth':
      return [
        ...base,
        ...plus([...CONNECTION, ...ROLE_COMMANDS.auth]),
        `~${p}user:*`,
        `~${p}refresh:*`,
        `~${p}rfamily:*`,
        `~${p}revoked:*`,
        `%R~${p}revoked-before:*`,
        `%R~${p}blocked:*`,
        `~${p}rl:*`,
        // the metrics directory: the node's entry, so that chatctl top finds it
        `~${p}nodes`,
        // revocations are announced to the chat nodes
        `(+publish +spublish &${p}control)`,
      ];
    case 'chat':
      return [
        ...base,
        ...plus([...CONNECTION, ...ROLE_COMMANDS.chat]),
        `%R~${p}revoked:*`,
        `%R~${p}revoked-before:*`,
        // an automatic block is set by the node that decides it
        `~${p}blocked:*`,
        `~${p}room:*`,
        `~${p}presence:*`,
        `~${p}conns:*`,
        `~${p}rate:*`,
        // each user's rooms and read markers (the inbox)
        `~${p}inbox:*`,
        // the metrics directory: the node's entry, so that chatctl top finds it
        `~${p}nodes`,
        `&${p}control`,
        `&${p}room:*:ch`,
        `&${p}inbox:*:ch`,
        // the node's delivery probe (readiness), published and received by the node itself
        `&${p}probe:*`,
        ...keyEvents,
        // messages and presence to its rooms, DMs and read markers to their users,
        // automatic blocks to the control channel, probes to itself (SPUBLISH: the same in
        // Redis Cluster)
        `(+publish +spublish &${p}room:*:ch &${p}inbox:*:ch &${p}control &${p}probe:*)`,
      ];
    case 'operator':
      return [
        ...base,
        '+@read',
        '+@write',
        '-@dangerous',
        ...plus(CONNECTION),
        ...plus(['multi', 'exec', 'discard', 'config|get', 'client|list', 'slowlog|get']),
        '+publish',
        '+subscribe',
        '+unsubscribe',
        `~${p}*`,
        // announces blocks and revocations; never speaks on a room's channel
        `&${p}control`,
        `(+subscribe +unsubscribe +ssubscribe +sunsubscribe &${p}room:*:ch ${keyEvents.join(' ')})`,
      ];
    case 'operator-ro':
      return [
        ...base,
        '+@read',
        '-@dangerous',
        ...plus(CONNECTION),
        '+subscribe',
        '+unsubscribe',
        '+ssubscribe',
        '+sunsubscribe',
        `%R~${p}*`,
        `&${p}control`,
        `&${p}room:*:ch`,
        ...keyEvents,
      ];
  }
}

/**
 * The users of an ACL file (Redis `aclfile`): the default user may only PING (health
 * checks need no secret), then each role's user with its rules and `password(role)`, a
 * `#<sha256 hex>` (the file holds no password). Redis allows no comments in the file.
 */
export function aclUsers(prefix: string, password: (role: RedisRole) => string): string {
  const lines = ['user default on nopass resetkeys resetchannels -@all +ping'];
  for (const role of REDIS_ROLES) {
    lines.push(['user', REDIS_USERNAMES[role], 'on', password(role), ...aclRules(role, prefix)].join(' '));
  }
  return `${lines.join('\n')}\n`;
}

/** The template placeholder of a role's password hash: `AUTH_PASSWORD_SHA256`, … */
export function passwordPlaceholder(role: RedisRole): string {
  return `${role.toUpperCase().replace(/-/g, '_')}_PASSWORD_SHA256`;
}

/**
 * deploy/redis/users.acl.template: the users with `{{PREFIX}}` and each role's
 * `{{<ROLE>_PASSWORD_SHA256}}` to fill in (`npm run redis-acl` does, with generated
 * passwords). A test keeps the shipped file equal to this.
 */
export function aclTemplate(): string {
  return aclUsers('{{PREFIX}}', (role) => `#{{${passwordPlaceholder(role)}}}`);
}
