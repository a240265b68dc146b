/**
 * The naming rules of the contract, written once and used by the auth API, the chat node,
 * chatctl and the token verifier alike.
 */

/** Contract: a username is 3-32 of [A-Za-z0-9_.-]; names are case-insensitive. */
export const USERNAME_PATTERN = /^[A-Za-z0-9_.-]{3,32}$/;

/** Contract: a room is `^[a-z0-9][a-z0-9_-]{0,63}$`; DM rooms are `dm:<a>:<b>` (below). */
export const ROOM_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/**
 * A name as a user may type it, in the form it is stored, carried in tokens and used in
 * keys (lower case); undefined when it is not a username.
 */
export function normalizeUsername(raw: string): string | undefined {
  return USERNAME_PATTERN.test(raw) ? raw.toLowerCase() : undefined;
}

/** A username in its normalized (lower-case) form: a token's `sub`, a stored name. */
export function isUsername(name: string): boolean {
  return normalizeUsername(name) === name;
}

/** A public room's name (not a DM room). */
export function isRoomName(room: string): boolean {
  return ROOM_PATTERN.test(room);
}

/** The DM room of two distinct normalized usernames: `dm:<a>:<b>` with a < b. */
export function dmRoomName(a: string, b: string): string | undefined {
  if (!isUsername(a) || !isUsername(b) || a === b) return undefined;
  return a < b ? `dm:${a}:${b}` : `dm:${b}:${a}`;
}

/**
 * The two users a `dm:<a>:<b>` room names, in the order written; undefined when `room`
 * is not of that form. Only the room with them sorted and distinct exists (dmRoomName).
 */
export function dmRoomUsers(room: string): readonly [string, string] | undefined {
  const [kind, a, b, ...rest] = room.split(':');
  if (kind !== 'dm' || a === undefined || b === undefined || rest.length > 0) return undefined;
  return isUsername(a) && isUsername(b) ? [a, b] : undefined;
}

/** A room that can exist: a public room, or a DM room of two sorted, distinct users. */
export function isRoom(room: string): boolean {
  if (isRoomName(room)) return true;
  const users = dmRoomUsers(room);
  return users !== undefined && users[0] < users[1];
}
