/** Times, sizes and names as the page shows them. */

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });
const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric' });
const yearDayFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'long' });

export function clockTime(ts: number): string {
  return timeFormat.format(ts);
}

export function fullTime(ts: number): string {
  return fullFormat.format(ts);
}

/** The local calendar day of `ts`, as a key (`2026-12-02`). */
export function dayKey(ts: number): string {
  const d = new Date(ts);
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

/** "Today", "Yesterday", "Monday, December 1", or a full date for another year. */
export function dayLabel(ts: number, now = Date.now()): string {
  if (dayKey(ts) === dayKey(now)) return 'Today';
  if (dayKey(ts) === dayKey(now - 86_400_000)) return 'Yesterday';
  return new Date(ts).getFullYear() === new Date(now).getFullYear()
    ? dayFormat.format(ts)
    : yearDayFormat.format(ts);
}

/** A short "when" for a list: the time today, else the day. */
export function shortWhen(ts: number, now = Date.now()): string {
  if (dayKey(ts) === dayKey(now)) return clockTime(ts);
  return new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' }).format(ts);
}

/** "in 23 s", "in 2 min" */
export function inHowLong(ms: number): string {
  const s = Math.max(1, Math.ceil(ms / 1000));
  if (s < 90) return `${s} s`;
  return `${Math.ceil(s / 60)} min`;
}

const encoder = new TextEncoder();

export function utf8Bytes(text: string): number {
  return encoder.encode(text).length;
}

/** 65,536 */
export function count(n: number): string {
  return n.toLocaleString();
}

/** One of the avatar colour classes, the same for a name everywhere. */
export function avatarClass(name: string): string {
  let hash = 0;
  for (const ch of name) hash = (hash * 31 + (ch.codePointAt(0) ?? 0)) >>> 0;
  return `avatar c${hash % 8}`;
}

export function initial(name: string): string {
  return (name.match(/[a-z0-9]/i)?.[0] ?? '?').toUpperCase();
}
