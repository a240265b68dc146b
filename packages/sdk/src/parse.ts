import type { ChatMessage, ConversationItem, PresenceState, RateLimitInfo, ServerMessage } from './protocol';

/**
 * What one inbound frame turned out to be. A type this SDK does not know is reported as
 * `unknown` and ignored by the client, so a server may add messages without breaking
 * older clients; a known type with a wrong shape is `invalid`.
 */
export type ParsedFrame =
  | { kind: 'message'; message: ServerMessage }
  | { kind: 'unknown'; type: string }
  | { kind: 'invalid'; reason: string };

/**
 * Checked by hand rather than with a schema library: this runs for every delivered
 * message in the benchmark's load generator, whose CPU shares the machine with the
 * servers it measures. Every result is a fresh object holding only known fields.
 */
class InvalidFrame extends Error {}

type Fields = Record<string, unknown>;

function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(o: Fields, key: string): string {
  const v = o[key];
  if (typeof v !== 'string') throw new InvalidFrame(`${key} must be a string`);
  return v;
}

function optStr(o: Fields, key: string): string | undefined {
  return o[key] === undefined ? undefined : str(o, key);
}

function num(o: Fields, key: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new InvalidFrame(`${key} must be a number`);
  return v;
}

function withRef<T extends object>(o: Fields, value: T): T & { ref?: string } {
  const ref = optStr(o, 'ref');
  return ref === undefined ? value : { ...value, ref };
}

function chatMessage(o: Fields, room: string): ChatMessage {
  return { room, id: str(o, 'id'), from: str(o, 'from'), text: str(o, 'text'), ts: num(o, 'ts') };
}

function presenceState(o: Fields): PresenceState {
  const v = o['state'];
  if (v !== 'online' && v !== 'offline') throw new InvalidFrame('state must be online or offline');
  return v;
}

function members(o: Fields): string[] {
  const v = o['members'];
  if (!Array.isArray(v) || !v.every((m): m is string => typeof m === 'string')) {
    throw new InvalidFrame('members must be an array of strings');
  }
  return v;
}

function historyMessages(o: Fields, room: string): ChatMessage[] {
  const v = o['messages'];
  if (!Array.isArray(v)) throw new InvalidFrame('messages must be an array');
  return v.map((m) => {
    if (!isFields(m)) throw new InvalidFrame('messages must hold objects');
    // An element may omit its room: it is the reply's.
    return chatMessage(m, optStr(m, 'room') ?? room);
  });
}

function limits(o: Fields): RateLimitInfo | undefined {
  const v = o['limits'];
  if (v === undefined) return undefined;
  if (!isFields(v)) throw new InvalidFrame('limits must be an object');
  return { messages: num(v, 'messages'), window_ms: num(v, 'window_ms') };
}

function conversationItems(o: Fields): ConversationItem[] {
  const v = o['items'];
  if (!Array.isArray(v)) throw new InvalidFrame('items must be an array');
  return v.map((item) => {
    if (!isFields(item)) throw new InvalidFrame('items must hold objects');
    const room = str(item, 'room');
    const unread = num(item, 'unread');
    const last = item['last'];
    if (last === undefined) return { room, unread };
    if (!isFields(last)) throw new InvalidFrame('last must be an object');
    return { room, last: { type: 'message', ...chatMessage(last, optStr(last, 'room') ?? room) }, unread };
  });
}

function known(o: Fields, type: string): ServerMessage | undefined {
  switch (type) {
    case 'welcome': {
      const base = { type, user: str(o, 'user'), node: str(o, 'node'), session: str(o, 'session') } as const;
      const l = limits(o);
      const maxBytes = o['max_message_bytes'] === undefined ? undefined : num(o, 'max_message_bytes');
      return {
        ...base,
        ...(l === undefined ? {} : { limits: l }),
        ...(maxBytes === undefined ? {} : { max_message_bytes: maxBytes }),
      };
    }
    case 'joined': {
      const truncated = o['history_truncated'];
      if (truncated !== undefined && typeof truncated !== 'boolean') {
        throw new InvalidFrame('history_truncated must be a boolean');
      }
      const base = { type, room: str(o, 'room'), members: members(o) } as const;
      return withRef(o, truncated === undefined ? base : { ...base, history_truncated: truncated });
    }
    case 'left':
      return withRef(o, { type, room: str(o, 'room') });
    case 'ack': {
      const room = optStr(o, 'room');
      return withRef(o, room === undefined ? { type, id: str(o, 'id') } : { type, id: str(o, 'id'), room });
    }
    case 'conversations':
      return withRef(o, { type, items: conversationItems(o) });
    case 'read':
      return withRef(o, { type, room: str(o, 'room'), id: str(o, 'id') });
    case 'message':
      return { type, ...chatMessage(o, str(o, 'room')) };
    case 'presence':
      return { type, room: str(o, 'room'), user: str(o, 'user'), state: presenceState(o) };
    case 'history': {
      const room = str(o, 'room');
      const more = o['more'];
      if (more !== undefined && typeof more !== 'boolean') throw new InvalidFrame('more must be a boolean');
      const base = { type, room, messages: historyMessages(o, room) } as const;
      return withRef(o, more === undefined ? base : { ...base, more });
    }
    case 'replay_more':
      return { type, room: str(o, 'room'), last: str(o, 'last') };
    case 'token_refreshed':
      return withRef(o, { type, exp: num(o, 'exp') });
    case 'pong':
      return withRef(o, { type });
    case 'error': {
      const base = { type, code: str(o, 'code'), message: str(o, 'message') } as const;
      const retry = o['retry_after_ms'] === undefined ? undefined : num(o, 'retry_after_ms');
      return withRef(o, retry === undefined ? base : { ...base, retry_after_ms: retry });
    }
    default:
      return undefined;
  }
}

/** Classifies an already decoded JSON value. */
export function parseServerMessage(value: unknown): ParsedFrame {
  if (!isFields(value)) return { kind: 'invalid', reason: 'frame is not a JSON object' };
  const type = value['type'];
  if (typeof type !== 'string') return { kind: 'invalid', reason: 'type must be a string' };
  try {
    const message = known(value, type);
    return message === undefined ? { kind: 'unknown', type } : { kind: 'message', message };
  } catch (err) {
    if (err instanceof InvalidFrame) return { kind: 'invalid', reason: `${type}: ${err.message}` };
    throw err;
  }
}

/** Decodes and classifies one text frame. */
export function parseServerFrame(text: string): ParsedFrame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: 'invalid', reason: 'frame is not JSON' };
  }
  return parseServerMessage(value);
}
