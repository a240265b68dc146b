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
