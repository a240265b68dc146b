import { isRoom, isUsername, presenceFrame } from '@securechat/common';
import type { FrameHandler, PresenceChange, UserEventHandler } from './chat-ports';
import { STREAM_ID } from './stream-id';

/*
 * What travels on a room's channel (Redis pub/sub, or the MemoryBus within a process):
 *
 * - a message: `<id>\n<frame>`. The publisher serialises the client frame once
 *   (publish_limited.lua puts the id that XADD assigned in front of it and inside it),
 *   and every receiving node passes those bytes to its sockets as they came.
 * - a presence change: `<online|offline> <user>`. presence.lua only says what changed;
 *   each receiving node builds the frame once (`presenceFrame`), so that frame is
 *   written in one place.
 *
 * A presence event has no newline so that a node of an older version, which sent and
 * expected `-\n<presence frame>`, drops it instead of handing it to its clients during
 * a rolling upgrade. For the same reason that older form is still accepted here.
 */

const NEWLINE = 0x0a;
const SPACE = 0x20;

export function messagePayload(id: string, frame: string): string {
  return `${id}\n${frame}`;
}

export function presencePayload(user: string, state: PresenceChange['state']): string {
  return `${state} ${user}`;
}

/** Reads one payload of `room`'s channel and hands the node its frame; drops anything else. */
export function dispatchRoomPayload(room: string, payload: Buffer, handler: FrameHandler): void {
  const cut = payload.indexOf(NEWLINE);
  if (cut >= 0) {
    const id = payload.toString('latin1', 0, cut);
    handler(room, id === '-' ? undefined : id, payload.subarray(cut + 1));
    return;
  }
  const space = payload.indexOf(SPACE);
  if (space < 0) return;
  const state = payload.toString('latin1', 0, space);
  const user = payload.toString('latin1', space + 1);
  if ((state !== 'online' && state !== 'offline') || !isUsername(user)) return;
  handler(room, undefined, Buffer.from(presenceFrame(room, user, state)));
}

/*
 * What travels on a user's own channel (`inbox:<user>:ch`):
 *
 * - a DM: `<id> <room>\n<frame>`, published by publish_limited.lua to both users'
 *   channels (the frame built once, as for a room);
 * - a read marker: `read <room> <id> <session>`, published by the inbox when one of the
 *   user's sessions moved it (the other sessions are told; that one is not).
 */

export function directPayloadTag(room: string): string {
  return ` ${room}`;
}

export function directPayload(id: string, room: string, frame: string): string {
  return `${id}${directPayloadTag(room)}\n${frame}`;
}

export function readPayload(room: string, id: string, session: string): string {
  return `read ${room} ${id} ${session}`;
}

const SESSION = /^[A-Za-z0-9_-]{1,64}$/;

/** Reads one payload of `user`'s channel; drops anything malformed. */
export function dispatchUserPayload(user: string, payload: Buffer, handler: UserEventHandler): void {
  const cut = payload.indexOf(NEWLINE);
  if (cut >= 0) {
    const [id, room, ...rest] = payload.toString('latin1', 0, cut).split(' ');
    if (id === undefined || room === undefined || rest.length > 0 || !STREAM_ID.test(id) || !isRoom(room))
      return;
    handler(user, { kind: 'message', room, id, frame: payload.subarray(cut + 1) });
    return;
  }
  const [kind, room, id, session, ...rest] = payload.toString('utf8').split(' ');
  if (kind !== 'read' || room === undefined || id === undefined || session === undefined || rest.length > 0)
    return;
  if (!isRoom(room) || !STREAM_ID.test(id) || !SESSION.test(session)) return;
  handler(user, { kind: 'read', room, id, session });
}
