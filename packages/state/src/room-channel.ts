import { isUsername, presenceFrame } from '@securechat/common';
import type { FrameHandler, PresenceChange } from './chat-ports';

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
