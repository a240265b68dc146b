import { z } from 'zod';
import { dmRoomUsers, isRoomName } from '@securechat/common';
import { STREAM_ID } from '@securechat/state';

/** The DM room of two users (the naming rules live in @securechat/common). */
export { dmRoomName as dmRoom } from '@securechat/common';

export const HISTORY_DEFAULT_LIMIT = 50;
export const HISTORY_MAX_LIMIT = 200;

const ref = z.string().min(1).max(64).optional();
const roomName = z.string().max(100);
const since = z.string().regex(STREAM_ID);

const clientMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('join'), room: roomName, since: since.optional(), ref }),
  z.object({ type: z.literal('leave'), room: roomName, ref }),
  z.object({ type: z.literal('send'), room: roomName, text: z.string().min(1), ref }),
  z.object({ type: z.literal('dm'), to: z.string().max(64), text: z.string().min(1), ref }),
  z.object({
    type: z.literal('history'),
    room: roomName,
    before: since.optional(),
    limit: z.number().int().min(1).max(HISTORY_MAX_LIMIT).optional(),
    ref,
  }),
  z.object({ type: z.literal('refresh_token'), token: z.string().max(4096), ref }),
  z.object({ type: z.literal('ping'), ref }),
  z.object({ type: z.literal('conversations'), ref }),
  z.object({ type: z.literal('read'), room: roomName, id: since, ref }),
]);

export type ClientMessage = z.infer<typeof clientMessage>;

export type ParseResult =
  | { ok: true; message: ClientMessage }
  | {
      ok: false;
      ref: string | undefined;
      reason: string;
      /** The message type the frame named, when it is a known one (for metrics). */
      type?: ClientMessage['type'];
    };

const MESSAGE_TYPES: ReadonlySet<string> = new Set(clientMessage.options.map((o) => o.shape.type.value));

/**
 * The one validator of inbound frames: text in, a typed message or a reason out. The
 * result is a fresh object holding only known fields, so `__proto__` or `constructor`
 * keys in the input never reach the handlers.
 */
export function parseClientMessage(text: string): ParseResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, ref: undefined, reason: 'not JSON' };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, ref: undefined, reason: 'not a JSON object' };
  }
  const rawRef = Object.hasOwn(raw, 'ref') ? (raw as { ref: unknown }).ref : undefined;
  const echo = typeof rawRef === 'string' && rawRef.length > 0 && rawRef.length <= 64 ? rawRef : undefined;
  const parsed = clientMessage.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.join('.') : 'type';
    const rawType = Object.hasOwn(raw, 'type') ? (raw as { type: unknown }).type : undefined;
    const type =
      typeof rawType === 'string' && MESSAGE_TYPES.has(rawType)
        ? (rawType as ClientMessage['type'])
        : undefined;
    return { ok: false, ref: echo, reason: `invalid ${where}`, type };
  }
  return { ok: true, message: parsed.data };
}

export type RoomAccess =
  { ok: true; room: string; dm: boolean } | { ok: false; code: 'bad_request' | 'forbidden'; message: string };

/** Whether `user` may join or read `room`. DM rooms admit only their two users. */
export function roomAccess(room: string, user: string): RoomAccess {
  if (isRoomName(room)) return { ok: true, room, dm: false };
  const users = dmRoomUsers(room);
  if (users === undefined) return { ok: false, code: 'bad_request', message: 'invalid room name' };
  const [a, b] = users;
  if (!(a < b))
    return { ok: false, code: 'bad_request', message: 'DM room users must be sorted and distinct' };
  if (user !== a && user !== b) return { ok: false, code: 'forbidden', message: 'not your direct messages' };
  return { ok: true, room, dm: true };
}

/**
 * The `ack` of an accepted send or dm: the bytes `frame({ type: 'ack', id, room, ref })`
 * writes, without building and walking the object (one per message).
 */
export function ackFrame(id: string, room: string, ref: string | undefined): string {
  const head = `{"type":"ack","id":${JSON.stringify(id)},"room":${JSON.stringify(room)}`;
  return ref === undefined ? `${head}}` : `${head},"ref":${JSON.stringify(ref)}}`;
}

/** Server frames built per request (replies); fan-out frames come from @securechat/common. */
export function frame(message: Record<string, unknown>): string {
  return JSON.stringify(message);
}
