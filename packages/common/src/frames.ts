/**
 * Server-to-client frames that travel through the broker. They are serialised once, by
 * the publishing node (or a Lua script), and every receiving node sends the same string
 * to all its local members.
 */
export function messageFrameParts(room: string, from: string, text: string, ts: number): [string, string] {
  return [
    `{"type":"message","room":${JSON.stringify(room)},"id":"`,
    `","from":${JSON.stringify(from)},"text":${JSON.stringify(text)},"ts":${ts}}`,
  ];
}

export function messageFrame(m: {
  id: string;
  room: string;
  from: string;
  text: string;
  ts: number;
}): string {
  const [head, tail] = messageFrameParts(m.room, m.from, m.text, m.ts);
  return head + m.id + tail;
}

export function presenceFrame(room: string, user: string, state: 'online' | 'offline'): string {
  return JSON.stringify({ type: 'presence', room, user, state });
}

const QUOTE = 0x22;
const COLON = 0x3a;
const CLOSE_BRACE = 0x7d;
const T = 0x74;
const S = 0x73;

/**
 * The `ts` of a message frame as published (messageFrameParts puts it last:
 * `...,"ts":<ms>}`), read from the end of the bytes without parsing the JSON; undefined
 * for any other frame. Escaped text cannot end a frame this way, since `ts` follows it.
 */
export function messageFrameTs(frame: Buffer): number | undefined {
  let i = frame.length - 1;
  if (frame[i] !== CLOSE_BRACE) return undefined;
  i -= 1;
  let ts = 0;
  let scale = 1;
  while (i >= 0) {
    const c = frame[i] as number;
    if (c < 0x30 || c > 0x39) break;
    ts += (c - 0x30) * scale;
    scale *= 10;
    i -= 1;
  }
  if (scale === 1 || scale > 1e16) return undefined;
  const tag =
    frame[i] === COLON &&
    frame[i - 1] === QUOTE &&
    frame[i - 2] === S &&
    frame[i - 3] === T &&
    frame[i - 4] === QUOTE;
  return tag ? ts : undefined;
}
