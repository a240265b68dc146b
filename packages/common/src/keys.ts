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

export function keySchema(prefix: string) {
  return Object.freeze({
    prefix,
    /** hash: username, password_hash, created_at */
    user: (username: string) => `${prefix}user:${part(username, 'username')}`,
    /** string (reason), TTL = remaining life of the token */
    revoked: (jti: string) => `${prefix}revoked:${part(jti, 'jti')}`,
    /** string (unix ms): every token of the user issued at or before it is revoked */
    revokedBefore: (username: string) => `${prefix}revoked-before:${part(username, 'username')}`,
    /** string (reason), TTL = end of the block */
    blocked: (username: string) => `${prefix}blocked:${part(username, 'username')}`,
    /** hash: family, user, state (active|spent), exp */
    refreshToken: (hash: string) => `${prefix}refresh:${part(hash, 'token hash')}`,
    /** hash: user, state (active|revoked) */
    refreshFamily: (id: string) => `${prefix}rfamily:${part(id, 'family id')}`,
    /** sorted set: access token jti -> exp (unix s) issued from the family */
    refreshFamilyTokens: (id: string) => `${prefix}rfamily:${part(id, 'family id')}:jtis`,
    /** rate-limiter-flexible key prefixes (it appends its own keys) */
    loginConsecutive: `${prefix}rl:login:consec`,
    loginDaily: `${prefix}rl:login:daily`,
    /** hash: failures, next_at (unix ms): logins to the account from networks not known for it */
    loginAccount: (username: string) => `${prefix}rl:login:account:${part(username, 'username')}`,
    /** sorted set: network -> expiry (unix ms), the networks that logged in to the account */
    loginKnownNetworks: (username: string) => `${prefix}rl:login:known:${part(username, 'username')}`,
    /** rate-limiter-flexible key prefixes of the registration limits, per network */
    registerHourly: `${prefix}rl:register:hour`,
    registerDaily: `${prefix}rl:register:day`,
    /** stream: the room's history; ids are the message ids */
    roomLog: (room: string) => `${prefix}room:${part(room, 'room')}:log`,
    /** pub/sub channel of a room */
    roomChannel: (room: string) => `${prefix}room:${part(room, 'room')}:ch`,
    /** hash: user -> number of nodes where the user is present in the room */
    presence: (room: string) => `${prefix}presence:${part(room, 'room')}`,
    /** sorted set: "<user>|<node>" -> expiry (unix ms), refreshed by the node's heartbeat */
    presenceExpiry: (room: string) => `${prefix}presence:${part(room, 'room')}:exp`,
    /** sorted set: session id -> expiry (unix ms); the per-user connection cap */
    connections: (username: string) => `${prefix}conns:${part(username, 'username')}`,
    /**
     * list: accept times (unix ms) of the user's messages, newest first, for the sliding
     * window. Not `rate:<user>`, which older nodes kept as a sorted set: during a rolling
     * upgrade the two kinds of node count apart instead of failing on WRONGTYPE.
     */
    rateWindow: (username: string) => `${prefix}rate:${part(username, 'username')}:times`,
    /** sorted set: rejected messages of the user in the current window */
    rateViolations: (username: string) => `${prefix}rate:${part(username, 'username')}:violations`,
    /*
     * A user's inbox, all under `inbox:<user>:` so that a user's keys can share a hash
     * tag in Redis Cluster later. Only membership and read markers are stored; the last
     * message and the unread counts are read from the rooms' streams when asked.
     */
    /** sorted set: room -> when it was remembered (unix ms): rooms joined on any device, DM rooms */
    inboxRooms: (username: string) => `${prefix}inbox:${part(username, 'username')}:rooms`,
    /** hash: room -> the id of the last message the user has read there */
    inboxRead: (username: string) => `${prefix}inbox:${part(username, 'username')}:read`,
    /** pub/sub channel of a user: their DMs (`<id> <room>\n<frame>`) and read markers (`read <room> <id> <session>`) */
    userChannel: (username: string) => `${prefix}inbox:${part(username, 'username')}:ch`,
    /** control channel: revocations, blocks, kicks */
    control: `${prefix}control`,
    /**
     * pub/sub channel of one chat node's delivery probe: published by its request client,
     * subscribed on its subscriber connection; its readiness says whether they meet
     */
    probe: (nodeId: string) => `${prefix}probe:${part(nodeId, 'node id')}`,
    /** hash: NODE_ID -> JSON of the node's metrics URL and last announcement (chatctl top) */
    nodes: `${prefix}nodes`,
  });
}
