/**
 * The one key schema: every Redis key and channel the product uses is built here from
 * the prefix. Components are validated so that no caller can smuggle a separator,
 * a glob character or whitespace into a key; no key here is ever used as a pattern.
 */
const COMPONENT = /^[A-Za-z0-9_.:-]{1,200}$/;

function part(value: string, what: string): string {
  if (!COMPONENT.test(value)) throw new TypeError(`unsafe ${what} in a Redis key`);
  return value;
}

export type KeySchema = ReturnType<typeof keySchema>;

/**
 * The Redis Cluster hash slot of a key or shard channel (CRC16/XMODEM of the key, or of
 * its first non-empty `{tag}`, modulo 16384), as `CLUSTER KEYSLOT` computes it.
 */
export function hashSlot(key: string): number {
  const open = key.indexOf('{');
  const close = open === -1 ? -1 : key.indexOf('}', open + 1);
  const hashed = close > open + 1 ? key.slice(open + 1, close) : key;
  let crc = 0;
  for (const byte of Buffer.from(hashed)) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

/**
 * How keys are laid out: `single` (one Redis, or Sentinel: the names of the contract,
 * unchanged) or `cluster` (Redis Cluster: the room or user in a key is a hash tag, `{...}`,
 * so that every key and channel one script touches is in one slot: a room's stream,
 * channel and presence; a user's rate window, violations, block and inbox).
 */
export type KeyLayout = 'single' | 'cluster';

export function keySchema(prefix: string, layout: KeyLayout = 'single') {
  if (layout === 'cluster' && /[{}]/.test(prefix)) {
    // A tag in the prefix would put every key in one slot, and the per-key tags after it
    // would be ignored.
    throw new TypeError('REDIS_PREFIX may not contain { or } in Redis Cluster mode');
  }
  const tagged = layout === 'cluster';
  /** A room or a user as the key's hash tag in cluster mode, as itself otherwise. */
  const tag = tagged ? (value: string) => `{${value}}` : (value: string) => value;
  const room = (value: string) => tag(part(value, 'room'));
  const user = (value: string) => tag(part(value, 'username'));
  /**
   * The name in a key under `head` (`<prefix>blocked:`), as a keyspace event gives it: in
   * the cluster layout inside its hash tag. Not validated: a key set by hand may hold any
   * name, and whoever logs it escapes it.
   */
  const nameIn = (key: string, head: string): string | undefined => {
    if (!key.startsWith(head)) return undefined;
    const rest = key.slice(head.length);
    const name = tagged ? /^\{([\s\S]+)\}$/.exec(rest)?.[1] : rest;
    return name === '' ? undefined : name;
  };
  return Object.freeze({
    prefix,
    layout,
    /**
     * How a room's or a user's channel is published to: sharded pub/sub in Redis Cluster
     * (a shard channel lives in its tag's slot, and only that shard carries it).
     */
    channelPublish: tagged ? ('SPUBLISH' as const) : ('PUBLISH' as const),
    /** The user a `blocked` key is about (a keyspace event names the key), if it is one. */
    blockedUser: (key: string) => nameIn(key, `${prefix}blocked:`),
    /** The user a `revokedBefore` key is about, if it is one. */
    revokedBeforeUser: (key: string) => nameIn(key, `${prefix}revoked-before:`),
    /** The jti a `revoked` key is about, if it is one (never tagged: it stands alone). */
    revokedJti: (key: string) => {
      const head = `${prefix}revoked:`;
      return key.startsWith(head) && key.length > head.length ? key.slice(head.length) : undefined;
    },
    /** hash: username, password_hash, created_at */
    user: (username: string) => `${prefix}user:${user(username)}`,
    /** string (reason), TTL = remaining life of the token */
    revoked: (jti: string) => `${prefix}revoked:${part(jti, 'jti')}`,
    /** string (unix ms): every token of the user issued at or before it is revoked */
    revokedBefore: (username: string) => `${prefix}revoked-before:${user(username)}`,
    /** string (reason), TTL = end of the block */
    blocked: (username: string) => `${prefix}blocked:${user(username)}`,
    /**
     * hash: family, user, state (active|spent). In the cluster layout, a string: the family
     * id, an index to the token's hash `refreshFamilyToken` in the family's slot.
     */
    refreshToken: (hash: string) => `${prefix}refresh:${part(hash, 'token hash')}`,
    /** cluster layout only: hash family, user, state (active|spent), in its family's slot */
    refreshFamilyToken: (id: string, hash: string) =>
      `${prefix}rfamily:${tag(part(id, 'family id'))}:token:${part(hash, 'token hash')}`,
    /** hash: user, state (active|revoked) */
    refreshFamily: (id: string) => `${prefix}rfamily:${tag(part(id, 'family id'))}`,
    /** sorted set: access token jti -> exp (unix s) issued from the family */
    refreshFamilyTokens: (id: string) => `${prefix}rfamily:${tag(part(id, 'family id'))}:jtis`,
    /** rate-limiter-flexible key prefixes (it appends its own keys) */
    loginConsecutive: `${prefix}rl:login:consec`,
    loginDaily: `${prefix}rl:login:daily`,
    /** hash: failures, next_at (unix ms): logins to the account from networks not known for it */
    loginAccount: (username: string) => `${prefix}rl:login:account:${user(username)}`,
    /** sorted set: network -> expiry (unix ms), the networks that logged in to the account */
    loginKnownNetworks: (username: string) => `${prefix}rl:login:known:${user(username)}`,
    /** rate-limiter-flexible key prefixes of the registration limits, per network */
    registerHourly: `${prefix}rl:register:hour`,
    registerDaily: `${prefix}rl:register:day`,
    /** stream: the room's history; ids are the message ids */
    roomLog: (name: string) => `${prefix}room:${room(name)}:log`,
    /** pub/sub channel of a room */
    roomChannel: (name: string) => `${prefix}room:${room(name)}:ch`,
    /** hash: user -> number of nodes where the user is present in the room */
    presence: (name: string) => `${prefix}presence:${room(name)}`,
    /** sorted set: "<user>|<node>" -> expiry (unix ms), refreshed by the node's heartbeat */
    presenceExpiry: (name: string) => `${prefix}presence:${room(name)}:exp`,
    /** sorted set: session id -> expiry (unix ms); the per-user connection cap */
    connections: (username: string) => `${prefix}conns:${user(username)}`,
    /**
     * list: accept times (unix ms) of the user's messages, newest first, for the sliding
     * window. Not `rate:<user>`, which older nodes kept as a sorted set: during a rolling
     * upgrade the two kinds of node count apart instead of failing on WRONGTYPE.
     */
    rateWindow: (username: string) => `${prefix}rate:${user(username)}:times`,
    /** sorted set: rejected messages of the user in the current window */
    rateViolations: (username: string) => `${prefix}rate:${user(username)}:violations`,
    /*
     * A user's inbox, all under `inbox:<user>:` so that a user's keys can share a hash
     * tag in Redis Cluster later. Only membership and read markers are stored; the last
     * message and the unread counts are read from the rooms' streams when asked.
     */
    /** sorted set: room -> when it was remembered (unix ms): rooms joined on any device, DM rooms */
    inboxRooms: (username: string) => `${prefix}inbox:${user(username)}:rooms`,
    /** hash: room -> the id of the last message the user has read there */
    inboxRead: (username: string) => `${prefix}inbox:${user(username)}:read`,
    /** pub/sub channel of a user: their DMs (`<id> <room>\n<frame>`) and read markers (`read <room> <id> <session>`) */
    userChannel: (username: string) => `${prefix}inbox:${user(username)}:ch`,
    /** control channel: revocations, blocks, kicks */
    control: `${prefix}control`,
    /**
     * pub/sub channel of one chat node's delivery probe: published by its request client,
     * subscribed on its subscriber connection; its readiness says whether they meet
     */
    probe: (nodeId: string) => `${prefix}probe:${tag(part(nodeId, 'node id'))}`,
    /** hash: NODE_ID -> JSON of the node's metrics URL and last announcement (chatctl top) */
    nodes: `${prefix}nodes`,
  });
}
